"""@tool on what a tool call cannot run is refused when it is applied, with what to do instead.

Each was accepted before: an agent or a generator gave its un-run coroutine or generator as the tool's result
(``{'result': <coroutine ...>}``), a method missed its ``self`` and the error blamed the caller's arguments, and a
``functools.partial`` was refused as "tool name must be an identifier, got None"."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


def test_tool_refuses_an_agent_it_would_not_run() -> None:
    @ag.graph_fn
    async def inner(x: int) -> dict[str, int]:
        return {"y": x + 1}

    with pytest.raises(ag.UsageError, match=r"already a step of that run .*await inner\(\.\.\.\)") as err:
        ag.tool(inner)
    assert err.value.code == "tool_of_agent"


def test_tool_refuses_generator_functions() -> None:
    async def stream_rows(n: int) -> AsyncIterator[int]:
        yield n

    def rows(n: int) -> Iterator[int]:
        yield from range(n)

    for fn in (stream_rows, rows, functools.partial(rows, 3)):
        with pytest.raises(ag.UsageError, match=r"generator function .*Return a list") as err:
            ag.tool(name="gen")(fn)
        assert err.value.code == "tool_generator"


def test_tool_refuses_a_method_and_accepts_a_static_or_bound_one(session: Session) -> None:
    with pytest.raises(ag.UsageError, match=r"Calculator\.add is a method: .*staticmethod.*obj\.add") as err:

        class Calculator:
            @ag.tool
            def add(self, a: int, b: int) -> int:
                return a + b

    assert err.value.code == "tool_method"

    class Adder:
        def __init__(self, base: int) -> None:
            self.base = base

        def add(self, a: int) -> int:
            return self.base + a

        @staticmethod
        @ag.tool
        def twice(a: int) -> int:
            return 2 * a

    bound = ag.tool(Adder(10).add)

    @ag.graph_fn
    async def agent() -> dict[str, object]:
        return {"bound": await bound(1), "static": await Adder.twice(4)}

    assert arun(agent()) == {"bound": {"result": 11}, "static": {"result": 8}}


def test_tool_of_a_partial_asks_for_a_name() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(ag.UsageError, match=r'no __name__ .*ag\.tool\(name="my_tool"\)'):
        ag.tool(functools.partial(add, 1))
    assert ag.tool(name="add_one")(functools.partial(add, 1))(b=2) == {"result": 3}


def test_tool_executor_given_an_array_is_refused_by_what_executors_are() -> None:
    with pytest.raises(ag.UsageError, match="executor must be an executor object"):
        ag.tool(executor=np.array(["local", "x"]))(lambda x: x)


@pytest.mark.parametrize("name", [5, "my tool", "a/b", "class", ""])
def test_dual_stage_tool_names_are_checked_as_tools_are(name: object) -> None:
    """A DualStageTool's ``name=`` was taken as it was: ``5`` made every history record of its node unstorable
    (dropped with a warning: the run could not resume), ``"a/b"`` a node id with the step separator in it. Now it is
    refused like ``@tool``'s (an empty name falls back to the class name, as ``@tool``'s falls back to the
    function's)."""
    if name == "":

        class Ask(ag.DualStageTool, outputs=["a"], name=name):  # type: ignore[call-arg]
            async def setup(self, x: int) -> ag.WaitSpec:
                return ag.WaitSpec(kind="text", prompt="?")

            async def on_resume(self, payload: object) -> dict[str, object]:
                return {"a": payload}

        assert Ask.tool_name == "Ask"
        return
    with pytest.raises(ag.UsageError, match="tool name must be an identifier") as err:

        class Bad(ag.DualStageTool, outputs=["a"], name=name):  # type: ignore[call-arg]
            async def setup(self, x: int) -> ag.WaitSpec:
                return ag.WaitSpec(kind="text", prompt="?")

            async def on_resume(self, payload: object) -> dict[str, object]:
                return {"a": payload}

    assert err.value.code == "tool_name"


def test_tool_renaming_a_dual_stage_tool_checks_the_name() -> None:
    class Ask2(ag.DualStageTool, outputs=["a"]):
        async def setup(self, x: int) -> ag.WaitSpec:
            return ag.WaitSpec(kind="text", prompt="?")

        async def on_resume(self, payload: object) -> dict[str, object]:
            return {"a": payload}

    with pytest.raises(ag.UsageError, match="tool name must be an identifier") as err:
        ag.tool(name="two words")(Ask2)
    assert err.value.code == "tool_name"
    assert ag.tool(name="ask_two")(Ask2).tool_name == "ask_two"


def test_a_renamed_dual_stage_tool_waits_and_answers(session: Session) -> None:
    """A valid name keeps working end to end: the node is named by it and the answer comes back."""

    class Confirm(ag.DualStageTool, outputs=["ok"], name="confirm_order"):
        async def setup(self, x: int) -> ag.WaitSpec:
            return ag.WaitSpec(kind="text", prompt=f"order {x}?")

        async def on_resume(self, payload: object) -> dict[str, object]:
            return {"ok": payload}

    @ag.graph_fn(outputs=["ok"])
    async def order(x: int) -> dict[str, object]:
        return dict(await Confirm(x=x))

    async def go() -> dict[str, object]:
        run = order.start(x=3)
        await run.wait_for("waiting", timeout=10)
        assert [w.node_id for w in run.waits] == ["confirm_order_1"]
        await run.answer("yes")
        return dict(await run)

    assert arun(go()) == {"ok": "yes"}
