"""A call told that its write failed kept nothing (README, "When history reaches the store").

A tester filled the disk (RLIMIT_FSIZE, a tiny tmpfs): in ``"sync"`` durability ``memory.record`` raised
StorageError ("Nothing of this write was kept ... then write again"), yet the failed write stayed pending and was
written later, so a body that did as told stored its note twice; ``await run.answer(...)`` raised the same error
while the run consumed the answer and went on. In ``"async"`` durability an answer the store could not write was
consumed all the same, and after a kill the question was asked again and the step after it ran twice. And
``ag.configure(store=...)`` could not leave a store that could not be written.

Here the failing store is :class:`FlakyStore` (as in ``test_history_failures``), and, in a child process, a real
full disk: ``RLIMIT_FSIZE`` of 1 byte makes every write that grows a file fail with EFBIG.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.history import HistoryStore
from aether_nb.runtime.session import Session
from aether_nb.store.records import JournalEntry, MemoryRecord, RunRecord, WaitRecord
from tests.conftest import arun, default_session, run_script
from tests.runtime.test_history_failures import FlakyStore, flaky  # noqa: F401  (the fixture)

DISK_FULL = "No space left on device. Nothing of this write was kept; free disk space, then write again."


def _session() -> Session:
    return session_mod.default_session()


def _codes(run: ag.Run) -> list[str]:
    return [e.code for e in run.history if e.kind == "warning"]  # type: ignore[attr-defined]


def test_a_claim_whose_write_fails_is_taken_back_and_the_rest_of_the_batch_stays_pending() -> None:
    inner = FlakyStore()
    store = HistoryStore(inner)
    other = RunRecord("other", "g", "running", {}, "fp", 1.0, 1.0)
    entry = JournalEntry("mine", "memory.record_1", "memory.record", "service", "fp", None, True, 1.0)
    note = MemoryRecord("m1", "notebook", "note", {"text": "order 42 shipped"}, "order 42 shipped", (), 1.0)
    wait = WaitRecord("tok", "mine", "ask_1", "text", "who?", None, None, None, 1.0)

    async def main() -> None:
        store.put_wait(wait)
        await store.barrier()  # the open wait is in the store
        inner.broken = StorageError(DISK_FULL, code="io")
        store.put_run(other)  # another run's history, pending with the claim
        store.kv_set("notebook", "k", "theirs", None)
        with store.claimed() as claim:
            store.append_journal(entry)
            store.memory_append(note)
            store.kv_set("notebook", "k", "mine", None)  # replaces their pending write
            store.put_wait(replace(wait, status="answered", answer="Ada"))
        with pytest.raises(StorageError, match="No space left"):
            await store.barrier(claim)
        assert store.get_wait("tok").status == "open"  # type: ignore[union-attr]  # (reads agree)
        assert store.kv_get("notebook", "k") == ("theirs", None)
        inner.broken = None
        store.flush_history()

    arun(main())
    assert inner.get_run("other") == other  # the rest of the batch was kept and written
    assert inner.kv_get("notebook", "k") == ("theirs", None)
    assert inner.load_journal("mine") == [] and inner.memory_query("notebook") == []  # the claim: never written
    assert inner.get_wait("tok").status == "open"  # type: ignore[union-attr]
    assert store.pending == 0


def test_a_block_that_raises_leaves_nothing_of_itself_pending(session: Session) -> None:
    store = session.store
    with pytest.raises(StorageError, match="must be JSON"), store.atomic():
        store.memory_append(MemoryRecord("m1", "notebook", "note", {"t": 1}, "t", (), 1.0))
        store.kv_set("notebook", "k", object(), None)  # type: ignore[arg-type]
    store.flush_history()
    assert store.inner.memory_query("notebook") == []


def test_a_sync_service_call_whose_write_failed_is_never_written_later(flaky: FlakyStore) -> None:  # noqa: F811
    """The body does what the error says (frees space, writes again): one note, not two."""
    _session().store.durability = "sync"
    calls: list[int] = []

    class Counter:
        def incr(self) -> int:
            calls.append(1)
            return len(calls)

    ag.register_context_service("counter", Counter())

    @ag.graph_fn(outputs=["raised", "n"])
    async def record(*, context: ag.NodeContext) -> dict[str, Any]:
        raised = []
        flaky.broken = StorageError(DISK_FULL, code="io")
        try:
            await context.memory().record("note", {"text": "order 42 shipped"})
        except StorageError as exc:
            raised.append(exc.message)
        try:
            context.counter.incr()  # type: ignore[attr-defined]  # a sync method: written before it returns
        except StorageError as exc:
            raised.append(exc.message)
        flaky.broken = None  # space is back: "then write again"
        await context.memory().record("note", {"text": "order 42 shipped"})
        return {"raised": raised, "n": context.counter.incr()}  # type: ignore[attr-defined]

    async def main() -> ag.Run:
        run = record.start()
        await run
        await asyncio.sleep(0.6)  # past the background retry of what stayed pending
        return run

    run = arun(main())
    _session().flush()
    assert len(run.outputs["raised"]) == 2 and all("No space left" in m for m in run.outputs["raised"])  # type: ignore[index]
    assert [m.kind for m in flaky.memory_query("notebook")] == ["note"]  # once
    names = [e.name for e in flaky.load_journal(run.id)]
    assert names == ["memory.record", "counter.incr"]
    calls_seen = [e for e in run.history if e.kind == "service_call"]
    assert [c.error is not None for c in calls_seen] == [True, True, False, False]  # type: ignore[attr-defined]


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_an_answer_the_store_cannot_write_is_not_consumed_and_its_question_stays_open(
    flaky: FlakyStore,  # noqa: F811
    durability: str,
) -> None:
    _session().store.durability = durability  # type: ignore[assignment]
    shipped: list[str] = []

    @ag.tool(outputs=["ok"])
    async def ship(to: str) -> dict[str, bool]:
        shipped.append(to)
        return {"ok": True}

    @ag.graph_fn(outputs=["to"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        to = await context.channel().ask_text("ship to whom?")
        await ship(to=to)
        return {"to": to}

    async def main() -> ag.Run:
        run = asks.start()
        await run.wait_for("waiting")
        flaky.broken = StorageError(DISK_FULL, code="io")
        if durability == "sync":
            with pytest.raises(StorageError) as info:
                await run.answer("Ada")
            assert info.value.code == "answer_not_written" and "answer it again" in info.value.message
        else:
            await run.answer("Ada")  # (returns before the write)
        while "answer_not_written" not in _codes(run):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        # nothing consumed: the run still waits on its open question, where the widget looks for it
        assert shipped == [] and run.status == "waiting"
        assert [w.prompt for w in run.waits] == ["ship to whom?"]
        flaky.broken = None  # space is back: answer again
        await run.answer("Bob")
        await run
        return run

    run = arun(main(), timeout=20)
    assert shipped == ["Bob"] and run.outputs == {"to": "Bob"}
    _session().flush()
    (wait,) = flaky.list_waits(run.id, status=None)
    assert (wait.status, wait.answer) == ("answered", "Bob")


CHILD = r"""
import asyncio, logging, os, resource, sys
logging.disable(logging.WARNING)
import aether_nb as ag

DB, MODE, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB, durability=MODE)
SOFT, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)

def disk_full(on):
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 if on else SOFT, HARD))

def say(text):
    os.write(1, (text + "\n").encode())  # (a pipe: grows no file)

@ag.tool(outputs=["ok"])
def ship(to: str) -> dict:
    say(f"EFFECT {to}")
    return {"ok": True}

@ag.graph_fn(name="asks", outputs=["to"])
async def asks(*, context):
    to = await context.channel().ask_text("ship to whom?")
    await ship(to=to)
    return {"to": to}

async def first():
    run = asks.start(run_id="A")
    await run.wait_for("waiting")
    disk_full(True)
    try:
        await run.answer("Ada")
    except ag.StorageError as exc:
        say(f"RAISED {exc.code}")
    await asyncio.sleep(1.0)
    say(f"STATUS {run.status}")
    os._exit(0)  # killed: no exit hook writes anything

async def second():
    run = ag.get_run("A")
    say(f"OPEN {[w.prompt for w in run.waits]}")
    await run.answer("Bob")
    say(f"OUT {(await run)['to']}")
    ag.store().close()

asyncio.run(first() if PHASE == "first" else second())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("durability", ["async", "sync"])
def test_an_answer_a_full_disk_kept_out_is_asked_again_after_a_kill_and_the_next_step_runs_once(
    tmp_path: Path, durability: str
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db = str(tmp_path / "s.duckdb")
    first = run_script(script, db, durability, "first")
    second = run_script(script, db, durability, "second")
    assert "EFFECT" not in first  # not consumed while it could not be written
    assert "STATUS waiting" in first
    assert ("RAISED answer_not_written" in first) == (durability == "sync")
    assert "OPEN ['ship to whom?']" in second
    assert (first + second).count("EFFECT") == 1 and "EFFECT Bob" in second and "OUT Bob" in second


def test_switching_away_from_a_store_that_cannot_be_written_reports_its_history_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stuck = FlakyStore()

    @ag.graph_fn(outputs=["n"])
    async def sets(*, context: ag.NodeContext) -> dict[str, int]:
        await context.kv().set("k", "v")
        return {"n": 1}

    with default_session():
        ag.configure(store=stuck)
        stuck.broken = StorageError(DISK_FULL, code="io")
        arun(sets())
        with pytest.raises(StorageError):
            ag.session().flush()
        with caplog.at_level(logging.ERROR, logger="aether_nb"):
            ag.configure(store=str(tmp_path / "b.duckdb"))  # raised the old store's StorageError
        assert ag.store().location == str(tmp_path / "b.duckdb")
        assert ag.store().pending == 0
        assert any("cannot be written" in r.getMessage() and "lost" in r.getMessage() for r in caplog.records)
        ag.store().close()


def test_a_switch_that_fails_does_not_keep_the_new_file_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aether_nb.store import redact

    new = tmp_path / "b.duckdb"

    def fails() -> None:
        raise RuntimeError("setting up failed")

    with default_session():
        monkeypatch.setattr(redact, "prepare", fails)  # (anything that fails once the new file is open)
        with pytest.raises(RuntimeError, match="setting up failed"):
            ag.configure(store=str(new))
        assert ag.store().location == ":memory:"  # still the store it had
    # another process can open it: this one holds no lock on it
    code = "import duckdb, sys; duckdb.connect(sys.argv[1]).close(); print('opened')"
    res = subprocess.run([sys.executable, "-c", code, str(new)], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "opened", res.stderr[-500:]
