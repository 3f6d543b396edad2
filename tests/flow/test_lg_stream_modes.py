"""``stream_mode="tasks"`` and ``"checkpoints"``: LangGraph's payloads, checked against LangGraph itself on the
same graphs (skipped when langgraph is not installed: ``pip install -e ".[bench]"``), combined with the other
modes and with ``subgraphs=True``.

Ids differ by design (aether_nb's task ids are node names, its checkpoint ids sequence numbers), so the
comparison replaces them by their order of appearance; tasks of one superstep finish in any order, so chunks are
compared as a multiset between two checkpoints.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.flow import START, Command, Send, StateGraph, interrupt

pytestmark = pytest.mark.anyio


class S(TypedDict, total=False):
    x: int
    log: Annotated[list, operator.add]


def _fan_out(graph_cls: Any) -> Any:
    def a(s: S) -> dict[str, Any]:
        return {"x": s["x"] + 1, "log": ["a"]}

    def b(s: S) -> dict[str, Any]:
        return {"log": ["b"]}

    def c(s: S) -> dict[str, Any]:
        return {"log": ["c"]}

    g = graph_cls(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_node("c", c)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    return g


def _send_and_interrupt(graph_cls: Any) -> Any:
    ours = graph_cls is StateGraph
    if not ours:
        from langgraph.types import Send as send_cls
        from langgraph.types import interrupt as interrupt_fn
    else:
        send_cls, interrupt_fn = Send, interrupt

    def b(s: S) -> dict[str, Any]:
        return {"log": [f"b{s['x']}"]}

    def c(s: S) -> dict[str, Any]:
        return {"log": [interrupt_fn("q?")]}

    g = graph_cls(S)
    g.add_node("b", b)
    g.add_node("c", c)
    g.add_conditional_edges(START, lambda s: [send_cls("b", {"x": 5}), "c"], ["b", "c"])
    return g


def _normalise(chunks: list[Any]) -> list[Any]:
    """Checkpoint ids replaced by their order of appearance, task ids by their task's name; chunks between two
    checkpoints as a sorted multiset."""
    checkpoint_ids: dict[str, str] = {}

    def norm(x: Any, key: str = "") -> Any:
        if key == "checkpoint_id":
            return checkpoint_ids.setdefault(str(x), f"cp{len(checkpoint_ids)}")
        if key == "error":
            return repr(x) if isinstance(x, BaseException) else x
        if key == "interrupts":
            return [i["value"] for i in x]
        if isinstance(x, dict):
            named = {k: v for k, v in x.items() if not (k == "id" and "name" in x)}
            return {k: norm(v, k) for k, v in sorted(named.items())}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        return x

    out: list[Any] = []
    segment: list[Any] = []
    for mode, payload in chunks:
        if mode == "checkpoints":
            out.extend(sorted(segment, key=repr))
            segment = []
            out.append((mode, norm(payload)))
        else:
            segment.append((mode, norm(payload)))
    out.extend(sorted(segment, key=repr))
    return out


def _langgraph() -> Any:
    return pytest.importorskip("langgraph.graph")


def _lg_run(build: Callable[[Any], Any], steps: list[Any], modes: list[str]) -> list[list[Any]]:
    lg = _langgraph()
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command as LGCommand

    app = build(lg.StateGraph).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "1"}}
    out = []
    for inp in steps:
        if isinstance(inp, Command):
            inp = LGCommand(resume=inp.resume)
        out.append(list(app.stream(inp, cfg, stream_mode=modes)))
    return out


async def _ours(build: Callable[[Any], Any], steps: list[Any], modes: list[str], checkpointer: str) -> list[list[Any]]:
    app = build(StateGraph).compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "1"}}
    return [[c async for c in app.astream(inp, cfg, stream_mode=modes)] for inp in steps]


@pytest.mark.parametrize(
    ("build", "steps"),
    [(_fan_out, [{"x": 1}]), (_send_and_interrupt, [{"x": 1}, Command(resume="yes")])],
    ids=["fan-out", "send+interrupt+resume"],
)
async def test_tasks_and_checkpoints_match_langgraph(
    checkpointer: str, build: Callable[[Any], Any], steps: list[Any]
) -> None:
    modes = ["tasks", "checkpoints"]
    theirs = _lg_run(build, steps, modes)
    ours = await _ours(build, steps, modes, checkpointer)
    assert len(ours) == len(theirs)
    for mine, lg in zip(ours, theirs, strict=True):
        assert _normalise(mine) == _normalise(lg)


async def test_a_failing_task_streams_its_error_as_langgraph(checkpointer: str) -> None:
    def build(graph_cls: Any) -> Any:
        def bad(s: S) -> dict[str, Any]:
            raise ValueError("boom")

        g = graph_cls(S)
        g.add_node("bad", bad)
        g.add_edge(START, "bad")
        return g

    lg = _langgraph()
    from langgraph.checkpoint.memory import InMemorySaver

    theirs: list[Any] = []
    with pytest.raises(ValueError, match="boom"):
        for c in (
            build(lg.StateGraph)
            .compile(checkpointer=InMemorySaver())
            .stream({"x": 1}, {"configurable": {"thread_id": "1"}}, stream_mode=["tasks", "checkpoints"])
        ):
            theirs.append(c)
    ours: list[Any] = []
    app = build(StateGraph).compile(checkpointer=checkpointer)
    with pytest.raises(ValueError, match="boom"):
        async for c in app.astream({"x": 1}, {"thread_id": "1"}, stream_mode=["tasks", "checkpoints"]):
            ours.append(c)
    assert _normalise(ours) == _normalise(theirs)
    error = ours[-1][1]["error"]
    assert isinstance(error, ValueError) and str(error) == "boom"


async def test_task_ids_tie_starts_results_and_checkpoints(checkpointer: str) -> None:
    app = _send_and_interrupt(StateGraph).compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "ids"}}
    chunks = [c async for c in app.astream({"x": 1}, cfg, stream_mode=["tasks", "checkpoints"])]
    checkpoints = [p for m, p in chunks if m == "checkpoints"]
    starts = {p["id"]: p for m, p in chunks if m == "tasks" and "input" in p}
    results = {p["id"]: p for m, p in chunks if m == "tasks" and "result" in p}
    assert set(starts) == set(results) == {t["id"] for t in checkpoints[-1]["tasks"]}
    assert {starts[i]["triggers"] for i in starts} == {("__pregel_push",), ("branch:to:c",)}
    snap = await app.aget_state(cfg)
    assert checkpoints[-1]["config"] == snap.config
    assert [p["metadata"]["source"] for p in checkpoints] == ["input", "loop"]
    assert checkpoints[1]["parent_config"] == checkpoints[0]["config"]


async def test_tasks_combine_with_other_modes_and_subgraphs(checkpointer: str) -> None:
    inner = StateGraph(S)
    inner.add_node("i", lambda s: {"log": ["i"]})
    inner.add_edge(START, "i")
    outer = StateGraph(S)
    outer.add_node("sub", inner.compile())
    outer.add_node("after", lambda s: {"log": ["after"]})
    outer.add_edge(START, "sub")
    outer.add_edge("sub", "after")
    app = outer.compile(checkpointer=checkpointer)
    chunks = [
        c
        async for c in app.astream(
            {"x": 0}, {"thread_id": "sg"}, stream_mode=["updates", "tasks", "checkpoints"], subgraphs=True
        )
    ]
    by_ns: dict[tuple[str, ...], list[tuple[str, Any]]] = {}
    for ns, mode, payload in chunks:  # (LangGraph's flat triple)
        by_ns.setdefault(ns, []).append((mode, payload))
    root = by_ns.pop(())
    assert [p["name"] for m, p in root if m == "tasks" and "input" in p] == ["sub", "after"]
    assert ("updates", {"after": {"log": ["after"]}}) in root
    (sub_ns, sub_chunks), *_ = by_ns.items()
    assert sub_ns[0].startswith("sub")
    assert [p["name"] for m, p in sub_chunks if m == "tasks" and "result" in p] == ["i"]
    assert any(m == "checkpoints" and p["config"]["configurable"]["checkpoint_ns"] == "sub" for m, p in sub_chunks)
    # without subgraphs=True the subgraph's chunks stay out
    flat = [c async for c in app.astream({"x": 0}, {"thread_id": "sg2"}, stream_mode="tasks")]
    assert [p["name"] for p in flat if "input" in p] == ["sub", "after"]


async def test_a_resume_streams_the_checkpoint_it_continues_from_then_its_tasks(checkpointer: str) -> None:
    app = _send_and_interrupt(StateGraph).compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "r"}}
    first = [c async for c in app.astream({"x": 1}, cfg, stream_mode=["tasks", "checkpoints", "updates"])]
    interrupted = [p for m, p in first if m == "tasks" and p.get("interrupts")]
    assert [i["value"] for i in interrupted[0]["interrupts"]] == ["q?"]
    second = [c async for c in app.astream(Command(resume="yes"), cfg, stream_mode=["tasks", "checkpoints"])]
    mode, head = second[0]
    assert mode == "checkpoints" and head["metadata"]["step"] == 0
    by_name = {t["name"]: t for t in head["tasks"]}
    assert by_name["b"]["result"] == {"log": ["b5"]} and [i["value"] for i in by_name["c"]["interrupts"]] == ["q?"]
    results = [p for m, p in second if m == "tasks" and "result" in p]
    assert [(p["name"], p["result"]) for p in results] == [("c", {"log": ["yes"]})]  # b is not run again
    assert second[-1][1]["values"] == {"x": 1, "log": ["yes", "b5"]}
