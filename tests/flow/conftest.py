"""Fixtures for the state-graph tests: a checkpointer of each kind, matchers like LangGraph's test helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from tests.conftest import make_session


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "duckdb"])
def checkpointer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """What to pass to ``compile(checkpointer=...)``: this process's memory, or the session's DuckDB store (the
    notebook default), each with a fresh default session."""
    store: Any = None
    if request.param == "duckdb":
        from aether_nb.store.duckdb import DuckDBStore

        store = DuckDBStore(str(tmp_path / "flow.duckdb"))
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    try:
        yield request.param
    finally:
        session_mod.set_default_session(previous)
        s.store.close()


class AnyStr(str):
    """Equal to any string (that starts with ``prefix``), like LangGraph's test helper."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(self.prefix)

    def __hash__(self) -> int:
        return hash(str(self))


def msg(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    """A message as the state holds it (any id)."""
    return {"role": role, "content": content, "id": AnyStr(), **extra}


def user(content: Any) -> dict[str, Any]:
    return msg("user", content)


def ai(content: Any, **extra: Any) -> dict[str, Any]:
    return msg("assistant", content, **extra)


__all__ = ["AnyStr", "Session", "ai", "msg", "user"]
