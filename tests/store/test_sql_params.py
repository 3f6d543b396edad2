"""``ag.store().sql(query, params)`` with a parameter DuckDB cannot convert safely (a scratch tester's finding,
helper D of the twenty-seventh session): a list that holds itself, or one nested 10,000 deep, crashed the process
with a segmentation fault inside DuckDB's recursive conversion (in a notebook, the kernel died). Each runs in a
fresh interpreter, so a regression fails the test instead of killing the test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore

SCRIPT = """
import sys
from pathlib import Path
import aether_nb as ag
ag.configure(store=sys.argv[1])
if sys.argv[2] == "self":
    param = ["run-1"]
    param.append(param)
else:
    param = 0
    for _ in range(10_000):
        param = [param]
try:
    ag.store().sql("select * from runs where run_id in ?", [param])
except ag.UsageError as exc:
    print("REFUSED", exc.code, exc.message)
"""


@pytest.mark.parametrize(("which", "says"), [("self", "contains itself"), ("deep", "nests deeper than 20 levels")])
def test_a_parameter_that_holds_itself_or_nests_very_deep_is_refused_not_a_crash(
    tmp_path, which: str, says: str
) -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "s.duckdb"), which],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])  # (was: -11, a segmentation fault)
    assert f"REFUSED bad_sql sql() parameter 1 {says}" in res.stdout, res.stdout


def test_lists_and_dicts_within_the_limit_still_bind(tmp_path: Path) -> None:
    store = DuckDBStore(str(tmp_path / "s.duckdb"))
    try:
        nested: object = 1
        for _ in range(20):  # (the deepest accepted: MAX_PARAM_DEPTH)
            nested = [nested]
        shared = ["a", "b"]
        assert store.sql("select ? as x", [["r1", "r2"]]).rows == [(["r1", "r2"],)]
        assert store.sql("select ? as s", [{"k": shared, "j": shared}]).rows == [({"k": ["a", "b"], "j": ["a", "b"]},)]
        assert len(store.sql("select ? as n", [nested]).rows) == 1
        with pytest.raises(ag.UsageError, match="parameter 1 nests deeper"):
            store.sql("select ? as n", [[nested]])
    finally:
        store.close()
