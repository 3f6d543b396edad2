"""Shared fixtures: a fresh session per test (in-memory store, scripted channel, deterministic run ids)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ScriptedChannel

T = TypeVar("T")


def arun(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run a coroutine to the end on a fresh loop, under a timeout (tests never hang)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


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
