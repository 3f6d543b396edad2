"""What the runtime says when run history cannot be written (issue 12): :class:`HistoryFailure`, and how the
pending history becomes records one by one so that one record that cannot be serialised is dropped alone.

:class:`~aether_nb.runtime.history.HistoryStore` builds these and hands them to its failure listeners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aether_nb.store.records import JSON, NodeRecord, RejectedRecord

__all__ = ["AsJSON", "AsRecord", "HistoryFailure", "dropped_failure", "events_as_json", "nodes_as_records"]


class AsJSON(Protocol):
    def to_json(self) -> dict[str, JSON]: ...


class AsRecord(Protocol):
    id: str

    def to_record(self, run_id: str) -> NodeRecord: ...


@dataclass(frozen=True)
class HistoryFailure:
    """History that could not be written, as told to :meth:`HistoryStore.add_failure_listener` listeners.

    Attributes:
        error: what went wrong (the store's message).
        will_retry: True when the history is still pending and will be written again (the store failed as a
            whole: disk full, I/O error); False when ``records`` were dropped for good (the store cannot hold
            them), the rest of their batch having been written.
        run_ids: the runs concerned.
        nodes: ``(run_id, node_id)`` of the DAG nodes concerned (journal entries, waits, nodes).
        kinds: the kinds of records concerned (``"journal"``, ``"node"``, ``"event"``, ``"wait"``, ``"run"``,
            ``"memory"``, ``"kv"``).
        count: how many records.
        records: the dropped records with their reasons (empty when ``will_retry``).
    """

    error: str
    will_retry: bool
    run_ids: frozenset[str]
    nodes: frozenset[tuple[str, str]]
    kinds: frozenset[str]
    count: int
    records: tuple[RejectedRecord, ...] = ()


def nodes_as_records(
    pending: dict[tuple[str, str], NodeRecord | AsRecord], rejected: list[RejectedRecord]
) -> list[NodeRecord]:
    """The pending nodes as records; a node that cannot become one is left out and reported."""
    out: list[NodeRecord] = []
    for (run_id, node_id), n in pending.items():
        try:
            out.append(n if isinstance(n, NodeRecord) else n.to_record(run_id))
        except Exception as exc:  # a node whose data cannot be turned into a record: this one only is dropped
            rejected.append(RejectedRecord("node", run_id, node_id, f"{type(exc).__name__}: {exc}", node_id))
    return out


def events_as_json(
    pending: list[tuple[str, JSON | AsJSON] | AsJSON], rejected: list[RejectedRecord]
) -> list[tuple[str, JSON]]:
    """The pending events as JSON, each with its run id; an event that cannot become JSON is left out and
    reported. A pending event is ``(run_id, event)`` or, when it names its run (``event.run_id``), the event."""
    out: list[tuple[str, JSON]] = []
    for item in pending:
        if type(item) is tuple:
            run_id, e = item
        else:
            e = item
            run_id = item.run_id  # type: ignore[union-attr]
        if isinstance(e, dict):
            out.append((run_id, e))
            continue
        try:
            out.append((run_id, e.to_json()))
        except Exception as exc:  # one event that cannot be serialised: this one only is dropped
            rejected.append(
                RejectedRecord(
                    "event",
                    run_id,
                    getattr(e, "kind", None),
                    f"{type(exc).__name__}: {exc}",
                    getattr(e, "node_id", None),
                )
            )
    return out


def dropped_failure(rejected: Sequence[RejectedRecord]) -> HistoryFailure:
    first = rejected[0]
    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
    where = " ".join(
        x for x in (first.kind, first.key and repr(first.key), first.run_id and f"of run {first.run_id}") if x
    )
    return HistoryFailure(
        error=f"{where}: {first.error}{more}",
        will_retry=False,
        run_ids=frozenset(r.run_id for r in rejected if r.run_id is not None),
        nodes=frozenset((r.run_id, r.node_id) for r in rejected if r.run_id is not None and r.node_id is not None),
        kinds=frozenset(r.kind for r in rejected),
        count=len(rejected),
        records=tuple(rejected),
    )
