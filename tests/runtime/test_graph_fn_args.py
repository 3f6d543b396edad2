"""An agent's signature and start()'s own arguments: positional-only parameters, what @graph_fn refuses, and
start(resume_mode=...) given an object that is no string."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session


@ag.graph_fn(outputs=["s"])
async def pos_add(a: int, b: int, /, c: int = 0) -> dict[str, int]:
    return {"s": a + b + c}


@ag.graph_fn(outputs=["s"])
async def pos_defaults(a: int = 1, b: int = 2, /, *, context: ag.NodeContext) -> dict[str, int]:
    return {"s": a * 10 + b}


def test_an_agent_with_positional_only_parameters_runs_called_and_started(session: Session) -> None:
    """Every call of such an agent failed inside the run: its inputs, stored by name, were passed by keyword."""

    async def main() -> tuple[object, ...]:
        called = await pos_add(1, 2)
        started = await pos_add.start(1, 2, c=3)
        defaults = await pos_defaults(), await pos_defaults(5)
        return called, started, *defaults

    assert arun(main()) == ({"s": 3}, {"s": 6}, {"s": 12}, {"s": 52})
    assert ag.runs()[-1].inputs == {"a": 1, "b": 2}


def test_an_agent_with_positional_only_parameters_runs_nested(session: Session) -> None:
    @ag.graph_fn(outputs=["t"])
    async def outer(x: int) -> dict[str, int]:
        return {"t": (await pos_add(x, 10, c=100))["s"]}

    assert arun(outer(1)) == {"t": 111}
    node = ag.runs()[0].graph.node("pos_add_1")
    assert (node.kind, node.status, node.inputs) == ("graph_fn", "DONE", {"a": 1, "b": 10, "c": 100})


@ag.graph_fn(outputs=["s"])
async def pos_ask(a: str, /, *, context: ag.NodeContext) -> dict[str, str]:
    return {"s": a + (await context.channel().ask_text("more?"))}


@pytest.fixture
def no_default() -> Iterator[None]:
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def test_an_agent_with_positional_only_parameters_resumes_after_a_restart(no_default: None) -> None:
    """A resumed run calls the agent again with the inputs the store kept (by name)."""
    store = MemoryStore()
    session_mod.set_default_session(make_session(store)[0])

    async def first() -> None:
        run = pos_ask.start("x", run_id="pos")
        await run.wait_for("waiting", timeout=10)

    arun(first())
    session_mod.set_default_session(make_session(store)[0])  # a new "process" over the same store

    async def second() -> object:
        run = ag.get_run("pos")
        await run.answer("y")
        return await run

    assert arun(second()) == {"s": "xy"}


def test_a_keyword_named_like_a_positional_only_parameter_is_refused(session: Session) -> None:
    """Python allows ``f(1, a=2)`` for ``f(a, /, **kw)``; a run's inputs are one dict by name, so one value would
    silently replace the other."""

    @ag.graph_fn
    async def loose(a: int, /, **kw: int) -> dict[str, int]:
        return {"a": a, **kw}

    with pytest.raises(ag.UsageError, match="positional-only parameter"):
        loose.start(1, a=2)
    assert arun(loose(1, b=2)) == {"a": 1, "b": 2}


def test_graph_fn_says_what_it_was_given_when_it_cannot_be_an_agent() -> None:
    @ag.graph_fn
    async def agent(x: int) -> dict[str, int]:
        return {"x": x}

    with pytest.raises(ag.UsageError, match="already an agent"):
        ag.graph_fn(agent)

    @ag.tool
    def a_tool(x: int) -> int:
        return x

    with pytest.raises(ag.UsageError, match="is a @tool"):
        ag.graph_fn(a_tool)

    async def rows(n: int) -> AsyncIterator[int]:
        yield n

    with pytest.raises(ag.UsageError, match="async generator"):
        ag.graph_fn(rows)


@pytest.mark.parametrize("mode", [np.array(["failed_nodes", "x"]), np.array(["failed_nodes"]), 5, "all"])
def test_start_refuses_a_resume_mode_that_is_no_mode_naming_the_ones_there_are(session: Session, mode: object) -> None:
    with pytest.raises(ag.UsageError, match="'failed_nodes'"):
        pos_add.start(1, 2, resume_mode=mode)
