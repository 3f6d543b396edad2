"""One suite, every store: the behaviour the runtime and the services rely on (``store/protocol.py``).

Each test runs against ``MemoryStore`` and ``DuckDBStore`` through the parametrized ``store`` fixture.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import StorageError
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.protocol import Store
from aether_nb.store.records import (
    ArtifactRecord,
    HistoryBatch,
    JournalEntry,
    JSONText,
    MemoryRecord,
    NodeRecord,
    RunRecord,
    WaitRecord,
)


# -- record factories ----------------------------------------------------------------------------------------
def run(run_id: str, created_at: float = 1.0, **kw: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "graph": "g",
        "status": "running",
        "inputs": {"x": 1},
        "inputs_fingerprint": "fp",
        "updated_at": created_at,
    }
    fields.update(kw)
    return RunRecord(run_id=run_id, created_at=created_at, **fields)


def entry(run_id: str, key: str, value: Any = None, **kw: Any) -> JournalEntry:
    fields: dict[str, Any] = {
        "name": "step",
        "kind": "tool",
        "fingerprint": "f",
        "durable": True,
        "created_at": 1.0,
    }
    fields.update(kw)
    return JournalEntry(run_id=run_id, key=key, value=value, **fields)


def wait(token: str, run_id: str = "r1", created_at: float = 1.0, **kw: Any) -> WaitRecord:
    fields: dict[str, Any] = {
        "node_id": "n1",
        "kind": "ask_text",
        "prompt": "name?",
        "options": None,
        "schema": None,
        "deadline": None,
    }
    fields.update(kw)
    return WaitRecord(token=token, run_id=run_id, created_at=created_at, **fields)


def node(node_id: str, run_id: str = "r1", **kw: Any) -> NodeRecord:
    fields: dict[str, Any] = {
        "name": node_id,
        "kind": "tool",
        "status": "running",
        "parent": None,
        "parents": (),
        "inputs": {"a": 1},
        "outputs": None,
        "error": None,
        "started_at": 1.0,
        "ended_at": None,
    }
    fields.update(kw)
    return NodeRecord(run_id=run_id, node_id=node_id, **fields)


def mem(id: str, scope: str = "nb", kind: str = "note", created_at: float = 1.0, **kw: Any) -> MemoryRecord:
    fields: dict[str, Any] = {"data": {"id": id}, "text": f"text {id}", "tags": ("t",)}
    fields.update(kw)
    return MemoryRecord(id=id, scope=scope, kind=kind, created_at=created_at, **fields)


def artifact(id: str, data: bytes, created_at: float = 1.0, **kw: Any) -> ArtifactRecord:
    fields: dict[str, Any] = {
        "name": f"{id}.bin",
        "kind": "file",
        "mime": "application/octet-stream",
        "labels": {"k": "v"},
    }
    fields.update(kw)
    return ArtifactRecord(
        id=id, size=len(data), sha256=hashlib.sha256(data).hexdigest(), created_at=created_at, **fields
    )


# -- runs ----------------------------------------------------------------------------------------------------
def test_put_get_run_roundtrips_json_values(store: Store) -> None:
    rec = run("r1", inputs={"a": [1, 2.5, "s", None, True]}, meta={"tag": "x"}, outputs={"y": 2})
    store.put_run(rec)
    assert store.get_run("r1") == rec
    assert store.get_run("missing") is None


def test_put_run_is_an_upsert(store: Store) -> None:
    store.put_run(run("r1"))
    store.put_run(run("r1", status="succeeded", outputs={"y": 1}, error=None, updated_at=5.0))
    got = store.get_run("r1")
    assert got is not None and got.status == "succeeded" and got.outputs == {"y": 1} and got.updated_at == 5.0
    assert [r.run_id for r in store.list_runs()] == ["r1"]


def test_json_conversions_match_json_module(store: Store) -> None:
    # Tuples become lists and int keys become strings, as through any file.
    store.put_run(run("r1", inputs={"t": (1, 2), 3: "x"}))
    got = store.get_run("r1")
    assert got is not None and got.inputs == {"t": [1, 2], "3": "x"}


def test_list_runs_newest_first_then_insertion(store: Store) -> None:
    store.put_run(run("old", created_at=1.0))
    store.put_run(run("tie-a", created_at=5.0))
    store.put_run(run("new", created_at=9.0))
    store.put_run(run("tie-b", created_at=5.0))
    assert [r.run_id for r in store.list_runs()] == ["new", "tie-b", "tie-a", "old"]
    # An update keeps the run's place among equal created_at.
    store.put_run(run("tie-a", created_at=5.0, status="failed"))
    assert [r.run_id for r in store.list_runs()] == ["new", "tie-b", "tie-a", "old"]


def test_list_runs_filters(store: Store) -> None:
    store.put_run(run("a", 1.0, graph="g1", status="running"))
    store.put_run(run("b", 2.0, graph="g2", status="succeeded"))
    store.put_run(run("c", 3.0, graph="g1", status="succeeded"))
    assert [r.run_id for r in store.list_runs(status="succeeded")] == ["c", "b"]
    assert [r.run_id for r in store.list_runs(graph="g1")] == ["c", "a"]
    assert [r.run_id for r in store.list_runs(status="succeeded", graph="g2")] == ["b"]
    assert store.list_runs(status="waiting") == []


# -- journal -------------------------------------------------------------------------------------------------
def test_journal_keeps_append_order_per_run(store: Store) -> None:
    for i in range(5):
        store.append_journal(entry("r1", f"k{i}", value={"i": i}))
        store.append_journal(entry("r2", f"other{i}", value=[i], durable=False))
    assert [e.key for e in store.load_journal("r1")] == [f"k{i}" for i in range(5)]
    assert [e.value for e in store.load_journal("r1")] == [{"i": i} for i in range(5)]
    r2 = store.load_journal("r2")
    assert [e.key for e in r2] == [f"other{i}" for i in range(5)] and not any(e.durable for e in r2)
    assert store.load_journal("nothing") == []
    assert store.load_journal("r1")[0] == entry("r1", "k0", value={"i": 0})


def test_journal_group_commit(store: Store) -> None:
    store.append_journal(entry("r1", "a", value=1))
    store.append_journal_many([entry("r1", f"b{i}", value={"i": i}) for i in range(300)] + [entry("r2", "x")])
    store.append_journal_many([])
    keys = [e.key for e in store.load_journal("r1")]
    assert keys == ["a"] + [f"b{i}" for i in range(300)]
    assert store.load_journal("r1")[5] == entry("r1", "b4", value={"i": 4})
    assert [e.key for e in store.load_journal("r2")] == ["x"]
    with pytest.raises(StorageError):
        store.append_journal_many([entry("r3", "ok"), entry("r3", "bad", value=object())])
    assert store.load_journal("r3") == []  # all or nothing


# -- waits ---------------------------------------------------------------------------------------------------
def test_waits_upsert_get_and_list(store: Store) -> None:
    w1 = wait("t1", "r1", 3.0, options=["yes", "no"], schema={"type": "string"}, meta={"m": 1})
    store.put_wait(w1)
    store.put_wait(wait("t2", "r1", 1.0))
    store.put_wait(wait("t3", "r2", 2.0))
    assert store.get_wait("t1") == w1
    assert store.get_wait("nope") is None
    assert [w.token for w in store.list_waits()] == ["t2", "t3", "t1"]  # oldest first, all runs
    assert [w.token for w in store.list_waits("r1")] == ["t2", "t1"]

    answered = replace(w1, status="answered", answer={"value": "yes"})
    store.put_wait(answered)
    assert store.get_wait("t1") == answered
    assert [w.token for w in store.list_waits("r1")] == ["t2"]  # default: open only
    assert [w.token for w in store.list_waits("r1", status="answered")] == ["t1"]
    assert [w.token for w in store.list_waits("r1", status=None)] == ["t2", "t1"]
    assert [w.token for w in store.list_waits(status=None)] == ["t2", "t3", "t1"]


# -- nodes and events ----------------------------------------------------------------------------------------
def test_put_node_upserts_and_keeps_position(store: Store) -> None:
    store.put_node(node("a"))
    store.put_node(node("b", parent="a", parents=("a",)))
    store.put_node(node("c", run_id="r2"))
    store.put_node(node("a", status="succeeded", outputs={"y": [1]}, ended_at=2.0))
    nodes = store.list_nodes("r1")
    assert [n.node_id for n in nodes] == ["a", "b"]
    a, b = nodes
    assert (a.status, a.outputs, a.ended_at) == ("succeeded", {"y": [1]}, 2.0)
    assert b.parents == ("a",) and b.parent == "a"
    assert a.seq < b.seq
    assert replace(b, seq=0) == node("b", parent="a", parents=("a",))
    assert [n.node_id for n in store.list_nodes("r2")] == ["c"]
    assert store.list_nodes("none") == []


def test_events_append_and_load(store: Store) -> None:
    store.append_events("r1", [{"type": "start", "n": 0}])
    store.append_events("r2", [{"type": "other"}])
    store.append_events("r1", [{"type": "step", "n": i} for i in range(1, 4)])
    store.append_events("r1", [])
    assert store.load_events("r1") == [{"type": "start", "n": 0}] + [{"type": "step", "n": i} for i in range(1, 4)]
    assert store.load_events("r2") == [{"type": "other"}]
    assert store.load_events("none") == []


def test_a_batch_written_without_sync_reads_back_at_once_and_a_sync_loses_nothing(store: Store) -> None:
    """``durable=False`` (the runtime's async background batches) changes when the batch reaches the disk, never
    what the store holds or returns."""
    assert store.write_history(HistoryBatch(events=[("r1", {"i": 1})], runs=[run("r1")]), durable=False) == []
    assert store.load_events("r1") == [{"i": 1}] and store.get_run("r1") is not None
    assert store.write_history(HistoryBatch()) == []  # an empty durable write: the sync of what came before
    store.flush()
    assert store.load_events("r1") == [{"i": 1}]


def test_write_history_is_what_the_single_writes_would_store(store: Store) -> None:
    store.put_node(node("a", status="RUNNING"))
    store.write_history(
        HistoryBatch(
            runs=[run("r1", status="waiting", outputs=None), run("r2", created_at=2.0)],
            waits=[wait("t1", options=["a", "b"], meta={"m": 1})],
            journal=[entry("r1", "k1", {"y": [1, 2]}), entry("r1", "k2", "two")],
            nodes=[node("a", status="DONE", outputs={"y": 1}, ended_at=2.0), node("b", parents=("a",))],
            events=[("r1", {"kind": "x", "n": 1}), ("r2", {"kind": "y"}), ("r1", {"kind": "x", "n": 2})],
        )
    )
    store.write_history(HistoryBatch(runs=[run("r1", status="succeeded", outputs={"y": 3})]))
    store.write_history(HistoryBatch())  # an empty batch is a no-op
    r1 = store.get_run("r1")
    assert r1 is not None and (r1.status, r1.outputs) == ("succeeded", {"y": 3})
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1"]
    (w,) = store.list_waits("r1")
    assert (w.token, w.options, w.meta) == ("t1", ["a", "b"], {"m": 1})
    assert [(e.key, e.value) for e in store.load_journal("r1")] == [("k1", {"y": [1, 2]}), ("k2", "two")]
    a, b = store.list_nodes("r1")
    assert (a.node_id, a.status, a.outputs, b.node_id, b.parents) == ("a", "DONE", {"y": 1}, "b", ("a",))
    assert a.seq < b.seq  # an upsert keeps the node's first position
    assert store.load_events("r1") == [{"kind": "x", "n": 1}, {"kind": "x", "n": 2}]
    assert store.load_events("r2") == [{"kind": "y"}]


def test_write_history_leaves_out_a_bad_record_and_writes_the_rest(store: Store) -> None:
    rejected = store.write_history(
        HistoryBatch(
            runs=[run("r1")],
            journal=[entry("r1", "k1", 1), entry("r1", "k2", value={1, 2}), entry("r1", "k3", 3)],
            events=[("r1", {"ok": 1}), ("r1", {"bad": Opaque()}), ("r1", {"ok": 2})],
        )
    )
    assert {(r.kind, r.run_id, r.key) for r in rejected} == {("journal", "r1", "k2"), ("event", "r1", None)}
    assert all("not JSON" in r.error for r in rejected)
    got = store.get_run("r1")
    assert got is not None and got.status == "running"
    assert [(e.key, e.value) for e in store.load_journal("r1")] == [("k1", 1), ("k3", 3)]
    assert store.load_events("r1") == [{"ok": 1}, {"ok": 2}]


def test_write_history_redacts(store: Store) -> None:
    key = "sk-" + "a" * 24
    assert store.write_history(HistoryBatch(events=[("r1", {"api_key": "hunter2-secret", "text": f"use {key}"})])) == []
    assert store.load_events("r1") == [{"api_key": "[REDACTED]", "text": "use [REDACTED]"}]


def test_write_history_redacts_every_table_and_nothing_else(store: Store) -> None:
    key = "sk-" + "b" * 30
    plain = {"note": "nothing secret here", "n": [1, 2]}
    store.write_history(
        HistoryBatch(
            runs=[run("r1", inputs={"q": f"use {key}"}, error=f"failed with {key}")],
            waits=[wait("t1", prompt=f"paste {key}?", answer={"password": "hunter2-hunter2"})],
            journal=[entry("r1", "k1", plain), entry("r1", "k2", {"authorization": "Bearer abcdefghijk123"})],
            nodes=[node("n1", outputs={"token": key}), node("n2", outputs=plain)],
            events=[("r1", plain), ("r1", {"api_key": "x" * 12})],
            memory=[mem("m1", data={"secret": "s3cr3t-value"}, text=f"my key is {key}")],
            kv=[("s", "plain", plain, None, False), ("s", "k", {"x-api-key": "zzzzzzzzzz"}, None, False)],
        )
    )
    everything = repr(
        [
            store.get_run("r1"),
            store.get_wait("t1"),
            store.load_journal("r1"),
            store.list_nodes("r1"),
            store.load_events("r1"),
            store.memory_query("nb"),
            store.kv_get("s", "k"),
        ]
    )
    for secret in (key, "hunter2-hunter2", "abcdefghijk123", "x" * 12, "s3cr3t-value", "zzzzzzzzzz"):
        assert secret not in everything
    assert next(e.value for e in store.load_journal("r1")) == plain
    assert store.list_nodes("r1")[1].outputs == plain and store.load_events("r1")[0] == plain
    assert store.kv_get("s", "plain") == (plain, None)


def test_write_history_kv_writes_apply_in_order(store: Store) -> None:
    store.kv_set("s", "old", {"v": 0}, None)
    assert store.kv_get("s", "old") == ({"v": 0}, None)  # cached by the DuckDB store: the batch must update it
    store.write_history(
        HistoryBatch(
            kv=[
                ("s", "a", {"v": 1}, None, False),
                ("s", "a", {"v": 2}, 5.0, False),
                ("s", "old", None, None, True),
                ("s", "tok", {"api_key": "hunter2-secret"}, None, False),
            ]
        )
    )
    assert store.kv_get("s", "a") == ({"v": 2}, 5.0)
    assert store.kv_get("s", "old") is None
    assert store.kv_get("s", "tok") == ({"api_key": "[REDACTED]"}, None)
    assert [k for k, _ in store.kv_keys("s")] == ["a", "tok"]


def test_kv_values_given_as_their_json_text_are_stored_like_values(store: Store) -> None:
    """A ``JSONText`` value (a state graph's checkpoint, serialised once by the runtime) reads back as the value
    it encodes, redacted; one nested too deeply is refused like the value itself, and the rest of the batch lands."""
    value = {"x": [1, 2.5, None], "s": "caf\u00e9 \ud800", "nan": float("nan"), "api_key": "hunter2-secret"}
    deep = "[" * 300 + "]" * 300
    rejected = store.write_history(
        HistoryBatch(
            kv=[
                ("s", "text", JSONText(json.dumps(value)), None, False),
                ("s", "deep", JSONText(deep), None, False),
                ("s", "plain", {"v": 1}, 2.0, False),
            ]
        )
    )
    assert [r.key for r in rejected or ()] == ["deep"]
    got = store.kv_get("s", "text")
    assert got is not None
    stored, expires = got
    assert expires is None and stored["x"] == [1, 2.5, None] and stored["s"] == "caf\u00e9 \ud800"
    assert stored["nan"] != stored["nan"] and stored["api_key"] == "[REDACTED]"
    assert store.kv_get("s", "plain") == ({"v": 1}, 2.0) and store.kv_get("s", "deep") is None
    assert type(stored) is dict  # the value, never the text


# -- KV ------------------------------------------------------------------------------------------------------
def test_kv_get_set_delete_keys(store: Store) -> None:
    assert store.kv_get("s", "a") is None
    store.kv_set("s", "a", {"v": 1}, None)
    store.kv_set("s", "b/1", [1, 2], 123.5)
    store.kv_set("s", "b/0", "x", None)
    store.kv_set("other", "a", 0, None)
    assert store.kv_get("s", "a") == ({"v": 1}, None)
    assert store.kv_get("s", "b/1") == ([1, 2], 123.5)
    assert store.kv_keys("s") == [("a", None), ("b/0", None), ("b/1", 123.5)]
    assert store.kv_keys("s", "b/") == [("b/0", None), ("b/1", 123.5)]
    assert store.kv_keys("s", "zzz") == []
    store.kv_set("s", "a", None, 9.0)  # overwrite, value None is a value
    assert store.kv_get("s", "a") == (None, 9.0)
    assert store.kv_delete("s", "a") is True
    assert store.kv_delete("s", "a") is False
    assert store.kv_get("s", "a") is None
    assert store.kv_get("other", "a") == (0, None)


# -- memory --------------------------------------------------------------------------------------------------
def test_memory_newest_first_kinds_limit_scope(store: Store) -> None:
    store.memory_append(mem("m1", kind="note", created_at=1.0))
    store.memory_append(mem("m2", kind="chat", role="user", created_at=2.0, run_id="r1", node_id="n1"))
    store.memory_append(mem("x1", scope="other", kind="note"))
    store.memory_append(mem("m3", kind="note", created_at=3.0, tags=("a", "b")))
    assert [m.id for m in store.memory_query("nb")] == ["m3", "m2", "m1"]
    assert [m.id for m in store.memory_query("nb", kinds=["note"])] == ["m3", "m1"]
    assert [m.id for m in store.memory_query("nb", kinds=["note", "chat"], limit=2)] == ["m3", "m2"]
    assert [m.id for m in store.memory_query("nb", limit=1)] == ["m3"]
    assert store.memory_query("nb", kinds=[]) == []
    assert [m.id for m in store.memory_query("other")] == ["x1"]
    assert store.memory_query("nobody") == []
    m2 = store.memory_query("nb", kinds=["chat"])[0]
    assert m2 == mem("m2", kind="chat", role="user", created_at=2.0, run_id="r1", node_id="n1")
    assert store.memory_query("nb", limit=1)[0].tags == ("a", "b")
    # a limit no table reaches means every event, in both stores (DuckDB's LIMIT is a BIGINT)
    assert [m.id for m in store.memory_query("nb", limit=10**20)] == ["m3", "m2", "m1"]


# -- artifacts -----------------------------------------------------------------------------------------------
def test_artifacts_put_get_list(store: Store) -> None:
    small = b"hello\x00world"
    store.artifact_put(artifact("a1", small, 1.0), small)
    store.artifact_put(artifact("a2", b"", 3.0), b"")
    store.artifact_put(artifact("a3", b"xyz", 2.0, run_id="r1", node_id="n1", pinned=True), b"xyz")
    got = store.artifact_get("a1")
    assert got is not None and got == (artifact("a1", small, 1.0), small)
    assert store.artifact_get("a2") == (artifact("a2", b"", 3.0), b"")
    a3 = store.artifact_get("a3")
    assert a3 is not None and a3[0].pinned and a3[0].run_id == "r1" and a3[1] == b"xyz"
    assert isinstance(a3[1], bytes)
    assert store.artifact_get("nope") is None
    assert [a.id for a in store.artifact_list()] == ["a2", "a3", "a1"]
    assert store.artifact_list()[0].uri == "artifact://a2"


def test_big_artifact_roundtrips_identical_bytes(store: Store, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    rec = artifact("big", data)
    store.artifact_put(rec, data)
    got = store.artifact_get("big")
    assert got is not None and got[0] == rec and got[1] == data
    if isinstance(store, DuckDBStore):
        beside = Path(store.location + ".artifacts") / hashlib.sha256(data).hexdigest()
        assert beside.is_file() and beside.read_bytes() == data
        assert not [p for p in beside.parent.iterdir() if p.name.endswith(".tmp")]


def test_artifact_put_is_an_upsert(store: Store) -> None:
    store.artifact_put(artifact("a", b"one"), b"one")
    store.artifact_put(artifact("a", b"two!", name="renamed"), b"two!")
    got = store.artifact_get("a")
    assert got is not None and got[0].name == "renamed" and got[1] == b"two!"
    assert [a.id for a in store.artifact_list()] == ["a"]


# -- errors --------------------------------------------------------------------------------------------------
class Opaque:
    pass


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.put_run(run("r", inputs=Opaque())),
        lambda s: s.append_journal(entry("r", "k", value={1, 2})),
        lambda s: s.put_wait(wait("t", answer=Opaque())),
        lambda s: s.put_node(node("n", outputs=Opaque())),
        lambda s: s.append_events("r", [{"ok": 1}, Opaque()]),
        lambda s: s.kv_set("s", "k", Opaque(), None),
        lambda s: s.memory_append(mem("m", data=b"bytes")),
        lambda s: s.artifact_put(artifact("a", b"x", labels={"x": Opaque()}), b"x"),
    ],
    ids=["run", "journal", "wait", "node", "events", "kv", "memory", "artifact"],
)
def test_non_json_value_raises_storage_error(store: Store, write: Any) -> None:
    with pytest.raises(StorageError) as info:
        write(store)
    assert info.value.code == "not_json"
    assert store.load_events("r") == []  # nothing half-written


def test_closed_store_raises(store: Store) -> None:
    store.put_run(run("r1"))
    store.close()
    store.close()  # twice is fine
    calls: list[Any] = [
        lambda: store.put_run(run("r2")),
        lambda: store.get_run("r1"),
        lambda: store.list_runs(),
        lambda: store.append_journal(entry("r1", "k")),
        lambda: store.load_journal("r1"),
        lambda: store.put_wait(wait("t")),
        lambda: store.get_wait("t"),
        lambda: store.list_waits(),
        lambda: store.put_node(node("n")),
        lambda: store.list_nodes("r1"),
        lambda: store.append_events("r1", [{}]),
        lambda: store.load_events("r1"),
        lambda: store.kv_get("s", "k"),
        lambda: store.kv_set("s", "k", 1, None),
        lambda: store.kv_delete("s", "k"),
        lambda: store.kv_keys("s"),
        lambda: store.memory_append(mem("m")),
        lambda: store.memory_query("nb"),
        lambda: store.artifact_put(artifact("a", b"x"), b"x"),
        lambda: store.artifact_get("a"),
        lambda: store.artifact_list(),
        lambda: store.flush(),
    ]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "closed"


def test_store_satisfies_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert isinstance(store.location, str)
    store.flush()


# -- property: KV agrees with a dict -------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_keys = st.text(alphabet="ab/", max_size=3)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _keys, _json, st.none() | st.floats(min_value=0, max_value=1e10, allow_nan=False)),
        st.tuples(st.just("delete"), _keys),
    ),
    max_size=20,
)
_scopes = itertools.count()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops, prefix=_keys)
def test_kv_agrees_with_a_dict(store: Store, ops: list[tuple[Any, ...]], prefix: str) -> None:
    scope = f"prop-{next(_scopes)}"  # the store outlives one example: each example gets its own scope
    model: dict[str, tuple[Any, float | None]] = {}
    for op in ops:
        if op[0] == "set":
            _, key, value, expires = op
            store.kv_set(scope, key, value, expires)
            model[key] = (value, expires)
        else:
            _, key = op
            assert store.kv_delete(scope, key) is (model.pop(key, None) is not None)
        assert store.kv_get(scope, op[1]) == model.get(op[1])
    assert store.kv_keys(scope) == sorted((k, exp) for k, (_, exp) in model.items())
    assert store.kv_keys(scope, prefix) == sorted((k, e) for k, (_, e) in model.items() if k.startswith(prefix))
    for key, hit in model.items():
        assert store.kv_get(scope, key) == hit


def test_memory_search_by_cosine(store: Store) -> None:
    def rec(i: int, vec: list[float] | None, kind: str = "note", scope: str = "notebook") -> MemoryRecord:
        return MemoryRecord(
            id=f"m{i}", scope=scope, kind=kind, data={"i": i}, text=f"t{i}", tags=(), created_at=float(i),
            embedding=None if vec is None else tuple(vec),
        )  # fmt: skip

    store.memory_append(rec(1, [1.0, 0.0, 0.0]))
    store.memory_append(rec(2, [0.9, 0.1, 0.0]))
    store.memory_append(rec(3, [0.0, 1.0, 0.0], kind="chat"))
    store.memory_append(rec(4, None))
    store.memory_append(rec(5, [1.0, 0.0, 0.0], scope="run:x"))
    hits = store.memory_search("notebook", [1.0, 0.0, 0.0], limit=5)
    assert [m.id for m, _ in hits] == ["m1", "m2", "m3"]
    # a limit no table reaches means every hit, in both stores (DuckDB's LIMIT is a BIGINT)
    assert [m.id for m, _ in store.memory_search("notebook", [1.0, 0.0, 0.0], limit=10**20)] == ["m1", "m2", "m3"]
    assert hits[0][1] == pytest.approx(1.0) and hits[2][1] == pytest.approx(0.0, abs=1e-6)
    assert [m.id for m, _ in store.memory_search("notebook", [0.0, 1.0, 0.0], kinds=["chat"])] == ["m3"]
    assert all(m.embedding is None for m in store.memory_query("notebook"))


def test_kv_purge_and_artifact_pin(store: Store) -> None:
    store.kv_set("notebook", "old", 1, 10.0)
    store.kv_set("notebook", "new", 2, 30.0)
    store.kv_set("run:x", "forever", 3, None)
    assert store.kv_purge(20.0) == 1
    assert [k for k, _ in store.kv_keys("notebook")] == ["new"]
    assert store.kv_get("run:x", "forever") == (3, None)
    rec = ArtifactRecord(
        id="a1", name="n.txt", kind="text", mime="text/plain", size=1, sha256=hashlib.sha256(b"x").hexdigest(),
        labels={}, created_at=1.0,
    )  # fmt: skip
    store.artifact_put(rec, b"x")
    assert store.artifact_set_pinned("a1", True) is True
    got = store.artifact_get("a1")
    assert got is not None and got[0].pinned is True and got[1] == b"x"
    assert store.artifact_set_pinned("missing", True) is False


def test_memory_search_ignores_vectors_of_another_dimension(store: Store) -> None:
    base = {"scope": "notebook", "kind": "note", "data": None, "text": "t", "tags": (), "created_at": 1.0}
    store.memory_append(MemoryRecord(id="short", embedding=(1.0, 0.0), **base))
    store.memory_append(MemoryRecord(id="long", embedding=(1.0, 0.0, 0.0), **base))
    assert [m.id for m, _ in store.memory_search("notebook", [1.0, 0.0, 0.0])] == ["long"]


# -- property: a batch's history reads back as each value, redacted on its own, would ---------------------------
_SECRET_KEY = "sk-" + "Q" * 26
_history_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from([_SECRET_KEY, f"use {_SECRET_KEY}", "a key word", "tokens", "café", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "token", "api_key", "note", "é"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_history_runs = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(_history_values, _history_values), min_size=1, max_size=5))
def test_a_batch_of_history_reads_back_as_its_values_redacted_one_by_one(
    store: Store, steps: list[tuple[Any, Any]]
) -> None:
    """A batch's journal values, node payloads and events are checked, written and redacted together (one text per
    batch in memory, one pass per column in DuckDB): what reads back is what each value alone would give (its
    JSON, its secrets masked) — whatever the batch's other values hold (a secret, a non-ASCII string)."""
    from aether_nb.store.redact import redact_text

    def alone(value: Any) -> Any:
        return json.loads(redact_text(json.dumps(value)))

    run_id = f"h{next(_history_runs)}"
    journal = [entry(run_id, f"k{i}", out) for i, (_, out) in enumerate(steps)]
    nodes = [node(f"n{i}", run_id, inputs=inp, outputs=out) for i, (inp, out) in enumerate(steps)]
    events = [(run_id, {"kind": "node_ran", "inputs": inp, "outputs": out}) for inp, out in steps]
    assert store.write_history(HistoryBatch(journal=journal, nodes=nodes, events=events)) == []
    assert [e.value for e in store.load_journal(run_id)] == [alone(out) for _, out in steps]
    assert [(n.inputs, n.outputs) for n in store.list_nodes(run_id)] == [(alone(i), alone(o)) for i, o in steps]
    assert store.load_events(run_id) == [alone({"kind": "node_ran", "inputs": i, "outputs": o}) for i, o in steps]


def test_a_tuple_nested_deeper_than_the_store_keeps_is_refused_and_the_rest_written(store: Store) -> None:
    deep: Any = 0
    for _ in range(300):
        deep = (deep,)
    rejected = store.write_history(
        HistoryBatch(journal=[entry("r1", "ok", {"y": 1}), entry("r1", "deep", deep)], events=[("r1", {"n": 1})])
    )
    assert [(r.kind, r.key) for r in rejected] == [("journal", "deep")]
    assert "nested too deeply" in rejected[0].error
    assert [e.key for e in store.load_journal("r1")] == ["ok"] and store.load_events("r1") == [{"n": 1}]


def test_a_number_under_a_key_naming_a_credential_is_masked_and_every_batch_reads_back(store: Store) -> None:
    """``{"user password": 1234}``: its number was masked unquoted, JSON no reader takes; the memory store then lost
    the batch and every batch written after it, the DuckDB store's reads of the run failed."""
    odd = {"user password": 1234, "old api_key": 7.5}
    assert store.write_history(HistoryBatch(journal=[entry("r1", "k1", odd)], events=[("r1", odd)])) == []
    assert store.write_history(HistoryBatch(journal=[entry("r2", "k1", {"y": 1})])) == []
    masked = {"user password": "[REDACTED]", "old api_key": "[REDACTED]"}
    assert [e.value for e in store.load_journal("r1")] == [masked] and store.load_events("r1") == [masked]
    assert [e.value for e in store.load_journal("r2")] == [{"y": 1}]
