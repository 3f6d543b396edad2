"""Durable execution: a run resumed by a new session on the same store replays its journal instead of re-running.

A "restart" here is a new Session over the same store after the first event loop is gone (nothing of the first
execution survives but what it wrote to the store). ``test_resume_process.py`` does the same across real processes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

calls: dict[str, int] = {}


def bump(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1


@dataclass
class Point:
    x: int
    y: int


@ag.tool(outputs=["p"])
def make_point(x: int) -> dict[str, Point]:
    bump("make_point")
    return {"p": Point(x, x + 1)}


@ag.tool(outputs=["lock"])
def make_lock() -> dict[str, Any]:
    bump("make_lock")
    return {"lock": threading.Lock()}


@ag.graph_fn(outputs=["child"])
async def sub(x: int) -> dict[str, int]:
    bump("sub_body")
    p = await make_point(x)
    return {"child": p["p"].y}


@ag.graph_fn(outputs=["name", "y", "child"])
async def durable_agent(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    bump("body")
    p = await make_point(x)
    c = await sub(x=x * 10)
    await context.channel().send_text("before the question")
    name = await context.channel().ask_text("Name?")
    return {"name": name, "y": p["p"].y, "child": c["child"]}


def first_execution(store: MemoryStore, run_id: str) -> None:
    """Start the run and let the loop end while it waits (as a kernel dying would)."""
    s, ch = make_session(store)
    previous = session_mod.set_default_session(s)

    async def main() -> None:
        run = durable_agent.start(x=1, run_id=run_id)
        await run.wait_for("waiting")

    try:
        arun(main())
    finally:
        session_mod.set_default_session(previous)
    assert ch.texts == ["before the question"]


def fresh_session(store: MemoryStore) -> tuple[Session, Any]:
    s, ch = make_session(store)
    session_mod.set_default_session(s)
    return s, ch


@pytest.fixture(autouse=True)
def _reset() -> Any:
    calls.clear()
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def test_resume_replays_completed_steps_and_asks_the_open_question() -> None:
    store = MemoryStore()
    first_execution(store, "r1")
    assert calls == {"body": 1, "make_point": 2, "sub_body": 1}
    _, ch = fresh_session(store)
    run = ag.get_run("r1")
    assert run.status == "waiting" and not run.live
    (wait,) = run.waits
    assert wait.prompt == "Name?"
    # the DAG is rebuilt from the store
    assert run.graph.node("make_point_1").status == "DONE"
    assert run.graph.node("ask_text_1").status == "WAITING_HUMAN"

    async def main() -> dict[str, Any]:
        await run.answer("Ada")
        return await run

    assert arun(main()) == {"name": "Ada", "y": 2, "child": 11}
    # the body re-ran, every completed step was replayed: tools did not run again, nothing was said twice
    assert calls == {"body": 2, "make_point": 2, "sub_body": 1}
    assert ch.texts == []
    assert run.graph.node("make_point_1").replayed
    assert run.status == "succeeded"
    assert run.graph.node("ask_text_1").status == "DONE"
    # chat turns were remembered once each, across both executions
    # (read through the session's store: the last turn may still be in its write-behind batch)
    turns = [m.text for m in ag.store().memory_query("notebook", kinds=["chat"])][::-1]
    assert turns == ["before the question", "Name?", "Ada"]


def test_a_resumed_run_keeps_when_its_steps_really_ran() -> None:
    """Replayed steps keep the times they ran at, and the wait keeps when it was asked: the resumed run's DAG
    (and the widget's elapsed time, first start to last end) reads as the live run's would, not as the replay's
    few milliseconds; the store's node rows and a rebuild from the events agree."""
    store = MemoryStore()
    first_execution(store, "r1")
    before = {n.node_id: (n.started_at, n.ended_at) for n in store.list_nodes("r1")}
    assert before["make_point_1"][1] is not None and before["ask_text_1"][1] is None
    fresh_session(store)
    run = ag.get_run("r1")

    async def main() -> None:
        await run.answer("Ada")
        await run

    arun(main())
    after = {n.id: (n.started_at, n.ended_at) for n in run.graph.nodes}
    for key in ("make_point_1", "sub_1"):
        assert run.graph.node(key).replayed and after[key] == before[key]
    asked, answered = after["ask_text_1"]
    assert asked == before["ask_text_1"][0] and answered is not None and answered > before["make_point_1"][1]
    ag.session().flush()
    assert {n.node_id: (n.started_at, n.ended_at) for n in store.list_nodes("r1")} == after
    fresh_session(store)
    assert {n.id: (n.started_at, n.ended_at) for n in ag.get_run("r1").graph.nodes} == after


@ag.graph_fn(outputs=["r"])
async def asks_inside(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    p = await make_point(x)
    name = await context.channel().ask_text("Inner?")
    return {"r": [p["p"].y, name]}


@ag.graph_fn(outputs=["r"])
async def nested_asker(*, context: ag.NodeContext) -> dict[str, Any]:
    c = await sub(x=1)
    r = await asks_inside(x=2)
    return {"r": [c["child"], *r["r"]]}


def _replayed(graph: Any) -> dict[str, bool]:
    return {n.id: n.replayed for n in graph.nodes}


@pytest.mark.parametrize("agent", ["durable_agent", "nested_asker"])
def test_a_resumed_run_rebuilt_from_the_store_shows_the_steps_it_replayed(agent: str) -> None:
    """The DAG of a resumed run read back from the store marks replayed what the live run marked replayed: every
    step done before the resumption, but not the steps inside a nested graph_fn replayed as a whole (a replayed
    step's end is stored only once, so the stored events alone do not say it; the widget of a run the cell no
    longer holds showed "completed steps were replayed" beside no replayed step)."""
    store = MemoryStore()
    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def first() -> None:
        run = durable_agent.start(x=1, run_id="r") if agent == "durable_agent" else nested_asker.start(run_id="r")
        await run.wait_for("waiting")

    arun(first())
    fresh_session(store)

    async def resume() -> Any:
        run = ag.get_run("r")
        await run.answer("Ada")
        await run
        return run

    live = arun(resume())
    ag.session().flush()
    replayed = _replayed(live.graph)
    expected = {"durable_agent": {"make_point_1", "sub_1"}, "nested_asker": {"sub_1", "asks_inside_1/make_point_1"}}
    assert {k for k, v in replayed.items() if v} == expected[agent]
    assert not replayed["sub_1/make_point_1"]  # inside a nested graph_fn replayed as one step
    fresh_session(store)
    assert _replayed(ag.get_run("r").graph) == replayed


def test_answer_given_while_no_task_holds_the_wait_is_delivered_on_resume() -> None:
    store = MemoryStore()
    first_execution(store, "r2")
    s, _ = fresh_session(store)
    (wait,) = ag.get_run("r2").waits
    s.answer(wait.token, "Grace")  # no live task: stored
    assert store.get_wait(wait.token).status == "answered"  # type: ignore[union-attr]
    fresh_session(store)

    async def main() -> dict[str, Any]:
        return await ag.get_run("r2")

    assert arun(main())["name"] == "Grace"
    assert calls["make_point"] == 2


def test_start_with_the_same_run_id_resumes() -> None:
    store = MemoryStore()
    first_execution(store, "r3")
    fresh_session(store)

    async def main() -> Any:
        run = durable_agent.start(x=1, run_id="r3")
        await run.wait_for("waiting")
        await run.answer("Lin")
        return await run

    assert arun(main())["name"] == "Lin"
    assert calls["make_point"] == 2


def test_a_body_that_diverges_from_its_journal_fails_with_replay_mismatch() -> None:
    store = MemoryStore()
    first_execution(store, "r4")
    fresh_session(store)

    @ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])
    async def changed(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        p = await make_point(x + 100)  # other arguments at step make_point_1
        return {"name": "", "y": p["p"].y, "child": 0}

    try:
        with pytest.raises(ag.RunFailed) as info:
            arun(ag.get_run("r4").result())
        cause = info.value.__cause__
        assert isinstance(cause, ag.ReplayMismatch)
        assert cause.node_id == "make_point_1" and "make_point_1" in str(cause)
        # what differed, both values, and the honest list of likely causes
        assert "x: stored 1, now 101" in str(cause)
        assert "code changed" in str(cause) and "read outside the journal" in str(cause)
    finally:
        ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])(durable_agent.fn)


def test_replay_mismatch_names_the_call_the_journal_holds() -> None:
    store = MemoryStore()
    first_execution(store, "r6")
    fresh_session(store)

    @ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])
    async def renamed(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        await context.kv().set("make_point_1", x)  # another call where make_point_1 was... at another key
        c = await sub(x=x)  # sub_1 was called with x=10 the first time
        return {"name": "", "y": 0, "child": c["child"]}

    try:
        with pytest.raises(ag.RunFailed) as info:
            arun(ag.get_run("r6").result())
        cause = info.value.__cause__
        assert isinstance(cause, ag.ReplayMismatch) and cause.node_id == "sub_1"
        assert "x: stored 10, now 1" in str(cause)
    finally:
        ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])(durable_agent.fn)


def test_resume_needs_the_agent_defined() -> None:
    store = MemoryStore()
    now = 0.0
    from aether_nb.store.records import RunRecord

    store.put_run(RunRecord("r5", "never_defined", "waiting", {}, "fp", now, now))
    fresh_session(store)
    with pytest.raises(ag.UsageError, match="run the cell that defines it"):
        arun(ag.get_run("r5").result())


def test_unpicklable_outputs_are_not_journaled_but_never_dropped(session: Session) -> None:
    @ag.graph_fn(outputs=["ok"])
    async def uses_lock() -> dict[str, bool]:
        lk = await make_lock()
        return {"ok": hasattr(lk["lock"], "acquire")}

    assert arun(uses_lock()) == {"ok": True}
    run = ag.runs()[0]
    node = run.graph.node("make_lock_1")
    assert node.status == "DONE"
    assert any("not journaled" in w for w in node.warnings)
    assert all(e.key != "make_lock_1" for e in session.store.load_journal(run.id))


def test_a_resumed_run_that_fails_leaves_no_live_wait_in_its_graph() -> None:
    """The wave-1 bug: after a failed replay the widget showed "failed" beside "1 waiting" and an orange node."""
    store = MemoryStore()
    first_execution(store, "r7")
    fresh_session(store)

    @ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])
    async def broken(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        raise RuntimeError("the new code is broken")

    try:
        with pytest.raises(ag.RunFailed):
            arun(ag.get_run("r7").result())
        run = ag.get_run("r7")
        assert run.status == "failed" and run.waits == []
        statuses = {n.id: n.status for n in run.graph.nodes}
        assert statuses["ask_text_1"] == "CANCELLED"
        assert not [n for n, st in statuses.items() if st not in ("DONE", "FAILED", "CANCELLED", "SKIPPED")]
        finished = [e for e in run.history if e.kind == "run_finished"][-1]
        assert finished.status == "failed" and "broken" in finished.error["message"]
    finally:
        ag.graph_fn(name="durable_agent", outputs=["name", "y", "child"])(durable_agent.fn)


@ag.tool(outputs=["y"])
async def add_one(x: int) -> dict[str, int]:
    return {"y": x + 1}


def test_replay_mismatch_shows_the_arguments_of_a_step_that_ran_in_one_loop_turn() -> None:
    """A trivial step is one NodeRan event: its stored arguments are still found for the message."""
    store = MemoryStore()
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)

    @ag.graph_fn(name="quick_then_ask")
    async def first(*, context: ag.NodeContext) -> dict[str, Any]:
        await add_one(41)
        return {"n": await context.channel().ask_text("n?")}

    async def start() -> None:
        run = first.start(run_id="q1")
        await run.wait_for("waiting")

    try:
        arun(start())
    finally:
        session_mod.set_default_session(previous)
    fresh_session(store)

    @ag.graph_fn(name="quick_then_ask")
    async def changed(*, context: ag.NodeContext) -> dict[str, Any]:
        await add_one(43)
        return {"n": await context.channel().ask_text("n?")}

    with pytest.raises(ag.RunFailed) as info:
        arun(ag.get_run("q1").result())
    assert "x: stored 41, now 43" in str(info.value.__cause__)


SEEN_BY_BODY: dict[str, Any] = {}


@ag.graph_fn(outputs=["name"])
async def checks_its_answer_is_stored(*, context: ag.NodeContext) -> dict[str, Any]:
    name = await context.channel().ask_text("Name?")
    # What the store itself holds now (not the session's write-behind batch): the answer must already be there.
    inner = ag.session().store.inner
    SEEN_BY_BODY["waits"] = [(w.status, w.answer) for w in inner.list_waits(SEEN_BY_BODY["run_id"], status=None)]
    return {"name": name}


@pytest.mark.parametrize("durability", ["async", "sync"])
@pytest.mark.parametrize("answered_from", ["loop", "thread"])
def test_an_answer_is_in_the_store_before_the_body_gets_it(durability: str, answered_from: str) -> None:
    s, _ = make_session(MemoryStore())
    s.store.durability = durability
    previous = session_mod.set_default_session(s)
    SEEN_BY_BODY.clear()
    try:

        async def main() -> Any:
            run = checks_its_answer_is_stored.start()
            SEEN_BY_BODY["run_id"] = run.id
            await run.wait_for("waiting")
            (wait,) = run.waits
            if answered_from == "loop":
                await run.answer("Ada")
            else:  # a widget's answer arrives on a kernel thread
                t = threading.Thread(target=s.answer, args=(wait.token, "Ada"))
                t.start()
                t.join(10)
            return await run

        assert arun(main(), timeout=30) == {"name": "Ada"}
    finally:
        session_mod.set_default_session(previous)
    assert SEEN_BY_BODY["waits"] == [("answered", "Ada")]


@ag.graph_fn(outputs=["name"])
async def asks_a_name(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"name": await context.channel().ask_text("Name?")}


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_a_wait_is_listed_only_once_it_is_in_the_store(durability: str) -> None:
    """``run.waits`` is what the widget turns into controls: it listed a wait from the moment the run registered it,
    before its write returned, so for a moment the widget showed an approval (beside "running") that a crash would
    have lost. Checked at every loop turn: whenever a wait is listed, the store itself holds it, open."""
    s, _ = make_session(MemoryStore())
    s.store.durability = durability
    previous = session_mod.set_default_session(s)
    try:

        async def main() -> int:
            run = asks_a_name.start()
            turns = 0
            while run.status != "waiting":
                turns += 1
                assert turns < 1000, "the run never waited"
                listed = run.waits
                if listed:
                    stored = s.store.inner.list_waits(run.id, status="open")
                    assert [w.token for w in stored] == [w.token for w in listed], "listed before it was stored"
                await asyncio.sleep(0)
            (wait,) = run.waits
            assert s.store.inner.get_wait(wait.token) is not None
            await run.answer("Ada")
            assert await run == {"name": "Ada"}
            return turns

        turns = arun(main(), timeout=30)
        assert turns >= 2  # the loop was watched while the wait was being written
    finally:
        session_mod.set_default_session(previous)


@ag.tool(outputs=["stats"])
def summarise(values: list[float]) -> dict[str, Any]:
    bump("summarise")
    return {"stats": {"mean": float("nan"), "max": float("inf"), "label": "café ☕", "n": len(values), "ok": True}}


@ag.graph_fn(outputs=["stats", "note"])
async def stats_agent(values: list[float], *, context: ag.NodeContext) -> dict[str, Any]:
    s = await summarise(values)
    note = await context.channel().ask_text("Note?")
    return {"stats": s["stats"], "note": note}


def test_a_step_result_holding_nan_and_non_ascii_is_replayed_as_it_was_after_a_restart(tmp_path: Any) -> None:
    """A user's view of the store's two JSON encoders (orjson for plain values, json.dumps for the rest): a result
    with NaN and infinity (which the runtime's codec tags before the store sees them) and non-ASCII text (which
    orjson would write as UTF-8, so json.dumps writes it) is replayed exactly after a restart on a DuckDB file, and
    the tool ran once. The store-level cases (a bare NaN, refused types) are in tests/store/test_values.py."""
    from aether_nb.store.duckdb import DuckDBStore

    path = str(tmp_path / "nb.duckdb")
    store = DuckDBStore(path)
    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def start() -> None:
        run = stats_agent.start(values=[1.0, 2.5], run_id="stats-1")
        await run.wait_for("waiting")

    arun(start())
    s.flush()
    store.close()

    store2 = DuckDBStore(path)
    fresh_session(store2)

    async def finish() -> dict[str, Any]:
        run = ag.get_run("stats-1")
        await run.answer("fine")
        return await run

    out = arun(finish())
    stats = out["stats"]
    assert stats["mean"] != stats["mean"] and stats["max"] == float("inf")  # NaN and inf as they were
    assert stats["label"] == "café ☕" and stats["n"] == 2 and stats["ok"] is True and out["note"] == "fine"
    assert calls == {"summarise": 1}
    store2.close()


@ag.graph_fn(outputs=["first", "second"])
async def two_asks(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    bump("two_asks")
    await make_point(x)
    first = await context.channel().ask_text("First?")
    await make_point(x + 1)
    second = await context.channel().ask_text("Second?")
    return {"first": first, "second": second}


def _asked_first(tmp_path: Any, run_id: str) -> str:
    """Start ``two_asks`` on a new DuckDB file until it asks its first question, then close the file (a kernel
    that stops there); returns the file's path."""
    from aether_nb.store.duckdb import DuckDBStore

    path = str(tmp_path / "nb.duckdb")
    store = DuckDBStore(path)
    s, _ = make_session(store)
    session_mod.set_default_session(s)

    async def start() -> None:
        await two_asks.start(x=1, run_id=run_id).wait_for("waiting")

    arun(start())
    s.flush()
    store.close()
    return path


def _ran(store: Any, run_id: str) -> list[tuple[str, bool]]:
    """The stored events that end a node: (node id, replayed)."""
    events = store.load_events(run_id)
    return [(e["node_id"], bool(e.get("replayed"))) for e in events if e["kind"] in ("node_ran", "node_finished")]


def test_a_run_resumed_after_each_restart_stores_each_step_once(tmp_path: Any) -> None:
    """Asked twice, restarted before each answer: every resume replays the steps done before (the DAG shows them
    replayed, the tool ran once), and the stored history holds each step's end once: it does not grow by the
    run's steps on every resume."""
    from aether_nb.store.duckdb import DuckDBStore

    path = _asked_first(tmp_path, "twice")
    for answer in ("a", "b"):
        store = DuckDBStore(path)
        fresh_session(store)

        async def answer_it(text: str = answer) -> tuple[Any, Any]:
            run = ag.get_run("twice")
            await run.answer(text)
            if text == "a":
                await run.wait_for("waiting")
                return run, None
            return run, await run

        run, out = arun(answer_it())
        assert run.graph.node("make_point_1").replayed  # (the run as the cell holds it: see the next test)
        ag.session().flush()
        store.close()
    assert out == {"first": "a", "second": "b"}
    assert calls == {"two_asks": 3, "make_point": 2}
    store = DuckDBStore(path, read_only=True)
    ran = _ran(store, "twice")
    assert sorted(ran) == [
        ("ask_text_1", False),
        ("ask_text_2", False),
        ("make_point_1", False),
        ("make_point_2", False),
    ]
    store.close()


def test_a_step_whose_events_a_crash_lost_is_stored_when_it_is_replayed(tmp_path: Any) -> None:
    """A step's journal entry reached the file but its node and events did not (they can travel in the next
    history batch): the resume replays the step (the tool does not run again) and, the history not showing it
    done, stores it then, so the DAG read from the file has it."""
    import duckdb

    from aether_nb.store.duckdb import DuckDBStore

    path = _asked_first(tmp_path, "lost")
    con = duckdb.connect(path)  # what the crash lost
    con.execute("DELETE FROM nodes WHERE node_id = 'make_point_1'")
    con.execute("DELETE FROM events WHERE data::JSON->>'node_id' = 'make_point_1'")
    con.close()
    store = DuckDBStore(path)
    assert "make_point_1" not in dict(_ran(store, "lost"))  # the crash lost its events
    assert [e.key for e in store.load_journal("lost")][:1] == ["make_point_1"]  # its result is journaled
    fresh_session(store)

    async def answer_it() -> None:
        run = ag.get_run("lost")
        await run.answer("a")
        await run.wait_for("waiting")

    arun(answer_it())
    ag.session().flush()
    store.close()
    assert calls == {"two_asks": 2, "make_point": 2}
    store = DuckDBStore(path, read_only=True)
    assert ("make_point_1", True) in _ran(store, "lost")
    assert {n.node_id: n.status for n in store.list_nodes("lost")}["make_point_1"] == "DONE"
    store.close()


@pytest.mark.parametrize("in_atomic_block", [False, True])
def test_sync_durability_writes_a_completed_step_before_any_other_task_runs(in_atomic_block: bool) -> None:
    """README: in ``"sync"`` durability an effect happens once for every completed step. A step's record was written
    at the end of the loop turn, after every task queued before it: a sibling branch of ``asyncio.gather`` that then
    blocked the loop (a sync call) held the completed step's record in memory, and a process killed meanwhile did
    the step again on resume (a scratch tester's SIGKILL). Now it is in the store before its branch yields: a
    sibling starting in the same loop turn reads it there (the store itself, not the runtime's pending batch). A
    step whose journal entry goes with the writes it made (a memory record: one atomic block) too, when the block
    ends."""
    store = MemoryStore()
    s, _ = make_session(store)
    s.store.durability = "sync"
    seen: list[list[str]] = []

    @ag.tool(outputs=["v"])
    async def first_effect(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        if in_atomic_block:
            await context.memory().record("note", {"x": x})
        return {"v": x}

    @ag.tool(outputs=["keys"])
    async def sibling(*, context: ag.NodeContext) -> dict[str, list[str]]:
        keys = [e.key for e in store.load_journal(context.run_id)]  # what a process killed now would keep
        seen.append(keys)
        return {"keys": keys}

    @ag.graph_fn(name="sync_gather", outputs=["r"])
    async def prog() -> dict[str, Any]:
        return {"r": await asyncio.gather(first_effect(1), sibling())}

    previous = session_mod.set_default_session(s)
    try:
        arun(prog())
    finally:
        session_mod.set_default_session(previous)
    # (with the memory record, the sibling starts while the tool awaits its record's step: that step is in the store)
    assert seen and ("first_effect_1/memory.record_1" if in_atomic_block else "first_effect_1") in seen[0], seen


def test_sync_durability_writes_a_steps_end_with_its_journal_entry() -> None:
    """In ``"sync"`` durability a step's journal entry was written as it completed but its DAG node's end with the
    next batch: a process killed after a nested agent's step kept the entry and no node for it (nor for the nested
    agent), and a run cancelled from another process then kept that graph for good (a scratch tester's finding)."""
    store = MemoryStore()
    s, _ = make_session(store)
    s.store.durability = "sync"
    seen: list[dict[str, str]] = []

    async def effect(x: str) -> str:
        return x

    @ag.graph_fn(outputs=["r"])
    async def kid(*, context: ag.NodeContext) -> dict[str, str]:
        await context.step("k", effect, "kid-effect")
        # what a process killed now would keep: the store itself, not the runtime's pending batch
        seen.append({n.node_id: n.status for n in store.list_nodes(context.run_id)})
        return {"r": "ok"}

    @ag.graph_fn(name="sync_nested", outputs=["r"])
    async def agent(*, context: ag.NodeContext) -> dict[str, str]:
        await context.step("a", effect, "top-effect")
        return {"r": (await kid())["r"]}

    previous = session_mod.set_default_session(s)
    try:
        arun(agent())
    finally:
        session_mod.set_default_session(previous)
    assert seen == [{"a_1": "DONE", "kid_1": "RUNNING", "kid_1/k_1": "DONE"}], seen
