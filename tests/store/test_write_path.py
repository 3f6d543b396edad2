"""The write path under bad records (issue 12, item 3): one bad record never blocks the others.

Property tests run random batches mixing good records with poisoned ones through both stores: every good record is
readable afterwards (also after the DuckDB store applied its log and after a reopen), every poisoned one is
reported (kind, run, key), and the two stores agree. Strings DuckDB cannot hold as such (lone surrogates) are not
poison: they round-trip.
"""

from __future__ import annotations

import itertools
import json
import logging
import struct
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import StorageError
from aether_nb.store import log as store_log
from aether_nb.store import rows as store_rows
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.protocol import Store
from aether_nb.store.records import (
    HistoryBatch,
    JournalEntry,
    JSONText,
    MemoryRecord,
    NodeRecord,
    RejectedRecord,
    RunRecord,
    WaitRecord,
)
from aether_nb.store.redact import redact_text
from aether_nb.store.values import ESCAPE, MAX_JSON_DEPTH, db_text, py_text
from tests.store.conftest import log_frames

_ids = itertools.count()


class Opaque:
    """Not JSON."""


def deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


# -- strategies ------------------------------------------------------------------------------------------------
ODD_TEXT = st.text(
    alphabet=st.characters(exclude_categories=()),  # lone surrogates, NUL, U+FDD0 included
    max_size=6,
) | st.sampled_from(["\ud800", "a\udfff", "\x00", ESCAPE, ESCAPE + "x", "é", "😀", ""])
# Keys the store does not take for a credential's name (Hypothesis also draws the code's own string constants, such
# as "SECRET": a value under it is masked, as tests/store/test_redact*.py check)
KEYS = ODD_TEXT.filter(lambda k: redact_text(json.dumps({k: 0})) == json.dumps({k: 0}))
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
POISON = st.sampled_from(["not_json", "too_deep", "bad_text", "bad_number"])
TIMES = st.floats() | st.sampled_from([float("nan"), float("inf"), -0.0, 1.0])
"""Any float in a timestamp column, NaN and infinities included: each must come back as it was written."""


@dataclass
class Plan:
    """A batch and what a store must do with it."""

    batch: HistoryBatch = field(default_factory=HistoryBatch)
    bad: set[tuple[str, str | None, str | None]] = field(default_factory=set)
    run_id: str = ""


def _poison(kind: str) -> dict[str, Any]:
    """Field overrides that make a record unstorable."""
    return {
        "not_json": {"value": Opaque()},
        "too_deep": {"value": deep(MAX_JSON_DEPTH + 5)},
        "bad_text": {"name": 42},
        "bad_number": {"created_at": "yesterday"},
    }[kind]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    plan = Plan(run_id=f"run-{next(_ids)}-" + draw(ODD_TEXT))
    run_id = plan.run_id
    b = plan.batch
    b.runs.append(RunRecord(run_id, "g", "running", draw(JSONISH), "fp", 1.0, 1.0, meta={"m": draw(JSONISH)}))
    for i in range(draw(st.integers(0, 6))):
        key = f"k{i}-" + draw(ODD_TEXT)
        poison = draw(st.none() | POISON)
        fields: dict[str, Any] = {"value": draw(JSONISH), "name": "step", "created_at": draw(TIMES)}
        if poison is not None:
            fields.update(_poison(poison))
            plan.bad.add(("journal", run_id, key))
        b.journal.append(
            JournalEntry(run_id, key, fields["name"], "tool", "f", fields["value"], True, fields["created_at"])
        )
    for i in range(draw(st.integers(0, 4))):
        node_id = f"n{i}-" + draw(ODD_TEXT)
        poison = draw(st.none() | POISON)
        outputs: Any = draw(JSONISH)
        name: Any = "node"
        started: Any = draw(st.none() | TIMES)
        if poison == "not_json":
            outputs = Opaque()
        elif poison == "too_deep":
            outputs = deep(MAX_JSON_DEPTH + 5)
        elif poison == "bad_text":
            name = ["x"]
        elif poison == "bad_number":
            started = "now"
        if poison is not None:
            plan.bad.add(("node", run_id, node_id))
        b.nodes.append(
            NodeRecord(run_id, node_id, name, "tool", "DONE", None, (), {"a": 1}, outputs, None, started, draw(TIMES))
        )
    for _ in range(draw(st.integers(0, 5))):
        poison = draw(st.none() | st.sampled_from(["not_json", "too_deep"]))
        data: Any = {"kind": "x", "v": draw(JSONISH)}
        if poison is not None:
            data = {"kind": "bad", "v": Opaque() if poison == "not_json" else deep(MAX_JSON_DEPTH + 5)}
            plan.bad.add(("event", run_id, "bad"))
        b.events.append((run_id, data))
    if draw(st.booleans()):
        token = f"t-{next(_ids)}"
        answer: Any = Opaque() if draw(st.booleans()) else draw(JSONISH)
        if isinstance(answer, Opaque):
            plan.bad.add(("wait", run_id, "ask_1"))
        b.waits.append(
            WaitRecord(token, run_id, "ask_1", "ask_text", draw(ODD_TEXT), None, None, None, 1.0, "answered", answer)
        )
    if draw(st.booleans()):
        text = draw(ODD_TEXT)
        poisoned = draw(st.booleans())
        mem_id = f"m-{next(_ids)}"
        b.memory.append(
            MemoryRecord(
                mem_id, "notebook", "chat", Opaque() if poisoned else {"t": text}, text, ("t",), 1.0, run_id=run_id
            )
        )
        if poisoned:
            plan.bad.add(("memory", run_id, mem_id))
    for i in range(draw(st.integers(0, 3))):
        key = f"{i}-" + draw(ODD_TEXT)
        poison = draw(st.none() | st.sampled_from(["not_json", "too_deep"]))
        value: Any = draw(JSONISH) if poison is None else Opaque() if poison == "not_json" else deep(MAX_JSON_DEPTH + 5)
        if poison != "not_json" and draw(st.booleans()):  # as the runtime's history gives it: already JSON text
            value = JSONText(json.dumps(value))
        b.kv.append((f"scope-{run_id}", key, value, None, False))
        if poison is not None:
            plan.bad.add(("kv", None, key))
    return plan


def _reject_keys(rejected: list[RejectedRecord]) -> set[tuple[str, str | None, str | None]]:
    return {(r.kind, r.run_id, r.key if r.kind != "event" else "bad") for r in rejected}


def _json_equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_written(store: Store, plan: Plan) -> None:
    """Every good record of ``plan`` reads back as it was written (JSON round trip), in order."""
    b = plan.batch
    run = store.get_run(plan.run_id)
    assert run is not None and run.run_id == plan.run_id and _json_equal(run.inputs, b.runs[0].inputs)
    good_journal = [e for e in b.journal if ("journal", e.run_id, e.key) not in plan.bad]
    got = store.load_journal(plan.run_id)
    assert [e.key for e in got] == [e.key for e in good_journal]
    assert all(_json_equal(g.value, e.value) for g, e in zip(got, good_journal, strict=True))
    good_nodes = [n for n in b.nodes if ("node", n.run_id, n.node_id) not in plan.bad]
    assert [n.node_id for n in store.list_nodes(plan.run_id)] == [n.node_id for n in good_nodes]
    good_events = [d for _, d in b.events if d["kind"] != "bad"]
    assert _json_equal(store.load_events(plan.run_id), good_events)
    for w in b.waits:
        got_wait = store.get_wait(w.token)
        assert (got_wait is None) == (("wait", w.run_id, w.node_id) in plan.bad)
        if got_wait is not None:
            assert got_wait.prompt == w.prompt and _json_equal(got_wait.answer, w.answer)
    for m in b.memory:
        found = [x for x in store.memory_query("notebook", kinds=["chat"]) if x.id == m.id]
        assert len(found) == (0 if ("memory", m.run_id, m.id) in plan.bad else 1)
        if found:
            assert found[0].text == m.text
    for scope, key, value, _, _ in b.kv:
        hit = store.kv_get(scope, key)
        assert (hit is None) == (("kv", None, key) in plan.bad)
        if hit is not None:
            assert _json_equal(hit[0], json.loads(value) if isinstance(value, JSONText) else value)
            assert key in [k for k, _ in store.kv_keys(scope)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_bad_records_are_left_out_and_reported_and_the_rest_is_written(store: Store, plan: Plan) -> None:
    rejected = store.write_history(plan.batch)
    assert _reject_keys(rejected) == plan.bad
    assert all(r.error for r in rejected)
    check_written(store, plan)
    if isinstance(store, DuckDBStore):
        store.sql("select 1")  # applies the log: the tables must hold the same
        check_written(store, plan)


@settings(max_examples=25, deadline=None)
@given(plans=st.lists(plans(), min_size=1, max_size=4))
def test_the_two_stores_agree(tmp_path_factory: pytest.TempPathFactory, plans: list[Plan]) -> None:
    from aether_nb.store.memory import MemoryStore

    mem = MemoryStore()
    duck = DuckDBStore(tmp_path_factory.mktemp("agree") / "s.duckdb")
    try:
        for plan in plans:
            assert _reject_keys(mem.write_history(plan.batch)) == _reject_keys(duck.write_history(plan.batch))
        for plan in plans:
            assert _json_equal(repr(_reads(mem, plan.run_id)), repr(_reads(duck, plan.run_id)))
        duck.sql("select 1")  # the log applied: the same reads, from DuckDB's tables now
        for plan in plans:
            assert _json_equal(repr(_reads(mem, plan.run_id)), repr(_reads(duck, plan.run_id)))
    finally:
        duck.close()


def _reads(s: Store, run_id: str) -> list[Any]:
    scope = f"scope-{run_id}"
    return [
        s.get_run(run_id),
        s.load_journal(run_id),
        [(n.node_id, n.outputs, n.started_at, n.ended_at) for n in s.list_nodes(run_id)],
        s.load_events(run_id),
        s.list_waits(run_id, status=None),
        s.memory_query("notebook"),
        [(k, s.kv_get(scope, k)) for k, _ in s.kv_keys(scope)],
    ]


@settings(max_examples=100, deadline=None)
@given(text=ODD_TEXT)
def test_text_columns_round_trip_any_string(text: str) -> None:
    stored = db_text(text)
    stored.encode("utf-8")  # always something DuckDB can hold
    assert py_text(stored) == text
    assert (stored == text) == (not text.startswith(ESCAPE) and _utf8(text))  # escaped only when it must be


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_odd_strings_survive_a_reopen(tmp_path: Path) -> None:
    odd = ["\ud800", "a\x00b", ESCAPE, ESCAPE + "\ud800", "ok", "é\udc80"]
    path = tmp_path / "s.duckdb"
    with DuckDBStore(path) as store:
        for i, text in enumerate(odd):
            store.put_run(RunRecord(text, text, "running", {text: text}, "fp", float(i), float(i), error=text))
            store.kv_set("s" + text, text, text, None)
            store.memory_append(MemoryRecord(f"m{i}", "nb", "note", text, text, (text,), float(i), run_id=text))
    with DuckDBStore(path) as store:
        for text in odd:
            run = store.get_run(text)
            assert run is not None and (run.graph, run.error, run.inputs) == (text, text, {text: text})
            assert store.kv_get("s" + text, text) == (text, None)
            assert store.kv_keys("s" + text, text[:1]) == [(text, None)]
        assert sorted(r.run_id for r in store.list_runs()) == sorted(odd)
        assert [m.text for m in store.memory_query("nb")] == odd[::-1]
        assert [m.tags for m in store.memory_query("nb")] == [(t,) for t in odd[::-1]]


# -- the DuckDB safety net: a row DuckDB refuses after all -----------------------------------------------------
@pytest.fixture
def leaky_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text reaches DuckDB unescaped: a lone surrogate then fails inside DuckDB, as an unforeseen bad value would."""
    from aether_nb.store import columns as store_columns

    for module in (store_rows, store_columns):
        monkeypatch.setattr(module, "db_text", lambda value: value)


def test_a_row_duckdb_refuses_while_applying_is_found_and_reported(tmp_path: Path, leaky_encoder: None) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb", apply_after_s=3600)
    try:
        good = [JournalEntry("r1", f"k{i}", "step", "tool", "f", i, True, 1.0) for i in range(20)]
        bad = JournalEntry("r1", "k-bad", "st\ud800ep", "tool", "f", 0, True, 1.0)
        # the log row is ASCII JSON: written (durable) whatever it holds
        assert store.write_history(HistoryBatch(journal=[*good[:10], bad, *good[10:]])) == []
        store.sql("select 1")  # applying: DuckDB refuses one row; the others go in
        late = store.write_history(HistoryBatch(runs=[RunRecord("r2", "g", "running", {}, "fp", 1.0, 1.0)]))
        assert [(r.kind, r.run_id, r.key) for r in late] == [("journal", "r1", "k-bad")]
        assert "DuckDB refused" in late[0].error
        assert [e.key for e in store.load_journal("r1")] == [e.key for e in good]
        store.sql("select 1")  # applies what is left
        assert log_frames(tmp_path / "s.duckdb") == 0  # nothing left in the log, the refused row included
    finally:
        store.close()


def test_a_row_duckdb_refuses_in_a_background_apply_is_reported(
    tmp_path: Path, leaky_encoder: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_log, "APPLY_ROWS", 100)
    store = DuckDBStore(tmp_path / "s.duckdb", apply_after_s=3600)
    try:
        events: list[tuple[str, Any]] = [("r1", {"i": i}) for i in range(150)]
        events.insert(50, ("r\udcff", {"i": -1}))
        assert store.write_history(HistoryBatch(events=events)) == []  # durable in the log
        deadline = time.monotonic() + 20
        while store.sql("select count(*) from events").rows != [(150,)]:  # applied (sql() applies what is left)
            assert time.monotonic() < deadline
        late = store.write_history(HistoryBatch(events=[("r2", {"i": 0})]))
        assert [(r.kind, r.run_id) for r in late] == [("event", "r\udcff")]
        assert store.load_events("r1") == [{"i": i} for i in range(150)]
    finally:
        store.close()


def test_a_write_that_fails_as_a_whole_raises_and_changes_nothing(tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "s.duckdb"
    folder = tmp_path / "s.duckdb.history-log"
    store = DuckDBStore(path, apply_after_s=3600)
    try:
        store.append_events("r1", [{"i": 0}])
        store.sql("select 1")  # applied: the next write starts a new log segment
        shutil.rmtree(folder)
        folder.write_text("not a folder")  # the log cannot be written: every write now fails
        with pytest.raises(StorageError) as info:
            store.write_history(HistoryBatch(events=[("r1", {"i": 1})]))
        assert info.value.code == "io" and "history log" in str(info.value)
        folder.unlink()
        assert store.load_events("r1") == [{"i": 0}]  # what was durable before is there, nothing else
        store.append_events("r1", [{"i": 2}])
        assert store.load_events("r1") == [{"i": 0}, {"i": 2}]
    finally:
        store.close()
    with DuckDBStore(path) as again:
        assert again.load_events("r1") == [{"i": 0}, {"i": 2}]


def test_an_apply_that_fails_keeps_the_rows_pending_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    store = DuckDBStore(tmp_path / "s.duckdb", apply_after_s=3600)
    try:
        store.append_events("r1", [{"i": 0}])

        def broken(*args: Any, **kwargs: Any) -> list[RejectedRecord]:
            raise duckdb.IOException("No space left on device")

        monkeypatch.setattr(store_log, "apply_generation", broken)
        # sql() needs the tables whole: it applies first, which fails; it reads the log's rows laid over them
        assert store.sql("select count(*) from events").rows == [(1,)]
        assert log_frames(tmp_path / "s.duckdb") == 1
        assert store.load_events("r1") == [{"i": 0}]  # still pending, still read
        store.append_events("r1", [{"i": 1}])  # writes go on
        monkeypatch.undo()
        assert store.sql("select count(*) from events").rows == [(2,)]
        store.sql("select 1")  # applies what is left
        assert log_frames(tmp_path / "s.duckdb") == 0  # nothing left in the log, the refused row included
        assert store.load_events("r1") == [{"i": 0}, {"i": 1}]
    finally:
        store.close()


# -- recovery ---------------------------------------------------------------------------------------------------
DIE_WITH_A_LOG = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from aether_nb.store.duckdb import DuckDBStore
    from aether_nb.store.records import JournalEntry, RunRecord
    store = DuckDBStore(sys.argv[1], apply_after_s=3600)
    store.put_run(RunRecord("r1", "g", "waiting", {}, "fp", 1.0, 1.0))
    for i in range(5):
        store.append_journal(JournalEntry("r1", f"k{i}", "step", "tool", "f", {"i": i}, True, 1.0))
    import duckdb
    from aether_nb.store.query import ENGINE_CONFIG
    raw = duckdb.connect(sys.argv[1], config=dict(ENGINE_CONFIG))  # same process: the store's own database
    raw.execute("INSERT INTO history_log VALUES (999999, 'not a batch')")
    print("ok", flush=True)
    os._exit(0)  # like a killed kernel: no close, no exit hooks
    """
)


def test_a_log_left_by_a_dead_process_is_applied_at_the_next_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "die.py"
    script.write_text(DIE_WITH_A_LOG)
    db = tmp_path / "s.duckdb"
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(script), str(db), str(repo)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(db) as store:
        assert [e.key for e in store.load_journal("r1")] == [f"k{i}" for i in range(5)]
        run = store.get_run("r1")
        assert run is not None and run.status == "waiting"
        # the unreadable row stays in the log (and is reported); the readable ones were applied and deleted
        assert store.sql("select seq from history_log").rows == [(999999,)]
        assert store.sql("select count(*) from journal").rows == [(5,)]
    assert any("cannot be read" in r.message for r in caplog.records)


FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    vectors=st.lists(
        st.one_of(
            st.lists(FLOAT32, min_size=1, max_size=40),
            st.lists(
                st.sampled_from([0.0, -0.0, 1e-45, -1e-45, 3.4028234663852886e38, 1.1754943508222875e-38]),
                min_size=1,
                max_size=8,
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_embeddings_reach_the_table_exactly(
    tmp_path_factory: pytest.TempPathFactory, vectors: list[list[float]]
) -> None:
    """Embeddings travel through the log as packed float32 and reach the FLOAT[] column as DuckDB's own cast of a
    list literal: every float32 (zeros, denormals, the largest) arrives bit for bit."""
    store = DuckDBStore(tmp_path_factory.mktemp("vec") / "m.duckdb")
    try:
        for i, v in enumerate(vectors):
            store.memory_append(
                MemoryRecord(f"m{i}", "notebook", "note", None, f"v{i}", (), float(i), embedding=tuple(v))
            )
        got = store.sql("SELECT id, embedding FROM memory ORDER BY id").rows
        assert [g[0] for g in got] == [f"m{i}" for i in range(len(vectors))]
        for (_, stored), v in zip(got, vectors, strict=True):
            assert [struct.pack("<f", x) for x in stored] == [struct.pack("<f", x) for x in v]
    finally:
        store.close()


def test_the_memory_store_keeps_no_objects_of_history_not_read_yet() -> None:
    """A batch's records and event dicts are not kept alive by the memory store until read (only their text
    and flat fields): a long run's unread history must not be what every full garbage collection walks."""
    import gc
    import weakref

    from aether_nb.store.memory import MemoryStore

    class Payload(dict[str, Any]):  # a dict that can be weakly referenced, standing for an event's data
        pass

    store = MemoryStore()
    entry = JournalEntry("r1", "k1", "step", "tool", "fp", {"y": 1}, True, 1.0)
    node = NodeRecord("r1", "n1", "step", "tool", "DONE", None, ("n0",), {"x": 1}, {"y": 1}, None, 1.0, 2.0)
    data = Payload(kind="node_ran", outputs={"y": 1})
    refs = [weakref.ref(entry), weakref.ref(node), weakref.ref(data)]
    assert store.write_history(HistoryBatch(journal=[entry], nodes=[node], events=[("r1", data)])) == []
    del entry, node, data
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
    # ... and everything reads back
    assert [(e.key, e.value) for e in store.load_journal("r1")] == [("k1", {"y": 1})]
    assert [(n.node_id, n.parents, n.outputs) for n in store.list_nodes("r1")] == [("n1", ("n0",), {"y": 1})]
    assert store.load_events("r1") == [{"kind": "node_ran", "outputs": {"y": 1}}]


def test_a_batch_the_memory_store_cannot_read_back_takes_no_other_batch_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If a batch's text were ever not JSON (a redaction rule once masked a number bare), only that batch is lost:
    the reads say so once, and every batch written before and after it reads back (all of them were lost)."""
    from aether_nb.store import memory as memory_mod
    from aether_nb.store.records import HistoryBatch, JournalEntry

    def entry(run_id: str, value: Any) -> JournalEntry:
        return JournalEntry(run_id, "k", "step", "tool", "f", value, True, 1.0)

    store = memory_mod.MemoryStore()
    real = memory_mod.plain_json
    monkeypatch.setattr(memory_mod, "plain_json", lambda v: "[{broken" if v == [{"bad": 1}] else real(v))
    for run_id, value in [("r1", {"y": 1}), ("r2", {"bad": 1}), ("r3", {"y": 3})]:
        assert store.write_history(HistoryBatch(journal=[entry(run_id, value)])) == []
    with pytest.raises(StorageError) as info:
        store.load_journal("r1")
    assert info.value.code == "unreadable" and "a batch of 1 record (" in str(info.value)
    assert [e.value for e in store.load_journal("r1")] == [{"y": 1}]
    assert [e.value for e in store.load_journal("r3")] == [{"y": 3}]
    assert store.load_journal("r2") == []
