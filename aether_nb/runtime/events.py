"""A run is a stream of typed, immutable events.

The run's DAG (:class:`~aether_nb.runtime.graph.RunGraph`), the store, the notebook widget and tests are all
subscribers of the same stream, so what the widget shows is exactly what was stored. Each event carries the run
id, a per-run sequence number (strictly increasing) and a wall-clock timestamp; ``kind`` discriminates the type
(``match event.kind: case "node_started": ...``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Literal

from aether_nb.store.records import JSON
from aether_nb.store.values import PlainJSON, is_plain


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Common fields of every event."""

    run_id: str
    seq: int
    ts: float
    kind: str = field(init=False, default="event")

    registry: ClassVar[dict[str, type[Event]]] = {}

    def to_json(self) -> dict[str, JSON]:
        """A JSON-ready dict (every field value is already a JSON value)."""
        # Field values are JSON already (previews), so a shallow read is enough: no deep copy as with asdict().
        hit = _READERS.get(type(self))
        names, read, tuples = hit if hit is not None else _readers(type(self))
        data = dict(zip(names, read(self), strict=True))
        if tuples:
            data["parents"] = list(data["parents"])
        return data

    def stored_json(self) -> dict[str, JSON]:
        """:meth:`to_json` for the store: a :class:`~aether_nb.store.values.PlainJSON` when its JSON payloads
        (inputs, outputs, errors, details) are plain, so the store's check does not walk the event again.

        Why only the payloads are checked: the other fields are typed scalars (ids, names, kinds, statuses,
        flags, counts: mypy-checked where the runtime sets them), written alike by every encoder; a float field
        (a time) is checked to be finite, since an encoder writes NaN as ``null`` where ``json.dumps`` writes
        ``NaN``. An event whose payload is not plain is the plain dict of :meth:`to_json`, checked by the store
        as before."""
        hit = _STORED.get(type(self))
        names, read, payloads, floats, tuples = hit if hit is not None else _stored(type(self))
        values = read(self)
        for i in payloads:
            v = values[i]
            if v is not None and not is_plain(v):
                return self.to_json()
        for i in floats:
            v = values[i]
            if type(v) is float and v - v != 0.0:
                return self.to_json()
        data = PlainJSON(zip(names, values, strict=True))
        if tuples:
            data["parents"] = list(data["parents"])
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Event:
        """Rebuild an event stored with :meth:`to_json`."""
        cls = Event.registry[data["kind"]]
        names = {f.name for f in fields(cls) if f.init}
        kwargs: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) and k == "parents" else v) for k, v in data.items()
        }
        return cls(**{k: v for k, v in kwargs.items() if k in names})


_READERS: dict[type[Event], tuple[tuple[str, ...], Any, bool]] = {}


def _readers(cls: type[Event]) -> tuple[tuple[str, ...], Any, bool]:
    """An event class's field names, one C-level getter of all of them (``to_json`` runs once per event), and
    whether it has ``parents`` (a tuple, stored as a list)."""
    hit = _READERS.get(cls)
    if hit is None:
        names = tuple(f.name for f in fields(cls))
        hit = _READERS[cls] = (names, operator.attrgetter(*names), "parents" in names)
    return hit


_STORED: dict[type[Event], tuple[tuple[str, ...], Any, tuple[int, ...], tuple[int, ...], bool]] = {}
_SCALAR_FIELDS = frozenset(("str", "int", "bool", "str | None"))
"""Field annotations of values written alike by every JSON encoder (``Literal[...]`` kinds too)."""


def _stored(cls: type[Event]) -> tuple[tuple[str, ...], Any, tuple[int, ...], tuple[int, ...], bool]:
    """:func:`_readers` of ``cls``, with the positions of its fields :meth:`Event.stored_json` checks: JSON
    payloads (any annotation other than a scalar's) and floats."""
    names, read, tuples = _readers(cls)
    kinds = [str(f.type) for f in fields(cls)]
    floats = tuple(i for i, k in enumerate(kinds) if k in ("float", "float | None"))
    payloads = tuple(
        i for i, k in enumerate(kinds) if i not in floats and k not in _SCALAR_FIELDS and not k.startswith("Literal[")
    )
    hit = _STORED[cls] = (names, read, payloads, floats, tuples)
    return hit


_MAKERS: dict[type[Event], Callable[[str, int, dict[str, Any]], Any]] = {}


def make_event(cls: type[Event], run_id: str, seq: int, values: dict[str, Any]) -> Event:
    """``cls(run_id=run_id, seq=seq, **values)``, made without the dataclass's keyword ``__init__``.

    Why: a frozen dataclass sets each field with ``object.__setattr__`` by name; a step's ``NodeRan`` has 18,
    and making it was ~4 % of a W1 step's instructions. This sets the slots through their descriptors (one C call
    each), in a function written once per event class. Same checks as ``__init__``: an unknown or missing field
    is a TypeError.
    """
    make = _MAKERS.get(cls)
    if make is None:
        make = _MAKERS[cls] = _maker(cls)
    try:
        return make(run_id, seq, values)  # type: ignore[no-any-return]
    except KeyError:
        cls(run_id=run_id, seq=seq, **values)  # raises the dataclass's own TypeError (a missing field)
        raise  # pragma: no cover - __init__ took what the maker did not


def _maker(cls: type[Event]) -> Callable[[str, int, dict[str, Any]], Any]:
    """The body of :func:`make_event` for ``cls``: one line per field, in declaration order."""
    known = frozenset(f.name for f in fields(cls) if f.init) - {"run_id", "seq"}
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_known": known, "_unknown": _unknown_field}
    lines = ["def make(run_id, seq, values):", "    if not values.keys() <= _known: _unknown(_cls, values, _known)"]
    lines.append("    event = _new(_cls)")
    for i, f in enumerate(fields(cls)):
        scope[f"_set{i}"] = getattr(cls, f.name).__set__  # the slot's member descriptor
        if f.name in ("run_id", "seq"):
            value = f.name
        elif not f.init:
            scope[f"_default{i}"] = f.default
            value = f"_default{i}"
        elif f.default is not MISSING:
            scope[f"_default{i}"] = f.default
            value = f"values.get({f.name!r}, _default{i})"
        else:
            value = f"values[{f.name!r}]"
        lines.append(f"    _set{i}(event, {value})")
    lines.append("    return event")
    exec("\n".join(lines), scope)  # our own field names, as dataclasses writes its __init__
    return scope["make"]  # type: ignore[no-any-return]


def _unknown_field(cls: type[Event], values: dict[str, Any], known: frozenset[str]) -> None:
    extra = sorted(set(values) - known)
    raise TypeError(f"{cls.__name__} has no field {', '.join(extra)}")


def _register(cls: type[Event]) -> type[Event]:
    Event.registry[cls.__dataclass_fields__["kind"].default] = cls  # type: ignore[index]
    return cls


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(Event):
    """A run began executing (``resumed`` when it is a resume of an earlier, unfinished execution)."""

    graph: str
    inputs: JSON
    resumed: bool = False
    kind: Literal["run_started"] = field(init=False, default="run_started")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class RunStatusChanged(Event):
    """The run moved between ``running`` and ``waiting``."""

    status: str
    kind: Literal["run_status"] = field(init=False, default="run_status")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinished(Event):
    """The run ended: ``succeeded``, ``failed`` or ``cancelled``. Always the last event of an execution.

    ``failed_node`` is the node where a failed run's error was raised (None when it came from the body itself).
    """

    status: str
    outputs: JSON = None
    error: JSON = None
    failed_node: str | None = None
    kind: Literal["run_finished"] = field(init=False, default="run_finished")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class GraphPlanned(Event):
    """A static graph (``@graphify``) is about to run: its nodes, with their edges, before any of them starts.

    The DAG shows them ``PENDING`` with no time of their own until each starts (or ends without starting:
    skipped, cancelled), so a person sees the whole plan from the first moment, not only the nodes begun.
    ``node_ids[i]`` runs tool ``names[i]``; ``edges`` holds index pairs into ``node_ids``, flat
    (``[from, to, from, to, ...]``: flat lists of strings and numbers cost a tenth of nested ones to store);
    ``parent`` is the enclosing node (None at the top level). Nodes the DAG already has (a resumed run's) are left
    as they are, but for those that had not run (skipped, cancelled): the resumed run decides again, so they are
    pending again.
    """

    parent: str | None
    node_ids: JSON
    names: JSON
    edges: JSON
    kind: Literal["graph_planned"] = field(init=False, default="graph_planned")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class NodeStarted(Event):
    """A node (tool call, nested graph_fn, LLM call, wait) was created and started.

    ``parent`` is the enclosing nested graph_fn node (None at the top level); ``parents`` are the nodes it
    depends on (the DAG edges into it).
    """

    node_id: str
    name: str
    node_kind: str
    parent: str | None
    parents: tuple[str, ...]
    inputs: JSON
    replayed: bool = False
    meta: JSON = None
    kind: Literal["node_started"] = field(init=False, default="node_started")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class NodeRan(Event):
    """A node that started and finished within one turn of the loop (a trivial tool, a replayed step, a skipped
    node): :class:`NodeStarted` and :class:`NodeFinished` in one event. ``started_at`` is when it started, ``ts``
    when it finished. A step that waits (for I/O, a thread, an answer) gets the two events instead, so the DAG shows
    it running."""

    node_id: str
    name: str
    node_kind: str
    parent: str | None
    parents: tuple[str, ...]
    inputs: JSON
    status: str
    started_at: float
    outputs: JSON = None
    error: JSON = None
    replayed: bool = False
    usage: JSON = None
    meta: JSON = None
    where: str | None = None
    kind: Literal["node_ran"] = field(init=False, default="node_ran")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class NodeStatusChanged(Event):
    """A node changed status without finishing (RUNNING <-> WAITING_*; a static graph's node whose attempt failed
    and will be retried: FAILED -> PENDING until its next attempt starts)."""

    node_id: str
    status: str
    kind: Literal["node_status"] = field(init=False, default="node_status")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFinished(Event):
    """A node reached a final status: DONE, FAILED, FAILED_TIMEOUT, SKIPPED or CANCELLED.

    ``where`` is where a sync body ran when not in the kernel (a Dask worker's address).
    """

    node_id: str
    status: str
    outputs: JSON = None
    error: JSON = None
    replayed: bool = False
    usage: JSON = None
    where: str | None = None
    kind: Literal["node_finished"] = field(init=False, default="node_finished")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class WaitOpened(Event):
    """A wait was persisted and is ready to be answered (the prompt is shown after this event)."""

    token: str
    node_id: str
    wait_kind: str
    prompt: str | None
    options: JSON = None
    deadline: float | None = None
    kind: Literal["wait_opened"] = field(init=False, default="wait_opened")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class WaitAnswered(Event):
    """A wait received a valid answer."""

    token: str
    node_id: str
    answer: JSON
    kind: Literal["wait_answered"] = field(init=False, default="wait_answered")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class WaitClosed(Event):
    """A wait ended without an answer: ``reason`` is ``"timeout"`` or ``"cancelled"``."""

    token: str
    node_id: str
    reason: str
    kind: Literal["wait_closed"] = field(init=False, default="wait_closed")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelMessage(Event):
    """Something the agent said in the chat (or a user's answer echoed there).

    ``message_id`` identifies a bubble: streaming and progress updates repeat the same id with ``update=True``.
    ``content`` depends on ``message_type``: ``{"text"}`` for text/markdown/stream, ``{"artifact_uri", "mime",
    "name", "alt"}`` for image/file, ``{"title", "current", "total", "done"}`` for progress.
    """

    node_id: str | None
    message_id: str
    message_type: str
    role: str
    content: JSON
    update: bool = False
    final: bool = True
    kind: Literal["channel_message"] = field(init=False, default="channel_message")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class LogRecord(Event):
    """A record written with ``context.logger()``, attached to its node."""

    node_id: str | None
    level: str
    message: str
    kind: Literal["log"] = field(init=False, default="log")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class RunWarning(Event):
    """Something the user should know that did not stop the run (e.g. an output that cannot be journaled).

    ``code`` says what happened and ``detail`` its facts (JSON), so a reader (the widget) decides from them, never
    from the wording of ``message``: ``not_durable`` with ``{"reason": "secret", "step": key}`` (a step's result
    holds a secret), ``history_not_written``/``not_durable`` with ``{"error": ...}`` (the store failed),
    ``tool_changed`` with ``{"tool", "step", "ran", "now"}`` (a replayed step's tool has other code now),
    ``ran_again`` with ``{"step", "name"}`` (a step cut off while its code ran, by a kernel that stopped, was run
    again from the start on resume), ``retrying`` with ``{"attempt", "max_attempts", "delay_s"}`` (a static
    graph's node waits for its next attempt), ``llm_truncated`` (an LLM reply stopped at the token limit),
    ``abandoned_body`` (a node stopped or timed out while its sync body ran on in its thread) and
    ``abandoned_body_ended`` with ``{"returned"}`` (that body has ended since, returning or raising).
    """

    node_id: str | None
    code: str
    message: str
    detail: JSON = None
    kind: Literal["warning"] = field(init=False, default="warning")


@_register
@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceCalled(Event):
    """A call to a context service (memory, KV, artifacts, embeddings, a custom service) made by a node's code.

    Each call is a journaled step (done once, replayed on resume) but not a DAG node of its own: the run's DAG
    lists it on the node that made it (``node_id``; None for the run's own body). ``key`` is its step key.
    """

    node_id: str | None
    key: str
    service: str
    method: str
    inputs: JSON = None
    outputs: JSON = None
    error: JSON = None
    replayed: bool = False
    kind: Literal["service_call"] = field(init=False, default="service_call")
