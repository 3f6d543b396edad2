"""Checkpointers: where a state graph keeps every checkpoint of every thread.

One protocol, two implementations that pass the same tests (``tests/flow/test_checkpointers.py``):

* :class:`StoreCheckpointer` keeps checkpoints in an aether_nb store's KV table (``flow:<graph>`` scope), so in a
  notebook they live in its DuckDB file beside the runs and survive the kernel; the default. Its writes travel in
  the run history's batch (one transaction with the journal entries of the same superstep).
* :class:`InMemoryCheckpointer` keeps them in this process (scripts, tests).

A thread's record also names the run and superstep of its last ``loop`` checkpoint (``last_loop``), so a run
resumed from its journal knows which checkpoints it already wrote without reading the thread's history. (In the
store, a checkpoint is one KV row: the stored record is not rewritten at every superstep; a process reading it
catches up with the checkpoints numbered after it.)

Checkpoints form a tree per thread: each has a ``parent`` (the checkpoint it continues from), so running again
from an old checkpoint (time travel) or editing one (``aupdate_state`` on a past config) starts a branch, and
the old checkpoints stay. Ids are ``1, 2, ...`` in creation order within a thread; the thread's head (what a
config without ``checkpoint_id`` means) is the newest one. A subgraph's checkpoints live in the same thread under
its namespace (``thread_key(thread, "inner")``).
"""

from __future__ import annotations

import copy
import os
import secrets
import warnings
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.codec import NotEncodable, decode, encode
from aether_nb.store.protocol import Store
from aether_nb.store.values import PlainJSON, is_plain


def thread_key(thread_id: str, ns: str = "") -> str:
    """The key of a thread's checkpoints in one namespace ("" for the graph itself)."""
    return thread_id if not ns else f"{thread_id}|{ns}"


def checkpoint_id_str(seq: int) -> str:
    """How a checkpoint id appears in configs: zero-padded, so ids sort like their creation order."""
    return f"{seq:08d}"


def parse_checkpoint_id(value: Any) -> int:
    """A config's ``checkpoint_id`` (``"00000003"`` or ``3``) as the checkpoint's sequence number."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    raise UsageError(
        f"checkpoint_id {shown(value)} is not a checkpoint of this graph: take it from a StateSnapshot's config "
        "(aget_state / aget_state_history)",
        code="bad_checkpoint_id",
    )


_SCALARS = (str, int, float, bool, type(None))
"""Metadata values a decoded checkpoint shares with its stored form, which may be a head kept for every read."""

GOTO_KEY = "__goto__"
"""``Checkpoint.pending`` key of the tasks a ``Command(goto=...)`` added at an ``interrupt()`` pause: the paused
superstep runs them beside the resumed node when it goes on (as LangGraph does)."""


@dataclass(slots=True)
class Checkpoint:
    """The state of a thread between supersteps.

    Attributes:
        values: the state's values.
        tasks: the tasks that run next: ``{"node": name}`` (triggered by edges) or ``{"node": name, "send": arg}``.
        step: the superstep it follows (-1 for the one written before a turn's input).
        source: ``input``, ``loop``, ``update`` or ``fork``.
        run_id: the run that wrote it (None for ``aupdate_state`` outside a run).
        id: sequence number within the thread, assigned by :meth:`Checkpointer.put` (0 until then).
        parent: the id of the checkpoint this one continues from (None for a thread's first).
        barriers: for each waiting edge (``"a+b>join"``), the sources that finished since the join last ran.
        deferred: nodes added with ``defer=True`` that were triggered and wait for everything else to finish.
        writers: the nodes whose writes made it (how ``aupdate_state`` picks ``as_node``).
        pending: results of tasks that completed while a sibling failed or paused (``{task id: result}``, reused
            when the thread continues), on an ``input`` checkpoint the input itself (``"__input__"``), and the tasks
            a ``Command(goto=...)`` added while the turn paused at an ``interrupt()`` (:data:`GOTO_KEY`).
        errors: ``{task id: repr(exception)}`` of tasks that failed from here.
        interrupts: ``{task id: [[interrupt id, value], ...]}``: the ``interrupt()`` calls its tasks made from here.
        turn_start: how many messages the state held before this turn's input (for ``InvokeResult.messages``).
        ran: ``{task id: [[run id, step key], ...]}``: where tasks of the superstep from here ran in turns that
            failed or were stopped before they finished (newest first). When the thread goes on with them, the
            calls they completed there replay instead of running twice (:mod:`aether_nb.flow.ledger`). Kept by a
            turn going on from the head (new input merged, ``ainvoke(None)``, a ``Command``); a fork, an
            ``update_state`` that routes again and a task that finishes drop it.
        metadata: what the caller's config adds to the snapshot's metadata, as LangGraph does: the entries of
            ``config["metadata"]`` and the configurable keys with a str, number or bool value (what
            ``get_state_history(config, filter={...})`` matches besides ``source`` and ``step``).
    """

    values: dict[str, Any]
    tasks: tuple[dict[str, Any], ...]
    step: int
    source: str
    run_id: str | None
    created_at: float
    id: int = 0
    parent: int | None = None
    barriers: dict[str, list[str]] = field(default_factory=dict)
    deferred: tuple[str, ...] = ()
    writers: tuple[str, ...] = ()
    pending: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    interrupts: dict[str, list[list[Any]]] = field(default_factory=dict)
    turn_start: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    ran: dict[str, list[list[str]]] = field(default_factory=dict)

    @property
    def next(self) -> tuple[str, ...]:
        """The names of the nodes that run next."""
        return tuple(t["node"] for t in self.tasks)

    def to_json(self) -> dict[str, Any]:
        """The stored form. Field by field (asdict() would deep-copy the state only for encode() to copy it again);
        fields at their default are left out (a superstep's checkpoint is written every step: every key costs at
        each serialisation), and :meth:`from_json` reads them back as the defaults.

        A :class:`~aether_nb.store.values.PlainJSON` when every field is known to be plain JSON, so the store does
        not walk it again (that walk was ~14 k instructions of every superstep's KV write in memory): the values
        and the other containers are checked here with the store's own check, the tasks of the usual form
        (``{"node": name}``, a ``str``) are plain as made, and the scalars the runtime sets are checked by their
        exact type. Anything unusual (a bool step, a str subclass) leaves a plain dict for the store to check as
        before: what is stored is the same either way."""
        values = encode(self.values)
        tasks = self.tasks
        # (one task triggered by an edge: most supersteps; a loop, not all() over a generator, for the others)
        simple = len(tasks) == 1 and len(tasks[0]) == 1 and type(tasks[0].get("node")) is str
        if not simple:
            simple = _simple_tasks(tasks)
        tasks_json = [dict(t) for t in tasks] if simple else list(encode(list(tasks)))
        step, source, run_id, created_at, id_, parent = (
            self.step, self.source, self.run_id, self.created_at, self.id, self.parent
        )  # fmt: skip
        clock = type(created_at)
        plain = (
            type(step) is int
            and type(id_) is int
            and type(source) is str
            and (run_id is None or type(run_id) is str)
            and (parent is None or type(parent) is int)
            and ((clock is float and created_at - created_at == 0.0) or clock is int)
            and (simple or is_plain(tasks_json))
            and is_plain(values)
        )
        data: dict[str, Any] = {
            "values": values,
            "tasks": tasks_json,
            "step": step,
            "source": source,
            "run_id": run_id,
            "created_at": created_at,
            "id": id_,
            "parent": parent,
        }
        if self.barriers:
            data["barriers"] = self.barriers
            plain = plain and is_plain(self.barriers)
        if self.deferred:
            data["deferred"] = deferred = list(self.deferred)
            plain = plain and is_plain(deferred)
        writers = self.writers
        if writers:
            data["writers"] = list(writers)
            plain = plain and ((len(writers) == 1 and type(writers[0]) is str) or is_plain(data["writers"]))
        if self.pending:
            data["pending"] = pending = encode(self.pending)
            plain = plain and is_plain(pending)
        if self.errors:
            data["errors"] = self.errors
            plain = plain and is_plain(self.errors)
        if self.interrupts:
            data["interrupts"] = interrupts = encode(self.interrupts)
            plain = plain and is_plain(interrupts)
        if self.turn_start:
            data["turn_start"] = self.turn_start
            plain = plain and type(self.turn_start) is int
        if self.metadata:
            data["metadata"] = self.metadata
            plain = plain and is_plain(self.metadata)
        if self.ran:
            data["ran"] = self.ran
            plain = plain and is_plain(self.ran)
        return PlainJSON(data) if plain else data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        metadata = data.get("metadata") or {}
        return cls(
            values=decode(data["values"]),
            tasks=tuple(decode(data.get("tasks") or [])),
            step=data["step"],
            source=data["source"],
            run_id=data.get("run_id"),
            created_at=data["created_at"],
            id=data["id"],
            parent=data.get("parent"),
            barriers={k: list(v) for k, v in (data.get("barriers") or {}).items()},
            deferred=tuple(data.get("deferred") or ()),
            writers=tuple(data.get("writers") or ()),
            pending=decode(data.get("pending") or {}),
            errors=dict(data.get("errors") or {}),
            interrupts=decode(data.get("interrupts") or {}),
            turn_start=data.get("turn_start", 0),
            metadata={k: v if type(v) in _SCALARS else copy.deepcopy(v) for k, v in metadata.items()},
            ran={k: [list(s) for s in v] for k, v in (data.get("ran") or {}).items()},
        )


def loop_checkpoint(
    values: dict[str, Any],
    tasks: tuple[dict[str, Any], ...],
    step: int,
    run_id: str,
    created_at: float,
    parent: int | None,
    barriers: dict[str, list[str]],
    deferred: tuple[str, ...],
    writers: tuple[str, ...],
    turn_start: int,
    metadata: dict[str, Any],
) -> Checkpoint:
    """A superstep's ``loop`` checkpoint (not stored yet: ``id`` 0). Every field given by position, in the
    dataclass's order: a call with keywords cost each superstep ~6 k instructions more (matching 12 of them)."""
    return Checkpoint(
        values, tasks, step, "loop", run_id, created_at, 0, parent, barriers, deferred, writers, {}, {}, {},
        turn_start, metadata, {},
    )  # fmt: skip


def _simple_tasks(tasks: tuple[dict[str, Any], ...]) -> bool:
    """Whether every task is ``{"node": name}`` with a ``str`` name: its JSON is itself (only a Send's argument
    needs encoding)."""
    for t in tasks:  # (a loop, not all() over a generator: every superstep's checkpoint comes here)
        if len(t) != 1 or type(t.get("node")) is not str:
            break
    else:
        return True
    return False


def _freeze(cp: Checkpoint) -> Any:
    """A checkpoint as stored in memory: its JSON form, or a copy when its values are not storable."""
    try:
        return cp.to_json()
    except NotEncodable:
        return _copy(cp)


def _thaw(item: Any) -> Checkpoint:
    return _copy(item) if isinstance(item, Checkpoint) else Checkpoint.from_json(item)


def _copy(cp: Checkpoint) -> Checkpoint:
    """A deep copy, or, for values that cannot even be copied (a lock, a socket), a copy of the values dict
    holding the same objects: such a thread only lives in this process anyway."""
    try:
        return copy.deepcopy(cp)
    except TypeError:
        return replace(cp, values=dict(cp.values), pending=dict(cp.pending))


def settle_record(checkpointer: Checkpointer, thread: str) -> None:
    """Write the thread's record as this process knows it (its checkpoint count, its last loop checkpoint), at a
    pause and when a graph's run returns: the supersteps between do not rewrite it (see
    :meth:`StoreCheckpointer.put`), and a process reading it later then finds it current instead of counting on
    through the checkpoints written after it."""
    if checkpointer.get_thread(thread) is not None:
        checkpointer.put_thread(thread, {})


def latest_id(checkpointer: Checkpointer, thread: str) -> int | None:
    """The id of the thread's newest checkpoint. A superstep's checkpoint names its parent by id, and decoding
    the whole head for it cost ~10 % of resuming a paused thread; a checkpointer that can tell the id without
    decoding has ``latest_id`` (both of aether_nb's do; one written to the protocol alone is asked ``latest``)."""
    fn = getattr(checkpointer, "latest_id", None)
    if callable(fn):
        found = fn(thread)
        return None if found is None else int(found)
    head = checkpointer.latest(thread)
    return None if head is None else head.id


def goto_at_head(checkpointer: Checkpointer, thread: str) -> bool:
    """Whether the thread's head holds tasks a ``Command(goto=...)`` added at a pause (:data:`GOTO_KEY` in its
    ``pending``). Every answered ``interrupt()`` asks, and decoding the whole head for one key cost a resume as
    much as a superstep's checkpoint write: a checkpointer that keeps the head's stored form has ``head_json``
    (both of aether_nb's do), whose ``pending`` has the same keys (task ids and :data:`GOTO_KEY` are strings)."""
    fn = getattr(checkpointer, "head_json", None)
    data = fn(thread) if callable(fn) else None
    if data is not None:
        pending = data.get("pending")
        return isinstance(pending, dict) and GOTO_KEY in pending
    head = checkpointer.latest(thread)
    return head is not None and GOTO_KEY in head.pending


def task_id(task: dict[str, Any], index: int) -> str:
    """A task's id within its checkpoint: the node for a node triggered by edges, ``node#i`` for a Send."""
    return f"{task['node']}#{index}" if "send" in task else str(task["node"])


@runtime_checkable
class Checkpointer(Protocol):
    """Where checkpoints go. ``key`` identifies the checkpointer's namespace in run ids."""

    key: str

    def put(self, thread: str, checkpoint: Checkpoint) -> Checkpoint:
        """Append a checkpoint to the thread; returns it with its ``id``."""
        ...

    def replace(self, thread: str, checkpoint: Checkpoint) -> None:
        """Rewrite a stored checkpoint (same id): the errors and pending results of its superstep."""
        ...

    def get(self, thread: str, checkpoint_id: int) -> Checkpoint | None: ...

    def latest(self, thread: str) -> Checkpoint | None: ...

    def history(self, thread: str) -> list[Checkpoint]:
        """Every checkpoint of the thread, newest first."""
        ...

    def get_thread(self, thread: str) -> dict[str, Any] | None: ...

    def put_thread(self, thread: str, record: dict[str, Any]) -> None: ...

    def threads(self) -> list[str]: ...


class InMemoryCheckpointer:
    """Checkpoints in this process only; each instance is its own namespace."""

    def __init__(self) -> None:
        self.key = f"mem{secrets.token_hex(3)}"
        self._checkpoints: dict[str, list[Any]] = {}
        self._threads: dict[str, dict[str, Any]] = {}

    def put(self, thread: str, checkpoint: Checkpoint) -> Checkpoint:
        items = self._checkpoints.setdefault(thread, [])
        checkpoint.id = len(items) + 1  # a checkpoint is made for one put; the caller keeps it as the stored one
        items.append(_freeze(checkpoint))  # a copy: later mutations of the state cannot leak in
        if checkpoint.source == "loop":
            self.put_thread(thread, {"last_loop": [checkpoint.run_id, checkpoint.step]})
        return checkpoint

    def replace(self, thread: str, checkpoint: Checkpoint) -> None:
        items = self._checkpoints.get(thread, [])
        if not 0 < checkpoint.id <= len(items):
            raise UsageError(f"thread {shown(thread)} has no checkpoint {checkpoint.id}")
        items[checkpoint.id - 1] = _freeze(checkpoint)

    def get(self, thread: str, checkpoint_id: int) -> Checkpoint | None:
        items = self._checkpoints.get(thread, [])
        return _thaw(items[checkpoint_id - 1]) if 0 < checkpoint_id <= len(items) else None

    def latest(self, thread: str) -> Checkpoint | None:
        items = self._checkpoints.get(thread)
        return _thaw(items[-1]) if items else None

    def latest_id(self, thread: str) -> int | None:
        """The id of the thread's newest checkpoint (see :func:`latest_id`)."""
        return len(self._checkpoints.get(thread, ())) or None

    def head_json(self, thread: str) -> dict[str, Any] | None:
        """The newest checkpoint's stored JSON form, not to be changed (None: none, or kept as a copy; see
        :func:`goto_at_head`)."""
        items = self._checkpoints.get(thread)
        return items[-1] if items and isinstance(items[-1], dict) else None

    def history(self, thread: str) -> list[Checkpoint]:
        return [_thaw(c) for c in reversed(self._checkpoints.get(thread, []))]

    def get_thread(self, thread: str) -> dict[str, Any] | None:
        rec = self._threads.get(thread)
        return None if rec is None else dict(rec)

    def put_thread(self, thread: str, record: dict[str, Any]) -> None:
        self._threads[thread] = {**self._threads.get(thread, {}), **record}

    def threads(self) -> list[str]:
        return sorted(set(self._threads) | set(self._checkpoints))


InMemorySaver = InMemoryCheckpointer
"""LangGraph's name for an in-process checkpointer."""
MemorySaver = InMemoryCheckpointer
"""LangGraph's older name for an in-process checkpointer."""

# Thread records by store and namespace, shared by every StoreCheckpointer over that store: a graph compiled again
# (a re-run cell) must continue the same sequence, and reading the record back from DuckDB costs a query per
# superstep. One kernel holds a notebook's store, so this process's copy is the truth.
_RECORDS: weakref.WeakKeyDictionary[Any, dict[str, dict[str, dict[str, Any]]]] = weakref.WeakKeyDictionary()
_LOCAL: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Checkpoint]]] = weakref.WeakKeyDictionary()
_HEADS: weakref.WeakKeyDictionary[Any, dict[str, dict[str, tuple[int, dict[str, Any]]]]] = weakref.WeakKeyDictionary()


class StoreCheckpointer:
    """Checkpoints in a store's KV table under the scope ``flow:<namespace>`` (durable with a DuckDB store).

    Keys: ``<thread>/cp/<0000000001>`` per checkpoint and ``<thread>/thread`` for the thread record (its sequence
    counter, turn counter and latest run).
    """

    def __init__(self, store: Store, namespace: str) -> None:
        if not all(callable(getattr(store, m, None)) for m in ("kv_get", "kv_set", "kv_keys")):
            hint = (
                " (a path: open it with aether_nb.store.duckdb.DuckDBStore(path))"
                if isinstance(store, (str, bytes, os.PathLike))
                else ""
            )
            raise UsageError(
                f"StoreCheckpointer takes a store, e.g. StoreCheckpointer(ag.store(), {shown(namespace)}) for the "
                f"notebook's or a DuckDBStore, got {shown(store)}{hint}",
                code="bad_arguments",
            )
        if not isinstance(namespace, str) or not namespace:
            raise UsageError(f"StoreCheckpointer namespace takes a non-empty string, got {shown(namespace)}")
        self.store = store
        self.namespace = namespace
        self.key = ""  # run ids need no extra discriminator: the namespace is the graph's name
        self._scope = f"flow:{namespace}"
        self._records = _RECORDS.setdefault(store, {}).setdefault(namespace, {})
        # each thread's newest checkpoint as written or read (JSON): reading the head again costs no query
        self._heads = _HEADS.setdefault(store, {}).setdefault(namespace, {})
        # checkpoints whose values cannot be stored (not JSON, not picklable): kept in this process only
        self._local = _LOCAL.setdefault(store, {}).setdefault(namespace, {})

    def _cp_key(self, thread: str, seq: int) -> str:
        return f"{thread}/cp/{seq:010d}"

    def put(self, thread: str, checkpoint: Checkpoint) -> Checkpoint:
        """Append a checkpoint: one KV row. The thread record's ``seq`` and ``last_loop`` follow it in this
        process only (a superstep writes one row, not two); the stored record is written with a thread's first
        checkpoint, by every :meth:`put_thread` (each turn, and :func:`settle_record` at pauses and when a graph's
        run ends), and a process reading it catches up with the checkpoints written after it (see
        :meth:`get_thread`: after a crash mid-turn)."""
        rec = self._records.get(thread)
        if rec is None:
            found = self.get_thread(thread)
            rec = self._records.get(thread) if found is not None else None
        seq = int((rec or {}).get("seq", 0)) + 1
        checkpoint.id = seq  # a checkpoint is made for one put; the caller keeps it as the stored one
        self._write(thread, checkpoint)
        if rec is None:  # the thread's first checkpoint: its record exists in the store from now on
            record: dict[str, Any] = {"seq": seq}
            if checkpoint.source == "loop":
                record["last_loop"] = [checkpoint.run_id, checkpoint.step]
            self.put_thread(thread, record)
        else:  # (this process's copy, never handed out: get_thread returns copies)
            rec["seq"] = seq
            if checkpoint.source == "loop":
                rec["last_loop"] = [checkpoint.run_id, checkpoint.step]
        return checkpoint

    def _write(self, thread: str, cp: Checkpoint) -> None:
        key = self._cp_key(thread, cp.id)
        try:
            data = cp.to_json()
        except NotEncodable as exc:
            if key not in self._local:
                warnings.warn(
                    f"checkpoint {cp.id} of thread {thread!r} ({self.namespace}) holds a value that cannot be stored "
                    f"({exc}); it is kept in this process only, so this thread does not survive a restart. Keep "
                    "state values JSON-friendly or picklable (classes defined at module level or in a cell).",
                    stacklevel=3,
                )
            self._local[key] = _copy(cp)
            data = {"not_durable": True, "id": cp.id, "step": cp.step, "source": cp.source, "run_id": cp.run_id}
        self.store.kv_set(self._scope, key, data, None)
        head = self._heads.get(thread)
        if head is None or head[0] <= cp.id:
            self._heads[thread] = (cp.id, data)

    def replace(self, thread: str, checkpoint: Checkpoint) -> None:
        """Rewrite a stored checkpoint. Its existence is checked without decoding it (a pause rewrites the head
        its superstep started from, which this process just wrote: known from the head cache)."""
        head = self._heads.get(thread)
        key = self._cp_key(thread, checkpoint.id)
        if head is not None and head[0] == checkpoint.id:
            data = head[1]
        else:
            found = self.store.kv_get(self._scope, key)
            if found is None:
                raise UsageError(f"thread {shown(thread)} has no checkpoint {checkpoint.id}")
            data = found[0]
        if data.get("not_durable") and key not in self._local:
            self._load(key, data)  # (raises: its values are gone with the process that made it)
        self._write(thread, checkpoint)

    def get(self, thread: str, checkpoint_id: int) -> Checkpoint | None:
        key = self._cp_key(thread, checkpoint_id)
        found = self.store.kv_get(self._scope, key)
        return None if found is None else self._load(key, found[0])

    def _load(self, key: str, data: dict[str, Any]) -> Checkpoint:
        if data.get("not_durable"):
            local = self._local.get(key)
            if local is None:
                raise UsageError(
                    f"checkpoint {key} held values that could not be stored, and the process that made it is gone; "
                    "start the thread again",
                    code="checkpoint_not_durable",
                )
            return _copy(local)
        return Checkpoint.from_json(data)

    def _head(self, thread: str) -> tuple[int, dict[str, Any]] | None:
        """The thread's newest checkpoint as ``(id, stored JSON)``, kept in ``_heads`` once this process wrote or
        read it: resuming a paused thread asks for its head four times (a ``goto`` there? the state a restarted task
        runs on, the state an answered node reads again, the next checkpoint's parent), each a query and a decode.
        Kept as a written one is: it serves while the thread record's ``seq`` names it, and :meth:`_write` replaces
        it with every newer or rewritten head (a read after a write sees the write)."""
        seq = (self.get_thread(thread) or {}).get("seq")
        if not seq:
            return None
        seq = int(seq)
        head = self._heads.get(thread)
        if head is not None and head[0] == seq:
            return head
        found = self.store.kv_get(self._scope, self._cp_key(thread, seq))
        if found is None:
            return None
        read = (seq, found[0])  # (a fresh object from the store: never handed out, decoded for every caller)
        if head is None or head[0] <= seq:
            self._heads[thread] = read
        return read

    def latest(self, thread: str) -> Checkpoint | None:
        head = self._head(thread)
        return None if head is None else self._load(self._cp_key(thread, head[0]), head[1])

    def latest_id(self, thread: str) -> int | None:
        """The id of :meth:`latest`, without decoding it (see :func:`latest_id`)."""
        head = self._head(thread)
        if head is None:
            return None
        key = self._cp_key(thread, head[0])
        if head[1].get("not_durable") and key not in self._local:
            self._load(key, head[1])  # (raises, as latest() does: its values are gone with the process that made it)
        return head[0]

    def head_json(self, thread: str) -> dict[str, Any] | None:
        """The newest checkpoint's stored JSON form, not to be changed (None: none, or its values are kept in a
        process only; see :func:`goto_at_head`)."""
        head = self._head(thread)
        return None if head is None or head[1].get("not_durable") else head[1]

    def history(self, thread: str) -> list[Checkpoint]:
        out = []
        for key, _ in reversed(self.store.kv_keys(self._scope, f"{thread}/cp/")):
            found = self.store.kv_get(self._scope, key)
            if found is not None:
                out.append(self._load(key, found[0]))
        return out

    def get_thread(self, thread: str) -> dict[str, Any] | None:
        rec = self._records.get(thread)
        if rec is None:
            found = self.store.kv_get(self._scope, f"{thread}/thread")
            if found is None:
                return None
            rec = self._records[thread] = self._catch_up(thread, dict(found[0]))
        return dict(rec)

    def _catch_up(self, thread: str, rec: dict[str, Any]) -> dict[str, Any]:
        """The stored record with the checkpoints written after it (its ``seq`` and ``last_loop`` are updated in
        the process that writes them, not in the store: see :meth:`put`). Checkpoints are written in order, so
        the ones after ``seq`` are found by asking for ``seq + 1``, ``seq + 2``, ... (a cached lookup each)."""
        seq = int(rec.get("seq", 0))
        while True:
            found = self.store.kv_get(self._scope, self._cp_key(thread, seq + 1))
            if found is None:
                break
            seq += 1
            data = found[0]
            if data.get("source") == "loop":
                rec["last_loop"] = [data.get("run_id"), data.get("step")]
        rec["seq"] = seq
        return rec

    def put_thread(self, thread: str, record: dict[str, Any]) -> None:
        # merged with what is there, so the sequence counter and the run bookkeeping never overwrite each other
        merged = {**(self._records.get(thread) or self.get_thread(thread) or {}), **record}
        self._records[thread] = merged
        self.store.kv_set(self._scope, f"{thread}/thread", merged, None)

    def threads(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k, _ in self.store.kv_keys(self._scope, "")})
