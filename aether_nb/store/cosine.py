"""Cosine similarity computed exactly as a store's ``memory_search`` computes it.

Why: a memory search while history cannot be written scores the pending records itself and merges them with the
store's hits (:mod:`aether_nb.runtime.history_reads`). Its answer must be the store's once they are written, down
to the order of ties, and a tie is only a tie if both sides computed the same number: the DuckDB store scores
``FLOAT[]`` embeddings with ``list_cosine_similarity`` (single precision), which differs from a Python
computation in the last bits (so a pending copy of a stored note ranked above it, or below, by rounding alone);
:class:`~aether_nb.store.memory.MemoryStore` computes in Python floats.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Sequence

__all__ = ["Scorer", "python_cosine", "scorer_of"]

Scorer = Callable[[Sequence[float], Sequence[Sequence[float]]], list[float]]
"""``scorer(query, embeddings)``: the similarity of each embedding (of the query's length) to the query."""

_local = threading.local()  # (an in-memory DuckDB connection per thread: a connection is not shared across threads)


def python_cosine(query: Sequence[float], embeddings: Sequence[Sequence[float]]) -> list[float]:
    """As :meth:`MemoryStore.memory_search <aether_nb.store.memory.MemoryStore.memory_search>` scores."""
    q = [float(x) for x in query]
    qn = math.sqrt(sum(x * x for x in q)) or 1.0
    out = []
    for e in embeddings:
        en = math.sqrt(sum(x * x for x in e)) or 1.0
        out.append(sum(a * b for a, b in zip(q, e, strict=True)) / (qn * en))
    return out


def duckdb_cosine(query: Sequence[float], embeddings: Sequence[Sequence[float]]) -> list[float]:
    """As the DuckDB store scores (:func:`aether_nb.store.reads.memory_search`): the same function of the same
    engine over the same single-precision values, so the same numbers (a NULL or a NaN, the cosine of a note
    without words, is 0.0 there too)."""
    if not embeddings:
        return []
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb  # (here: importing aether_nb imports no DuckDB, tests/test_imports.py)

        con = _local.con = duckdb.connect(":memory:")
    row = con.execute(
        "SELECT list_transform(?::DOUBLE[][], "
        "lambda e: coalesce(nullif(list_cosine_similarity(e::FLOAT[], ?::FLOAT[]), 'NaN'::FLOAT), 0.0))",
        [[[float(x) for x in e] for e in embeddings], [float(x) for x in query]],
    ).fetchone()
    return [float(s or 0.0) for s in (row[0] if row else ())]


def scorer_of(store: object) -> Scorer:
    """How ``store`` scores a memory search (a store other than DuckDB's: as the in-memory store). A DuckDB store
    exists only once its module is imported: a session over another store imports no DuckDB for this."""
    module = sys.modules.get("aether_nb.store.duckdb")
    return duckdb_cosine if module is not None and isinstance(store, module.DuckDBStore) else python_cosine
