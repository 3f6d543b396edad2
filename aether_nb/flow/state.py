"""The state schema: which keys a graph's state has, how the writes of one superstep merge, and how the state is
handed to nodes.

A schema is a TypedDict, a dataclass, a pydantic model, or None (a free-form dict). Internally the state is always
a dict of the keys written so far; nodes receive it as the schema's type (a fresh copy each, so concurrent nodes
never see each other's in-place edits; pydantic models are validated as LangGraph does).

Semantics follow LangGraph's channels:

* A key whose annotation is ``Annotated[T, reducer]`` folds every write into its value with ``reducer(old,
  new)``; it starts as ``T()`` when ``T`` can be built without arguments (``[]``, ``0``, ``""``), so a router can
  read it before anything wrote it. Other keys keep the last value, and two writes of one in a superstep are an
  :class:`~aether_nb.flow.types.InvalidUpdate`.
* Writes of one superstep apply in task order (nodes by name, then Sends in order), whatever order the tasks
  finished in, so the result is deterministic.
* :class:`~aether_nb.flow.types.Overwrite` wins over every other write of its key in the superstep; two are an
  error.
* Keys a schema does not declare are ignored (in inputs and in node returns), as in LangGraph; the first one per
  graph and key is reported with a warning.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import inspect
import sys
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NotRequired, Required, get_args, get_origin

from aether_nb.errors import UsageError, shown
from aether_nb.flow.channels import Channel, channel_of, is_channel, topic_add
from aether_nb.flow.managed import managed_kind, managed_of, managed_values
from aether_nb.flow.messages import add_messages, coerce_messages
from aether_nb.flow.schema_defaults import has_default, is_typeddict, typeddict_defaults
from aether_nb.flow.types import GraphBuildError, IncompleteState, InvalidUpdate, Overwrite
from aether_nb.flow.write_forms import OVERWRITE_KEY as OVERWRITE_KEY  # (re-exported: their home was here)
from aether_nb.flow.write_forms import Write as Write
from aether_nb.flow.write_forms import is_overwrite as is_overwrite
from aether_nb.flow.write_forms import journal_form as journal_form
from aether_nb.flow.write_forms import unwrap_overwrite as unwrap_overwrite
from aether_nb.flow.write_forms import writes_of as writes_of

Reducer = Callable[[Any, Any], Any]
_MISSING: Any = object()


def _is_typeddict(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, dict) and hasattr(schema, "__annotations__")


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and hasattr(schema, "model_fields") and hasattr(schema, "model_validate")


ROOT = "__root__"
"""The one key of a graph whose state is a single value (``StateGraph(Annotated[list, operator.add])``)."""


def _is_root(schema: Any) -> bool:
    return get_origin(schema) is typing.Annotated or (isinstance(schema, type) and schema in (list, int, str, float))


def schema_kind(schema: Any) -> str:
    """``dict``, ``typeddict``, ``dataclass``, ``pydantic`` or ``root`` (a single value); a UsageError for
    anything else."""
    if schema is None or schema is dict:
        return "dict"
    if _is_root(schema):
        return "root"
    if dataclasses.is_dataclass(schema) and isinstance(schema, type):
        return "dataclass"
    if _is_pydantic(schema):
        return "pydantic"
    if _is_typeddict(schema):
        return "typeddict"
    raise UsageError(
        f"a state schema must be a TypedDict, a dataclass, a pydantic model or None, got {shown(schema)}",
        code="bad_schema",
    )


def schema_keys(schema: Any) -> list[str] | None:
    """The keys a schema declares (None for a free-form dict)."""
    kind = schema_kind(schema)
    if kind == "dict":
        return None
    if kind == "root":
        return [ROOT]
    if kind == "dataclass":
        return [f.name for f in dataclasses.fields(schema)]
    if kind == "pydantic":
        return list(schema.model_fields)
    keys: list[str] = []
    for base in reversed(schema.__mro__):
        for k in getattr(base, "__annotations__", {}):
            if k not in keys:
                keys.append(k)
    return keys


def resolve_hints(schema: Any, frames: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Every annotation of ``schema`` resolved, including string annotations (``from __future__ import
    annotations``) that name things imported inside a function: those are looked up in ``frames`` (the locals of
    the code that built the graph), as pydantic does.

    Raises:
        GraphBuildError: an annotation that may declare a reducer (it mentions ``Annotated``) cannot be resolved;
            the message names the field and the missing name.
    """
    localns: dict[str, Any] = {}
    for f in frames:
        for k, v in f.items():
            localns.setdefault(k, v)
    hints: dict[str, Any] = {}
    problems: list[str] = []
    for base in reversed(getattr(schema, "__mro__", (schema,))):
        raw = inspect.get_annotations(base)
        for name, ann in raw.items():
            if isinstance(ann, typing.ForwardRef):
                text, module_name = ann.__forward_arg__, ann.__forward_module__ or base.__module__
            elif isinstance(ann, str):
                text, module_name = ann, base.__module__
            else:
                hints[name] = ann
                continue
            module = sys.modules.get(module_name or "")
            globalns = dict(vars(module)) if module is not None else {}
            try:
                hints[name] = eval(text, globalns, {**localns, **dict(vars(base))})
            except NameError as exc:
                if "Annotated" in text:
                    problems.append(
                        f"field {name!r} of {getattr(schema, '__name__', schema)}: cannot resolve {exc.name!r} in "
                        f"its annotation {text!r}, so its reducer is unknown; import {exc.name!r} at module level"
                    )
                else:
                    hints[name] = Any
            except Exception as exc:  # a malformed annotation: the same failure the type checker would report
                problems.append(f"field {name!r}: cannot evaluate its annotation {text!r}: {exc}")
    if problems:
        raise GraphBuildError(problems)
    return hints


def _strip(hint: Any) -> Any:
    """``Annotated[T, ...]``, ``Required[T]``, ``NotRequired[T]`` -> ``T``."""
    while True:
        origin = get_origin(hint)
        if origin is typing.Annotated or origin in (Required, NotRequired):
            hint = get_args(hint)[0]
        else:
            return hint


def _unrequired(hint: Any) -> Any:
    """``Required[T]``, ``NotRequired[T]`` -> ``T`` (an ``Annotated`` inside is kept)."""
    while get_origin(hint) in (Required, NotRequired):
        hint = get_args(hint)[0]
    return hint


def _last_meta(hint: Any) -> Any:
    """The last ``Annotated`` metadata of ``hint`` (where LangGraph reads a reducer or a channel), or missing."""
    hint = _unrequired(hint)
    if hint is None or get_origin(hint) is not typing.Annotated:
        return _MISSING
    meta = get_args(hint)[1:]
    return meta[-1] if meta else _MISSING


def _reducer_of(hint: Any, name: str) -> Reducer | None:
    meta = _last_meta(hint)
    return _check_reducer(meta, name) if meta is not _MISSING and callable(meta) else None


def _check_reducer(fn: Any, name: str) -> Reducer:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return typing.cast(Reducer, fn)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) != 2:
        raise GraphBuildError(
            [
                f"Invalid reducer signature for {shown(name)}: it takes {len(positional)} positional argument(s); a "
                f"reducer is reducer(current, update) -> new value (got {inspect.signature(fn)})"
            ]
        )
    return typing.cast(Reducer, fn)


def _empty_of(hint: Any) -> Any:
    """``T()`` for the type a reducer key holds, when it can be built without arguments; else missing."""
    typ = _strip(hint)
    origin = get_origin(typ) or typ
    if origin in (collections.abc.Sequence, collections.abc.MutableSequence):
        origin = list
    elif origin in (collections.abc.Set, collections.abc.MutableSet):
        origin = set
    elif origin in (collections.abc.Mapping, collections.abc.MutableMapping):
        origin = dict
    if not isinstance(origin, type):
        return _MISSING
    try:
        return origin()
    except Exception:  # not buildable without arguments: the key starts missing, like LangGraph's channel
        return _MISSING


class StateSpec:
    """What the engine knows about a state schema (and the node input / graph input and output schemas)."""

    def __init__(
        self,
        schema: Any,
        *,
        input_schema: Any = None,
        output_schema: Any = None,
        frames: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.schema = schema
        # StateGraph(dict) is, as in LangGraph, one value (the whole dict) that each write replaces; no schema at
        # all (Agentflow's StateGraph()) is a free-form dict of keys with a messages list
        self.kind = "root" if schema is dict else schema_kind(schema)
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.reducers: dict[str, Reducer] = {}
        self.empties: dict[str, Any] = {}
        # TypedDict fields given a value in the class body: their keys' initial values (see typeddict_defaults)
        self.defaults: dict[str, Any] = {}
        self.fields: set[str] | None
        self.hints: dict[str, Any] = {}
        self.managed: dict[str, str] = {}  # keys the engine fills in per task (RemainingSteps, IsLastStep)
        # LangGraph channel annotations (aether_nb.flow.channels): keys several writes of a superstep may set (the
        # last wins), keys cleared after a superstep that does not write them, topics (key -> accumulate)
        self.last_wins: set[str] = set()
        self.transient: set[str] = set()
        self.topics: dict[str, bool] = {}
        self._warned: set[str] = set()
        frames = list(frames)
        if self.kind == "dict":
            self.fields = None
            self.reducers["messages"] = add_messages
            self.empties["messages"] = []
        elif self.kind == "root":
            self.fields = {ROOT}
            meta = _last_meta(schema)
            reducer = None if self._took_channel(ROOT, meta, schema) else _reducer_of(schema, ROOT)
            if reducer is not None:
                self.reducers[ROOT] = reducer
                empty = _empty_of(schema)
                if empty is not _MISSING:
                    self.empties[ROOT] = empty
        else:
            self.fields = set(schema_keys(schema) or [])
            self._add_channels(schema, frames)
        for extra in (input_schema, output_schema):
            if extra is not None:
                self.add_schema(extra, frames)
        if self.fields is not None:
            self.fields -= set(self.managed)
        self.state_keys = None if self.fields is None else schema_keys(schema)
        self._state_key_set = frozenset(self.state_keys or ())  # (to_state's membership test, every node call)
        self.input_keys = self._keys_of(input_schema) or self.state_keys
        self.output_keys = self._keys_of(output_schema) or self.state_keys

    def add_schema(self, schema: Any, frames: Iterable[Mapping[str, Any]] = ()) -> None:
        """Add the keys (and reducers) of another schema: a node's input schema, the graph's input or output
        schema. Its keys become keys of the state (LangGraph's private state channels)."""
        if self.fields is None or schema is self.schema or self.kind == "root":
            return
        self.fields |= set(schema_keys(schema) or [])
        self._add_channels(schema, list(frames))
        self.fields -= set(self.managed)

    def _keys_of(self, schema: Any) -> list[str] | None:
        return None if schema is None else schema_keys(schema)

    def _add_channels(self, schema: Any, frames: list[Mapping[str, Any]]) -> None:
        if _is_pydantic(schema):
            for name, info in schema.model_fields.items():
                if name in self.reducers:
                    continue
                kind = next((k for k in map(managed_kind, info.metadata) if k is not None), None)
                if kind is not None:
                    self.managed[name] = kind
                    continue
                if info.metadata and self._took_channel(name, info.metadata[-1], info.annotation):
                    continue
                meta = [m for m in info.metadata if callable(m)]
                if meta:
                    self.reducers[name] = _check_reducer(meta[-1], name)
                    self.hints[name] = info.annotation
                    empty = _empty_of(info.annotation)
                    if empty is not _MISSING:
                        self.empties[name] = empty
            return
        hints = resolve_hints(schema, frames)
        for name, hint in hints.items():
            if name in self.reducers:
                continue
            self.hints.setdefault(name, hint)
            kind = managed_of(_unrequired(hint))
            if kind is not None:
                self.managed[name] = kind
                continue
            if self._took_channel(name, _last_meta(hint), hint):
                continue
            reducer = _reducer_of(hint, name)
            if reducer is not None:
                self.reducers[name] = reducer
                empty = _empty_of(hint)
                if empty is not _MISSING:
                    self.empties[name] = empty
        self._add_defaults(schema)

    def _add_defaults(self, schema: Any) -> None:
        """Record a TypedDict schema's class-level defaults (the state schema's, then an input, output or node
        schema's for the keys it adds: the first schema declaring one wins)."""
        if not is_typeddict(schema):
            return
        for name, value in typeddict_defaults(schema).items():
            if name not in self.defaults and name not in self.managed:  # (a managed key is filled in per task)
                check_copyable(value, f"the default of state key {name!r} in {getattr(schema, '__name__', schema)}")
                self.defaults[name] = value

    def _took_channel(self, name: str, meta: Any, hint: Any) -> bool:
        """Record ``name``'s LangGraph channel annotation ``meta``, if it is one (a channel class is callable: it
        must not be taken for a reducer); a GraphBuildError for a channel aether_nb does not build."""
        if meta is _MISSING or not is_channel(meta):
            return False
        ch: Channel = channel_of(meta, name)
        if ch.reducer is not None:
            self.reducers[name] = _check_reducer(ch.reducer, name)
            empty = _empty_of(hint)
            if empty is not _MISSING:
                self.empties[name] = empty
        elif ch.topic:
            self.reducers[name] = topic_add
            self.topics[name] = ch.accumulate
        if ch.last_wins:
            self.last_wins.add(name)
        if ch.transient:
            self.transient.add(name)
        return True

    @property
    def name(self) -> str:
        return "dict" if self.schema is None else getattr(self.schema, "__name__", "state")

    def is_messages(self, key: str) -> bool:
        """Whether ``key`` holds chat messages (its reducer is ``add_messages``): its writes are coerced to
        message dicts with ids."""
        return self.reducers.get(key) is add_messages

    def with_managed(self, values: Mapping[str, Any], remaining: int) -> Mapping[str, Any]:
        """``values`` with the managed keys' values for a task with ``remaining`` steps left (see
        :mod:`aether_nb.flow.managed`): what nodes and routers read, never stored."""
        return {**values, **managed_values(self.managed, remaining)} if self.managed else values

    def initial(self) -> dict[str, Any]:
        """The values of a new thread: every reducer key that starts empty, and every key a TypedDict schema gives
        a default (``count: int = 0``: the default, also for a reducer key)."""
        return copy.deepcopy({**self.empties, **self.defaults} if self.defaults else self.empties)

    # -- to and from the schema's type ------------------------------------------------------------------------------
    def to_state(self, values: Mapping[str, Any], schema: Any = None) -> Any:
        """A fresh instance of ``schema`` (default: the state schema) holding ``values`` (a deep copy: nodes may
        mutate it freely). Pydantic models are validated (validators run, as in LangGraph)."""
        if self.kind == "typeddict" and not self.defaults and (schema is None or schema is self.schema):
            known = self._state_key_set  # (most node calls; the values' keys all the state's: a plain copy)
            picked = dict(values) if values.keys() <= known else {k: v for k, v in values.items() if k in known}
            return _copy_values(picked)
        schema = self.schema if schema is None else schema
        kind = self.kind if schema is self.schema else schema_kind(schema)
        if kind == "dict":
            return _copy_values(dict(values))
        if kind == "root":
            return copy.deepcopy(values.get(ROOT))
        keys = self.state_keys if schema is self.schema else schema_keys(schema)
        keys = keys or []
        data = _copy_values({k: v for k, v in values.items() if k in keys})
        if kind == "typeddict":
            # a defaulted key not in the values (a thread started before the default was declared, a transient key
            # cleared) reads as its default, as it would from a new thread
            missing = [k for k in keys if k in self.defaults and k not in data] if self.defaults else []
            return data | copy.deepcopy({k: self.defaults[k] for k in missing}) if missing else data
        if kind == "pydantic":
            return schema.model_validate({k: v for k, v in data.items() if k in keys})
        try:
            return schema(**{k: v for k, v in data.items() if k in keys})
        except TypeError as exc:
            missing = sorted(k for k in set(keys) - set(data) if not has_default(schema, k))
            raise IncompleteState(
                f"cannot build {getattr(schema, '__name__', schema)} from the state: {exc}. Fields without a value "
                f"yet: {missing}; give them defaults in the dataclass, or pass them in the first input"
            ) from exc

    def object_writes(self, obj: Any) -> list[Write] | None:
        """The writes of a returned object of a class with annotations (a state object, a pydantic model, a
        dataclass), or None if ``obj`` is not one.

        As LangGraph's ``get_update_as_tuples``: every field is written, and through its key's reducer, except a
        None whose default is None and that (pydantic) was not set explicitly. So a fresh ``State(a=9)`` appends
        its list fields' defaults (nothing, for ``[]``) rather than resetting them, and returning the state itself
        (or a copy) appends a reducer list to itself, as in LangGraph: return a dict of the changed keys instead.
        """
        cls = type(obj)
        if self.kind == "root":
            return None if obj is None else [(ROOT, obj)]
        if isinstance(obj, (dict, list, tuple, str, bytes, int, float, bool)) or obj is None:
            return None
        if _is_pydantic(cls):
            keys = list(cls.model_fields)
            keep: set[str] | None = set(obj.model_fields_set)
            defaults = {k: f.default for k, f in cls.model_fields.items()}
        elif dataclasses.is_dataclass(obj):
            keys = [f.name for f in dataclasses.fields(obj)]
            keep, defaults = None, {}
        else:
            return None
        writes: list[Write] = []
        for k in keys:
            value = getattr(obj, k, _MISSING)
            if value is _MISSING:
                continue
            if value is None and defaults.get(k, _MISSING) is None and not (keep is not None and k in keep):
                continue
            writes.append((k, value))
        return writes

    def known(self, writes: list[Write], where: str, keys: Iterable[str] | None = None) -> list[Write]:
        """The writes to keys the state has (or to ``keys``: an input's); others are dropped (LangGraph does the
        same) with one warning per graph and key."""
        if self.fields is None:
            return writes
        allowed = self.fields if keys is None else set(keys)
        out = []
        for k, v in writes:
            if k in self.managed:
                continue  # (filled in per task, never written: LangGraph ignores such writes too)
            if k in allowed:
                out.append((k, v))
            elif k not in self._warned:
                self._warned.add(k)
                if k in self.fields:  # (a key of the state that the input schema leaves out)
                    said = (
                        f"{where} wrote {k!r}, which the input schema does not declare (input keys: "
                        f"{sorted(allowed)}); an input writes only those, so the write is ignored. Write it with "
                        "update_state(config, {...}) or Command(update={...}), or add it to the input schema."
                    )
                else:
                    said = (
                        f"{where} wrote {k!r}, which {self.name} does not declare (keys: {sorted(self.fields)}); "
                        "the write is ignored. Add the field to the state schema to keep it."
                    )
                warnings.warn(said, stacklevel=2)
        return out

    def node_writes(self, writes: list[Write], node: str) -> list[Write]:
        """:meth:`known` for the writes a node returned: the same writes, the warning's wording (which names the
        node) built only when one is dropped, not for every task."""
        fields, managed = self.fields, self.managed
        if fields is not None:
            for k, _ in writes:
                if k in managed or k not in fields:
                    return self.known(writes, f"node {node!r}")
        return writes

    def coerce(self, writes: list[Write]) -> list[Write]:
        """Messages written to an ``add_messages`` key become message dicts with ids (call inside a journaled
        step, so a resumed run sees the same ids)."""
        reducers = self.reducers
        for k, _ in writes:  # (a loop, not any() over a generator: every task's writes come here)
            if reducers.get(k) is add_messages:
                break
        else:
            return writes
        out: list[Write] = []
        for k, v in writes:
            if self.is_messages(k):
                v = Overwrite(coerce_messages(v.value)) if isinstance(v, Overwrite) else coerce_messages(v)
            out.append((k, v))
        return out

    # -- merging ----------------------------------------------------------------------------------------------------
    def apply(self, values: Mapping[str, Any], tasks: list[tuple[str, list[Write]]]) -> dict[str, Any]:
        """Apply the writes of one superstep, ``(task name, writes)`` in task order, and return the new values.

        Raises:
            InvalidUpdate: a key without a reducer written more than once, or two Overwrites of one key.
        """
        if len(tasks) == 1 and len(tasks[0][1]) == 1:  # one task writing one key (a chain's superstep)
            key, value = tasks[0][1][0]
            if key not in self.reducers:  # (nothing to merge, no conflict possible: as below)
                new = dict(values)
                new[key] = unwrap_overwrite(value)
                if self.transient and tasks[0][0] not in _INPUTS:
                    for k in self.transient - {key}:
                        new.pop(k, None)
                return new
        by_key: dict[str, list[tuple[str, Any]]] = {}
        for task, writes in tasks:
            for k, v in writes:
                by_key.setdefault(k, []).append((task, v))
        new = dict(values)
        for key, items in by_key.items():
            reducer = self.reducers.get(key)
            if reducer is None:
                if len(items) > 1 and key not in self.last_wins:
                    writers = [t for t, _ in items]
                    raise InvalidUpdate(
                        f"At key {shown(key)}: can receive only one value per superstep, got {len(items)} (from "
                        f"{writers}). Nodes that run in the same superstep may only write the same key when it has "
                        "a reducer: declare it as Annotated[list[T], operator.add] (or another reducer)",
                        code="conflicting_writes",
                    )
                new[key] = unwrap_overwrite(items[-1][1])
                continue
            overwrites = [v for _, v in items if is_overwrite(v)]
            if len(overwrites) > 1:
                raise InvalidUpdate(
                    f"At key {shown(key)}: can receive only one Overwrite value per superstep, got {len(overwrites)} "
                    f"(from {[t for t, v in items if is_overwrite(v)]})",
                    code="conflicting_overwrites",
                )
            if overwrites:
                new[key] = unwrap_overwrite(overwrites[0])
                continue
            current = new.get(key, _MISSING)
            if key in self.topics:  # (a topic that does not accumulate holds this superstep's writes only)
                current = current if self.topics[key] and current is not _MISSING else []
            for _, v in items:
                current = v if current is _MISSING else reducer(current, v)
            new[key] = current
        if self.transient and any(task not in _INPUTS for task, _ in tasks):
            for key in self.transient - by_key.keys():  # (cleared by a superstep that does not write it)
                new.pop(key, None)
        return new

    def visible(self, values: Mapping[str, Any]) -> Any:
        """The values a thread shows (``get_state``, ``stream_mode="values"``, checkpoints): every key, the
        private keys of node input schemas and the input schema's included — as LangGraph shows every channel
        there and filters by the output schema only what ``invoke`` returns; the value itself for a single-value
        state."""
        if self.kind == "root":
            return values.get(ROOT)
        if self.state_keys is None:
            return dict(values)
        first = {k: values[k] for k in self.state_keys if k in values}
        return first | {k: v for k, v in values.items() if k not in first} if len(first) < len(values) else first

    def output(self, values: Mapping[str, Any]) -> Any:
        """The values ``invoke`` returns: the output schema's keys (the state schema's by default), not the private
        keys of node input schemas; the value itself for a single-value state."""
        if self.kind == "root":
            return values.get(ROOT)
        if self.output_keys is None:
            return dict(values)
        return {k: values[k] for k in self.output_keys if k in values}


_INPUTS = ("__start__", "__input__")
"""The task names under which an input is applied: an input is no superstep, so it clears no transient key (as in
LangGraph, whose input write bumps no channel)."""

_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def _copy_values(values: dict[str, Any]) -> dict[str, Any]:
    """A copy a node may mutate freely of ``values``, a dict the caller just made: deep, except that immutable
    values are shared (so a small state's dict, already new, is handed over as it is)."""
    for v in values.values():  # (a loop, not all() over a generator: every node call comes here)
        if not isinstance(v, _IMMUTABLE):
            return copy.deepcopy(values)
    return values


def check_copyable(value: Any, what: str) -> None:
    """Refuse, before anything starts, a value that cannot go into the state: every node gets its own deep copy
    of the state (:meth:`StateSpec.to_state`), so a lock, a generator or an open file there would fail the first
    node that reads it, blamed on that node, with a retry that cannot work."""
    if isinstance(value, _IMMUTABLE):
        return
    if isinstance(value, Mapping) and all(isinstance(v, _IMMUTABLE) for v in value.values()):
        return
    try:
        copy.deepcopy(value)
    except Exception as exc:
        raise UsageError(
            f"{what} cannot be stored or copied ({type(exc).__name__}: {exc}): each node gets its own copy of the "
            "state, and the thread's checkpoints keep it. Keep such objects (locks, generators, open files, "
            "clients) out of the state: pass them with context=..., or build them inside the node; put "
            "JSON-friendly or picklable values in the state",
            code="input_not_copyable",
        ) from None
