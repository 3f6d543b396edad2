"""The history log's text of a batch (aether_nb.store.rows.Rows.to_json): whichever encoder wrote it, it is ASCII
and reads back as the rows it was made of."""

from __future__ import annotations

import importlib
import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

rows_mod = importlib.import_module("aether_nb.store.rows")

_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # non-ASCII and lone surrogates (DuckDB text columns hold escaped forms, but the log must not care)
)
_TABLE = st.lists(st.tuples(_CELLS, _CELLS, _CELLS), max_size=3)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(tables=st.lists(_TABLE, min_size=7, max_size=7))
def test_a_batch_reads_back_from_the_log_as_it_was_written(tables: list[list[tuple[Any, ...]]]) -> None:
    names = ("runs", "waits", "journal", "nodes", "events", "memory", "kv")
    rows = rows_mod.Rows(**dict(zip(names, tables, strict=True)))
    text = rows.to_json()
    assert text.isascii()
    back = rows_mod.Rows.from_json(text)
    for name in names:
        assert _same(getattr(back, name), getattr(rows, name)), name


_KV_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@given(
    ops=st.lists(
        st.tuples(st.text(), _KV_VALUES, st.none() | st.floats(allow_nan=False), st.booleans()), min_size=1, max_size=5
    )
)
def test_kv_writes_as_the_runtime_gives_them_encode_as_record_by_record(ops: list[tuple[Any, ...]]) -> None:
    """A batch's KV writes of JSON text (a state graph's checkpoints) take a column-at-a-time path; a write the
    path does not take (an int expiry) sends the batch record by record: both give the same rows."""
    from aether_nb.store.records import HistoryBatch, JSONText

    kv = [("scope", f"{i}/{key}", JSONText(json.dumps(v)), exp, gone) for i, (key, v, exp, gone) in enumerate(ops)]
    fast = rows_mod.encode_batch(HistoryBatch(kv=kv), iter(range(10**6)).__next__)
    slow = rows_mod.encode_batch(HistoryBatch(kv=[*kv, ("scope", "last", JSONText("1"), 5, False)]), lambda: 0)
    assert not fast.rejected and not slow.rejected
    assert fast.kv == slow.kv[:-1]
    assert slow.kv[-1] == ("scope", "last", "1", 5.0, False)
    assert all(type(row[2]) is str for row in fast.kv)  # plain text, not the JSONText mark
