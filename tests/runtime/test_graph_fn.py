"""graph_fn runs: the seed example, nested agents, edges, sync/start/await modes, idempotent run ids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun


@ag.tool(name="analyze", outputs=["val"])
def analyze(x: int) -> dict[str, int]:
    return {"val": x * 2}


def test_seed_example_sync_tool_inside_graph_fn(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(name="seed_demo")
    async def seed_demo(*, context: ag.NodeContext) -> None:
        y = await analyze(21)
        await context.channel().send_text(f"Answer: {y}")

    out = arun(seed_demo())
    assert out == {}
    assert channel.texts == ["Answer: {'val': 42}"]
    run = ag.runs()[0]
    assert run.status == "succeeded"
    node = run.graph.node("analyze_1")
    assert (node.kind, node.status, node.inputs, node.outputs) == ("tool", "DONE", {"x": 21}, {"val": 42})
    assert node.started_at is not None and node.ended_at is not None and node.ended_at >= node.started_at


def test_nested_graph_fn_is_a_subgraph_of_the_same_run(session: Session) -> None:
    @ag.graph_fn(outputs=["y"])
    async def child(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        a = await analyze(x)
        return {"y": a["val"] * 10}

    @ag.graph_fn(outputs=["y"])
    async def parent(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        c = await child(x=x, context=context)
        return {"y": c["y"] + 1}

    assert arun(parent(x=3)) == {"y": 61}
    (run,) = ag.runs()
    ids = [n.id for n in run.graph.nodes]
    assert ids == ["child_1", "child_1/analyze_1"]
    assert run.graph.node("child_1").kind == "graph_fn"
    assert run.graph.node("child_1/analyze_1").parent == "child_1"
    assert run.graph.node("child_1").outputs == {"y": 60}


def test_sequential_calls_make_an_edge_and_gather_makes_parallel_siblings(session: Session) -> None:
    @ag.tool(outputs=["y"])
    async def t(x: int) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"y": x + 1}

    @ag.graph_fn
    async def fan(x: int) -> dict[str, int]:
        a = await t(x)
        b = await t(a["y"])
        c = await asyncio.gather(t(b["y"]), t(b["y"]), t(b["y"]))
        d = await t(sum(r["y"] for r in c))
        return d

    assert arun(fan(x=0)) == {"y": 10}
    g = ag.runs()[0].graph
    assert set(g.edges) == {
        ("t_1", "t_2"),
        ("t_2", "t_3"),
        ("t_2", "t_4"),
        ("t_2", "t_5"),
        ("t_3", "t_6"),
        ("t_4", "t_6"),
        ("t_5", "t_6"),
    }
    starts = {n.id: n.started_at for n in g.nodes}
    ends = {n.id: n.ended_at for n in g.nodes}
    # the three gathered calls all started before any of them finished: they ran side by side
    assert max(starts[k] or 0 for k in ("t_3", "t_4", "t_5")) <= min(ends[k] or 0 for k in ("t_3", "t_4", "t_5"))


def test_start_returns_a_run_at_once_and_await_gives_outputs(session: Session) -> None:
    @ag.graph_fn(outputs=["answer"])
    async def demo(x: int) -> dict[str, int]:
        d = await analyze(x)
        return {"answer": d["val"]}

    async def main() -> None:
        run = demo.start(x=21)
        assert isinstance(run, ag.Run)
        assert run.status in ("pending", "running")
        assert await run == {"answer": 42}
        assert run.status == "succeeded" and run.outputs == {"answer": 42}
        assert ag.get_run(run.id) is run

    arun(main())


def test_sync_works_in_scripts_and_refuses_inside_a_loop(session: Session) -> None:
    @ag.graph_fn(outputs=["answer"])
    async def demo(x: int) -> dict[str, int]:
        return {"answer": (await analyze(x))["val"]}

    assert demo.sync(x=2) == {"answer": 4}

    async def inside() -> None:
        with pytest.raises(ag.UsageError, match="await demo"):
            demo.sync(x=2)

    arun(inside())


def test_start_without_a_loop_says_to_use_sync(session: Session) -> None:
    @ag.graph_fn
    async def demo() -> None:
        return None

    with pytest.raises(ag.UsageError, match=r"demo\.sync"):
        demo.start()


def test_idempotent_run_id(session: Session) -> None:
    calls: list[int] = []

    @ag.tool
    def count(x: int) -> int:
        calls.append(x)
        return x

    @ag.graph_fn(outputs=["v"])
    async def once(x: int) -> dict[str, int]:
        return {"v": (await count(x))["result"]}

    async def main() -> None:
        first = once.start(x=1, run_id="ada")
        assert await first == {"v": 1}
        again = once.start(x=1, run_id="ada")
        assert again is first and await again == {"v": 1}
        with pytest.raises(ag.UsageError, match="other inputs"):
            once.start(x=2, run_id="ada")

    arun(main())
    assert calls == [1]


def test_context_injection_by_name_and_annotation(session: Session) -> None:
    seen: list[str] = []

    @ag.tool
    async def by_ctx(*, ctx: ag.NodeContext) -> None:
        seen.append(f"ctx:{ctx.node_id}")

    @ag.tool
    async def by_annotation(c: ag.NodeContext) -> None:
        seen.append(f"ann:{c.node_id}")

    @ag.graph_fn
    async def agent(context) -> None:  # type: ignore[no-untyped-def]
        seen.append(f"root:{context.node_id}:{context.run_id}")
        await by_ctx()
        await by_annotation()

    arun(agent())
    assert seen == ["root:None:run-1", "ctx:by_ctx_1", "ann:by_annotation_1"]


def test_graph_fn_must_be_async_and_inputs_named() -> None:
    with pytest.raises(ag.UsageError, match="async def"):

        @ag.graph_fn
        def not_async() -> None:
            return None

    with pytest.raises(ag.UsageError, match="inputs must have names"):

        @ag.graph_fn
        async def star(*xs: int) -> None:
            return None


def test_failure_fails_the_run_with_the_node_named(session: Session) -> None:
    @ag.tool
    def boom(x: int) -> None:
        raise ValueError(f"bad {x}")

    @ag.graph_fn
    async def agent() -> None:
        await boom(1)

    with pytest.raises(ag.RunFailed, match="boom_1") as info:
        arun(agent())
    assert isinstance(info.value.__cause__, ValueError)
    run = ag.runs()[0]
    assert run.status == "failed"
    node = run.graph.node("boom_1")
    assert node.status == "FAILED" and node.error["message"] == "bad 1"
    assert "ValueError" in node.error["traceback"]


def test_user_code_may_catch_a_tool_error_and_go_on(session: Session) -> None:
    @ag.tool
    def boom() -> None:
        raise KeyError("nope")

    @ag.graph_fn(outputs=["ok"])
    async def agent() -> dict[str, bool]:
        try:
            await boom()
        except KeyError:
            return {"ok": True}
        return {"ok": False}

    assert arun(agent()) == {"ok": True}


def test_aethergraphs_decorator_keywords_are_accepted_and_checked(session: Session) -> None:
    """AetherGraph requires ``@graph_fn(name=, inputs=, outputs=)`` (and offers ``version=``, ``tags=``; ``@tool``
    takes ``inputs=`` too): they were a raw TypeError here. Accepted now; ``inputs`` must name the parameters."""

    @ag.graph_fn(name="ag_style", inputs=["x", "y"], outputs=["s"], version="0.2.0", tags=["demo"])
    async def ag_style(x: int, y: int, *, context: ag.NodeContext) -> dict[str, int]:
        return {"s": (await ag_add(x, y))["s"]}

    @ag.tool(inputs=["a", "b"], outputs=["s"])
    async def ag_add(a: int, b: int) -> dict[str, int]:
        return {"s": a + b}

    assert arun(ag_style(x=1, y=2)) == {"s": 3}
    assert ag_style.version == "0.2.0" and ag_style.tags == ["demo"]
    for bad, match in [
        ({"inputs": ["x"]}, r"does not match the function's parameters \['x', 'y'\]"),
        ({"inputs": "x"}, "takes a list of parameter names"),
        ({"version": 2}, "version= takes a string"),
        ({"tags": "demo"}, "tags= takes a list of strings"),
    ]:
        with pytest.raises(ag.UsageError, match=match):

            @ag.graph_fn(name="ag_bad", **bad)  # type: ignore[arg-type]
            async def ag_bad(x: int, y: int) -> dict[str, int]:
                return {}

    with pytest.raises(ag.UsageError, match="does not match"):

        @ag.tool(inputs=["q"])
        def ag_tool(a: int) -> dict[str, int]:
            return {}


def test_inputs_named_after_start_options_are_refused_when_defined() -> None:
    """``@graphify`` accepted an input named ``session``, ``retry`` or ``run_id``; calling the graph then failed
    with "takes inputs ['session']; missing ['session']" or "retry must be an ag.RetryPolicy". ``@graph_fn``
    refused its reserved names but not ``resume_mode``, start()'s newest keyword."""
    for name in ("session", "retry", "run_id", "max_concurrency", "resume_mode"):
        with pytest.raises(ag.UsageError, match=f"input name '{name}' is reserved by start"):
            ag.graphify(name="reserved_graph", inputs=[name], outputs=["y"])(lambda **kw: {"y": None})
    with pytest.raises(ag.UsageError, match="parameter name 'resume_mode' is reserved by start"):

        @ag.graph_fn(name="reserved_agent")
        async def reserved_agent(resume_mode: str) -> dict[str, str]:
            return {}


def test_start_keywords_given_to_a_call_say_they_belong_to_start(session: Session) -> None:
    """``await agent(x, run_id="id")`` said "two(tag: str): got an unexpected keyword argument 'run_id'" with a
    chained TypeError showing inspect's frames; an agent taking ``**kwargs`` took ``run_id`` as an input instead."""

    @ag.graph_fn
    async def two(tag: str) -> None:
        return None

    @ag.graph_fn
    async def loose(**kw: object) -> None:
        return None

    @ag.graph_fn
    async def outer() -> None:
        await two("y", resume_mode="failed_nodes")

    for call in (
        lambda: two("x", run_id="my-id"),
        lambda: loose(run_id="my-id"),
        lambda: two.sync("x", run_id="my-id"),
    ):
        with pytest.raises(ag.UsageError) as err:
            call()
        assert err.value.code == "start_keyword"
        assert "run_id= is a keyword of " in err.value.message and ".start(..., run_id='my-id')`" in err.value.message
        assert "then `await run` for its outputs" in err.value.message
        assert _chains_nothing(err.value)
    assert ag.runs() == []
    with pytest.raises(ag.RunFailed) as failed:
        arun(outer())
    assert isinstance(failed.value.__cause__, ag.UsageError)
    assert "resume_mode= is a keyword of two.start()" in failed.value.__cause__.message
    assert "(called inside a run, it is a step of that run, not a run of its own)" in failed.value.__cause__.message
    with pytest.raises(ag.UsageError, match="unexpected keyword argument 'rn_id'") as err:
        two("x", rn_id="my-id")
    assert _chains_nothing(err.value)  # the message says it all: no chained TypeError showing inspect's frames


def _chains_nothing(exc: BaseException) -> bool:
    """Whether a traceback of ``exc`` shows no other exception (neither ``from`` one nor one it was raised in)."""
    return exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_tool_calls_go_into_a_task_group_and_create_task_like_coroutines(session: Session) -> None:
    """``asyncio.TaskGroup`` (Python 3.11's structured concurrency) and ``asyncio.create_task`` refused a tool call:
    "a coroutine was expected, got <tool call ...>" (``gather`` took it). A call is a coroutine now; a task
    cancelled before it began never runs and is not reported as not awaited."""
    ran: list[int] = []

    @ag.tool(outputs=["v"])
    async def square(x: int) -> dict[str, int]:
        ran.append(x)
        return {"v": x * x}

    @ag.graph_fn(outputs=["total", "first"])
    async def squares() -> dict[str, int]:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(square(x)) for x in (1, 2, 3)]
        first = await asyncio.create_task(square(4))
        never = asyncio.create_task(square(5))
        never.cancel()
        await asyncio.gather(never, return_exceptions=True)
        return {"total": sum(t.result()["v"] for t in tasks), "first": first["v"]}

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = squares.start()
        return await run, run

    out, run = arun(main())
    assert out == {"total": 14, "first": 16} and sorted(ran) == [1, 2, 3, 4]
    assert [n.id for n in run.graph.nodes] == ["square_1", "square_2", "square_3", "square_4"]
    assert not [e for e in run.history if e.kind == "warning"]


def test_a_task_of_a_tool_call_the_body_never_awaited_never_runs(session: Session) -> None:
    """``asyncio.create_task(charge(9))`` and return: the run fails saying the call never ran, and the task, which
    starts after that, must not run it (its side effect came after the run had ended)."""
    ran: list[int] = []

    @ag.tool(outputs=["v"])
    def charge(x: int) -> dict[str, int]:
        ran.append(x)
        return {"v": x}

    @ag.graph_fn(outputs=["r"])
    async def agent() -> dict[str, str]:
        asyncio.create_task(charge(9))  # noqa: RUF006 (the mistake under test: a task nobody keeps or awaits)
        return {"r": "left"}

    async def main() -> ag.Run:
        run = agent.start()
        with pytest.raises(ag.RunFailed, match="never awaited, so it never ran"):
            await run
        for _ in range(50):  # the task's turns come after the run's end
            await asyncio.sleep(0)
        return run

    run = arun(main())
    assert ran == [] and run.graph.nodes == []
