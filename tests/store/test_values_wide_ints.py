"""Ints too long for decimal text (over ``sys.get_int_max_str_digits()`` digits, 4,300 by default: Python and so
every JSON encoder refuse to write them as decimal) are stored as ``{"__aether__": "int", "hex": ...}`` and read
back exactly through the codec. Before, the store refused the record holding one when its batch was written (a
step's journal entry, node and event were dropped; a state graph's checkpoint raised ``StorageError``)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest

from aether_nb.runtime.codec import decode
from aether_nb.store import values
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import JournalEntry, RunRecord
from tests.conftest import arun, default_session

BIG = math.factorial(2000)  # 5,736 digits
VALUE = {"y": BIG, "list": [-BIG, 1, "x"], "ok": 2**70}


@pytest.mark.parametrize("writer", ["dump_json", "plain_json", "json_column", "json_dumps"])
def test_every_json_writer_of_the_store_writes_such_an_int_tagged(writer: str) -> None:
    write = getattr(values, writer)
    text = write([VALUE])[0] if writer == "json_column" else write(VALUE)
    assert isinstance(text, str)
    assert decode(json.loads(text)) == VALUE
    assert json.loads(text)["ok"] == 2**70  # an int that fits stays a JSON number


def test_values_without_such_an_int_are_written_as_before() -> None:
    assert values.wide_ints({"y": 2**70, "z": [1, "x"]}) is None
    assert values.plain_json({"y": 1}) == '{"y":1}'
    assert values.dump_json({"y": 2**70}) == json.dumps({"y": 2**70})
    with pytest.raises(ValueError, match="Out of range"):
        values.json_dumps(math.nan, allow_nan=False)  # other ValueErrors stand


def test_the_limit_of_the_interpreter_decides_which_ints_are_tagged() -> None:
    limit = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(0)  # no limit: decimal text, as json.dumps writes it
        assert values.dump_json({"y": BIG}) == json.dumps({"y": BIG})
        sys.set_int_max_str_digits(1000)
        assert decode(json.loads(values.dump_json({"y": 10**1500}))) == {"y": 10**1500}
    finally:
        sys.set_int_max_str_digits(limit)


def _entry(run_id: str, value: Any) -> JournalEntry:
    return JournalEntry(run_id, "big_1", "big", "tool", "fp", value, True, 1.0)


def test_a_duckdb_file_keeps_runs_journal_and_kv_holding_such_an_int(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    store = DuckDBStore(db)
    store.put_run(
        RunRecord(
            run_id="r1",
            graph="g",
            status="succeeded",
            inputs={"n": BIG},
            inputs_fingerprint="fp",
            created_at=1.0,
            updated_at=1.0,
            outputs=VALUE,
        )
    )
    store.append_journal(_entry("r1", VALUE))
    store.kv_set("notebook", "k", VALUE, None)
    store.close()
    store = DuckDBStore(db)
    try:
        run = store.get_run("r1")
        assert run is not None
        assert decode(run.inputs) == {"n": BIG} and decode(run.outputs) == VALUE
        assert [decode(e.value) for e in store.load_journal("r1")] == [VALUE]
        hit = store.kv_get("notebook", "k")
        assert hit is not None and decode(hit[0]) == VALUE
    finally:
        store.close()


class _State(TypedDict):
    n: int


def test_a_state_graph_checkpoints_a_state_holding_such_an_int(tmp_path: Path) -> None:
    from aether_nb.flow import START, StateGraph

    graph = StateGraph(_State).add_node("a", lambda s: {"n": math.factorial(2000)}).add_edge(START, "a").compile()
    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        with default_session(store) as session:
            out = arun(graph.ainvoke({"n": 1}))
            session.flush()
        assert out == {"n": BIG}
    finally:
        store.close()
