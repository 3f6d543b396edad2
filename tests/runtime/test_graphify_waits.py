"""Static graphs whose nodes ask: answered one at a time across restarts and while the run leaves memory, under
concurrency caps. Every node runs once, every answer reaches its question, and a node waiting for a person holds no
concurrency slot (the other nodes go on meanwhile).

Found by generating graphs (the hypothesis test below) and kept as the examples that failed:
- a node made ready while the run left memory started anyway (its task ran a loop turn before the cancel reached
  it): it ran once there and once more in the resumed run;
- an answer given while the run was out of memory, to a question its resumed execution had not reached again when
  it left memory a second time, was lost: the question was asked again;
- a node waiting for an answer held its run's (and the session's) concurrency slot: with ``max_concurrency=1`` the
  rest of the graph stood still until someone answered.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ManualClock, ScriptedChannel
from tests.conftest import make_session
from tests.runtime.test_concurrent_resume import _left_memory, _parked

RAN: list[str] = []
BUSY = {"now": 0, "most": 0}

Node = tuple[str, int, list[int]]  # ("tool" | "ask", loop turns the tool yields, indices of the nodes it needs)


@ag.tool(outputs=["v"])
async def gw_act(tag: str, naps: int, deps: list[Any]) -> dict[str, str]:
    BUSY["now"] += 1
    BUSY["most"] = max(BUSY["most"], BUSY["now"])
    try:
        for _ in range(naps):
            await asyncio.sleep(0)
        RAN.append(tag)
        return {"v": tag.upper()}
    finally:
        BUSY["now"] -= 1


class GwAsk(ag.DualStageTool, outputs=["v"]):
    """A node that asks (its question waits inside the node)."""

    async def setup(self, tag: str, deps: list[Any]) -> Any:
        return ag.WaitSpec(kind="text", prompt=f"{tag}?")

    async def on_resume(self, payload: Any) -> dict[str, Any]:
        BUSY["now"] += 1  # the node runs again: it counts against the cap until it ends
        BUSY["most"] = max(BUSY["most"], BUSY["now"])
        try:
            await asyncio.sleep(0)
            return {"v": payload}
        finally:
            BUSY["now"] -= 1


_names = itertools.count()


def _graph(nodes: list[Node]) -> Any:
    """A graphify agent of ``nodes`` (a unique name: a resumed run finds its agent by name)."""

    @ag.graphify(name=f"gw_graph_{next(_names)}", inputs=["x"], outputs=["out"])
    def graph(x: Any) -> dict[str, Any]:
        handles: list[Any] = []
        for i, (kind, naps, deps) in enumerate(nodes):
            needs = [handles[j].v for j in deps]
            if kind == "tool":
                handles.append(gw_act(tag=f"n{i}", naps=naps, deps=needs, _id=f"n{i}"))
            else:
                handles.append(GwAsk(tag=f"n{i}", deps=needs, _id=f"n{i}"))
        return {"out": [h.v for h in handles]}

    return graph


def _expected(nodes: list[Node]) -> list[str]:
    return [f"N{i}" if kind == "tool" else f"answer to n{i}?" for i, (kind, _, _) in enumerate(nodes)]


def _open_after(nodes: list[Node], answered: set[str]) -> int:
    """How many questions are open once everything that can run without another answer has run."""
    done: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i, (kind, _, deps) in enumerate(nodes):
            if i not in done and all(j in done for j in deps) and (kind == "tool" or f"n{i}?" in answered):
                done.add(i)
                grew = True
    ready = [i for i, (_, _, deps) in enumerate(nodes) if i not in done and all(j in done for j in deps)]
    return sum(nodes[i][0] == "ask" for i in ready)


def _session(store: MemoryStore, *, evict: bool) -> Session:
    counter = itertools.count(1)
    s = Session(store, id_factory=lambda: f"run-{next(counter)}")
    install_builtin_services(s, channel=ScriptedChannel())  # no scripted answers: questions stay open
    s.store.durability = "sync"  # a "restart" drops nothing written (see test_concurrent_resume)
    if evict:
        s.max_live_waiting = 0  # a parked run leaves memory as soon as it can (Run.evictable)
    session_mod.set_default_session(s)
    return s


def _play(nodes: list[Node], picks: list[int], *, mode: str, cap: int | None) -> Run:
    """Start the graph, then answer one open question at a time (the ``picks``-th), each from a new "process" (a
    new session over the store), or in ``evict`` mode in one process where the run leaves memory before each
    answer, or ``mixed``. Checks before each answer that the run lists exactly the questions open. Returns the
    finished run."""
    graph = _graph(nodes)
    store = MemoryStore()
    answered: set[str] = set()
    asks = sum(kind == "ask" for kind, _, _ in nodes)
    choice = iter(picks)

    async def first() -> Run:
        run = graph.start(x=0, run_id="g", max_concurrency=cap)
        await _parked(run, _open_after(nodes, answered))
        return run

    async def answer_one(run: Run) -> None:
        waits = sorted(run.waits, key=lambda w: w.prompt)
        assert len(waits) == _open_after(nodes, answered), (waits, sorted(answered))
        wait = waits[next(choice, 0) % len(waits)]
        answered.add(str(wait.prompt))
        await run.answer(f"answer to {wait.prompt}", token=wait.token)
        await _parked(run, _open_after(nodes, answered))

    if mode == "restart":
        _session(store, evict=False)
        asyncio.run(asyncio.wait_for(first(), 20))
        for _ in range(asks):
            _session(store, evict=False)  # the kernel restarted: only the store is left
            asyncio.run(asyncio.wait_for(answer_one(ag.get_run("g")), 20))
        return ag.get_run("g")

    async def one_process() -> Run:
        run = await first()
        for _ in range(asks):
            await _left_memory(run, required=False)
            await answer_one(run)
        await run
        return run

    if mode == "evict":
        _session(store, evict=True)
        return asyncio.run(asyncio.wait_for(one_process(), 30))

    # "mixed": runs leave memory in every process, and the kernel restarts after every one or two answers (a run
    # resumed from the store, then out of memory again)
    async def answer_some(run: Run, n: int) -> int:
        answered_here = 0
        while answered_here < n and not run.done:
            await _left_memory(run, required=False)
            await answer_one(run)
            answered_here += 1
        return answered_here

    _session(store, evict=True)
    asyncio.run(asyncio.wait_for(first(), 20))
    left, i = asks, 0
    while left and not ag.get_run("g").done:
        _session(store, evict=True)  # a restart
        left -= asyncio.run(asyncio.wait_for(answer_some(ag.get_run("g"), 1 + picks[i % len(picks)] % 2), 20))
        i += 1
    return ag.get_run("g")


def _check(nodes: list[Node], run: Run, cap: int | None) -> None:
    assert run.status == "succeeded", (run.status, run.error)
    assert run.outputs == {"out": _expected(nodes)}
    assert sorted(RAN) == sorted(f"n{i}" for i, (kind, _, _) in enumerate(nodes) if kind == "tool")
    if cap is not None:
        assert BUSY["most"] <= cap
    # The DAG says what ran, once each, also for a run that planned again without reading its history back (back
    # from leaving memory, or rebuilt from the store): no node pending again, none drawn twice.
    ids = [f"n{i}" for i in range(len(nodes))]
    graph = run.graph
    assert {n: graph.node(n).status for n in ids} == dict.fromkeys(ids, "DONE")
    assert sorted(n.id for n in graph.nodes) == sorted(ids)


@pytest.fixture(autouse=True)
def _default_session() -> Iterator[None]:
    previous = session_mod.set_default_session(None)
    RAN.clear()
    BUSY.update(now=0, most=0)
    yield
    session_mod.set_default_session(previous)


def test_a_node_made_ready_as_the_run_could_leave_memory_runs_once() -> None:
    # n5's answer readies n3 and n4 while n1 still waits: the run must not leave memory with them about to start
    # (on the old code n4 ran, then ran again in the resumed run).
    nodes: list[Node] = [("tool", 0, []), ("ask", 1, [0]), ("tool", 0, [0]), ("tool", 1, [2]), ("tool", 0, [0, 2])]
    nodes.append(("ask", 1, []))
    _check(nodes, _play(nodes, [5, 4, 4, 0, 3, 1, 2, 0, 1, 4], mode="evict", cap=None), None)


def test_an_answer_to_a_question_not_reached_again_survives_the_run_leaving_memory_again() -> None:
    # n5 is answered while the run is out of memory; the resumed run leaves memory again before n5 (behind n4) asks
    # again. On the old code the answer was lost and n5 asked a second time.
    nodes: list[Node] = [("tool", 3, []), ("ask", 3, [0]), ("ask", 0, [0]), ("ask", 0, [0, 2]), ("tool", 1, [0, 2])]
    nodes.append(("ask", 2, [4]))
    _check(nodes, _play(nodes, [1, 2, 5, 0, 1, 2, 3, 2, 4, 3], mode="evict", cap=None), None)


def test_a_node_waiting_for_an_answer_holds_no_concurrency_slot() -> None:
    nodes: list[Node] = [("ask", 0, []), ("tool", 2, []), ("tool", 1, [1])]

    async def main() -> None:
        run = _graph(nodes).start(x=0, max_concurrency=1)
        await _parked(run, 1)
        while len(RAN) < 2:  # (under the wait_for below)
            await asyncio.sleep(0)
        # the other nodes ran while the question waited (one at a time)
        assert RAN == ["n1", "n2"] and run.status == "waiting"
        await run.answer("yes")
        assert await run == {"out": ["yes", "N1", "N2"]}

    _session(MemoryStore(), evict=False)
    asyncio.run(asyncio.wait_for(main(), 20))
    assert BUSY["most"] == 1


def test_runs_waiting_for_answers_leave_the_session_wide_cap_to_the_others() -> None:
    asker = _graph([("ask", 0, [])])
    worker = _graph([("tool", 1, []), ("tool", 1, []), ("tool", 1, [])])

    async def main() -> None:
        waiting = [asker.start(x=i) for i in range(2)]
        for run in waiting:
            await _parked(run, 1)
        assert await worker(x=0) == {"out": ["N0", "N1", "N2"]}  # on the old code: stuck behind the two questions
        for i, run in enumerate(waiting):
            await run.answer(f"a{i}")
        assert [await run for run in waiting] == [{"out": ["a0"]}, {"out": ["a1"]}]

    s = _session(MemoryStore(), evict=False)
    s.config["global_max_concurrency"] = 2
    asyncio.run(asyncio.wait_for(main(), 20))
    assert BUSY["most"] <= 2


def _nodes() -> st.SearchStrategy[list[Node]]:
    @st.composite
    def build(draw: st.DrawFn) -> list[Node]:
        n = draw(st.integers(2, 6))
        nodes: list[Node] = []
        for i in range(n):
            kind = draw(st.sampled_from(["tool", "tool", "ask"]))
            deps = sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, 2)))) if i else []
            nodes.append((kind, draw(st.integers(0, 3)), deps))
        return nodes

    return build().filter(lambda nodes: any(kind == "ask" for kind, _, _ in nodes))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=_nodes(),
    picks=st.lists(st.integers(0, 5), min_size=6, max_size=6),
    mode=st.sampled_from(["restart", "evict", "mixed"]),
    cap=st.sampled_from([None, 1, 2]),
)
def test_generated_graphs_answered_one_at_a_time_do_everything_once(
    nodes: list[Node], picks: list[int], mode: str, cap: int | None
) -> None:
    RAN.clear()
    BUSY.update(now=0, most=0)
    _check(nodes, _play(nodes, picks, mode=mode, cap=cap), cap)


RELEASE: dict[str, asyncio.Event] = {}


@ag.tool(outputs=["v"])
async def gw_busy(tag: str) -> dict[str, str]:
    BUSY["now"] += 1
    BUSY["most"] = max(BUSY["most"], BUSY["now"])
    try:
        if tag in RELEASE:
            await RELEASE[tag].wait()
        RAN.append(tag)
        return {"v": tag}
    finally:
        BUSY["now"] -= 1


@ag.tool(outputs=["v"])
async def gw_patient(*, context: ag.NodeContext) -> dict[str, str]:
    """A node that asks, and goes on without an answer once its question times out."""
    try:
        return {"v": await context.channel().ask_text("Anyone?", timeout_s=5)}
    except ag.WaitTimeout:
        return {"v": (await gw_busy("after timeout"))["v"]}


@ag.graphify(name="gw_patient_graph", inputs=["x"], outputs=["a", "b"])
def gw_patient_graph(x: Any) -> dict[str, Any]:
    return {"a": gw_patient().v, "b": gw_busy(tag="sibling").v}


def test_a_node_whose_question_timed_out_goes_on_under_its_cap() -> None:
    clock = ManualClock()

    async def main() -> None:
        RELEASE["sibling"] = asyncio.Event()
        run = gw_patient_graph.start(x=0, max_concurrency=1)
        while not (run.waits and BUSY["now"] == 1 and clock.sleepers):  # asked; the sibling holds the slot
            await asyncio.sleep(0)
        clock.advance(10)  # the question times out while the sibling still runs
        while run.waits:
            await asyncio.sleep(0)
        for _ in range(20):  # (loop turns in which the timed-out node would run if it went on without its slot)
            await asyncio.sleep(0)
        assert RAN == []
        RELEASE["sibling"].set()
        assert await run == {"a": "after timeout", "b": "sibling"}

    s = _session(MemoryStore(), evict=False)
    s.clock = clock
    asyncio.run(asyncio.wait_for(main(), 20))
    assert BUSY["most"] == 1 and RAN == ["sibling", "after timeout"]


def test_questions_of_attempts_cut_off_by_the_node_timeout_are_closed_when_the_run_ends() -> None:
    """A node with ``_timeout_s`` and a retry policy awaits a tool that asks; its first two attempts time out while
    their questions are open, the third succeeds. The run ended succeeded with the first attempt's question still
    open (offered in ``run.waits``, listed by ``%aether runs``): closing the questions a cancel left open dropped it
    from the list without closing it, when the second attempt asked under the same step."""
    attempts: list[int] = []

    @ag.tool(outputs=["v"])
    async def gq_asks(n: int, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": await context.channel().ask_text(f"q{n}?")}

    @ag.tool(outputs=["v"])
    async def gq_node(x: int) -> dict[str, Any]:
        attempts.append(x)
        if len(attempts) < 3:
            return await gq_asks(len(attempts))
        return {"v": "done"}

    @ag.graphify(name="gq_graph", inputs=["x"], outputs=["v"])
    def gq_graph(x: Any) -> dict[str, Any]:
        return {"v": gq_node(x=x, _timeout_s=0.1).v}

    s, _ = make_session()

    async def main() -> tuple[Any, Any]:
        run = gq_graph.start(x=1, retry=ag.RetryPolicy(max_attempts=3, backoff_s=0.01), session=s)
        out = await run
        return out, run

    out, run = asyncio.run(asyncio.wait_for(main(), 20))
    assert out == {"v": "done"} and len(attempts) == 3
    assert run.waits == []
    # (each closed as its attempt was cut off, the run going on: not left open until the run ends)
    assert [w.status for w in s.store.list_waits(run.id, status=None)] == ["cancelled", "cancelled"]
