"""Promotion: a finished graph_fn run becomes @graphify source (and a TaskGraph) that reproduces its outputs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.tool(outputs=["total"])
async def add(a: int, b: int) -> dict[str, int]:
    return {"total": a + b}


@ag.graph_fn(name="demo", outputs=["answer"])
async def demo(x: int, *, context: ag.NodeContext) -> dict[str, int]:
    d = await double(x)
    await context.channel().send_text(f"Answer: {d['y']}")
    return {"answer": d["y"]}


@ag.graph_fn(outputs=["total", "first"])
async def fan_out(x: int, offset: int = 3) -> dict[str, int]:
    a = await double(x)
    parts = await asyncio.gather(double(a["y"]), double(a["y"] + offset), double(7))
    s = await add(parts[0]["y"] + parts[1]["y"], parts[2]["y"])
    return {"total": s["total"], "first": a["y"]}


def execute(source: str) -> Any:
    namespace: dict[str, Any] = {"ag": ag, "double": double, "add": add}
    exec(source, namespace)  # the promoted source, as a notebook cell would run it
    return namespace


def test_promote_the_quickstart_agent(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = demo.start(x=21)
        out = await run
        source = run.promote("demo_static")
        graph = execute(source)["demo_static"]
        return source, out, await graph(x=21)

    source, out, again = arun(main())
    assert out == again == {"answer": 42}
    assert "double_1 = double(x=x)" in source and "return {'answer': double_1.y}" in source
    assert "inputs=['x']" in source


def test_promote_a_fan_out_agent(session: Session) -> None:
    async def main() -> tuple[str, Any, Any, Any]:
        run = fan_out.start(x=2)
        out = await run
        source = run.promote("fan_static")
        graph = execute(source)["fan_static"]
        g = run.to_taskgraph("fan_graph")
        return source, out, await graph(x=2), await ag.run(g, {"x": 2})

    source, out, again, via_graph = arun(main())
    assert out == again == via_graph == {"total": 36, "first": 4}
    # values that flowed between calls became references; the literal 7 stayed a literal
    assert "double_2 = double(x=double_1.y)" in source
    assert "double_4 = double(x=7)" in source
    g = execute(source)["fan_static"].build()
    assert set(g.node("double_2").deps) == {"double_1"}
    # a computed argument (4 + 3) is not a recorded value: it is kept as the literal the run used
    assert "double_3 = double(x=7)" in source
    assert "add_1 = add(a=22, b=double_4.y)" in source


def test_only_succeeded_runs_promote(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"n": await context.channel().ask_text("n?")}

    async def main() -> None:
        run = asks.start()
        await run.wait_for("waiting")
        with pytest.raises(ag.UsageError, match="only a succeeded run"):
            run.promote()
        run.cancel()

    arun(main())


def test_answers_are_kept_as_literals_and_noted(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers("5")

    @ag.graph_fn(outputs=["y"])
    async def asked(*, context: ag.NodeContext) -> dict[str, int]:
        n = int(await context.channel().ask_text("n?"))
        return {"y": (await double(n))["y"]}

    async def main() -> tuple[str, Any]:
        run = asked.start()
        await run
        source = run.promote("asked_static")
        return source, await execute(source)["asked_static"]()

    source, out = arun(main())
    assert out == {"y": 10}
    assert "# ask_text_1 (ask_text) produced '5' during the run: kept as a literal" in source
