"""@tool: direct calls, calls inside runs, output normalisation, worker threads, forgotten awaits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.tools import normalise_outputs
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.tool
async def add(a: int, b: int = 1) -> int:
    return a + b


def test_direct_calls_outside_a_run() -> None:
    assert double(3) == {"y": 6}
    assert double(x=4) == {"y": 8}
    coro = add(1, b=2)
    assert asyncio.iscoroutine(coro)
    assert arun(coro) == {"result": 3}


def test_positional_and_keyword_arguments_inside_a_run(session: Session) -> None:
    @ag.graph_fn
    async def agent() -> dict[str, Any]:
        a = await double(2)
        b = await double(x=a["y"])
        c = await add(b["y"], b=10)
        return c

    assert arun(agent()) == {"result": 18}
    g = ag.runs()[0].graph
    assert [n.inputs for n in g.nodes] == [{"x": 2}, {"x": 4}, {"a": 8, "b": 10}]


def test_bad_arguments_are_a_usage_error_showing_the_signature() -> None:
    with pytest.raises(ag.UsageError, match=r"double\(x: int\)"):
        double(1, 2)


def test_undeclared_and_missing_outputs(session: Session) -> None:
    @ag.tool(outputs=["y"])
    def extra() -> dict[str, int]:
        return {"y": 1, "z": 2}

    @ag.tool(outputs=["y", "z"])
    def missing() -> dict[str, int]:
        return {"y": 1}

    with pytest.raises(ag.UsageError, match="undeclared") as e1:
        extra()
    assert e1.value.code == "undeclared_outputs"
    with pytest.raises(ag.UsageError, match="did not return declared") as e2:
        missing()
    assert e2.value.code == "missing_outputs"

    @ag.graph_fn
    async def agent() -> None:
        await extra()

    with pytest.raises(ag.RunFailed) as e3:
        arun(agent())
    assert isinstance(e3.value.__cause__, ag.UsageError)
    assert ag.runs()[0].graph.node("extra_1").status == "FAILED"


def test_forgotten_await_is_a_clear_error(session: Session) -> None:
    @ag.graph_fn
    async def forgot() -> None:
        double(1)

    with pytest.raises(ag.RunFailed) as info:
        arun(forgot())
    cause = info.value.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "not_awaited"
    assert "await" in str(cause) and "double" in str(cause)


def test_using_an_unawaited_result_says_to_await(session: Session) -> None:
    @ag.graph_fn
    async def forgot() -> None:
        d = double(1)
        d["y"]

    with pytest.raises(ag.RunFailed) as info:
        arun(forgot())
    assert "await double" in str(info.value.__cause__)


def test_sync_tool_bodies_run_in_a_worker_thread(session: Session) -> None:
    threads: list[int] = []
    release = threading.Event()

    @ag.tool
    def blocking() -> None:
        threads.append(threading.get_ident())
        assert release.wait(10), "the loop never got to release the worker"

    @ag.tool
    async def releaser() -> None:
        release.set()

    @ag.graph_fn
    async def agent() -> None:
        # if blocking() ran on the loop, releaser() could never run and blocking() would time out
        await asyncio.gather(blocking(), releaser())

    async def main() -> None:
        loop_thread = threading.get_ident()
        await agent()
        assert threads and threads[0] != loop_thread

    arun(main())


def test_tools_called_from_a_sync_tool_run_directly(session: Session) -> None:
    @ag.tool(outputs=["z"])
    def outer(x: int) -> dict[str, int]:
        return {"z": double(x)["y"] + 1}

    @ag.graph_fn
    async def agent() -> dict[str, int]:
        return await outer(5)

    assert arun(agent()) == {"z": 11}
    assert [n.id for n in ag.runs()[0].graph.nodes] == ["outer_1"]


def test_control_kwargs_outside_a_build_are_rejected() -> None:
    with pytest.raises(ag.UsageError, match="graphify"):
        double(x=1, _id="a")


def test_decorator_validation() -> None:
    def f() -> None:
        return None

    with pytest.raises(ag.UsageError, match="list of names"):
        ag.tool(outputs="y")(f)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="identifier"):
        ag.tool(outputs=["not a name"])(f)
    with pytest.raises(ag.UsageError, match="duplicates"):
        ag.tool(outputs=["a", "a"])(f)
    with pytest.raises(ag.UsageError, match="identifier"):
        ag.tool(lambda: None)


# -- output normalisation properties ------------------------------------------------------------------------

names = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), min_size=1, max_size=4, unique=True)
values = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=3))


@given(st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), values, max_size=4))
def test_undeclared_outputs_pass_dicts_through(d: dict[str, Any]) -> None:
    assert normalise_outputs(d, None, "t") == d


@given(names, st.data())
def test_tuples_map_onto_declared_outputs_in_order(outs: list[str], data: st.DataObject) -> None:
    vals = tuple(data.draw(values) for _ in outs)
    assert normalise_outputs(vals, outs, "t") == dict(zip(outs, vals, strict=True))


@given(names, st.data())
def test_declared_dicts_must_match_exactly(outs: list[str], data: st.DataObject) -> None:
    d = {k: data.draw(values) for k in outs}
    assert normalise_outputs(d, outs, "t") == d
    extra = dict(d, zz_extra=1)
    with pytest.raises(ag.UsageError):
        normalise_outputs(extra, outs, "t")
    if len(outs) > 1:
        with pytest.raises(ag.UsageError):
            normalise_outputs({k: d[k] for k in outs[1:]}, outs, "t")


@given(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)))
def test_single_values(v: Any) -> None:
    assert normalise_outputs(v, None, "t") == {"result": v}
    assert normalise_outputs(v, ["out"], "t") == {"out": v}
    with pytest.raises(ag.UsageError):
        normalise_outputs(v, ["a", "b"], "t")
    assert normalise_outputs(None, None, "t") == {}


def test_a_builtin_without_a_signature_is_refused_with_what_to_do() -> None:
    with pytest.raises(ag.UsageError, match="has no Python signature") as caught:
        ag.tool(outputs=["y"])(int)
    assert caught.value.code == "no_signature"


@ag.graph_fn(outputs=["done"])
async def counts_wrongly(*, context: ag.NodeContext) -> dict[str, Any]:
    async with context.channel().progress("Indexing", total=3) as p:
        await p.update(inc="one")
    return {"done": True}


def test_a_progress_update_that_is_not_a_number_says_so(session: Session) -> None:
    with pytest.raises(ag.RunFailed, match=r"progress.update\(inc=...\) takes a number, got 'one'"):
        arun(counts_wrongly())
