"""Both stores order tied memory-search hits the same way: the oldest first.

Why: a search while history cannot be written merges the pending notes (all newer than the stored ones) after the
stored hits on a tie (:mod:`aether_nb.runtime.history_reads`), which is the store's own order once they are
written only if every store puts the older of two tied notes first, whether they were written in one batch,
one by one, or through the DuckDB store's log before it was applied. And the DuckDB store's scores are what
:func:`aether_nb.store.cosine.duckdb_cosine` computes, to the last bit (the merge scores pending notes with it).
"""

from __future__ import annotations

from aether_nb.store.cosine import scorer_of
from aether_nb.store.protocol import Store
from aether_nb.store.records import HistoryBatch, MemoryRecord


def _note(name: str, at: float, embedding: tuple[float, ...] = (0.25, 0.5, 0.75)) -> MemoryRecord:
    return MemoryRecord(name, "notebook", "note", {"text": name}, name, (), at, embedding=embedding)


def test_tied_hits_come_oldest_first_in_every_store(store: Store) -> None:
    store.memory_append(_note("a", 1.0))
    store.write_history(HistoryBatch(memory=[_note("b", 2.0), _note("c", 3.0)]))
    store.memory_append(_note("far", 4.0, (0.9, 0.0, 0.1)))
    store.memory_append(_note("d", 5.0))
    query = [0.3, 0.3, 0.9]
    hits = store.memory_search("notebook", query, limit=10)
    assert [m.id for m, _ in hits] == ["a", "b", "c", "d", "far"]
    assert [m.id for m, _ in store.memory_search("notebook", query, limit=2)] == ["a", "b"]
    score = scorer_of(store)
    expected = score(query, [(0.25, 0.5, 0.75)] * 4 + [(0.9, 0.0, 0.1)])
    assert [sc for _, sc in hits] == expected  # (exactly: the merge's scores for a pending note are the store's)


def test_notes_without_words_score_zero_and_never_crowd_out_a_match(store: Store) -> None:
    # (a chat's "👍" or "..." embeds as all zeros: DuckDB's cosine of it is NaN, which sorted above every score, so
    # the 50 candidates a search fetched were all blanks and the note that matched was never found)
    store.memory_append(_note("match", 1.0, (0.3, 0.3, 0.9)))
    for i in range(60):
        store.memory_append(_note(f"blank{i}", 2.0 + i, (0.0, 0.0, 0.0)))
    hits = store.memory_search("notebook", [0.3, 0.3, 0.9], limit=3)
    assert [m.id for m, _ in hits] == ["match", "blank0", "blank1"]
    assert [sc for _, sc in hits][1:] == [0.0, 0.0]
    assert scorer_of(store)([0.3, 0.3, 0.9], [(0.0, 0.0, 0.0)]) == [0.0]  # (the merge's scorer says the same)
    # a query without words (all zeros) scores every note 0.0: the oldest first, as ties are
    assert [m.id for m, _ in store.memory_search("notebook", [0.0, 0.0, 0.0], limit=2)] == ["match", "blank0"]
