"""Read-only SQL over the notebook's store, so a user can ask the run history questions from the next cell.

``ag.store().sql("select graph, status, count(*) from runs group by all")`` returns a :class:`QueryResult`: a
small table that prints, renders as HTML in a notebook, and converts with ``to_pandas()`` / ``to_dicts()``.

The runtime's invariants (journal, waits) live in the store, so no statement may change it, whatever its text. That
is enforced by the engine, not by reading the statement (:func:`run_read_only`):

* the statement runs in a transaction of its own cursor that is **always rolled back**, so ``EXPLAIN ANALYZE
  DELETE``, ``WITH x AS (DELETE ... RETURNING *) SELECT ...``, ``CREATE TABLE``, ``UPDATE``... change nothing;
* the database is opened with ``enable_external_access=false`` (no file, extension or network access from SQL:
  ``COPY ... TO``, ``read_csv('/etc/passwd')``, ``ATTACH``, ``INSTALL``, ``LOAD``, ``EXPORT DATABASE`` fail) and
  ``lock_configuration=true`` (no ``SET``, ``PRAGMA enable_profiling``, ``RESET``). The store writes its own files
  (big artifacts) from Python, never through SQL;
* the cursor is closed afterwards, so connection state (``SET VARIABLE``, temporary tables, macros, prepared
  statements) does not outlive the call.

The statement type is checked first only to give a clear message for an obvious write (``DELETE FROM runs``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from aether_nb.errors import UsageError
from aether_nb.store.apply import rollback

READ_ONLY_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "RELATION"})
ENGINE_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "lock_configuration": True,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "threads": 1,
    "pandas_analyze_sample": 0,
}
"""How every connection to a store file is opened (DuckDB applies it to the whole database). One thread: the
store's statements are small, and on a busy machine handing each to a worker thread cost more than it saved
(W4 pause and resume ~25 % faster, measured in bench/)."""


QUERYABLE_TABLES = ("runs", "nodes", "events", "journal", "waits", "kv", "memory", "artifacts")
"""The store's tables a person asks questions of (the others are its own bookkeeping)."""

SQL_HINT = f"Tables you can query: {', '.join(QUERYABLE_TABLES)}; a table's columns: ag.store().sql('describe runs')."
"""What a failed statement's message ends with: what there is to query."""


def run_read_only(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | None,
    *,
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> QueryResult:
    """Run one statement of ``query`` on a new cursor of ``con``, in a transaction that is rolled back.

    ``prepare(cursor)`` runs first in that transaction (a read-only store lays its history log's rows over the
    tables there, see :mod:`aether_nb.store.overlay`); its duckdb.Error propagates as it is.

    Raises:
        UsageError: the SQL does not parse, holds more than one statement, is a kind of statement that writes,
            or fails (a refused write included).
    """
    if not isinstance(query, str) or not query.strip():
        raise UsageError("sql() takes a non-empty SQL string, e.g. ag.store().sql('select * from runs')")
    if params is not None and (isinstance(params, (str, bytes)) or not isinstance(params, Sequence)):
        raise UsageError(f"sql() params must be a list of values for the ? placeholders, got {type(params).__name__}")
    values = _checked_params(params)
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"this SQL is not valid text ({exc}); remove the lone surrogate", code="bad_sql") from exc
    cur = con.cursor()
    try:
        try:
            statements = cur.extract_statements(query)
        except duckdb.Error as exc:
            raise UsageError(f"this SQL does not parse: {exc}\n{SQL_HINT}", code="bad_sql") from exc
        if len(statements) != 1:
            raise UsageError(f"sql() runs one statement at a time, got {len(statements)}", code="bad_sql")
        kind = statements[0].type.name
        if kind == "MULTI":  # (DuckDB's PIVOT without an IN list: it runs a query for the column names first)
            raise UsageError(
                "sql() runs one read-only statement, and DuckDB runs this one as several (a PIVOT without an IN "
                "list looks its columns up first): name them, e.g. PIVOT runs ON status IN ('succeeded', 'failed') "
                "USING count(*)",
                code="bad_sql",
            )
        if kind not in READ_ONLY_STATEMENTS:
            raise UsageError(
                f"sql() is read-only ({kind} refused): the run journal and waits live in these tables, so change "
                "them through the aether_nb API",
                code="read_only_sql",
            )
        cur.execute("BEGIN TRANSACTION")
        try:
            if prepare is not None:
                prepare(cur)
        except BaseException:
            rollback(cur)
            raise
        try:
            res = cur.execute(statements[0], values)  # the parsed statement: not parsed twice
            columns = [d[0] for d in res.description or []]
            rows = [tuple(r) for r in res.fetchall()]
        except duckdb.Error as exc:
            raise UsageError(f"the query failed: {exc}\n{SQL_HINT}", code="bad_sql") from exc
        except (TypeError, ValueError, OverflowError) as exc:  # a parameter DuckDB cannot take
            raise UsageError(f"the query's parameters were refused: {exc}", code="bad_sql") from exc
        finally:
            rollback(cur)  # a bare COMMIT or ROLLBACK of the user's already ended it
        return QueryResult(columns, rows)
    finally:
        cur.close()


MAX_PARAM_DEPTH = 20
"""How deep a parameter of :func:`run_read_only` may nest (a list of ids for ``in ?`` is one level)."""


def _checked_params(params: Sequence[Any] | None) -> list[Any]:
    """``params`` as the list to bind, each one checked to nest at most :data:`MAX_PARAM_DEPTH` levels and not to
    contain itself. Why: DuckDB converts a parameter recursively in C++, and a list that holds itself (or one
    nested 10,000 deep) crashed the process with a segmentation fault (in a notebook, the kernel died)."""
    values = list(params or [])
    for i, value in enumerate(values, 1):
        problem = _param_problem(value, 0, set())
        if problem is not None:
            raise UsageError(
                f"sql() parameter {i} {problem}: a parameter is a value (a number, a string...) or a list or dict "
                f"of them, nested at most {MAX_PARAM_DEPTH} levels",
                code="bad_sql",
            )
    return values


def _param_problem(value: Any, depth: int, inside: set[int]) -> str | None:
    """What keeps DuckDB from binding ``value`` safely (it holds a container it is inside, or nests too deep), or
    None. Recursive, but never deeper than :data:`MAX_PARAM_DEPTH` calls."""
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return None
    if id(value) in inside:
        return "contains itself (a list or dict that holds one it is inside)"
    if depth >= MAX_PARAM_DEPTH:
        return f"nests deeper than {MAX_PARAM_DEPTH} levels"
    inside.add(id(value))
    try:
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        for item in items:
            problem = _param_problem(item, depth + 1, inside)
            if problem is not None:
                return problem
        return None
    finally:
        inside.discard(id(value))


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a query. Iterating gives the rows as tuples (as a DB-API cursor does): ``for run_id,
    status in ag.store().sql("select run_id, status from runs"): ...``."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` (pandas must be installed)."""
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise UsageError("to_pandas() needs pandas: pip install pandas (or use to_dicts())") from exc
        return pd.DataFrame.from_records(self.rows, columns=self.columns)

    def __repr__(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[_short(v) for v in row] for row in self.rows[:50]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if len(self.rows) > 50:
            lines.append(f"... {len(self.rows) - 50} more rows")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_short(v))}</td>" for v in row) + "</tr>" for row in self.rows[:200]
        )
        more = f"<p>… {len(self.rows) - 200} more rows</p>" if len(self.rows) > 200 else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _short(value: Any, limit: int = 80) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
