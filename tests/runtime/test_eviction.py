"""Waiting runs beyond ``max_live_waiting`` leave memory and resume from the journal when answered."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.interrupted import told
from aether_nb.runtime.run import Run
from aether_nb.testing.clock import ManualClock
from tests.conftest import arun, make_session

calls: dict[str, int] = {}


@pytest.fixture(autouse=True)
def small_cap() -> Iterator[None]:
    calls.clear()
    s, _ = make_session()  # no scripted answers: asks stay open until run.answer
    s.max_live_waiting = 2
    previous = session_mod.set_default_session(s)
    try:
        yield
    finally:
        session_mod.set_default_session(previous)


@ag.tool(outputs=["y"])
async def side_effect(x: int) -> dict[str, int]:
    calls[f"side_effect_{x}"] = calls.get(f"side_effect_{x}", 0) + 1
    return {"y": x * 10}


@ag.graph_fn(outputs=["a"])
async def parked(x: int, *, context: ag.NodeContext) -> dict[str, str]:
    y = (await side_effect(x))["y"]
    name = await context.channel().ask_text(f"name for {x}?")
    return {"a": f"{name}-{y}"}


def evicted(run: Run) -> bool:
    return run._evicted and run._task is None and run._execution is None


async def settled(runs: list[Run]) -> None:
    """Wait (on state, under the test's timeout) until no evicted run's task is still ending."""
    while any(r._evicted and r._task is not None for r in runs):
        await asyncio.sleep(0)


def test_the_oldest_waiting_runs_leave_memory_and_answers_resume_them() -> None:
    async def main() -> None:
        runs = [parked.start(x=i) for i in range(6)]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        assert [evicted(r) for r in runs] == [True] * 4 + [False] * 2
        assert all(r.status == "waiting" for r in runs)
        # a dormant run still lists its open wait, and its DAG reloads from the store
        (w,) = runs[0].waits
        assert w.prompt == "name for 0?"
        assert runs[0].graph.node("side_effect_1").status == "DONE"
        # answering resumes it; completed steps replay, nothing runs twice
        for i, r in enumerate(runs):
            await r.answer(f"n{i}")
        outs = [await r for r in runs]
        assert outs == [{"a": f"n{i}-{i * 10}"} for i in range(6)]
        assert all(v == 1 for v in calls.values()) and len(calls) == 6
        assert runs[0].graph.node("side_effect_1").replayed

    arun(main())


@ag.graph_fn(outputs=["y"])
async def child_of(x: int) -> dict[str, int]:
    return {"y": (await side_effect(x))["y"]}


@ag.graph_fn(outputs=["a"])
async def parked_with_child(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    y = (await child_of(x=x))["y"]
    first = await context.channel().ask_text(f"first for {x}?")
    second = await context.channel().ask_text(f"second for {x}?")
    return {"a": [first, second, y]}


def _view(run: Run) -> dict[str, Any]:
    return {n.id: (n.status, n.replayed, n.started_at, n.ended_at, n.parents) for n in run.graph.nodes}


def test_a_run_back_from_leaving_memory_shows_its_whole_history() -> None:
    """A cell holds a run that left memory twice while it waited and was resumed by each answer: its DAG and events
    read as a run that never left (the nested graph_fn's own step, which the resume did not replay, is there; the
    replayed steps keep the times they first ran at), exactly as the run rebuilt from the store reads."""

    async def main() -> Run:
        runs = [parked_with_child.start(x=i) for i in range(3)]  # the first leaves memory (max_live_waiting=2)
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        run = runs[0]
        for answer in ("a", "b"):
            assert evicted(run)
            dormant = _view(run)  # looked at while out of memory: read from the store, each node once
            assert "child_of_1/side_effect_1" in dormant and len(run.history) == len({e.seq for e in run.history})
            await run.answer(answer)
            if answer == "a":
                await run.wait_for("waiting", timeout=10)
                for r in runs[1:]:  # park two more runs: the first leaves memory again
                    await r.answer("x")
                more = [parked_with_child.start(x=i) for i in (3, 4)]
                for r in more:
                    await r.wait_for("waiting", timeout=10)
                await settled([run])
        assert await run == {"a": ["a", "b", 0]}
        return run

    run = arun(main())
    ag.session().flush()
    view = _view(run)
    assert {k for k, v in view.items() if v[1]} == {"child_of_1", "ask_text_1"}
    assert "child_of_1/side_effect_1" in view and not view["child_of_1/side_effect_1"][1]
    assert view == _view(Run.from_store(ag.session(), ag.store().get_run(run.id)))
    seqs = [e.seq for e in run.history]
    assert seqs == sorted(seqs) and seqs[0] == 1 and run.history[-1].kind == "run_finished"
    assert calls == {f"side_effect_{i}": 1 for i in range(5)}


def test_awaiting_a_dormant_run_waits_for_its_answer() -> None:
    async def main() -> dict[str, Any]:
        runs = [parked.start(x=i) for i in range(3)]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        first = runs[0]
        assert evicted(first)
        waiter = asyncio.ensure_future(first.result())
        await asyncio.sleep(0)
        assert not waiter.done() and evicted(first)  # awaiting does not wake it up
        # answered by token through the session (as the widget does), not through the Run
        token = first.waits[0].token
        ag.session().answer(token, "Ada")
        out = await asyncio.wait_for(waiter, 10)
        for r in runs[1:]:
            r.cancel()
        return out

    assert arun(main()) == {"a": "Ada-0"}


def test_a_cancelled_await_of_a_dormant_run_leaves_it_waiting_and_says_so() -> None:
    async def main() -> tuple[str | None, str, dict[str, Any]]:
        runs = [parked.start(x=i) for i in range(3)]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        first = runs[0]
        assert evicted(first)
        seen: list[asyncio.CancelledError] = []

        async def cell() -> None:  # a cell awaiting the run, stopped by the interrupt button
            try:
                await first
            except asyncio.CancelledError as exc:
                seen.append(exc)
                raise

        waiter = asyncio.ensure_future(cell())
        await asyncio.sleep(0)  # (one turn: the await reaches the dormant run)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        status = first.status
        await first.answer("Ada")
        out = await first
        for r in runs[1:]:
            r.cancel()
        return told(seen[0]), status, out

    note, status, out = arun(main())
    assert note is not None and note.startswith("stopped waiting for run ") and "which goes on" in note
    assert status == "waiting"
    assert out == {"a": "Ada-0"}
    assert calls == {"side_effect_0": 1, "side_effect_1": 1, "side_effect_2": 1}


def test_watched_busy_or_non_durable_runs_stay_in_memory() -> None:
    gate = threading.Event()

    @ag.tool(outputs=["v"])
    async def slow() -> dict[str, int]:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return {"v": 1}

    @ag.graph_fn(outputs=["a"])
    async def busy(*, context: ag.NodeContext) -> dict[str, Any]:
        _, a = await asyncio.gather(slow(), context.channel().ask_text("busy?"))
        return {"a": a}

    @ag.tool(outputs=["lock"])
    async def make_lock() -> dict[str, Any]:
        return {"lock": threading.Lock()}  # cannot be journaled

    @ag.graph_fn(outputs=["a"])
    async def fragile(*, context: ag.NodeContext) -> dict[str, Any]:
        await make_lock()
        return {"a": await context.channel().ask_text("fragile?")}

    async def main() -> None:
        watched = parked.start(x=100)
        seen: list[str] = []
        watched.subscribe(lambda e: seen.append(e.kind))
        b = busy.start()
        f = fragile.start()
        for r in (watched, b, f):
            await r.wait_for("waiting", timeout=10)
        extra = [parked.start(x=i) for i in range(3)]
        for r in extra:
            await r.wait_for("waiting", timeout=10)
        await settled([watched, b, f, *extra])
        assert not any(evicted(r) for r in (watched, b, f))
        assert all(evicted(r) for r in extra)  # the three that must stay already exceed the cap (2)
        gate.set()
        for r in (watched, b, f, *extra):
            await r.answer("x")
        assert (await b)["a"] == "x" and (await f)["a"] == "x"
        for r in (watched, *extra):
            await r
        assert "run_finished" in seen

    arun(main())


def test_max_live_waiting_is_validated() -> None:
    with pytest.raises(ag.UsageError, match="max_live_waiting"):
        ag.configure(max_live_waiting=-1)
    ag.configure(max_live_waiting=0)
    assert ag.session().max_live_waiting == 0


def test_an_answer_given_while_a_resumed_run_replays_is_not_lost() -> None:
    async def main() -> dict[str, Any]:
        runs = [parked.start(x=i, run_id=f"p{i}") for i in range(3)]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        first = runs[0]
        assert evicted(first)
        again = parked.start(x=0, run_id="p0")  # resumes the dormant run: it replays towards its wait
        assert again is first and first.live
        await first.answer("late")  # answered before the replay reached the wait again
        out = await asyncio.wait_for(first.result(), 10)
        for r in runs[1:]:
            r.cancel()
        return out

    assert arun(main()) == {"a": "late-0"}


def test_a_run_that_loses_its_last_follower_while_parked_leaves_memory() -> None:
    async def main() -> None:
        runs = [parked.start(x=i) for i in range(4)]
        unsubscribe = [r.subscribe(lambda e: None) for r in runs]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        assert not any(evicted(r) for r in runs)  # followed: they stay
        unsubscribe[0]()
        unsubscribe[3]()
        await settled(runs)
        assert [evicted(r) for r in runs] == [True, False, False, True]  # the cap (2) allows two in memory
        unsubscribe[1]()  # two left in memory now: this one stays
        await settled(runs)
        assert not evicted(runs[1])
        for r in runs:
            await r.answer("n")
        assert [(await r)["a"] for r in runs] == [f"n-{i * 10}" for i in range(4)]
        assert all(calls[f"side_effect_{i}"] == 1 for i in range(4))

    arun(main())


def test_parking_examines_a_bounded_number_of_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many parked runs that cannot leave (followed) are not examined again by every park: quadratic otherwise."""
    examined: list[str] = []
    real = Run.evictable

    def counting(run: Run) -> bool:
        examined.append(run.id)
        return bool(real.fget(run))  # type: ignore[attr-defined]

    monkeypatch.setattr(Run, "evictable", property(counting))
    per_park: list[int] = []
    park = session_mod.Session.park

    def counted_park(self: session_mod.Session, run: Run) -> None:
        start = len(examined)
        park(self, run)
        per_park.append(len(examined) - start)

    monkeypatch.setattr(session_mod.Session, "park", counted_park)
    n = session_mod.EVICT_SCAN + 40

    async def main() -> None:
        runs = [parked.start(x=i) for i in range(n)]
        for r in runs:
            r.subscribe(lambda e: None)
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        assert len(per_park) >= n and max(per_park) <= session_mod.EVICT_SCAN + 1
        assert not any(evicted(r) for r in runs)
        for r in runs:
            await r.answer("n")
            await r

    arun(main(), timeout=60)


def test_a_parked_run_whose_event_stream_ends_leaves_memory() -> None:
    async def follow(run: Run, opened: asyncio.Event) -> None:
        async for event in run.events():
            if event.kind == "wait_opened":
                opened.set()
                break

    async def main() -> None:
        runs = [parked.start(x=i) for i in range(4)]
        opened = [asyncio.Event() for _ in runs]
        followers = [asyncio.ensure_future(follow(r, o)) for r, o in zip(runs, opened, strict=True)]
        for r, o in zip(runs, opened, strict=True):
            await r.wait_for("waiting", timeout=10)
            await o.wait()
        await asyncio.gather(*followers)
        while sum(evicted(r) for r in runs) < 2:  # each stream ends when its generator is closed: wait on state
            await asyncio.sleep(0)
        await settled(runs)
        assert sum(evicted(r) for r in runs) == 2  # the cap (2) keeps two in memory
        for r in runs:
            await r.answer("n")
        assert [(await r)["a"] for r in runs] == [f"n-{i * 10}" for i in range(4)]
        assert all(calls[f"side_effect_{i}"] == 1 for i in range(4))

    arun(main())


def test_a_run_that_left_memory_stores_its_replayed_steps_once() -> None:
    """A run evicted and resumed, twice: its steps are replayed (told to the DAG, flagged) but the history, which
    already shows them done, does not get their events again, so it does not grow by its steps per resume."""

    @ag.graph_fn(outputs=["a"])
    async def two_questions(x: int, *, context: ag.NodeContext) -> dict[str, str]:
        y = (await side_effect(x))["y"]
        first = await context.channel().ask_text("first?")
        z = (await side_effect(x + 1))["y"]
        second = await context.channel().ask_text("second?")
        return {"a": f"{first}-{second}-{y}-{z}"}

    async def main() -> Run:
        runs = [two_questions.start(x=10 * i) for i in range(4)]
        for r in runs:
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        assert evicted(runs[0])
        await runs[0].answer("one")
        await runs[0].wait_for("waiting", timeout=10)
        for r in runs[1:]:  # the others come back in, the first leaves again
            await r.answer("one")
            await r.wait_for("waiting", timeout=10)
        await settled(runs)
        assert evicted(runs[0])
        await runs[0].answer("two")
        assert await runs[0] == {"a": "one-two-0-10"}
        assert runs[0].graph.node("side_effect_1").replayed
        return runs[0]

    run = arun(main())
    assert calls == {"side_effect_0": 1, "side_effect_1": 1, **{f"side_effect_{10 * i}": 1 for i in range(1, 4)}} | {
        f"side_effect_{10 * i + 1}": 1 for i in range(1, 4)
    }
    ag.session().flush()
    stored = ag.store().load_events(run.id)
    ran = [(e["node_id"], e.get("replayed")) for e in stored if e["kind"] in ("node_ran", "node_finished")]
    assert ran.count(("side_effect_1", False)) == 1 and ran.count(("side_effect_2", False)) == 1
    assert not any(replayed for _, replayed in ran)
    nodes = {n.node_id: n.status for n in ag.store().list_nodes(run.id)}
    assert nodes == dict.fromkeys(("side_effect_1", "ask_text_1", "side_effect_2", "ask_text_2"), "DONE")


@ag.graph_fn(outputs=["r"])
async def napper(i: int, *, context: ag.NodeContext) -> dict[str, str]:
    await context.sleep(30)
    return {"r": f"woke {i}"}


@ag.graph_fn(outputs=["r"])
async def impatient(*, context: ag.NodeContext) -> dict[str, str]:
    try:
        return {"r": await context.channel().ask_text("quick?", timeout_s=30)}
    except ag.WaitTimeout:
        return {"r": "timed out"}


def test_a_run_that_left_memory_goes_on_at_its_deadline() -> None:
    """A sleeping run (or a question with a timeout) beyond max_live_waiting left memory and nothing woke it at its
    deadline: it stayed waiting and ``await run`` hung (a scratch tester's finding; the 65th sleeping run by
    default)."""
    clock = ManualClock()
    session_mod.default_session().clock = clock

    async def main() -> tuple[list[dict[str, str]], list[bool]]:
        runs = [napper.start(i=0), napper.start(i=1), impatient.start(), napper.start(i=3)]
        while sum(r.status == "waiting" for r in runs) < len(runs) or sum(r.evicted for r in runs) < 2:
            await asyncio.sleep(0)  # (all parked: two of them leave memory)
        left = [r.evicted for r in runs]
        clock.advance(60)
        return [await r for r in runs], left

    outs, left = arun(main(), timeout=10)
    assert sum(left) == 2, left
    assert outs == [{"r": "woke 0"}, {"r": "woke 1"}, {"r": "timed out"}, {"r": "woke 3"}]


@ag.graph_fn(outputs=["msgs"])
async def listens_twice(*, context: ag.NodeContext) -> dict[str, list[str]]:
    got = []
    try:
        got.append(await context.channel().receive(timeout_s=30))
    except ag.WaitTimeout:
        got.append("(timed out)")
    got.append(await context.channel().receive())
    return {"msgs": got}


def test_a_message_posted_after_a_dormant_receive_timed_out_reaches_the_next_receive() -> None:
    """The message went to the expired receive() and was refused ("passed its deadline ... start a new run"),
    lost; in a live run it reaches the next receive()."""
    from aether_nb.services.channel import post_message

    clock = ManualClock()
    session_mod.default_session().clock = clock

    async def main() -> tuple[str, dict[str, Any]]:
        run = listens_twice.start()
        await run.wait_for("waiting")
        fillers = [parked.start(x=10), parked.start(x=11)]
        await asyncio.gather(*(r.wait_for("waiting") for r in fillers))
        while not run.evicted:  # (the oldest of three parked runs, beyond the cap of 2: it leaves memory)
            await asyncio.sleep(0)
        clock.advance(60)  # its receive() timed out while it was not executing
        outcome = await post_message(run, "hello")
        out = await run
        for r in fillers:
            r.cancel()
        return outcome, out

    outcome, out = arun(main(), timeout=10)
    assert outcome == "queued"
    assert out == {"msgs": ["(timed out)", "hello"]}
