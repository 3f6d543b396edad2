"""Read-only SQL over the notebook's store, so a user can ask the run history questions from the next cell.

``ag.store().sql("select graph, status, count(*) from runs group by all")`` returns a :class:`QueryResult`: a
small table that prints, renders as HTML in a notebook, and converts with ``to_pandas()`` / ``to_dicts()``.
Statements that would change the store are refused: the runtime's invariants (journal, waits) live there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError

READ_ONLY_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "RELATION"})


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.rows)

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
