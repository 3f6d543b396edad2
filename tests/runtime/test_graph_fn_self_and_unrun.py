"""An agent's input named ``self`` can be passed to ``start()``, and a sync tool's body that drops an agent's (or a
graph's) call fails its step.

Found by testers: ``g.start(self=1)`` for ``async def f(self)`` raised ``TypeError: GraphFn.start() got multiple
values for argument 'self'`` (the same for a @graphify input); and an agent called from a sync tool's body without
being run was caught only when the body returned the coroutine: dropped, the call never ran and the step succeeded.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

ran: list[int] = []


@ag.graph_fn(outputs=["y"])
async def takes_self(self: int) -> dict[str, int]:
    return {"y": self + 1}


@ag.tool(outputs=["y"])
def inc(x: int) -> dict[str, int]:
    ran.append(x)
    return {"y": x + 1}


@ag.graphify(name="graph_takes_self", outputs=["y"])
def graph_takes_self(self: Any) -> Any:
    return {"y": inc(x=self).y}


@ag.graph_fn(outputs=["y"])
async def inner(x: int) -> dict[str, int]:
    ran.append(x)
    return {"y": x + 1}


@ag.tool(outputs=["done"])
def drops_agent_call(x: int) -> dict[str, bool]:
    inner(x=x)  # the mistake under test: the agent's coroutine is dropped
    return {"done": True}


@ag.tool(outputs=["done"])
def drops_graph_call(x: int) -> dict[str, bool]:
    graph_takes_self(self=x)  # the same with a @graphify graph
    return {"done": True}


def test_an_input_named_self_is_passed_to_start_and_sync(session: Session) -> None:
    async def main() -> tuple[Any, Any, Any]:
        return (
            await takes_self.start(self=1).result(),
            await takes_self(self=2),
            await graph_takes_self.start(self=3).result(),
        )

    assert arun(main()) == ({"y": 2}, {"y": 3}, {"y": 4})
    assert takes_self.sync(self=4) == {"y": 5}


@pytest.mark.parametrize(
    ("tool", "called"),
    [
        (drops_agent_call, "inner(...) (an agent), called and never awaited"),
        (drops_graph_call, "graph_takes_self(...) (a graph), called and never awaited"),
    ],
)
def test_a_sync_body_dropping_an_agents_call_fails_its_step(session: Session, tool: Any, called: str) -> None:
    @ag.graph_fn(name=f"via_{tool.name}")
    async def agent() -> Any:
        return await tool(x=7)

    async def main() -> tuple[ag.Run, BaseException]:
        run = agent.start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        return run, info.value

    ran.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run, exc = arun(main())
        gc.collect()
    cause = exc.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "not_awaited"
    assert called in cause.message
    assert run.status == "failed" and run.graph.node(f"{tool.name}_1").status == "FAILED"
    assert ran == []
    assert not [w for w in caught if "never awaited" in str(w.message)]
