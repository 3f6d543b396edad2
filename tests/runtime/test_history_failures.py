"""History that cannot be written is visible (issue 12, items 3 and 4).

A store that fails as a whole (disk full, I/O error) keeps the batch pending, retries it, and every run with
pending history hears about it; ``session.flush()`` raises. A record the store cannot hold is dropped alone: the
rest is written, its run and node carry a ``not_durable`` warning, ``flush()`` says so once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError, UsageError
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.events import RunStatusChanged
from aether_nb.runtime.history import HistoryFailure, HistoryStore
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, MemoryRecord, RejectedRecord
from tests.conftest import arun, default_session


class FlakyStore(MemoryStore):
    """A MemoryStore whose history writes fail while ``broken`` is set (a full disk, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: Exception | None = None
        self.attempts = 0

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        self.attempts += 1
        if self.broken is not None:
            raise self.broken
        return super().write_history(batch)


@pytest.fixture
def flaky() -> Iterator[FlakyStore]:
    store = FlakyStore()
    with default_session(store):
        yield store


def _session() -> Session:
    return session_mod.default_session()


@ag.tool(outputs=["y"])
async def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


def warnings_of(run: ag.Run) -> list[tuple[str | None, str]]:
    async def collect() -> list[tuple[str | None, str]]:
        return [(e.node_id, e.code) async for e in run.events() if e.kind == "warning"]

    return arun(collect())


def deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"v": value}
    return value


def test_a_failing_store_is_told_to_the_runs_and_flush_raises(flaky: FlakyStore) -> None:
    heard: list[HistoryFailure] = []
    remove = _session().store.add_failure_listener(heard.append)

    @ag.graph_fn(outputs=["y"])
    async def chain(x: int) -> dict[str, int]:
        for _ in range(3):
            x = (await inc(x))["y"]
        return {"y": x}

    async def main() -> ag.Run:
        flaky.broken = StorageError("No space left on device", code="io")
        run = chain.start(x=0)
        await run
        while not heard:  # the background write fails within the interval: wait on state
            await asyncio.sleep(0.01)
        return run

    run = arun(main(), timeout=10)
    failure = heard[0]
    assert failure.will_retry and "No space left" in failure.error
    assert run.id in failure.run_ids and (run.id, "inc_1") in failure.nodes
    assert {"journal", "node", "event", "run"} <= failure.kinds and failure.count > 0
    # the run says so (on the run and on its nodes), and the DAG shows it
    assert ("inc_1", "history_not_written") in warnings_of(run)
    assert any("not written" in w for w in run.graph.node("inc_1").warnings)
    s = _session()
    pending = s.store.pending
    assert pending > 0
    with pytest.raises(StorageError, match="No space left"):
        s.flush()
    assert s.store.pending >= pending  # nothing dropped
    # the disk has room again: everything recorded is written, the warnings included, nothing lost
    flaky.broken = None
    s.flush()
    assert s.store.pending == 0
    assert [e.key for e in flaky.load_journal(run.id)] == ["inc_1", "inc_2", "inc_3"]
    assert flaky.get_run(run.id).status == "succeeded"  # type: ignore[union-attr]
    stored_codes = [e.get("code") for e in flaky.load_events(run.id) if e.get("kind") == "warning"]
    assert "history_not_written" in stored_codes
    heard_before = len(heard)
    remove()
    flaky.broken = StorageError("again", code="io")
    with pytest.raises(StorageError):  # no loop here: the write goes through, and its failure to the caller
        s.store.put_run(flaky.get_run(run.id))  # type: ignore[arg-type]
    assert len(heard) == heard_before  # a removed listener hears nothing more
    flaky.broken = None
    s.flush()


def test_a_pending_batch_is_retried_in_the_background_until_it_is_written(flaky: FlakyStore) -> None:
    @ag.graph_fn(outputs=["y"])
    async def one(x: int) -> dict[str, int]:
        return {"y": (await inc(x))["y"]}

    async def main() -> str:
        flaky.broken = StorageError("I/O error", code="io")
        run = one.start(x=1)
        await run
        while flaky.attempts < 2:  # failed, then retried: wait on state
            await asyncio.sleep(0.01)
        flaky.broken = None
        while _session().store.pending:  # the next retry writes it without anyone asking
            await asyncio.sleep(0.01)
        return run.id

    run_id = arun(main(), timeout=20)
    assert [e.key for e in flaky.load_journal(run_id)] == ["inc_1"]
    _session().flush()  # no error: nothing was dropped


def test_a_waiting_run_whose_wait_cannot_be_written_fails_loudly(flaky: FlakyStore) -> None:
    @ag.graph_fn(outputs=["a"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"a": await context.channel().ask_text("name?")}

    async def main() -> None:
        flaky.broken = StorageError("disk full", code="io")
        run = asks.start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        assert isinstance(info.value.__cause__, StorageError)
        assert not flaky.list_waits(run.id)  # never claimed to be waiting with an unwritten wait
        flaky.broken = None

    arun(main(), timeout=10)


def test_one_unstorable_record_is_dropped_and_the_rest_of_the_run_is_written(session: Session) -> None:
    heard: list[HistoryFailure] = []
    session.store.add_failure_listener(heard.append)
    inner = session.store.inner

    @ag.tool(outputs=["ok"])
    async def remember(*, context: ag.NodeContext) -> dict[str, bool]:
        # a memory event nested deeper than the store holds (the public API may refuse such values earlier)
        record = MemoryRecord("mem-deep", "notebook", "note", deep(300), "deep", (), 1.0, context.run_id, "remember_1")
        ag.session().store.memory_append(record)
        return {"ok": True}

    @ag.graph_fn(outputs=["y"])
    async def agent(x: int) -> dict[str, int]:
        for _ in range(5):
            x = (await inc(x))["y"]
        await remember()
        for _ in range(5):
            x = (await inc(x))["y"]
        return {"y": x}

    async def main() -> ag.Run:
        r = agent.start(x=0)
        await r
        return r

    run = arun(main())
    with pytest.raises(StorageError) as info:
        session.flush()  # says once what was dropped...
    assert info.value.code == "not_durable" and "mem-deep" in info.value.message and run.id in info.value.message
    session.flush()  # ...and only once
    keys = [e.key for e in inner.load_journal(run.id)]
    assert keys == [f"inc_{i}" for i in range(1, 6)] + ["remember_1"] + [f"inc_{i}" for i in range(6, 11)]
    assert inner.get_run(run.id).status == "succeeded"  # type: ignore[union-attr]
    assert [m.id for m in inner.memory_query("notebook")] == []
    (failure,) = heard
    assert not failure.will_retry and failure.kinds == frozenset({"memory"}) and run.id in failure.run_ids
    assert failure.records[0].key == "mem-deep" and "nested too deeply" in failure.records[0].error
    assert warnings_of(run) == [("remember_1", "not_durable")]
    assert any("could not be stored" in w for w in run.graph.node("remember_1").warnings)


def test_a_listener_that_raises_does_not_stop_the_others_or_the_write(flaky: FlakyStore) -> None:
    store = _session().store
    heard: list[HistoryFailure] = []

    def bad(failure: HistoryFailure) -> None:
        raise RuntimeError("listener bug")

    store.add_failure_listener(bad)
    store.add_failure_listener(heard.append)
    store.write_history(HistoryBatch(memory=[MemoryRecord("m", "nb", "note", deep(300), "t", (), 1.0)]))
    assert len(heard) == 1 and heard[0].records[0].kind == "memory"
    with pytest.raises(UsageError):
        store.add_failure_listener("not callable")  # type: ignore[arg-type]


def test_an_event_that_cannot_become_json_is_dropped_alone(session: Session) -> None:
    class BrokenEvent:
        kind = "broken"

        def to_json(self) -> dict[str, Any]:
            raise ValueError("cannot serialise")

    heard: list[HistoryFailure] = []
    store: HistoryStore = session.store
    store.add_failure_listener(heard.append)
    store.append_events("r1", [{"kind": "ok", "i": 0}])
    store.record("r1", BrokenEvent(), None)  # type: ignore[arg-type]
    store.append_events("r1", [{"kind": "ok", "i": 1}])
    store.flush_history()
    assert store.inner.load_events("r1") == [{"kind": "ok", "i": 0}, {"kind": "ok", "i": 1}]
    (failure,) = heard
    assert failure.records[0].kind == "event" and failure.records[0].key == "broken"


def test_recorded_events_are_written_under_the_run_they_were_recorded_for(session: Session) -> None:
    """The runtime's events name their run and are kept alone until the write; any other event is kept with the
    run it was recorded for (a pair), and a failing one is reported under that run either way."""

    class Foreign:  # names another run than the one it is recorded for
        run_id = "elsewhere"

        def to_json(self) -> dict[str, Any]:
            return {"kind": "foreign"}

    class Broken:
        run_id = "r1"
        kind = "broken"

        def to_json(self) -> dict[str, Any]:
            raise ValueError("cannot serialise")

    heard: list[HistoryFailure] = []
    store: HistoryStore = session.store
    store.add_failure_listener(heard.append)
    store.record("r1", RunStatusChanged(run_id="r1", seq=1, ts=0.0, status="running"), None)
    store.record("r1", Foreign(), None)  # type: ignore[arg-type]
    store.record("r1", Broken(), None)  # type: ignore[arg-type]
    store.append_events("r2", [{"kind": "given"}])
    store.flush_history()
    assert [e["kind"] for e in store.inner.load_events("r1")] == ["run_status", "foreign"]
    assert store.inner.load_events("r2") == [{"kind": "given"}]
    assert store.inner.load_events("elsewhere") == []
    (failure,) = heard
    assert (failure.records[0].run_id, failure.records[0].key) == ("r1", "broken")


def test_a_run_that_succeeded_returns_its_outputs_while_the_store_fails(flaky: FlakyStore) -> None:
    """The end of a run purges expired KV keys, which writes the pending history first: with the disk full, a
    run that had set a KV value and succeeded raised StorageError to ``await run`` (a scratch tester's finding)."""

    @ag.graph_fn(outputs=["o"])
    async def sets_a_key(*, context: ag.NodeContext) -> dict[str, int]:
        await context.kv().set("z", 1)
        return {"o": 1}

    async def main() -> tuple[ag.Run, dict[str, Any]]:
        flaky.broken = StorageError("No space left on device", code="io")
        run = sets_a_key.start()
        return run, await run

    run, out = arun(main(), timeout=10)
    assert out == {"o": 1} and run.status == "succeeded"
    s = _session()
    with pytest.raises(StorageError, match="No space left"):
        s.flush()  # (the failure is still told where it belongs)
    flaky.broken = None
    s.flush()
    assert [k for k, _ in flaky.kv_keys("notebook")] == ["z"]  # written, not lost
