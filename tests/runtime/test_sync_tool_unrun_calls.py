"""A sync tool's body that calls an async tool or an agent without ``await`` fails its step, saying what to do.

Found by a tester: ``def checkout(amount): r = charge(amount); return {"receipt": r}`` with ``charge`` an async tool
made the run succeed with ``{'receipt': <coroutine ...>}`` as its output; ``charge`` never ran (a payment never
made) and nothing said so. The same mistake in a graph_fn's body fails its run ("never awaited"). The un-run
coroutines are closed, so no "coroutine ... was never awaited" RuntimeWarning follows the error.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

charged: list[int] = []


@ag.tool(outputs=["ok"])
async def charge(amount: int) -> dict[str, bool]:
    charged.append(amount)
    return {"ok": True}


@ag.graph_fn(outputs=["y"])
async def inner(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.tool(outputs=["receipt"])
def returns_it(amount: int) -> dict[str, Any]:
    return {"receipt": charge(amount)}  # the mistake under test: charge is async


@ag.tool(outputs=["done"])
def drops_it(amount: int) -> dict[str, bool]:
    charge(amount)  # the mistake under test, the coroutine dropped
    return {"done": True}


@ag.tool
def returns_agent_call(x: int) -> Any:
    return inner(x=x)  # an agent outside a run: a coroutine too


@ag.tool(outputs=["y"])
def runs_agent(x: int) -> dict[str, int]:
    return {"y": inner.sync(x=x)["y"]}  # (what a sync body can do with an agent)


def _failure(tool: Any, **inputs: Any) -> tuple[ag.Run, BaseException]:
    @ag.graph_fn(name=f"via_{tool.name}")
    async def agent(*, context: ag.NodeContext) -> Any:
        return await tool(**inputs)

    async def main() -> tuple[ag.Run, BaseException]:
        run = agent.start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        return run, info.value

    return arun(main())


@pytest.mark.parametrize(
    ("tool", "inputs", "called"),
    [
        (returns_it, {"amount": 10}, "charge(...) (an async tool), returned as output 'receipt' without being awaited"),
        (drops_it, {"amount": 11}, "charge(...) (an async tool), called and never awaited"),
        (returns_agent_call, {"x": 1}, "inner(...) (an agent), returned without being awaited"),
    ],
)
def test_a_sync_body_that_leaves_a_call_unrun_fails_its_run(
    session: Session, tool: Any, inputs: dict[str, Any], called: str
) -> None:
    charged.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run, exc = _failure(tool, **inputs)
        gc.collect()
    cause = exc.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "not_awaited"
    assert called in cause.message and f"Make {tool.name} an `async def` and `await` the call" in cause.message
    assert run.status == "failed" and run.graph.node(f"{tool.name}_1").status == "FAILED"
    assert charged == []
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_a_sync_tool_called_directly_refuses_an_unrun_call_too() -> None:
    charged.clear()
    with pytest.raises(ag.UsageError, match=r"charge\(\.\.\.\) \(an async tool\), called and never awaited"):
        drops_it(3)
    assert charged == []


def test_what_a_sync_body_may_do_still_works(session: Session) -> None:
    """Running the call to its end (``agent.sync``, ``asyncio.run``) is not refused."""
    import asyncio

    @ag.tool(outputs=["ok"])
    def charges_now(amount: int) -> dict[str, bool]:
        return asyncio.run(charge(amount))  # type: ignore[no-any-return]

    @ag.graph_fn(outputs=["y", "ok"])
    async def agent() -> dict[str, Any]:
        return {"y": (await runs_agent(1))["y"], "ok": (await charges_now(5))["ok"]}

    charged.clear()
    assert arun(agent()) == {"y": 2, "ok": True}
    assert charged == [5]


def test_a_returned_value_that_holds_itself_is_searched_without_recursing_round_it() -> None:
    """The search for un-run coroutines followed a list that holds itself until RecursionError (a served run with a
    cyclic output failed instead of getting its answer)."""
    from aether_nb.runtime.direct_calls import refuse_unrun

    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    nested: dict[str, Any] = {"a": cyclic}
    nested["self"] = nested
    refuse_unrun(nested, "t")  # (nothing un-run in it: no error)
