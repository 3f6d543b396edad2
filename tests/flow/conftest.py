"""Fixtures for the state-graph tests: a checkpointer of each kind, matchers like LangGraph's test helpers."""

from __future__ import annotations

import types
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


def lg_names() -> Any:
    """LangGraph's names, as a user imports them (``StateGraph``, ``Command``, ``InMemorySaver``, ...); skips the
    test without LangGraph (``pip install -e ".[bench]"``)."""
    pytest.importorskip("langgraph.graph")
    import langgraph.checkpoint.memory as memory
    import langgraph.config as config
    import langgraph.errors as errors
    import langgraph.graph as graph
    import langgraph.types as lgtypes

    ns = types.SimpleNamespace()
    for mod in (graph, lgtypes, memory, errors, config):
        for k in dir(mod):
            if not k.startswith("_"):
                setattr(ns, k, getattr(mod, k))
    return ns


def thread(t: str = "1") -> dict[str, Any]:
    """A LangGraph config for thread ``t``."""
    return {"configurable": {"thread_id": t}}


def both(build: Any, run: Any) -> tuple[Any, Any]:
    """``run(lib, graph)`` on LangGraph's graph and on aether_nb's, both built by ``build(lib)`` (the module
    ``aether_nb.flow`` or :func:`lg_names`) and compiled with an in-memory checkpointer; returns both results."""
    import aether_nb.flow as ours

    lg = lg_names()
    return run(lg, build(lg).compile(checkpointer=lg.InMemorySaver())), run(
        ours, build(ours).compile(checkpointer="memory")
    )


__all__ = ["AnyStr", "Session", "ai", "both", "lg_names", "msg", "thread", "user"]
