"""A thread's head checkpoint, read from the store, is kept like one this process wrote: a resume in a new process
reads it once (it was read and decoded four times), and the kept copy never outlives a write or leaks a change."""

from __future__ import annotations

import operator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypedDict

from aether_nb.flow import END, START, Command, StateGraph, interrupt
from aether_nb.flow.checkpoint import Checkpoint, StoreCheckpointer, goto_at_head, latest_id
from aether_nb.runtime import session as session_mod
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session


class _CountingStore(DuckDBStore):
    """A DuckDB store listing the KV keys read from it (what the session's pending history did not answer)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.kv_reads: list[str] = []

    def kv_get(self, scope: str, key: str) -> Any:
        self.kv_reads.append(f"{scope} {key}")
        return super().kv_get(scope, key)


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    note: str


def _build() -> Any:
    def n1(s: S) -> dict[str, Any]:
        return {"log": ["n1"]}

    def n2(s: S) -> dict[str, Any]:
        answer = interrupt("ok?")
        return {"log": [f"n2 {s.get('note')} {answer}"]}

    def n3(s: S) -> dict[str, Any]:
        return {"log": ["n3"]}

    g = StateGraph(S, name="heads")
    g.add_node("n1", n1).add_node("n2", n2).add_node("n3", n3)
    g.add_edge(START, "n1").add_edge("n1", "n2").add_edge("n2", "n3").add_edge("n3", END)
    return g.compile()


CFG = {"configurable": {"thread_id": "t"}}


def _park(db: str) -> int:
    """Pause thread ``t`` at n2's interrupt in a session of its own (closed after: a process that is gone);
    returns the id of the thread's head."""
    first, _ = make_session(DuckDBStore(db))
    previous = session_mod.set_default_session(first)
    try:
        paused = arun(_build().ainvoke({"log": []}, CFG))
        assert paused.status == "interrupted"
        head = StoreCheckpointer(first.store, "heads").latest("t")
        assert head is not None
        return head.id
    finally:
        session_mod.set_default_session(previous)
        first.store.close()


def test_a_resume_in_a_new_process_reads_the_paused_head_once(tmp_path: Path) -> None:
    db = str(tmp_path / "heads.duckdb")
    head = _park(db)
    store = _CountingStore(db)
    second, _ = make_session(store)
    previous = session_mod.set_default_session(second)
    try:
        res = arun(_build().ainvoke(Command(resume="yes"), CFG))
        assert res.status == "completed" and res["log"] == ["n1", "n2 None yes", "n3"]
        thread_reads = [k for k in store.kv_reads if k.startswith("flow:heads ")]
        # the thread record, the probe for checkpoints written after it, the head: each once (the checkpoints this
        # turn writes are known here as written)
        assert thread_reads == [
            "flow:heads t/thread",
            f"flow:heads t/cp/{head + 1:010d}",
            f"flow:heads t/cp/{head:010d}",
        ]
    finally:
        session_mod.set_default_session(previous)
        second.store.close()


def test_a_read_head_gives_way_to_an_update_made_after_it(tmp_path: Path) -> None:
    db = str(tmp_path / "heads.duckdb")
    _park(db)
    second, _ = make_session(DuckDBStore(db))
    previous = session_mod.set_default_session(second)
    try:
        app = _build()

        async def edit_then_resume() -> Any:
            assert (await app.aget_state(CFG)).values.get("note") is None  # (the head, read and kept)
            await app.aupdate_state(CFG, {"note": "edited"})
            assert (await app.aget_state(CFG)).values["note"] == "edited"
            return await app.ainvoke(Command(resume="yes"), CFG)

        res = arun(edit_then_resume())
        assert res.status == "completed" and res["log"] == ["n1", "n2 edited yes", "n3"]
    finally:
        session_mod.set_default_session(previous)
        second.store.close()
    third, _ = make_session(DuckDBStore(db))  # a later process reads what this one wrote last
    try:
        head = StoreCheckpointer(third.store, "heads").latest("t")
        assert head is not None and head.values["log"] == ["n1", "n2 edited yes", "n3"] and head.next == ()
    finally:
        third.store.close()


def _cp(n: int, **extra: Any) -> Checkpoint:
    return Checkpoint(
        values={"n": n}, tasks=({"node": "a"},), step=n, source="loop", run_id="r", created_at=1.0, **extra
    )


def test_a_read_head_follows_each_later_write_and_is_never_shared(tmp_path: Path) -> None:
    db = str(tmp_path / "cps.duckdb")
    first = DuckDBStore(db)
    writer = StoreCheckpointer(first, "g")
    writer.put("t", _cp(0))
    writer.put("t", _cp(1, metadata={"tags": ["a"]}))
    writer.put_thread("t", {})
    first.close()

    store = DuckDBStore(db)  # another process: it knows the thread from the store only
    try:
        reader = StoreCheckpointer(store, "g")
        head = reader.latest("t")
        assert head is not None and head.id == 2 and head.values == {"n": 1}
        head.values["n"] = 99  # a caller's changes stay in its copy, nested metadata too
        head.metadata["tags"].append("b")
        again = reader.latest("t")
        assert again is not None and again.values == {"n": 1} and again.metadata == {"tags": ["a"]}
        assert latest_id(reader, "t") == 2 and not goto_at_head(reader, "t")

        reader.replace("t", replace(again, pending={"__goto__": ["x"]}))  # the head rewritten (a goto at a pause)
        rewritten = reader.latest("t")
        assert rewritten is not None and rewritten.pending == {"__goto__": ["x"]} and goto_at_head(reader, "t")

        StoreCheckpointer(store, "g").put("t", _cp(5))  # another checkpointer over this store appends one
        newest = reader.latest("t")
        assert newest is not None and newest.id == 3 and newest.values == {"n": 5} and latest_id(reader, "t") == 3
        assert not goto_at_head(reader, "t")
        reader.put_thread("t", {})
    finally:
        store.close()
    later = DuckDBStore(db)
    try:
        head = StoreCheckpointer(later, "g").latest("t")
        assert head is not None and head.id == 3 and head.values == {"n": 5}
    finally:
        later.close()
