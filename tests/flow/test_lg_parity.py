"""A LangGraph user's code, run on LangGraph and on aether_nb.flow side by side (only the import differs).

Each test builds the same graph with both libraries' names (``_lg()`` gives LangGraph's, skipped when it is not
installed: ``pip install -e ".[bench]"``) and compares what a user sees: results, ``get_state``, stream chunks,
interrupts and errors. Written from LangGraph's how-to guides and its own tests; where aether_nb differs by design
the README's "Differences from LangGraph" table says so and the test asserts aether_nb's documented behaviour.
"""

from __future__ import annotations

import asyncio
import operator
import threading
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import both as _both
from tests.flow.conftest import lg_names as _lg
from tests.flow.conftest import thread as _thread

pytestmark = pytest.mark.anyio


class Total(TypedDict):
    value: Annotated[int, operator.add]


async def test_a_sync_node_still_running_when_a_sibling_fails_keeps_its_result(checkpointer: str) -> None:
    """test_pregel.py::test_pending_writes_resume: a sync node's thread cannot be stopped, so when a sibling fails
    LangGraph's ``invoke`` waits for it and keeps its write; the next call runs only the failed node. (LangGraph's
    ``ainvoke`` loses that write and runs the node again; aether_nb keeps it in both, so its effect happens once.)
    ``three`` is cancelled by the failure and lets ``one`` finish only then: ``one`` is surely still running."""
    started, release = threading.Event(), threading.Event()
    calls = {"one": 0, "two": 0, "three": 0}

    def one(s: Total) -> dict[str, Any]:
        calls["one"] += 1
        started.set()
        release.wait(30)
        return {"value": 2}

    def two(s: Total) -> dict[str, Any]:
        calls["two"] += 1
        started.wait(30)
        if calls["two"] == 1:
            raise ConnectionError("I'm not good")
        return {"value": 3}

    async def three(s: Total) -> dict[str, Any]:
        calls["three"] += 1
        if calls["three"] == 1:
            try:
                await asyncio.Event().wait()
            finally:
                release.set()
        return {"value": 10}

    b = ours.StateGraph(Total)
    for name, fn in (("one", one), ("two", two), ("three", three)):
        b.add_node(name, fn)
        b.add_edge(ours.START, name)
    g = b.compile(checkpointer=checkpointer)
    with pytest.raises(ConnectionError, match="I'm not good"):
        await asyncio.wait_for(g.ainvoke({"value": 1}, _thread()), 60)
    state = await g.aget_state(_thread())
    assert state.values == {"value": 3}  # one's write is kept, as LangGraph's get_state shows pending writes
    assert sorted(state.next) == ["three", "two"]
    assert {t.name: t.result for t in state.tasks}["one"] == {"value": 2}
    assert await asyncio.wait_for(g.ainvoke(None, _thread()), 60) == {"value": 16}
    assert calls == {"one": 1, "two": 2, "three": 2}


def test_pending_writes_resume_matches_langgraph_invoke() -> None:
    """The same rule through the sync ``invoke``, against LangGraph's own (its test, with its waits)."""
    lg = _lg()
    results = []
    for lib, saver in ((lg, lg.InMemorySaver()), (ours, "memory")):
        calls = {"one": 0, "two": 0}
        started = threading.Event()

        def one(s: Total, calls: dict[str, int] = calls, started: threading.Event = started) -> dict[str, Any]:
            calls["one"] += 1
            started.set()
            threading.Event().wait(0.3)  # (LangGraph's test sleeps: its node is still running when two fails)
            return {"value": 2}

        def two(s: Total, calls: dict[str, int] = calls, started: threading.Event = started) -> dict[str, Any]:
            calls["two"] += 1
            started.wait(30)
            raise ConnectionError("I'm not good")

        b = lib.StateGraph(Total)
        b.add_node("one", one)
        b.add_node("two", two)
        b.add_edge(lib.START, "one")
        b.add_edge(lib.START, "two")
        g = b.compile(checkpointer=saver)
        with pytest.raises(ConnectionError):
            g.invoke({"value": 1}, _thread())
        state = g.get_state(_thread())
        with pytest.raises(ConnectionError):
            g.invoke(None, _thread())
        results.append((state.values, state.next, dict(calls)))
    assert results[1] == results[0] == ({"value": 3}, ("two",), {"one": 1, "two": 2})


class In(TypedDict):
    question: str


class Out(TypedDict):
    answer: str


class Overall(In, Out):
    pass


class PublicState(TypedDict):
    a: str


class Node2Input(TypedDict):
    private_data: str


def _io_schemas(lib: Any) -> Any:
    """The how-to "define input and output schemas" graph."""

    def answer(state: In) -> dict[str, Any]:
        return {"answer": "bye " + state["question"]}

    b = lib.StateGraph(Overall, input_schema=In, output_schema=Out)
    b.add_node("answer", answer)
    b.add_edge(lib.START, "answer")
    b.add_edge("answer", lib.END)
    return b


def _private_channel(lib: Any) -> Any:
    """The how-to "pass private state between nodes" graph: ``private_data`` is only in a node's input schema
    (module-level classes: LangGraph cannot resolve a local class named in a string annotation)."""

    def node_1(state: PublicState) -> dict[str, Any]:
        return {"private_data": "set by node_1"}

    def node_2(state: Node2Input) -> dict[str, Any]:
        return {"a": "set by node_2 from " + state["private_data"]}

    b = lib.StateGraph(PublicState)
    b.add_node("node_1", node_1)
    b.add_node("node_2", node_2)
    b.add_edge(lib.START, "node_1")
    b.add_edge("node_1", "node_2")
    return b


@pytest.mark.parametrize("build", [_io_schemas, _private_channel], ids=["io-schemas", "private-channel"])
def test_invoke_filters_by_the_output_schema_while_state_and_values_chunks_show_every_key(build: Any) -> None:
    """LangGraph returns the output schema's keys from ``invoke``, but ``get_state().values``, the checkpoints
    and ``stream_mode="values"`` chunks show every channel (input-schema and private keys included)."""

    def run(lib: Any, g: Any) -> Any:
        first = {"question": "hi"} if build is _io_schemas else {"a": "x"}
        result = g.invoke(first, _thread("1"))
        values = list(g.stream(first, _thread("2"), stream_mode="values"))
        mixed = list(g.stream(first, _thread("3"), stream_mode=["values", "updates"]))
        history = [s.values for s in g.get_state_history(_thread("1"))]
        return result, g.get_state(_thread("1")).values, values, mixed, history

    theirs, mine = _both(build, run)
    assert mine == theirs
    assert set(mine[1]) > set(mine[0])  # the state shows more than invoke returns


class N(TypedDict):
    n: int


def _counter(lib: Any, calls: list[int], fail_at: int | None = None, is_async: bool = False) -> Any:
    def step(state: N) -> dict[str, Any]:
        calls.append(state["n"])
        if state["n"] == fail_at:
            raise ValueError(f"failed at {fail_at}")
        return {"n": state["n"] + 1}

    async def astep(state: N) -> dict[str, Any]:
        return step(state)

    b = lib.StateGraph(N)
    b.add_node("step", astep if is_async else step)
    b.add_edge(lib.START, "step")
    b.add_conditional_edges("step", lambda s: "step" if s["n"] < 10 else lib.END)
    return b


def test_sync_stream_yields_as_it_goes_and_raises_after_the_chunks_before_the_error() -> None:
    """``for chunk in graph.stream(...)`` as LangGraph's docs write it: the chunks before a failing node arrive,
    then its error."""

    def run(lib: Any, g: Any) -> Any:
        seen: list[Any] = []
        with pytest.raises(ValueError, match="failed at 3"):
            for chunk in g.stream({"n": 0}, _thread(), stream_mode=["updates", "values"]):
                seen.append(chunk)
        return seen

    theirs, mine = _both(lambda lib: _counter(lib, [], fail_at=3), run)
    assert mine == theirs and len(mine) == 7


@pytest.mark.parametrize("how", ["sync", "async"])
def test_leaving_a_stream_early_runs_no_superstep_past_the_chunks_taken(how: str) -> None:
    """LangGraph runs a superstep only when the reader asks for the next chunk: a reader that ``break``s after
    the third update leaves three calls and that state (aether_nb ran the turn ahead of its reader)."""
    calls: dict[str, list[int]] = {}

    def run(lib: Any, g: Any) -> Any:
        name = "lg" if lib is not ours else "ours"
        if how == "sync":
            for chunk in g.stream({"n": 0}, _thread()):
                if chunk["step"]["n"] >= 3:
                    break
        else:

            async def read() -> None:
                stream = g.astream({"n": 0}, _thread())
                async for chunk in stream:
                    if chunk["step"]["n"] >= 3:
                        break
                for _ in range(200):  # the loop turns: a turn running ahead of its reader would go on
                    await asyncio.sleep(0)
                await stream.aclose()

            asyncio.run(read())
        return list(calls[name]), g.get_state(_thread()).values

    def build(lib: Any) -> Any:
        return _counter(lib, calls.setdefault("lg" if lib is not ours else "ours", []), is_async=how == "async")

    theirs, mine = _both(build, run)
    assert mine == theirs == ([0, 1, 2], {"n": 3})


def test_a_review_loop_resumed_many_times_gets_a_recursion_budget_per_call() -> None:
    """A loop that asks the user at every round (the human-in-the-loop how-to's shape) with the default limit of
    25: LangGraph counts the limit per call, so forty answers go through. (aether_nb counted every superstep of
    the turn since its first call, and failed after a dozen answers.)"""

    class Round(TypedDict):
        n: int

    def run(lib: Any, g: Any) -> Any:
        out = g.invoke({"n": 0}, _thread())
        answers = 0
        while "__interrupt__" in out:
            out = g.invoke(lib.Command(resume="go on"), _thread())
            answers += 1
        return answers, dict(out)

    def build(lib: Any) -> Any:
        def ask(state: Round) -> dict[str, Any]:
            lib.interrupt(f"round {state['n']}: go on?")
            return {"n": state["n"] + 1}

        b = lib.StateGraph(Round)
        b.add_node("ask", ask)
        b.add_node("work", lambda s: {})
        b.add_edge(lib.START, "ask")
        b.add_edge("ask", "work")
        b.add_conditional_edges("work", lambda s: "ask" if s["n"] < 40 else lib.END)
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs == (40, {"n": 40})


class Loop(TypedDict):
    n: int


def _loop(lib: Any, calls: list[int], pause: str) -> Any:
    """START -> gate -> step, step looping until n reaches 10; ``gate`` pauses (interrupt() or a breakpoint)."""

    def gate(state: Loop) -> dict[str, Any]:
        if pause == "interrupt":
            lib.interrupt("go?")
        return {}

    def step(state: Loop) -> dict[str, Any]:
        calls.append(state["n"])
        return {"n": state["n"] + 1}

    b = lib.StateGraph(Loop)
    b.add_node("gate", gate)
    b.add_node("step", step)
    b.add_edge(lib.START, "gate")
    b.add_edge("gate", "step")
    b.add_conditional_edges("step", lambda s: "step" if s["n"] < 10 else lib.END)
    return b


def _limit_outcome(lib: Any, saver: Any, start: int, limit: int, how: str) -> Any:
    calls: list[int] = []
    g = _loop(lib, calls, "interrupt" if how == "resume" else "breakpoint" if how != "input" else "none")
    g = g.compile(checkpointer=saver, interrupt_after=["gate"] if how in ("none", "update") else None)
    cfg = {"configurable": {"thread_id": "t"}, "recursion_limit": limit}
    error = None
    try:
        if how == "input":
            g.invoke({"n": start}, cfg)
        else:
            g.invoke({"n": start}, {**cfg, "recursion_limit": 50})
            resume = {
                "resume": lib.Command(resume="yes"),
                "none": None,
                "update": lib.Command(update={"n": start + 1}),
            }[how]
            g.invoke(resume, cfg)
    except Exception as exc:
        error = type(exc).__name__
    return len(calls), g.get_state({"configurable": {"thread_id": "t"}}).values, error


def test_the_recursion_limit_counts_as_langgraph_per_call() -> None:
    """Random loop lengths, limits and ways to start or resume the turn: the same nodes run, the same state is
    left and the same error is raised as in LangGraph (its limit allows ``limit`` node supersteps after an input,
    ``limit + 2`` on a resume, and fails once they are spent even if nothing is left to run)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lg = _lg()

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(
        start=st.integers(min_value=2, max_value=9),
        limit=st.integers(min_value=1, max_value=6),
        how=st.sampled_from(["input", "resume", "none", "update"]),
    )
    def check(start: int, limit: int, how: str) -> None:
        theirs = _limit_outcome(lg, lg.InMemorySaver(), start, limit, how)
        mine = _limit_outcome(ours, "memory", start, limit, how)
        assert mine == theirs

    check()


def _plain(chunk: Any) -> Any:
    """A chunk with interrupts as their values (ids differ by design)."""
    if isinstance(chunk, tuple):
        return tuple(_plain(c) for c in chunk)
    if isinstance(chunk, dict):
        return {k: [i.value for i in v] if k == "__interrupt__" else _plain(v) for k, v in chunk.items()}
    return chunk


class Ask(TypedDict, total=False):
    x: int
    log: Annotated[list, operator.add]


@pytest.mark.parametrize("modes", ["values", ["values", "updates"], "updates"])
@pytest.mark.parametrize("pause", ["interrupt", "breakpoint"])
def test_streaming_a_turn_that_pauses_and_resumes_gives_langgraphs_chunks(modes: Any, pause: str) -> None:
    """The human-in-the-loop how-to, streamed with the sync ``stream`` (each call on its own event loop, so the
    resumed turn is replayed from the journal): the resuming call streams the state it goes on from once, then
    what runs — not again the supersteps that finished before the pause."""

    def run(lib: Any, g: Any) -> Any:
        first = [_plain(c) for c in g.stream({"x": 0, "log": []}, _thread(), stream_mode=modes)]
        resume = lib.Command(resume=7) if pause == "interrupt" else None
        second = [_plain(c) for c in g.stream(resume, _thread(), stream_mode=modes)]
        if pause == "breakpoint":
            second += [_plain(c) for c in g.stream(lib.Command(resume=7), _thread(), stream_mode=modes)]
        return first, second

    def build(lib: Any) -> Any:
        def ask(state: Ask) -> dict[str, Any]:
            return {"x": lib.interrupt("q?")}

        b = lib.StateGraph(Ask)
        b.add_node("a", lambda s: {"log": ["a"]})
        b.add_node("ask", ask)
        b.add_node("after", lambda s: {"log": ["after"]})
        b.add_edge(lib.START, "a")
        b.add_edge("a", "ask")
        b.add_edge("ask", "after")
        return b

    lg = _lg()
    breakpoints = {"interrupt_before": ["ask"]} if pause == "breakpoint" else {}
    theirs = run(lg, build(lg).compile(checkpointer=lg.InMemorySaver(), **breakpoints))
    mine = run(ours, build(ours).compile(checkpointer="memory", **breakpoints))
    assert mine == theirs


class Mixed(TypedDict, total=False):
    log: Annotated[list, operator.add]
    total: Annotated[int, operator.add]
    last: str


def _program(
    lib: Any,
    nodes: list[dict[str, Any]],
    edges: list[tuple[int, int]],
    starts: list[int],
    sends: Sequence[int] = (),
    joins: Sequence[tuple[int, int, int]] = (),
) -> Any:
    """Nodes ``n<i>`` returning fixed updates; edges, START's edges, Sends from START and waiting edges."""
    b = lib.StateGraph(Mixed)
    for i, update in enumerate(nodes):
        b.add_node(f"n{i}", lambda s, update=update: dict(update))
    for i in starts:
        b.add_edge(lib.START, f"n{i}")
    for a, z in edges:
        b.add_edge(f"n{a}", f"n{z}")
    if sends:
        targets = sorted({f"n{i}" for i in sends})
        b.add_conditional_edges(lib.START, lambda s: [lib.Send(f"n{i}", {"total": i}) for i in sends], targets)
    for a, z, join in joins:
        b.add_edge([f"n{a}", f"n{z}"], f"n{join}")
    return b


def _chunks(chunks: list[Any]) -> list[Any]:
    """``["updates", "values"]`` chunks with the updates between two values chunks as a sorted multiset (tasks
    of one superstep finish in any order)."""
    out: list[Any] = []
    segment: list[Any] = []
    for mode, payload in chunks:
        if mode == "values":
            out += [*sorted(segment, key=repr), payload]
            segment = []
        else:
            segment.append(payload)
    return out + sorted(segment, key=repr)


def _play(lib: Any, saver: Any, program: Any, turns: list[tuple[dict[str, Any], Any]]) -> list[Any]:
    """Run the turns (an input, then maybe ``update_state(values, as_node)`` and ``invoke(None)``); what a user
    sees after each, stopping at the first error (its type)."""
    g = program.compile(checkpointer=saver)
    seen: list[Any] = []
    try:
        seen.append(_chunks(list(g.stream(turns[0][0], _thread("streamed"), stream_mode=["updates", "values"]))))
    except Exception as exc:
        seen.append(("stream error", isinstance(exc, lib.InvalidUpdateError)))
    for first, edit in turns:
        try:
            seen.append(dict(g.invoke(first, _thread())))
            if edit is not None:
                values, as_node = edit
                g.update_state(_thread(), values, as_node=as_node)
                seen.append(sorted(g.get_state(_thread()).next))
                seen.append(dict(g.invoke(None, _thread())))
        except Exception as exc:
            seen.append(("error", isinstance(exc, lib.InvalidUpdateError)))
            return seen
        seen.append([(s.values, sorted(s.next)) for s in g.get_state_history(_thread())])
    return seen


def test_random_programs_of_reducer_and_plain_writes_end_in_langgraphs_state() -> None:
    """Generated graphs (a DAG of up to five nodes, each writing some of a list reducer, an int reducer and a plain
    key; Sends from START, waiting edges), the first turn streamed, several turns with inputs and
    ``update_state(..., as_node=...)`` edits: every result, stream chunk, the history (values and next of each
    checkpoint) and the errors (two plain writes in one superstep) are LangGraph's."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    lg = _lg()
    update = st.fixed_dictionaries(
        {},
        optional={
            "log": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
            "total": st.integers(-3, 3),
            "last": st.sampled_from(["x", "y"]),
        },
    )

    @st.composite
    def programs(draw: Any) -> Any:
        n = draw(st.integers(1, 5))
        nodes = [draw(update) for _ in range(n)]
        edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
        edges = sorted({(a, z) for a, z in edges if a < z})
        starts = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3)))
        sends = draw(st.lists(st.integers(0, n - 1), max_size=3))
        triples = draw(st.lists(st.tuples(*[st.integers(0, n - 1)] * 3), max_size=2))
        joins = sorted({(a, z, j) for a, z, j in triples if a < j and z < j and a != z})
        edit = st.none() | st.tuples(update, st.sampled_from([f"n{i}" for i in range(n)]))
        # (an empty input writing nothing makes LangGraph's invoke return None: not generated)
        first = update.filter(bool)
        turns = draw(st.lists(st.tuples(first, edit), min_size=1, max_size=3))
        return nodes, edges, starts, turns, sends, joins

    @settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(programs())
    def check(case: Any) -> None:
        nodes, edges, starts, turns, sends, joins = case
        theirs = _play(lg, lg.InMemorySaver(), _program(lg, nodes, edges, starts, sends, joins), turns)
        mine = _play(ours, "memory", _program(ours, nodes, edges, starts, sends, joins), turns)
        assert mine == theirs

    check()


def _stopping_program(lib: Any, n: int, edges: list[tuple[int, int]], starts: list[int], stop: int, how: str) -> Any:
    """A DAG of sync nodes counting their calls; node ``stop`` asks (``interrupt()``) or fails on its first call."""
    calls: dict[str, int] = {}

    def node(i: int) -> Any:
        def fn(s: Mixed) -> dict[str, Any]:
            name = f"n{i}"
            calls[name] = calls.get(name, 0) + 1
            if i == stop and how == "interrupt":
                return {"log": [f"{name}:{lib.interrupt('go?')}"]}
            if i == stop and calls[name] == 1:
                raise ConnectionError("flaky")
            return {"log": [name], "total": i}

        return fn

    b = lib.StateGraph(Mixed)
    for i in range(n):
        b.add_node(f"n{i}", node(i))
    for i in starts:
        b.add_edge(lib.START, f"n{i}")
    for a, z in edges:
        b.add_edge(f"n{a}", f"n{z}")
    return b, calls


def test_a_turn_stopped_anywhere_and_resumed_runs_each_finished_node_once() -> None:
    """Generated DAGs stopped at a random node, by ``interrupt()`` (then ``Command(resume=...)``) or by a failure
    (then ``invoke(None)``): no node that finished runs again, only the stopped one (whose body starts over, as in
    LangGraph); with an interrupt, the calls and the final state are LangGraph's."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    lg = _lg()

    @st.composite
    def cases(draw: Any) -> Any:
        n = draw(st.integers(1, 5))
        edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
        edges = sorted({(a, z) for a, z in edges if a < z})
        starts = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3)))
        return n, edges, starts, draw(st.integers(0, n - 1)), draw(st.sampled_from(["interrupt", "failure"]))

    def play(lib: Any, saver: Any, case: Any) -> Any:
        n, edges, starts, stop, how = case
        b, calls = _stopping_program(lib, n, edges, starts, stop, how)
        g = b.compile(checkpointer=saver)
        if how == "clean":
            out = g.invoke({"log": []}, _thread())
        elif how == "failure":
            try:
                out = g.invoke({"log": []}, _thread())
            except ConnectionError:  # (when the failing node is reached)
                out = g.invoke(None, _thread())
        else:
            out = g.invoke({"log": []}, _thread())
            while "__interrupt__" in out:
                out = g.invoke(lib.Command(resume="yes"), _thread())
        return sorted(out["log"]), out["total"], calls

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(cases())
    def check(case: Any) -> None:
        n, edges, starts, stop, how = case
        log, total, calls = play(ours, "memory", case)
        _, _, clean = play(ours, "memory", (n, edges, starts, -1, "clean"))  # how often each runs undisturbed
        stopped = f"n{stop}"
        if stopped in clean:  # each run of it starts over once (an interrupt), or its first run fails
            clean[stopped] += clean[stopped] if how == "interrupt" else 1
        assert calls == clean
        if how == "interrupt":
            assert (log, total, calls) == play(lg, lg.InMemorySaver(), case)

    check()


def test_an_edit_made_while_paused_at_interrupt_is_kept_when_the_turn_resumes() -> None:
    """``update_state`` while a node waits at ``interrupt()``, then ``Command(resume=...)``: the node re-runs on
    the edited state and the edit stays, as in LangGraph. Through the sync API each call has its own event loop,
    so the resumed turn is replayed from the journal, as after a kernel restart (the edit was lost there)."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"x": 1, "log": []}, _thread())
        g.update_state(_thread(), {"x": 5, "log": ["edit"]})
        paused = g.get_state(_thread()).values
        return paused, g.invoke(lib.Command(resume="a"), _thread())

    def build(lib: Any) -> Any:
        def ask(state: Ask) -> dict[str, Any]:
            return {"log": [f"{lib.interrupt('q?')}:x={state['x']}"]}

        b = lib.StateGraph(Ask)
        b.add_node("ask", ask)
        b.add_node("ok", lambda s: {"log": ["ok"]})
        b.add_node("z", lambda s: {"log": [f"z:x={s['x']}"]})
        b.add_edge(lib.START, "ask")
        b.add_edge(lib.START, "ok")
        b.add_edge("ask", "z")
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs
    assert mine[1] == {"x": 5, "log": ["edit", "a:x=5", "ok", "z:x=5"]}


def test_a_nested_subgraph_paused_at_interrupt_shows_and_takes_edits_through_its_snapshot_config() -> None:
    """The subgraphs how-to ("view and update subgraph state"): ``get_state(config, subgraphs=True)`` shows each
    level's state (a subgraph inside a subgraph too), and ``update_state(<that snapshot's config>, ...)`` edits
    the subgraph's own state, as its own node; the resumed turn keeps the edit."""

    def run(lib: Any, g: Any) -> Any:
        g.invoke({"log": []}, _thread())
        outer = g.get_state(_thread(), subgraphs=True)
        sub = outer.tasks[0].state
        deep = sub.tasks[0].state
        seen = [(s.values, s.next) for s in (outer, sub, deep)]
        g.update_state(sub.config, {"log": ["edited"]}, as_node="pre")
        seen.append(g.get_state(_thread(), subgraphs=True).tasks[0].state.values)
        seen.append(g.invoke(lib.Command(resume="ans"), _thread()))
        return seen

    def build(lib: Any) -> Any:
        def ask(state: Ask) -> dict[str, Any]:
            return {"log": [lib.interrupt("deep?")]}

        deep = lib.StateGraph(Ask)
        deep.add_node("deep", ask)
        deep.add_edge(lib.START, "deep")
        sub = lib.StateGraph(Ask)
        sub.add_node("pre", lambda s: {"log": ["pre"]})
        sub.add_node("mid", deep.compile())
        sub.add_edge(lib.START, "pre")
        sub.add_edge("pre", "mid")
        b = lib.StateGraph(Ask)
        b.add_node("sub", sub.compile())
        b.add_node("post", lambda s: {"log": ["post"]})
        b.add_edge(lib.START, "sub")
        b.add_edge("sub", "post")
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs
    assert mine[2] == ({"log": ["pre"]}, ("deep",))
    # the edit stays and reaches the waiting inner subgraph too (flow.pause_edits), as LangGraph's re-entered one
    assert mine[4] == {"log": ["pre", "edited", "pre", "edited", "ans", "post"]}


def test_bad_messages_and_configs_are_value_errors_as_in_langgraph() -> None:
    """Code catching ``ValueError`` keeps working: a ``RemoveMessage`` of an id the state does not hold, and a
    ``recursion_limit`` below 1 (aether_nb's errors are also ``UsageError``s)."""
    lg = _lg()
    from langchain_core.messages import RemoveMessage

    for lib, remove in ((lg, RemoveMessage), (ours, ours.RemoveMessage)):
        b = lib.StateGraph(lib.MessagesState)
        b.add_node("n", lambda s: {})
        b.add_edge(lib.START, "n")
        g = b.compile(checkpointer=lib.InMemorySaver() if lib is lg else "memory")
        g.invoke({"messages": [("user", "hi")]}, _thread())
        with pytest.raises(ValueError):
            g.update_state(_thread(), {"messages": [remove(id="no-such-id")]})
        with pytest.raises(ValueError):
            g.invoke({"messages": []}, {"recursion_limit": 0, **_thread("2")})


class Costly(TypedDict, total=False):
    x: int
    result: int
    log: Annotated[list, operator.add]


def test_node_caching_answers_a_known_input_from_the_cache_as_langgraph() -> None:
    """The node-caching how-to: ``add_node(..., cache_policy=CachePolicy(ttl=...))`` with
    ``compile(cache=InMemoryCache())`` calls the node once per input, marks cached updates, forgets with
    ``clear_cache()``; a ``key_func`` decides what counts as the same input; without a cache nothing is cached."""
    lg = _lg()
    from langgraph.cache.memory import InMemoryCache
    from langgraph.types import CachePolicy

    results = []
    for lib, cache_cls, policy_cls in (
        (lg, InMemoryCache, CachePolicy),
        (ours, ours.InMemoryCache, ours.CachePolicy),
    ):
        calls: list[int] = []

        def expensive(s: Costly, calls: list[int] = calls) -> dict[str, Any]:
            calls.append(s["x"])
            return {"result": s["x"] * 2, "log": ["expensive"]}

        b = lib.StateGraph(Costly)
        b.add_node("expensive", expensive, cache_policy=policy_cls(ttl=120))
        b.add_node("after", lambda s: {"log": ["after"]})
        b.add_edge(lib.START, "expensive")
        b.add_edge("expensive", "after")
        g = b.compile(cache=cache_cls())
        seen: list[Any] = [list(g.stream({"x": x}, stream_mode="updates")) for x in (5, 5, 6, 5)]
        seen.append(list(calls))
        g.clear_cache()
        seen += [g.invoke({"x": 5}), list(calls)]
        parity = lib.StateGraph(Costly)
        parity.add_node("n", expensive, cache_policy=policy_cls(key_func=lambda s: str(s["x"] % 2).encode()))
        parity.add_edge(lib.START, "n")
        calls.clear()
        seen.append([parity.compile(cache=cache_cls()).invoke({"x": i})["result"] for i in (1, 3, 2, 4)])
        uncached = parity.compile()
        seen += [uncached.invoke({"x": 1}), uncached.invoke({"x": 1}), list(calls)]
        results.append(seen)
    assert results[1] == results[0]
    assert results[1][1][0] == {"expensive": {"result": 10, "log": ["expensive"]}, "__metadata__": {"cached": True}}


def test_sends_that_ask_each_show_their_own_interrupt_and_take_a_resume_map() -> None:
    """Map-reduce with a question per item: ``get_state().interrupts`` lists each question once and each Send
    task shows its own (aether_nb listed both under each task), and a ``{id: answer}`` map resumes them all."""

    def run(lib: Any, g: Any) -> Any:
        first = g.invoke({"log": []}, _thread())
        state = g.get_state(_thread())
        per_task = sorted([i.value for i in t.interrupts] for t in state.tasks)
        answers = {i.id: f"yes {i.value}" for i in state.interrupts}
        final = g.invoke(lib.Command(resume=answers), _thread())
        return (
            sorted(i.value for i in first["__interrupt__"]),
            sorted(i.value for i in state.interrupts),
            per_task,
            final,
        )

    def build(lib: Any) -> Any:
        def item(state: Ask) -> dict[str, Any]:
            return {"log": [lib.interrupt(f"ok {state['x']}?")]}

        b = lib.StateGraph(Ask)
        b.add_node("item", item)
        b.add_node("done", lambda s: {"log": ["done"]})
        b.add_conditional_edges(lib.START, lambda s: [lib.Send("item", {"x": i}) for i in (1, 2)], ["item"])
        b.add_edge("item", "done")
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs
    assert mine[1] == ["ok 1?", "ok 2?"] and mine[2] == [["ok 1?"], ["ok 2?"]]


def _plain_chunk(chunk: Any) -> Any:
    mode, payload = chunk
    return mode, {k: [i.value for i in v] if k == "__interrupt__" else v for k, v in payload.items()}


def test_a_pause_and_its_resume_stream_langgraphs_chunks_per_task() -> None:
    """A superstep where one task asks and its sibling finishes, then two tasks asking one after the other: each
    asking task gets its own ``__interrupt__`` update and a values chunk with the state its superstep started from
    (streamed as it asks), then the state with the finished sibling's write; the resuming stream re-emits the
    sibling's update marked ``cached`` (it does not run again)."""

    def run(lib: Any, g: Any) -> Any:
        modes = ["updates", "values"]
        first = [_plain_chunk(c) for c in g.stream({"log": []}, _thread(), stream_mode=modes)]
        second = [_plain_chunk(c) for c in g.stream(lib.Command(resume="A"), _thread(), stream_mode=modes)]
        return first, second

    def sibling(lib: Any) -> Any:
        finished = threading.Event()

        def ask(state: Ask) -> dict[str, Any]:
            finished.wait(30)
            return {"log": [lib.interrupt("q")]}

        def ok(state: Ask) -> dict[str, Any]:
            finished.set()
            return {"log": ["ok"]}

        b = lib.StateGraph(Ask)
        b.add_node("ok", ok)
        b.add_node("ask", ask)
        b.add_node("z", lambda s: {"log": ["z"]})
        b.add_edge(lib.START, "ok")
        b.add_edge(lib.START, "ask")
        b.add_edge("ask", "z")
        return b

    theirs, mine = _both(sibling, run)
    # the question and the sibling's update are chunks of concurrent tasks: in the order the engine sees them
    assert sorted(mine[0], key=repr) == sorted(theirs[0], key=repr)
    assert mine[0][-1] == theirs[0][-1] == ("values", {"log": ["ok"]})  # the pause ends on the finished writes
    assert mine[1] == theirs[1]
    assert mine[1][:2] == [
        ("values", {"log": []}),
        ("updates", {"ok": {"log": ["ok"]}, "__metadata__": {"cached": True}}),
    ]

    def two_ask(lib: Any) -> Any:
        first_asked = threading.Event()

        def a(state: Ask) -> dict[str, Any]:
            first_asked.set()
            return {"log": [lib.interrupt("qa")]}

        def b_(state: Ask) -> dict[str, Any]:
            first_asked.wait(30)
            return {"log": [lib.interrupt("qb")]}

        b = lib.StateGraph(Ask)
        b.add_node("a", a)
        b.add_node("b", b_)
        b.add_edge(lib.START, "a")
        b.add_edge(lib.START, "b")
        return b

    def first_only(lib: Any, g: Any) -> Any:
        return [_plain_chunk(c) for c in g.stream({"log": []}, _thread(), stream_mode=["updates", "values"])]

    theirs, mine = _both(two_ask, first_only)
    assert sorted(mine[1:], key=repr) == sorted(theirs[1:], key=repr) and mine[0] == theirs[0]
    assert sorted((c for c in mine if c[0] == "updates"), key=repr) == [  # one chunk per asking task
        ("updates", {"__interrupt__": ["qa"]}),
        ("updates", {"__interrupt__": ["qb"]}),
    ]


def test_values_chunks_with_output_keys_come_when_those_keys_are_written() -> None:
    """``stream(..., stream_mode="values", output_keys=[...])``: as LangGraph, the input's chunk, then a chunk only
    for the supersteps that wrote one of those keys."""

    def run(lib: Any, g: Any) -> Any:
        return [
            list(g.stream({"x": 1, "log": []}, _thread(str(k)), stream_mode="values", output_keys=k))
            for k in ("x", ["log"])
        ]

    def build(lib: Any) -> Any:
        b = lib.StateGraph(Ask)
        b.add_node("a", lambda s: {"log": ["a"]})
        b.add_node("b", lambda s: {"x": 2})
        b.add_node("c", lambda s: {"log": ["c"]})
        b.add_edge(lib.START, "a")
        b.add_edge("a", "b")
        b.add_edge("b", "c")
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs == [[1, 2], [{"log": []}, {"log": ["a"]}, {"log": ["a", "c"]}]]


def test_subgraph_streams_with_several_modes_yield_langgraphs_flat_triples() -> None:
    """``for ns, mode, chunk in graph.stream(..., stream_mode=[...], subgraphs=True)`` as LangGraph's docs write it
    (aether_nb yielded ``(ns, (mode, chunk))``); one mode gives ``(ns, chunk)``."""

    def run(lib: Any, g: Any) -> Any:
        several = [
            (len(ns), mode, chunk)
            for ns, mode, chunk in g.stream(
                {"log": []}, _thread("1"), stream_mode=["updates", "values"], subgraphs=True
            )
        ]
        one = [(len(ns), chunk) for ns, chunk in g.stream({"log": []}, _thread("2"), subgraphs=True)]
        return several, one

    def build(lib: Any) -> Any:
        inner = lib.StateGraph(Ask)
        inner.add_node("i", lambda s: {"log": ["i"]})
        inner.add_edge(lib.START, "i")
        b = lib.StateGraph(Ask)
        b.add_node("sub", inner.compile())
        b.add_node("after", lambda s: {"log": ["after"]})
        b.add_edge(lib.START, "sub")
        b.add_edge("sub", "after")
        return b

    theirs, mine = _both(build, run)
    assert mine == theirs
    assert (1, "updates", {"i": {"log": ["i"]}}) in mine[0]


class Tries(TypedDict, total=False):
    n: int


@pytest.mark.parametrize(
    ("error", "policy"),
    [
        (ConnectionError, {}),  # LangGraph's default retry_on retries connection errors...
        (KeyError, {}),  # ...not programming errors
        (KeyError, {"retry_on": KeyError}),
        (ValueError, {"retry_on": (KeyError, ValueError)}),
        (ValueError, {"retry_on": lambda e: "again" in str(e)}),
        (ValueError, {"retry_on": lambda e: False}),
        (ConnectionError, {"max_attempts": 5}),
    ],
)
def test_langgraphs_retry_policy_arguments_retry_the_same_failures(
    error: type[Exception], policy: dict[str, Any]
) -> None:
    """The retries how-to, with only the import changed: ``RetryPolicy(initial_interval=..., max_attempts=...,
    retry_on=...)`` with LangGraph's arguments and default ``retry_on`` retries exactly what LangGraph's does."""
    lg = _lg()

    def run(lib: Any) -> Any:
        calls: list[int] = []

        def flaky(state: Tries) -> dict[str, Any]:
            calls.append(1)
            if len(calls) < 4:
                raise error("try again")
            return {"n": len(calls)}

        b = lib.StateGraph(Tries)
        b.add_node("flaky", flaky, retry_policy=lib.RetryPolicy(initial_interval=0.0, jitter=False, **policy))
        b.add_edge(lib.START, "flaky")
        try:
            return b.compile().invoke({"n": 0}), len(calls)
        except Exception as exc:
            return type(exc).__name__, len(calls)

    assert run(ours) == run(lg)


def test_get_config_and_get_store_inside_a_node_as_langgraph_config() -> None:
    """``from langgraph.config import get_config, get_store`` becomes ``from aether_nb.flow import ...``: a node
    reads the call's configurable keys and the compiled store; outside a node both fail."""
    lg = _lg()
    from langgraph.config import get_config as lg_get_config
    from langgraph.config import get_store as lg_get_store
    from langgraph.store.memory import InMemoryStore

    results = []
    for lib, get_config, get_store, saver in (
        (lg, lg_get_config, lg_get_store, lg.InMemorySaver()),
        (ours, ours.get_config, ours.get_store, "memory"),
    ):
        store = InMemoryStore()

        def node(state: Tries, get_config: Any = get_config, get_store: Any = get_store, store: Any = store) -> Any:
            configurable = get_config()["configurable"]
            return {"n": len(configurable["user_id"]) + (get_store() is store) * 10}

        b = lib.StateGraph(Tries)
        b.add_node("node", node)
        b.add_edge(lib.START, "node")
        g = b.compile(checkpointer=saver, store=store)
        results.append(g.invoke({"n": 0}, {"configurable": {"thread_id": "1", "user_id": "abc"}}))
        with pytest.raises(RuntimeError if lib is lg else UsageError):
            get_config()
    assert results[0] == results[1] == {"n": 13}


class Looping(TypedDict):
    n: int
    log: Annotated[list, operator.add]


def test_an_agent_loop_of_forty_rounds_runs_under_the_default_limit_as_in_langgraph() -> None:
    """LangGraph 1.x's default recursion limit (10,007) lets a long agent loop run; LangGraph 0.x's 25 cut it
    short. Forty rounds run on both, and an explicit limit still stops both at the same round."""
    lg = _lg()

    def run(lib: Any, limit: int | None) -> tuple[Any, str | None]:
        b = lib.StateGraph(Looping)
        b.add_node("step", lambda s: {"n": s["n"] + 1, "log": [s["n"]]})
        b.add_edge(lib.START, "step")
        b.add_conditional_edges("step", lambda s: "step" if s["n"] < 40 else lib.END)
        g = b.compile(checkpointer=lib.InMemorySaver() if lib is lg else "memory")
        cfg: dict[str, Any] = {**_thread(), **({"recursion_limit": limit} if limit else {})}
        try:
            return g.invoke({"n": 0, "log": []}, cfg)["n"], None
        except Exception as exc:
            return g.get_state(_thread()).values["n"], type(exc).__name__

    assert run(ours, None) == run(lg, None) == (40, None)
    assert run(ours, 12) == run(lg, 12) == (12, "GraphRecursionError")


def test_a_router_that_returns_nothing_raises_as_in_langgraph() -> None:
    """A router one of whose branches forgot its ``return`` (None, also in a list) is an error in LangGraph ("Branch
    did not return a valid destination"), not the end of the graph; an empty list still goes nowhere."""
    lg = _lg()

    for answer in (None, [None], ["y", None], "__start__"):
        outcomes = []
        for lib in (lg, ours):
            b = lib.StateGraph(Looping)
            b.add_node("x", lambda s: {"log": ["x"]})
            b.add_node("y", lambda s: {"log": ["y"]})
            b.add_edge(lib.START, "x")
            b.add_conditional_edges("x", lambda s, a=answer: a)
            g = b.compile(checkpointer=lib.InMemorySaver() if lib is lg else "memory")
            with pytest.raises(Exception) as caught:
                g.invoke({"n": 0, "log": []}, _thread())
            outcomes.append(caught.value)
        assert isinstance(outcomes[1], ours.InvalidUpdate), answer
        assert "forget its `return`" in str(outcomes[1])
    for lib in (lg, ours):
        b = lib.StateGraph(Looping)
        b.add_node("x", lambda s: {"log": ["x"]})
        b.add_edge(lib.START, "x")
        b.add_conditional_edges("x", lambda s: [])
        g = b.compile(checkpointer=lib.InMemorySaver() if lib is lg else "memory")
        assert g.invoke({"n": 0, "log": []}, _thread())["log"] == ["x"]


def test_builder_mistakes_are_value_errors_as_in_langgraph() -> None:
    """``except ValueError`` around graph building keeps working: a duplicate node, a reserved character in a
    name, an edge out of END (aether_nb's are also ``UsageError``s, with what to do)."""
    lg = _lg()
    mistakes = {
        "duplicate": lambda lib, b: (b.add_node("x", lambda s: {}), b.add_node("x", lambda s: {})),
        "reserved": lambda lib, b: b.add_node("a:b", lambda s: {}),
        "from END": lambda lib, b: (b.add_node("x", lambda s: {}), b.add_edge(lib.END, "x")),
    }
    for what, mistake in mistakes.items():
        for lib in (lg, ours):
            with pytest.raises(ValueError) as caught:
                mistake(lib, lib.StateGraph(Looping))
            if lib is ours:
                assert isinstance(caught.value, UsageError), what


class Log(TypedDict):
    log: Annotated[list, operator.add]


def _asking(lib: Any, ran: list[str]) -> Any:
    """ask (an interrupt) -> fin; ``other`` and ``extra`` are reachable only by a Command's goto."""

    def node(name: str) -> Any:
        def fn(s: Log) -> dict[str, Any]:
            ran.append(name)
            return {"log": [name]}

        return fn

    b = lib.StateGraph(Log)
    b.add_node("ask", lambda s: {"log": [lib.interrupt("approve?")]})
    for name in ("other", "extra", "fin"):
        b.add_node(name, node(name))
    b.add_edge(lib.START, "ask")
    b.add_edge("ask", "fin")
    return b.compile(checkpointer="memory" if lib is ours else lib.InMemorySaver())


def test_a_goto_given_at_an_interrupt_runs_beside_the_resumed_node_as_in_langgraph() -> None:
    """``Command(resume=..., goto=...)``, or a goto first and the resume after, runs the goto's target in the
    superstep the answer resumes, once; a goto to END adds nothing; a goto on a finished thread runs its target
    in that call."""
    lg = _lg()
    scripts = {
        "resume+goto": lambda lib: [lib.Command(resume="R", goto="other")],
        "goto then resume": lambda lib: [lib.Command(goto="other"), lib.Command(resume="R")],
        "two gotos then resume": lambda lib: [
            lib.Command(goto="other"),
            lib.Command(goto=["extra", lib.Send("other", {"log": []})]),
            lib.Command(resume="R"),
        ],
        "resume+update+goto": lambda lib: [lib.Command(resume="R", update={"log": ["u"]}, goto="extra")],
        "resume+goto END": lambda lib: [lib.Command(resume="R", goto=lib.END)],
    }
    for what, script in scripts.items():
        seen = []
        for lib in (lg, ours):
            ran: list[str] = []
            g = _asking(lib, ran)
            g.invoke({"log": []}, _thread())
            for command in script(lib):
                out = g.invoke(command, _thread())
            seen.append((out["log"], sorted(ran), tuple(g.get_state(_thread()).next)))
        assert seen[1] == seen[0], what
    for lib in (lg, ours):
        ran = []
        b = lib.StateGraph(Log)
        b.add_node("x", lambda s: {"log": ["x"]})
        b.add_node("y", lambda s: {"log": ["y"]})
        b.add_edge(lib.START, "x")
        g = b.compile(checkpointer=lib.InMemorySaver() if lib is lg else "memory")
        g.invoke({"log": []}, _thread())
        assert g.invoke(lib.Command(goto="y", update={"log": ["u"]}), _thread())["log"] == ["x", "u", "y"]
        assert g.get_state(_thread()).next == ()


def test_the_history_keeps_the_interrupts_that_were_answered_as_in_langgraph() -> None:
    """``get_state_history``: a past checkpoint lists the ``interrupt()`` calls its tasks made, answered since (an
    audit sees which question was asked where); the head lists none once the turn went on."""
    lg = _lg()

    def history(lib: Any, shape: str) -> list[tuple[tuple[str, ...], list[Any]]]:
        b = lib.StateGraph(Log)
        if shape == "twice":
            b.add_node("ask", lambda s: {"log": [lib.interrupt("first?"), lib.interrupt("second?")]})
            b.add_edge(lib.START, "ask")
        else:
            b.add_node("a", lambda s: {"log": [lib.interrupt("a?")]})
            b.add_node("b", lambda s: {"log": [lib.interrupt("b?")]})
            b.add_edge(lib.START, "a")
            b.add_edge(lib.START, "b")
        g = b.compile(checkpointer="memory" if lib is ours else lib.InMemorySaver())
        out = g.invoke({"log": []}, _thread())
        while out.get("__interrupt__"):
            pending = sorted(out["__interrupt__"], key=lambda i: str(i.value))
            out = g.invoke(lib.Command(resume={pending[0].id: f"ans {pending[0].value}"}), _thread())
        return [(s.next, sorted(str(i.value) for i in s.interrupts)) for s in g.get_state_history(_thread())]

    for shape in ("twice", "parallel"):
        assert history(ours, shape) == history(lg, shape), shape
