"""A full disk in the default ("async") durability: exactly once, nothing lost, reads go on.

A tester filled a 30 MB tmpfs under a body that recorded notes in a loop: once 1,000 records were pending, a
``memory.record`` raised StorageError ("Nothing of this write was kept ... then write again") while its records
stayed pending, so the body that freed space and wrote again stored its note twice. And while the disk was full,
``ag.runs()`` and ``ag.store().sql(...)`` raised the write's error, though they write nothing.

Here the failing store is :class:`FlakyStore` (a MemoryStore whose history writes fail while ``broken`` is set),
and, in a child process, a real full disk (``RLIMIT_FSIZE`` of 1 byte: every write that grows a file fails).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.history import MAX_PENDING, HistoryStore
from aether_nb.store.records import MemoryRecord
from tests.conftest import after, arun, run_script
from tests.runtime.test_history_failures import FlakyStore, flaky  # noqa: F401  (the fixture)

DISK_FULL = "No space left on device. Nothing of this write was kept; free disk space, then write again."


def _store() -> HistoryStore:
    store = session_mod.default_session().store
    assert isinstance(store, HistoryStore)
    return store


async def _finished(agent: Any) -> ag.Run:
    run = agent.start()
    await run
    return run


def test_an_async_call_refused_by_a_full_disk_is_written_once_and_nothing_else_is_lost(
    flaky: FlakyStore,  # noqa: F811
) -> None:
    """The body does what the error says (frees space, writes again): every note once, also those recorded while
    the disk was full and not refused."""
    n = 400  # (three records a call: the batch is full, and must be written at once, about 330 calls in)

    @ag.graph_fn(outputs=["refused"])
    async def notes(*, context: ag.NodeContext) -> dict[str, Any]:
        refused: list[int] = []
        i = 0
        while i < n:
            try:
                await context.memory().record("note", {"i": i})
            except StorageError as exc:
                assert "No space left" in exc.message
                refused.append(i)
                flaky.broken = None  # space is back: "then write again"
                continue
            if i == 20:
                flaky.broken = StorageError(DISK_FULL, code="io")
            i += 1
        return {"refused": refused}

    run = arun(_finished(notes))
    refused = run.outputs["refused"]
    assert len(refused) == 1 and 20 < refused[0] < n  # (the call that had to write the full batch)
    _store().flush_history()
    stored = sorted(m.data["i"] for m in flaky.memory_query("notebook") if m.kind == "note")  # type: ignore[index]
    assert stored == list(range(n))  # once each: the refused one not twice, none recorded meanwhile lost
    assert [e.name for e in flaky.load_journal(run.id)].count("memory.record") == n
    errors = [c for c in run.history if c.kind == "service_call" and c.error is not None]  # type: ignore[attr-defined]
    assert len(errors) == 1  # the refused call says so on its node; the others succeeded


def test_a_write_made_with_no_loop_that_a_full_disk_refuses_is_not_written_later(flaky: FlakyStore) -> None:  # noqa: F811
    """With no event loop (a script, a worker thread) a KV or memory write is written through: when that fails the
    caller gets the error, and the write is not written later behind its back."""
    store = _store()
    store.kv_set("notebook", "k", "v1", None)
    flaky.broken = StorageError(DISK_FULL, code="io")
    with pytest.raises(StorageError, match="No space left"):
        store.kv_set("notebook", "k", "v2", None)
    with pytest.raises(StorageError, match="No space left"):
        store.memory_append(MemoryRecord("m1", "notebook", "note", {"t": 1}, "t", (), 1.0))
    assert store.kv_get("notebook", "k") == ("v1", None)  # (reads agree: nothing of them is pending)
    flaky.broken = None
    store.flush_history()
    assert flaky.kv_get("notebook", "k") == ("v1", None)
    assert flaky.memory_query("notebook") == []
    assert store.pending == 0


def test_reads_work_while_history_cannot_be_written_and_answer_what_is_written_later(
    flaky: FlakyStore,  # noqa: F811
) -> None:
    """``ag.runs()`` and the other reads merge the pending history with the store's while it cannot be written;
    it stays pending, and once written the store answers the same."""

    @ag.tool(outputs=["y"])
    async def inc(x: int) -> dict[str, int]:
        return {"y": x + 1}

    @ag.graph_fn(outputs=["n"])
    async def steps(*, context: ag.NodeContext) -> dict[str, int]:
        for i in range(30):
            await inc(x=i)
            if i == 10:
                await asyncio.sleep(0.3)  # (the history so far is written)
                flaky.broken = StorageError(DISK_FULL, code="io")
        await context.memory().record("note", {"text": "done"})
        await context.kv().set("last", 29)
        return {"n": 30}

    run = arun(_finished(steps))
    store = _store()
    assert store.failing and store.pending
    assert flaky.get_run(run.id).status == "running"  # type: ignore[union-attr]  # (its end is pending)

    def reads() -> dict[str, Any]:
        return {
            "runs": [(r.id, r.status) for r in ag.runs()],
            "succeeded": [r.id for r in ag.runs(status="succeeded")],
            "nodes": [(n.node_id, n.status) for n in store.list_nodes(run.id)],
            "journal": [e.key for e in store.load_journal(run.id)],
            "events": len(store.load_events(run.id)),
            "memory": [m.data for m in store.memory_query("notebook")],
            "kv": [k for k, _ in store.kv_keys(f"run:{run.id}")] + [k for k, _ in store.kv_keys("notebook")],
        }

    while_full = reads()
    assert while_full["runs"] == [(run.id, "succeeded")] and while_full["succeeded"] == [run.id]
    assert len(while_full["nodes"]) >= 30 and len(while_full["journal"]) == 32
    assert while_full["memory"] == [{"text": "done"}] and while_full["kv"]
    assert store.pending  # still pending, retried: nothing dropped by the reads
    flaky.broken = None
    store.flush_history()
    assert store.pending == 0
    assert reads() == while_full  # what the reads answered is what was written


CHILD = r"""
import asyncio, json, logging, os, resource, sys
logging.disable(logging.WARNING)
import aether_nb as ag

DB = sys.argv[1]
ag.configure(store=DB)  # the default durability, "async"
SOFT, HARD = resource.getrlimit(resource.RLIMIT_FSIZE)
N = 400
seen = {}

def disk_full(on):
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 if on else SOFT, HARD))

@ag.graph_fn(name="notes", outputs=["refused"])
async def notes(*, context):
    refused, i = [], 0
    while i < N:
        try:
            await context.memory().record("note", {"i": i, "pad": "v" * 200})
        except ag.StorageError as exc:
            refused.append(i)
            # reads while the disk is full: what is in the file plus what is pending
            seen["runs"] = [r.status for r in ag.runs()]
            seen["sql"] = ag.store().sql("select count(*) from journal").rows[0][0]
            seen["pending"] = ag.session().store.pending
            disk_full(False)  # space is back: "then write again"
            continue
        if i == 20:
            await asyncio.sleep(0.5)  # (the first notes are written)
            disk_full(True)
        i += 1
    return {"refused": refused}

async def main():
    run = await notes.start(run_id="A")
    ag.session().flush()
    rows = ag.store().sql("select json_extract(data, '$.i')::int from memory where kind = 'note'").rows
    notes_kept = sorted(r[0] for r in rows)
    print("OUT " + json.dumps({"refused": run["refused"], "seen": seen, "notes": notes_kept == list(range(N)),
                               "count": len(notes_kept)}))
    ag.store().close()

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_real_full_disk_refuses_one_call_reads_go_on_and_every_note_is_stored_once(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = after(run_script(script, str(tmp_path / "s.duckdb")), "OUT")
    assert len(out["refused"]) == 1, out
    assert out["seen"]["runs"] == ["running"] and out["seen"]["pending"] >= MAX_PENDING - 3
    assert out["seen"]["sql"] >= out["refused"][0]  # the journal entries pending in memory are read too
    assert out["notes"] and out["count"] == 400, out
