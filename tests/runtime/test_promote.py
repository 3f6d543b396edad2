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


def execute(source: str, **tools: Any) -> Any:
    namespace: dict[str, Any] = {"ag": ag, "double": double, "add": add, **tools}
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
    # values that flowed between calls became references; the literal 7 (a constant of the code) stayed a literal
    assert "double_2 = double(x=double_1.y)" in source
    assert "double_4 = double(x=7, _after=[double_1])" in source  # (gathered after double_1 in the run)
    g = execute(source)["fan_static"].build()
    assert set(g.node("double_2").deps) == {"double_1"}
    # 8 + 14 was computed in Python between calls: not frozen, but an input with the run's value as its default
    assert "add_1 = add(a=add_1_a, b=double_4.y, _after=[double_2, double_3])" in source
    assert "'add_1_a': 22" in source and "add_1_a = 22" in source


def test_a_computed_value_is_never_frozen_silently(session: Session) -> None:
    """The wave-1 bug: fan_static(x=3) returned 40 where fan_out(x=3) returns 48, with no warning."""

    @ag.graph_fn(outputs=["y"])
    async def plus_one(x: int) -> dict[str, int]:
        a = await double(x)
        b = await double(a["y"] + 1)
        return {"y": b["y"]}

    async def main() -> tuple[Any, ...]:
        run = plus_one.start(x=20)
        out = await run
        static = execute(run.promote("plus_static"))["plus_static"]
        same = await static(x=20)  # the run's inputs: the run's computed value is right
        with pytest.raises(ag.UsageError, match="double_2_x") as stale:
            await static(x=3)
        given = await static(x=3, double_2_x=7)  # what plus_one(x=3) computes: 2*3 + 1
        graph = run.to_taskgraph("plus_graph")
        with pytest.raises(ag.UsageError, match="stale"):
            await ag.run(graph, {"x": 3})
        with pytest.raises(ag.UsageError, match="double_2_x = 41"):
            run.promote("strict", computed="refuse")
        return out, same, stale.value.code, given, await plus_one(x=3)

    out, same, code, given, direct = arun(main())
    assert out == same == {"y": 82}
    assert code == "stale_computed_inputs"
    assert given == direct == {"y": 14}


def test_values_built_from_outputs_keep_their_references(session: Session) -> None:
    @ag.tool(outputs=["n"])
    def count(items: list[int]) -> dict[str, int]:
        return {"n": len(items)}

    @ag.graph_fn(outputs=["n"])
    async def gather_two(x: int) -> dict[str, int]:
        a = await double(x)
        b = await double(x + 0)
        c = await count([a["y"], b["y"], 5])
        return {"n": c["n"]}

    async def main() -> tuple[str, Any]:
        run = gather_two.start(x=4)
        await run
        source = run.promote("two")
        return source, await execute(source, count=count)["two"](x=9)

    source, out = arun(main())
    assert "double_2 = double(x=x, _after=[double_1])" in source  # x + 0 == x: as good as passing x
    # 8 is both outputs and is passed twice: each place takes one of them, in the run's order (it read double_2 twice)
    assert "count_1 = count(items=[double_1.y, double_2.y, 5])" in source
    assert out == {"n": 3}


def test_the_promotion_is_checked_against_the_run(session: Session) -> None:
    """A promotion that would not reproduce the run is refused (here: the journal lost a call)."""

    async def main() -> None:
        run = demo.start(x=21)
        await run
        store = session.store
        store.flush()
        real = store.inner

        class Forgetful:  # the same store, minus the journal (as if its entries had been lost)
            inner = real  # (a wrapper of the run's own store: the run is not of another store)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def load_journal(self, run_id: str) -> list[Any]:
                return [e for e in real.load_journal(run_id) if e.key != "double_1"]

        session.store = Forgetful()  # type: ignore[assignment]
        with pytest.raises(ag.UsageError, match="has no journaled result"):
            run.promote("demo_static")

    arun(main())


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

    @ag.tool(outputs=["text"])
    def shout(text: str) -> dict[str, str]:
        return {"text": text.upper() + "!"}

    @ag.graph_fn(outputs=["y", "said"])
    async def asked(*, context: ag.NodeContext) -> dict[str, Any]:
        answer = await context.channel().ask_text("n?")
        said = await shout(answer)  # the answer itself: kept as the literal it was
        n = int(answer)  # computed from it: an input of the promoted graph
        return {"y": (await double(n))["y"], "said": said["text"]}

    async def main() -> tuple[str, Any]:
        run = asked.start()
        await run
        source = run.promote("asked_static")
        return source, await execute(source, shout=shout)["asked_static"]()

    source, out = arun(main())
    assert out == {"y": 10, "said": "5!"}
    assert "# ask_text_1 (ask_text) produced '5' during the run: kept as a literal" in source
    assert "shout_1 = shout(text='5')" in source
    assert "double_1 = double(x=double_1_x, _after=[shout_1])" in source and "'double_1_x': 5" in source


@ag.tool(outputs=["forecast"])
def forecast(city: str, api_key: str) -> dict[str, str]:
    return {"forecast": f"{city}: 12 C"}


def test_a_key_the_agent_passed_never_lands_in_the_promoted_source(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promoted source is printed into the notebook (and saved with it): a key read from the environment is
    read by a node when the graph runs (not an input: a run with a secret input cannot resume after a restart),
    one given any other way becomes an input to pass; neither value appears."""
    monkeypatch.setenv("WEATHER_API_KEY", "wk-live-7f3a9c2e5b1d4a8f9e0c")
    import os

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a GitHub-style token held in a variable

    @ag.graph_fn(name="weather_env", outputs=["f", "g"])
    async def weather_env(city: str) -> dict[str, str]:
        a = await forecast(city, os.environ["WEATHER_API_KEY"])
        b = await forecast(city, token)
        return {"f": a["forecast"], "g": b["forecast"]}

    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = weather_env.start(city="Oslo")
        out = await run
        source = run.promote("weather_static")
        graph = execute(source, forecast=forecast)["weather_static"]
        again = await graph(city="Bergen", forecast_2_api_key=token)
        return source, out, again

    source, out, again = arun(main())
    assert "wk-live" not in source and "ghp_" not in source, source
    assert "read_env_1 = _ag_read_env(name='WEATHER_API_KEY')" in source
    assert "forecast(city=city, api_key=read_env_1.value)" in source
    assert "'forecast_2_api_key': ag.REQUIRED" in source and "forecast_1_api_key" not in source
    assert out == {"f": "Oslo: 12 C", "g": "Oslo: 12 C"}
    assert again == {"f": "Bergen: 12 C", "g": "Bergen: 12 C"}  # the env read is not a stale computed value


def test_promoting_after_a_tool_was_redefined_says_so_and_uses_the_new_code(session: Session) -> None:
    """A person fixes a tool in its cell after the run, then promotes: the source calls the tool by name (its new
    code), so the promotion succeeds and says the code changed, instead of "redefined after the graph was built"."""
    cell: dict[str, Any] = {"__name__": "__main__", "ag": ag}  # cells run in __main__, as in a kernel
    exec(TOOL_CELL.format(factor=2), cell)

    @ag.graph_fn(name="scaler", outputs=["y"])
    async def scaler(x: int) -> dict[str, int]:
        return {"y": (await cell["scale"](x))["y"]}

    async def main() -> tuple[str, dict[str, Any]]:
        run = scaler.start(x=5)
        assert await run == {"y": 10}
        exec(TOOL_CELL.format(factor=3), cell)  # the cell, edited and run again
        source = run.promote("scaler_static")
        return source, await execute(source, scale=cell["scale"])["scaler_static"](x=5)

    source, again = arun(main())
    assert "# scale was redefined after run run-1: the graph calls its current code" in source
    assert again == {"y": 15}


TOOL_CELL = """
@ag.tool(outputs=["y"], name="scale")
def scale(x: int) -> dict:
    return {{"y": x * {factor}}}
"""


@ag.graph_fn(name="doubling_loop", outputs=["answer"])
async def doubling_loop(x: int) -> dict[str, int]:
    d = await double(x)
    while d["y"] < 50:
        d = await double(d["y"])
    return {"answer": d["y"]}


@ag.graph_fn(name="plus_step", outputs=["answer"])
async def plus_step(x: int, step: int) -> dict[str, int]:
    s = await add(x, 1)  # the constant 1, equal to the run's input step
    return {"answer": (await add(s["total"], step))["total"]}


@ag.graph_fn(name="counted", outputs=["answer"])
async def counted(items: list[int], n: int) -> dict[str, int]:
    return {"answer": (await double(len(items)))["y"]}  # n is never read; len(items) happened to equal it


def _promoted(agent: Any, name: str, **inputs: Any) -> str:
    async def main() -> str:
        run = agent.start(**inputs)
        await run
        return str(run.promote(name))

    return arun(main())


def test_a_promoted_graph_says_it_is_the_path_one_run_took_through_branches_and_loops(session: Session) -> None:
    """A loop (or an `if` on a value) promoted without a word: with another input the graph ran the run's five
    doublings where the agent ran one. The source says so, naming the lines; a straight agent gets no such note."""
    source = _promoted(doubling_loop, "doubling_static", x=3)
    assert "This graph is the path run" in source and 'while d["y"] < 50' in source
    assert "line " in source.split("while")[0].rsplit("(", 1)[-1]
    assert "This graph is the path" not in _promoted(demo, "demo_static", x=2)


def test_an_origin_found_by_equal_value_is_named_with_the_others_it_could_be(session: Session) -> None:
    """Arguments are traced by value: a constant 1 equal to the input ``step`` became ``step`` without a word; an
    argument equal to an input the agent never reads (``len(items) == n``) became that input, without a word."""
    source = _promoted(plus_step, "plus_static", x=5, step=1)
    assert "add_1_b: its value 1 is also the constant 1 of the agent's code; the graph takes step" in source
    source = _promoted(counted, "counted_static", items=[4, 5, 6], n=3)
    assert "a value computed in Python (the agent's code does not read input n)" in source


@ag.graph_fn(name="llm_picks", outputs=["a"])
async def llm_picks(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    d = await double(x)
    await context.llm().run_tools([{"role": "user", "content": "double 10"}], tools=[double])
    return {"a": d["y"]}


def test_arguments_an_llm_chose_are_literals_of_the_promoted_graph(session: Session) -> None:
    """README: an LLM reply taken during the run stays the literal it was, noted in the source. The arguments of a
    tool call the model made in ``run_tools`` were taken for values computed in Python (a computed input, and
    calling the graph with other inputs raised ``stale_computed_inputs``), or, when equal to an earlier output
    (the model chose 10, ``double_1`` made 10), for a reference to it: a dependency the run never had."""
    from aether_nb.testing import FakeOpenAI

    async def main() -> tuple[str, Any]:
        script = [{"tool_calls": [{"name": "double", "arguments": {"x": 10}}]}, "done"]
        with FakeOpenAI(script=script) as fake:
            ag.configure(llm={"base_url": fake.base_url, "model": "fake", "api_key": "sk-test"})
            run = llm_picks.start(x=5)
            assert await run == {"a": 10}
        source = run.promote("llm_picks_static")
        namespace: dict[str, Any] = {"ag": ag, "double": double}
        exec(source, namespace)
        return source, await namespace["llm_picks_static"](x=6)  # other inputs: no stale computed input

    source, out = arun(main())
    assert "run_tools_1/double_1: its arguments were chosen by the LLM" in source, source
    assert "double(x=10, _id='run_tools_1__double_1', _after=[double_1])" in source, source
    assert "computed" not in source, source
    assert out == {"a": 12}


CALLED: list[str] = []


@ag.tool(outputs=["y"])
async def inner_step(x: int) -> dict[str, int]:
    CALLED.append("inner")
    return {"y": x + 1}


@ag.tool(outputs=["z"])
async def outer_step(x: int) -> dict[str, int]:
    y = (await inner_step(x))["y"]
    CALLED.append("outer")
    return {"z": y * 2}


@ag.graph_fn(outputs=["z"])
async def calls_a_tool_that_calls_a_tool(x: int) -> dict[str, int]:
    return {"z": (await outer_step(x))["z"]}


def test_a_call_a_tool_made_in_its_body_is_not_a_node_of_the_promoted_graph(session: Session) -> None:
    """It was promoted beside the tool that made it: running the promoted graph made the inner call twice."""

    async def main() -> tuple[str, dict[str, Any]]:
        run = calls_a_tool_that_calls_a_tool.start(x=1)
        await run
        source = run.promote("nested_static")
        CALLED.clear()
        graph = execute(source, inner_step=inner_step, outer_step=outer_step)["nested_static"]
        return source, await graph(x=1)

    source, out = arun(main())
    assert out == {"z": 4}
    assert CALLED == ["inner", "outer"], CALLED
    assert "inner_step(" not in source


@ag.tool(outputs=["ratio"])
def ratio(total: float, count: int) -> dict[str, float]:
    return {"ratio": total / count if count else 0.0}


@ag.graph_fn(outputs=["ratio"])
async def average(total: float, count: int) -> dict[str, float]:
    return {"ratio": (await ratio(total, count))["ratio"]}


@pytest.mark.parametrize(("total", "count"), [(4.0, 2), (0.0, 0)])
def test_an_output_equal_to_an_input_by_coincidence_is_the_tools_result(
    session: Session, total: float, count: int
) -> None:
    """The run's ratio 2.0 equals its input count=2 (0.0 == 0 too): the promoted graph returned ``count``, so with
    other inputs it returned 5 where the agent returned 10.0 (a scratch tester's notebook)."""

    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = average.start(total=total, count=count)
        await run
        source = run.promote("average_static")
        graph = execute(source, ratio=ratio)["average_static"]
        return source, await average(total=50.0, count=5), await graph(total=50.0, count=5)

    source, agent_out, graph_out = arun(main())
    assert graph_out == agent_out == {"ratio": 10.0}, source
    assert "return {'ratio': ratio_1.ratio}" in source
