"""Checkpointers: where a state graph keeps every checkpoint of every thread.

One protocol, two implementations that pass the same tests (``tests/flow/test_checkpoint.py``):

* :class:`StoreCheckpointer` keeps checkpoints in an aether_nb store's KV table (``flow:<graph>`` scope), so in a
  notebook they live in its DuckDB file beside the runs and survive the kernel; the default.
* :class:`InMemoryCheckpointer` keeps them in this process (scripts, tests).

Every checkpoint is kept (``history``), numbered 1, 2, ... per thread; nothing is overwritten. A thread also has a
small record (``get_thread``/``put_thread``) holding its turn counter and the id of its latest run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from aether_nb.runtime.codec import decode, encode
from aether_nb.store.protocol import Store


@dataclass(frozen=True)
class Checkpoint:
    """The state of a thread after a superstep (or a turn's input, or an ``aupdate_state``).

    Attributes:
        id: sequence number within the thread, assigned by :meth:`Checkpointer.put` (0 until then).
        values: the state's values.
        next: nodes to run next (empty: the thread is complete).
        step: the superstep it follows (-1 for a turn's input).
        source: ``input``, ``loop``, ``update`` or ``error``.
        run_id: the run that wrote it (None for ``aupdate_state`` outside a run).
        pending: for ``error``: the results of nodes of the failed superstep that did succeed, reused on retry.
        turn_start: how many messages the state held before this turn's input (for ``InvokeResult.messages``).
    """

    values: dict[str, Any]
    next: tuple[str, ...]
    step: int
    source: str
    run_id: str | None
    created_at: float
    id: int = 0
    pending: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    turn_start: int = 0

    def to_json(self) -> dict[str, Any]:
        # Field by field: asdict() would deep-copy the state only for encode() to copy it again.
        return {
            "values": encode(self.values),
            "next": list(self.next),
            "step": self.step,
            "source": self.source,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "id": self.id,
            "pending": encode(self.pending),
            "error": self.error,
            "turn_start": self.turn_start,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            **{
                **data,
                "values": decode(data["values"]),
                "pending": decode(data.get("pending") or {}),
                "next": tuple(data["next"]),
            }
        )


@runtime_checkable
class Checkpointer(Protocol):
    """Where checkpoints go. ``key`` identifies the checkpointer's namespace in run ids."""

    key: str

    def put(self, thread_id: str, checkpoint: Checkpoint) -> Checkpoint:
        """Append a checkpoint to the thread; returns it with its ``id``. Durable."""
        ...

    def latest(self, thread_id: str) -> Checkpoint | None: ...

    def history(self, thread_id: str) -> list[Checkpoint]:
        """Every checkpoint of the thread, newest first."""
        ...

    def get_thread(self, thread_id: str) -> dict[str, Any] | None: ...

    def put_thread(self, thread_id: str, record: dict[str, Any]) -> None: ...

    def threads(self) -> list[str]: ...


class InMemoryCheckpointer:
    """Checkpoints in this process only; each instance is its own namespace."""

    def __init__(self) -> None:
        self.key = f"mem{secrets.token_hex(3)}"
        self._checkpoints: dict[str, list[dict[str, Any]]] = {}
        self._threads: dict[str, dict[str, Any]] = {}

    def put(self, thread_id: str, checkpoint: Checkpoint) -> Checkpoint:
        items = self._checkpoints.setdefault(thread_id, [])
        stored = _with_id(checkpoint, len(items) + 1)
        items.append(stored.to_json())  # stored encoded: later mutations of the state cannot leak in
        return stored

    def latest(self, thread_id: str) -> Checkpoint | None:
        items = self._checkpoints.get(thread_id)
        return Checkpoint.from_json(items[-1]) if items else None

    def history(self, thread_id: str) -> list[Checkpoint]:
        return [Checkpoint.from_json(c) for c in reversed(self._checkpoints.get(thread_id, []))]

    def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        rec = self._threads.get(thread_id)
        return None if rec is None else dict(rec)

    def put_thread(self, thread_id: str, record: dict[str, Any]) -> None:
        self._threads[thread_id] = {**self._threads.get(thread_id, {}), **record}

    def threads(self) -> list[str]:
        return sorted(set(self._threads) | set(self._checkpoints))


class StoreCheckpointer:
    """Checkpoints in a store's KV table under the scope ``flow:<namespace>`` (durable with a DuckDB store).

    Keys: ``<thread>/cp/<0000000001>`` per checkpoint and ``<thread>/thread`` for the thread record.
    """

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self.key = ""  # run ids need no extra discriminator: the namespace is the graph's name
        self._scope = f"flow:{namespace}"

    def put(self, thread_id: str, checkpoint: Checkpoint) -> Checkpoint:
        rec = self.get_thread(thread_id) or {}
        seq = int(rec.get("seq", 0)) + 1
        stored = _with_id(checkpoint, seq)
        self.store.kv_set(self._scope, f"{thread_id}/cp/{seq:010d}", stored.to_json(), None)
        self.put_thread(thread_id, {**rec, "seq": seq})
        return stored

    def latest(self, thread_id: str) -> Checkpoint | None:
        rec = self.get_thread(thread_id) or {}
        seq = rec.get("seq")
        if not seq:
            return None
        found = self.store.kv_get(self._scope, f"{thread_id}/cp/{int(seq):010d}")
        return None if found is None else Checkpoint.from_json(found[0])

    def history(self, thread_id: str) -> list[Checkpoint]:
        out = []
        for key, _ in reversed(self.store.kv_keys(self._scope, f"{thread_id}/cp/")):
            found = self.store.kv_get(self._scope, key)
            if found is not None:
                out.append(Checkpoint.from_json(found[0]))
        return out

    def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        found = self.store.kv_get(self._scope, f"{thread_id}/thread")
        return None if found is None else dict(found[0])

    def put_thread(self, thread_id: str, record: dict[str, Any]) -> None:
        # merged with what is there, so the sequence counter and the run bookkeeping never overwrite each other
        current = self.get_thread(thread_id) or {}
        self.store.kv_set(self._scope, f"{thread_id}/thread", {**current, **record}, None)

    def threads(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k, _ in self.store.kv_keys(self._scope, "")})


def _with_id(checkpoint: Checkpoint, seq: int) -> Checkpoint:
    from dataclasses import replace

    return replace(checkpoint, id=seq)
