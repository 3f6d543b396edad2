"""Shared fixtures: a fresh session per test (in-memory store, scripted channel, deterministic run ids)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ScriptedChannel
from tests.gates import Gate

T = TypeVar("T")


def arun(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run a coroutine to the end on a fresh loop, under a timeout (tests never hang)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def run_script(script: Path, *args: str, timeout: float = 120) -> str:
    """Run ``script`` in a fresh interpreter (a process of a crash-and-resume test) and return what it printed; a
    script that failed fails the test with its stderr."""
    res = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def after(out: str, tag: str) -> Any:
    """The JSON a script printed on its line ``TAG {...}``."""
    return json.loads(out.split(f"{tag} ", 1)[1].splitlines()[0])


def finished_run(agent: Any, **inputs: Any) -> ag.Run:
    """A run of ``agent`` with ``inputs``, awaited to its end on a fresh loop."""

    async def main() -> ag.Run:
        run: ag.Run = agent.start(**inputs)
        await run
        return run

    return arun(main())


def make_session(store: Any = None, answers: Any = (), clock: Any = None) -> tuple[Session, ScriptedChannel]:
    counter = itertools.count(1)
    channel = ScriptedChannel(answers)
    s = Session(store or MemoryStore(), clock=clock, id_factory=lambda: f"run-{next(counter)}")
    install_builtin_services(s, channel=channel)
    return s, channel


@contextlib.contextmanager
def default_session(store: Any = None) -> Iterator[Session]:
    """A fresh session over ``store`` (no scripted answers: asks stay open until answered) as the default one for
    the block; the previous one is restored after it."""
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    try:
        yield s
    finally:
        session_mod.set_default_session(previous)


@pytest.fixture
def session() -> Iterator[Session]:
    """A fresh default session for the test (restored afterwards)."""
    with default_session() as s:
        yield s


@pytest.fixture
def channel(session: Session) -> ScriptedChannel:
    ch = session.config["channel"]
    assert isinstance(ch, ScriptedChannel)
    return ch


@pytest.fixture
def gate() -> Iterator[Gate]:
    """A :class:`~tests.gates.Gate` whose blocked bodies are released when the test ends."""
    g = Gate()
    try:
        yield g
    finally:
        g.release.set()
