"""A failed ``ag.store().sql(...)`` in a notebook: a UsageError (the person's mistake) saying what there is to
query, DuckDB's error chained as its cause, and no frame of aether_nb's store in the traceback the person reads
(it showed DuckDB's exception under two frames of the store)."""

from __future__ import annotations

import re

import pytest

from tests.kernel_client import Kernel, kernel

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _traceback(kernel: Kernel, code: str) -> tuple[str, str]:
    res = kernel.run(code)
    assert res.error is not None, res.text
    return res.error["ename"], _ANSI.sub("", "\n".join(res.error["traceback"]))


@pytest.mark.parametrize(
    ("query", "duckdb_says"),
    [
        ("select * from nope", "Catalog Error: Table with name nope does not exist!"),
        ("select nosuch from runs", 'Binder Error: Referenced column "nosuch" not found'),
        ("selec 1", 'Parser Error: syntax error at or near "selec"'),
    ],
)
def test_a_failed_query_says_what_to_query_without_store_frames(kernel: Kernel, query: str, duckdb_says: str) -> None:
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag")
    ename, tb = _traceback(kernel, f"rows = ag.store().sql({query!r})")
    assert ename == "UsageError"
    assert duckdb_says in tb
    assert (
        "Tables you can query: runs, nodes, events, journal, waits, kv, memory, artifacts; a table's columns: "
        "ag.store().sql('describe runs')." in tb
    )
    assert "The above exception was the direct cause of the following exception" in tb  # the cause is chained
    assert "aether_nb/store" not in tb and "query.py" not in tb and "duckdb.py" not in tb, tb
    assert f"rows = ag.store().sql({query!r})" in tb  # the person's own line is there


def test_every_table_the_hint_names_can_be_queried(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag\nfrom aether_nb.store.query import QUERYABLE_TABLES")
    res = kernel.ok("print([len(ag.store().sql(f'describe {t}').rows) > 0 for t in QUERYABLE_TABLES])")
    assert res.stdout.strip() == str([True] * 8)
