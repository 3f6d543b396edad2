"""Write-behind of run history (aether_nb.runtime.history): what reaches the real store, and when.

The real store here is a MemoryStore subclass that counts (or refuses) ``write_history`` calls; reads through the
session's store must never be behind what the runtime recorded.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.errors import StorageError, UsageError
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.history import HistoryStore
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, RejectedRecord, WaitRecord
from aether_nb.store.redact import MASK, contains_secret
from tests.conftest import arun, default_session


class CountingStore(MemoryStore):
    """A MemoryStore that counts batches and can be told to fail them. Its ``write_history`` takes no
    ``durable`` (a store written for the protocol before it had one): every batch reaches it without it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail: Exception | None = None

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        if self.fail is not None:
            raise self.fail
        self.batches.append(len(batch))
        return super().write_history(batch)


@pytest.fixture
def inner() -> Iterator[CountingStore]:
    store = CountingStore()
    with default_session(store):
        yield store


@ag.tool(outputs=["y"])
async def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


def _session() -> Session:
    return session_mod.default_session()


def test_async_steps_are_batched_and_reads_see_them_at_once(inner: CountingStore) -> None:
    seen: list[int] = []

    @ag.graph_fn(outputs=["y"])
    async def chain(x: int) -> dict[str, int]:
        for _ in range(20):
            x = (await inc(x))["y"]
        # read-your-writes: the session's store already answers with the 20 steps
        seen.append(len(_session().store.load_journal(run_id[0])))
        return {"y": x}

    run_id: list[str] = []

    async def main() -> None:
        run = chain.start(x=0)
        run_id.append(run.id)
        assert await run == {"y": 20}

    arun(main())
    assert seen == [20]
    # one batch for the 20 steps so far (the read above wrote it), not one per step
    assert len(inner.batches) <= 2
    _session().flush()
    assert [e.key for e in inner.load_journal(run_id[0])][:2] == ["inc_1", "inc_2"]
    assert inner.get_run(run_id[0]).status == "succeeded"  # type: ignore[union-attr]


def test_async_history_reaches_the_store_within_the_interval(inner: CountingStore) -> None:
    @ag.graph_fn(outputs=["y"])
    async def one(x: int) -> dict[str, int]:
        return {"y": (await inc(x))["y"]}

    async def main() -> str:
        run = one.start(x=1)
        await run
        # wait on state: the timer writes the batch without anyone asking
        while not inner.batches:
            await asyncio.sleep(0.01)
        return run.id

    run_id = arun(main(), timeout=10)
    assert [e.key for e in inner.load_journal(run_id)] == ["inc_1"]
    assert inner.get_run(run_id).status == "succeeded"  # type: ignore[union-attr]


def test_sync_durability_writes_each_step_before_the_caller_continues(inner: CountingStore) -> None:
    ag.configure(durability="sync")
    in_store_before_second: list[list[str]] = []

    @ag.tool(outputs=["y"])
    async def probe(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        in_store_before_second.append([e.key for e in inner.load_journal(context.run_id)])
        return {"y": x}

    @ag.graph_fn(outputs=["y"])
    async def two(x: int) -> dict[str, int]:
        y = (await inc(x))["y"]
        return {"y": (await probe(y))["y"]}

    assert arun(two(x=1)) == {"y": 2}
    assert in_store_before_second == [["inc_1"]]


def test_a_wait_is_in_the_store_when_the_run_says_it_waits(inner: CountingStore) -> None:
    @ag.graph_fn(outputs=["a"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        await inc(1)
        return {"a": await context.channel().ask_text("name?")}

    async def main() -> None:
        run = asks.start()
        await run.wait_for("waiting", timeout=10)
        # no flush: the wait, the waiting run record and the step before it are in the real store
        (w,) = inner.list_waits(run.id)
        assert w.prompt == "name?"
        assert inner.get_run(run.id).status == "waiting"  # type: ignore[union-attr]
        assert "inc_1" in [e.key for e in inner.load_journal(run.id)]
        batches = len(inner.batches)
        await run.answer("Ada")
        # written at the end of this loop iteration, without waiting for the interval
        while inner.get_wait(w.token).status != "answered":  # type: ignore[union-attr]
            await asyncio.sleep(0)
        assert len(inner.batches) == batches + 1
        assert await run == {"a": "Ada"}

    arun(main())


def test_a_pause_is_one_write_and_is_said_only_once_written(inner: CountingStore) -> None:
    """The wait, the run's record and its "waiting" status change go out in one write; observers and
    ``run.status`` learn of it only when that write returned, and see every event in sequence order."""

    @ag.graph_fn(outputs=["a"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        await inc(1)
        return {"a": await context.channel().ask_text("name?")}

    seqs: list[int] = []
    wait_stored_when_said: list[bool] = []

    async def main() -> None:
        run = asks.start()

        def watch(event: ag.Event) -> None:
            seqs.append(event.seq)
            if event.kind == "run_status" and getattr(event, "status", None) == "waiting":
                wait_stored_when_said.append(bool(inner.list_waits(run.id)) and run.status == "waiting")

        run.subscribe(watch)
        await run.wait_for("waiting", timeout=10)
        written = len(inner.batches)
        _session().flush()
        assert len(inner.batches) == written, "nothing of the pause was left for a second write"
        stored = [e["status"] for e in inner.load_events(run.id) if e["kind"] == "run_status"]
        assert stored[-1:] == ["waiting"]
        await run.answer("Ada")
        assert await run == {"a": "Ada"}

    arun(main())
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert wait_stored_when_said == [True]


def test_waits_opened_together_share_one_transaction(inner: CountingStore) -> None:
    @ag.graph_fn(outputs=["a"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"a": await context.channel().ask_text("name?")}

    async def main() -> None:
        runs = [asks.start() for _ in range(50)]
        await asyncio.gather(*(r.wait_for("waiting", timeout=10) for r in runs))
        assert len(inner.list_waits()) == 50
        parked_batches = len(inner.batches)
        await asyncio.gather(*(r.answer(f"n{i}") for i, r in enumerate(runs)))
        assert [await r for r in runs] == [{"a": f"n{i}"} for i in range(50)]
        # 50 waits and 50 answers, a handful of transactions (group commit), not 100
        assert parked_batches <= 3
        assert len(inner.batches) - parked_batches <= 3

    arun(main())


def test_a_failed_write_keeps_the_batch_and_says_so(inner: CountingStore) -> None:
    @ag.graph_fn(outputs=["y"])
    async def one(x: int) -> dict[str, int]:
        return {"y": (await inc(x))["y"]}

    async def main() -> str:
        inner.fail = StorageError("disk full")
        run = one.start(x=1)
        await run
        return run.id

    run_id = arun(main())
    s = _session()
    assert s.store.pending > 0
    with pytest.raises(StorageError, match="disk full"):
        s.flush()
    assert s.store.pending > 0  # nothing lost
    inner.fail = None
    s.flush()
    assert s.store.pending == 0
    assert [e.key for e in inner.load_journal(run_id)] == ["inc_1"]


class SyncingStore(MemoryStore):
    """A MemoryStore that takes ``durable`` and notes, per write, how many records and whether it was durable."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, bool]] = []

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        self.writes.append((len(batch), durable))
        return super().write_history(batch, durable=durable)


@pytest.fixture
def syncing() -> Iterator[SyncingStore]:
    store = SyncingStore()
    with default_session(store):
        yield store


def test_async_background_batches_are_not_synced_and_waits_barriers_and_flush_are(syncing: SyncingStore) -> None:
    """A power loss may lose an ``"async"`` background batch (a kill may not: the store has it); a wait, a barrier
    after such a batch and ``flush()`` are durable (README, "Durability")."""

    @ag.graph_fn(outputs=["y"])
    async def one(x: int) -> dict[str, int]:
        return {"y": (await inc(x))["y"]}

    @ag.graph_fn(outputs=["a"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"a": await context.channel().ask_text("name?")}

    async def main() -> None:
        store = _session().store
        await one.start(x=1)
        while not syncing.writes:  # the interval's timer writes the batch
            await asyncio.sleep(0.01)
        assert [d for _, d in syncing.writes] == [False] and syncing.writes[0][0] > 0
        await store.barrier()  # nothing pending, but the last batch is not synced yet: an empty durable write
        assert syncing.writes[1:] == [(0, True)]
        await store.barrier()  # nothing pending, nothing unsynced: no write at all
        assert len(syncing.writes) == 2
        run = asks.start()
        await run.wait_for("waiting", timeout=10)  # the wait's write is durable (it survives a power loss)
        assert syncing.writes[-1][1] is True and syncing.get_wait(run.waits[0].token) is not None
        await run.answer("Ada")
        assert await run == {"a": "Ada"}
        while syncing.get_run(run.id).status != "succeeded":  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        assert syncing.writes[-1][1] is False  # the run's end: a background batch again

    arun(main(), timeout=20)
    count = len(syncing.writes)
    _session().flush()
    assert syncing.writes[count:] == [(0, True)]


def test_sync_durability_writes_every_batch_durably(syncing: SyncingStore) -> None:
    ag.configure(durability="sync")

    @ag.graph_fn(outputs=["y"])
    async def two(x: int) -> dict[str, int]:
        return {"y": (await inc((await inc(x))["y"]))["y"]}

    assert arun(two(x=1)) == {"y": 3}
    _session().flush()
    assert syncing.writes and all(durable for _, durable in syncing.writes)


def test_durability_is_validated() -> None:
    with pytest.raises(UsageError, match="durability must be one of"):
        HistoryStore(MemoryStore(), durability="eventually")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="interval_s"):
        HistoryStore(MemoryStore(), interval_s=0)


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import aether_nb as ag
    ag.configure(store=sys.argv[1])

    @ag.tool(outputs=["y"])
    async def inc(x: int) -> dict:
        return {"y": x + 1}

    @ag.graph_fn(name="chain", outputs=["y"])
    async def chain(x: int):
        for _ in range(5):
            x = (await inc(x))["y"]
        return {"y": x}

    run = chain.sync(x=0)
    print(run)
    """
)


def test_a_normal_exit_writes_what_is_pending(tmp_path: Path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT)
    db = tmp_path / "h.duckdb"
    res = subprocess.run([sys.executable, str(script), str(db)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    from aether_nb.store.duckdb import DuckDBStore

    with DuckDBStore(db) as store:
        (run,) = store.list_runs()
        assert run.status == "succeeded"
        assert [e.key for e in store.load_journal(run.run_id)] == [f"inc_{i}" for i in range(1, 6)]
        assert len(store.list_nodes(run.run_id)) == 5


def test_kv_writes_are_batched_and_read_back_at_once(inner: CountingStore) -> None:
    store = _session().store

    async def main() -> None:
        store.kv_set("nb", "k", {"v": [1]}, None)
        assert inner.kv_get("nb", "k") is None and store.pending  # batched
        assert store.kv_get("nb", "k") == ({"v": [1]}, None)  # but read back at once
        assert store.kv_delete("nb", "k") is True and store.kv_get("nb", "k") is None
        with pytest.raises(StorageError):
            store.kv_set("nb", "bad", {1, 2}, None)  # not JSON: refused now, not at the next write
        store.kv_set("nb", "k2", 1, None)
        assert [k for k, _ in store.kv_keys("nb")] == ["k2"]  # listing writes the batch first
        assert inner.kv_get("nb", "k2") == (1, None)

    arun(main())
    # outside a running loop (a script), writes go straight through
    store.kv_set("nb", "k3", 3, None)
    assert inner.kv_get("nb", "k3") == (3, None)


_KV_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(value=_KV_JSON)
@example(value={"_authToken": 1.5, "n": [1]})  # a credential key (hypothesis draws names from the source)
def test_a_kv_value_reads_back_as_it_was_set_whichever_encoder_wrote_it(value: object) -> None:
    """KV values are serialised when set (orjson for plain ASCII values, json.dumps for the rest: big ints,
    non-ASCII text, lone surrogates): read back pending, after the write, and from the store itself. A value
    holding a secret (a credential key among the drawn names) reads back masked once written, never as it was."""
    inner = MemoryStore()
    store = HistoryStore(inner)
    store.kv_set("nb", "k", value, None)
    if contains_secret(json.dumps(value)):
        pending = store.kv_get("nb", "k")
        store.flush_history()
        assert MASK in json.dumps(pending) and pending == store.kv_get("nb", "k") == inner.kv_get("nb", "k")
        return
    assert store.kv_get("nb", "k") == (value, None)
    store.flush_history()
    assert store.kv_get("nb", "k") == (value, None) == inner.kv_get("nb", "k")


def test_a_body_that_never_yields_still_writes_its_history(
    inner: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aether_nb.runtime import history

    monkeypatch.setattr(history, "MAX_PENDING", 40)
    written: list[int] = []

    @ag.graph_fn(outputs=["y"])
    async def long_chain(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        for _ in range(30):  # inc never suspends, so the loop never gets to the timer
            x = (await inc(x))["y"]
        written.append(len(inner.load_journal(context.run_id)))
        return {"y": x}

    assert arun(long_chain(x=0)) == {"y": 30}
    assert written and written[0] >= 10  # written in batches as it went, not only after the run


def test_events_read_while_a_pause_is_being_written_come_once_and_in_order(inner: CountingStore) -> None:
    """Between a pause's record and its write returning, a new reader of ``run.events()`` gets the held events
    once (when they are released), not also in the history it starts from."""
    gate = asyncio.Event()

    @ag.graph_fn(outputs=["y"])
    async def gated() -> dict[str, int]:
        await gate.wait()
        return {"y": (await inc(1))["y"]}

    async def main() -> list[int]:
        run = gated.start()
        await run.wait_for("running", timeout=10)
        run.persist_waiting()  # what a wait does before its write: recorded, held back
        assert run.status == "running", "not said before the write returned"
        seqs: list[int] = []

        async def read() -> None:
            async for event in run.events():
                seqs.append(event.seq)

        reader = asyncio.ensure_future(read())
        while not seqs:  # the reader has taken the history and subscribed
            await asyncio.sleep(0)
        run.announce_waiting()
        assert run.status == "waiting"
        run.refresh_status()  # nothing waits: back to running, said in order
        gate.set()
        assert await run == {"y": 2}
        await asyncio.wait_for(reader, 10)
        return seqs

    seqs = arun(main())
    assert seqs == list(range(1, len(seqs) + 1)), seqs


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["r1", "r2", "r3"]),
            st.sampled_from(["t1", "t2", "t3", "t4"]),
            st.sampled_from(["open", "answered"]),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_pending_and_stored_waits_read_back_per_run(ops: list[tuple[str, str, str, bool]]) -> None:
    """Waits written now (pending in the batch) and earlier (in the store) read back per run and per status, as a
    dict of the latest record per token would say; the pending ones are found by run, without a scan."""
    history = HistoryStore(MemoryStore(), interval_s=60)
    latest: dict[str, WaitRecord] = {}

    async def main() -> None:  # on a loop, a wait is written with the next batch: pending until flush_history
        owner: dict[str, str] = {}
        for i, (run_id, token, status, flush) in enumerate(ops):
            run_id = owner.setdefault(token, run_id)  # a token belongs to one run
            record = WaitRecord(token, run_id, "ask_1", "text", "?", None, None, None, float(i), status)
            history.put_wait(record)
            latest[token] = record
            if flush:
                history.flush_history()
        assert history.pending == sum(1 for *_, flush in ops[_last_flush(ops) :] if not flush) or not ops
        for run_id in ("r1", "r2", "r3", None):
            for status in ("open", "answered", None):
                want = [w for w in latest.values() if run_id in (None, w.run_id) and status in (None, w.status)]
                assert history.list_waits(run_id, status=status) == sorted(want, key=lambda w: w.created_at)
        history.flush_history()

    arun(main())


def _last_flush(ops: list[tuple[str, str, str, bool]]) -> int:
    return max((i + 1 for i, op in enumerate(ops) if op[3]), default=0)
