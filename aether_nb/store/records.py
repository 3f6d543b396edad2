"""The rows a store keeps. Plain frozen dataclasses of JSON-ready values, so every store can persist them as-is.

The runtime encodes Python values with :mod:`aether_nb.runtime.codec` before they reach a record; a store never
sees an arbitrary object, which is what lets the in-memory and the DuckDB store behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JSON = Any
"""A value made only of dict/list/str/int/float/bool/None (what ``json.dumps`` accepts)."""

RunStatus = Literal["pending", "running", "waiting", "succeeded", "failed", "cancelled"]
WaitStatus = Literal["open", "answered", "closed", "expired", "cancelled"]
FINISHED_RUN_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class RunRecord:
    """One run of a graph_fn, graphify graph or state graph: enough to list it and to resume it."""

    run_id: str
    graph: str
    status: RunStatus
    inputs: JSON
    inputs_fingerprint: str
    created_at: float
    updated_at: float
    outputs: JSON = None
    error: str | None = None
    kind: str = "graph_fn"
    meta: JSON = field(default_factory=dict)


@dataclass(frozen=True, init=False)
class JournalEntry:
    """A completed step of a run. Resuming replays it instead of executing it again.

    ``durable`` is False when the step's value could not be encoded: such a step is executed again on resume
    (and the run carries a warning saying so) rather than replayed with a lossy value.
    """

    run_id: str
    key: str
    name: str
    kind: str
    fingerprint: str
    value: JSON
    durable: bool
    created_at: float

    def __init__(
        self, run_id: str, key: str, name: str, kind: str, fingerprint: str, value: JSON, durable: bool,
        created_at: float,
    ) -> None:  # fmt: skip
        # One is made per step: a frozen dataclass's generated __init__ sets each field with object.__setattr__,
        # twice as slow as this single write (the fields stay frozen; tests/store/test_records.py pins the order).
        self.__dict__.update(
            run_id=run_id, key=key, name=name, kind=kind, fingerprint=fingerprint, value=value, durable=durable,
            created_at=created_at,
        )  # fmt: skip


@dataclass(frozen=True)
class WaitRecord:
    """A question a run is waiting on. Persisted before the prompt is shown, so it survives the process."""

    token: str
    run_id: str
    node_id: str
    kind: str
    prompt: str | None
    options: list[str] | None
    schema: JSON
    deadline: float | None
    created_at: float
    status: WaitStatus = "open"
    answer: JSON = None
    meta: JSON = field(default_factory=dict)


@dataclass(frozen=True, init=False)
class NodeRecord:
    """One node of a run's DAG as last seen: status, timings, inputs/outputs previews, error."""

    run_id: str
    node_id: str
    name: str
    kind: str
    status: str
    parent: str | None
    parents: tuple[str, ...]
    inputs: JSON
    outputs: JSON
    error: JSON
    started_at: float | None
    ended_at: float | None
    seq: int = 0

    def __init__(
        self, run_id: str, node_id: str, name: str, kind: str, status: str, parent: str | None,
        parents: tuple[str, ...], inputs: JSON, outputs: JSON, error: JSON, started_at: float | None,
        ended_at: float | None, seq: int = 0,
    ) -> None:  # fmt: skip
        # One per node of every batch: see JournalEntry.__init__.
        self.__dict__.update(
            run_id=run_id, node_id=node_id, name=name, kind=kind, status=status, parent=parent, parents=parents,
            inputs=inputs, outputs=outputs, error=error, started_at=started_at, ended_at=ended_at, seq=seq,
        )  # fmt: skip


class JSONText(str):
    """JSON text its writer serialised already (not redacted yet), given where a store expects a JSON value.

    Why: a state graph writes a checkpoint to the KV store every superstep; the runtime serialises it when it is
    written (to fail early and keep a copy the caller cannot change), and without this mark the batch would parse
    it back and the store serialise it again. A store still checks and redacts the text as it would its own.
    """

    __slots__ = ()


@dataclass
class HistoryBatch:
    """Run history written in one transaction by :meth:`~aether_nb.store.protocol.Store.write_history`.

    The runtime records history as it happens and writes it in batches (see :mod:`aether_nb.runtime.history`):
    one transaction per batch instead of one per step is what makes a durable step cost microseconds.
    ``events`` are ``(run_id, event JSON)`` pairs in emission order; ``nodes`` and ``runs`` hold the latest
    record of each key.
    """

    runs: list[RunRecord] = field(default_factory=list)
    waits: list[WaitRecord] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)
    events: list[tuple[str, JSON]] = field(default_factory=list)
    memory: list[MemoryRecord] = field(default_factory=list)
    """Memory events (chat turns, notes) recorded with the history, so a chat turn is not a commit of its own."""
    kv: list[tuple[str, str, JSON, float | None, bool]] = field(default_factory=list)
    """KV writes in order: ``(scope, key, value, expires_at, deleted)``; a deletion has ``deleted=True``. A value
    may be given as its JSON text already, marked :class:`JSONText` (the store then does not serialise it again)."""

    def __len__(self) -> int:
        return (
            len(self.runs)
            + len(self.waits)
            + len(self.journal)
            + len(self.nodes)
            + len(self.events)
            + len(self.memory)
            + len(self.kv)
        )


@dataclass(frozen=True)
class RejectedRecord:
    """A record of a :class:`HistoryBatch` the store could not hold, and why. The rest of its batch was written.

    ``kind`` is ``"run"``, ``"wait"``, ``"journal"``, ``"node"``, ``"event"``, ``"memory"`` or ``"kv"``; ``key``
    names the record within its run (node id, journal key, KV key, memory id, event kind) when it has one;
    ``node_id`` is the DAG node the record belongs to, when there is one.
    """

    kind: str
    run_id: str | None
    key: str | None
    error: str
    node_id: str | None = None


@dataclass(frozen=True)
class MemoryRecord:
    """An event in a notebook's (or a run's) memory: a note, a chat turn, anything with a kind."""

    id: str
    scope: str
    kind: str
    data: JSON
    text: str
    tags: tuple[str, ...]
    created_at: float
    run_id: str | None = None
    node_id: str | None = None
    role: str | None = None
    embedding: tuple[float, ...] | None = field(default=None, repr=False)
    """A vector for semantic search (any dimension; compared by cosine). Not returned by queries."""


@dataclass(frozen=True)
class ArtifactRecord:
    """Metadata of a stored blob; the bytes are content-addressed by ``sha256``."""

    id: str
    name: str
    kind: str
    mime: str
    size: int
    sha256: str
    labels: JSON
    created_at: float
    run_id: str | None = None
    node_id: str | None = None
    pinned: bool = False

    @property
    def uri(self) -> str:
        return f"artifact://{self.id}"
