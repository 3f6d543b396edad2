"""The state schema: which keys a graph's state has, how concurrent writes to a key merge, and how the state is
handed to nodes.

A schema is a TypedDict, a dataclass, a pydantic model, or None (a free-form dict). Internally the state is always
a dict of values; nodes receive it as the schema's type (a fresh copy each, so concurrent nodes never see each
other's in-place edits). A key's reducer comes from ``Annotated[T, reducer]``; ``messages`` appends by default
(:func:`~aether_nb.flow.messages.add_messages`). Within one superstep, a key without a reducer may be written by
one node only: two writers are an :class:`~aether_nb.flow.types.InvalidUpdate`, never a silent last-write-wins.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin, get_type_hints

from aether_nb.errors import UsageError
from aether_nb.flow.messages import add_messages
from aether_nb.flow.types import InvalidUpdate, Overwrite

Reducer = Callable[[Any, Any], Any]


def _is_typeddict(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, dict) and hasattr(schema, "__annotations__")


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and hasattr(schema, "model_fields") and hasattr(schema, "model_validate")


class StateSpec:
    """What the engine knows about a state schema."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.reducers: dict[str, Reducer] = {}
        self.defaults: dict[str, Any] = {}
        self.fields: set[str] | None
        if schema is None or schema is dict:
            self.kind = "dict"
            self.fields = None
            self.reducers["messages"] = add_messages
            return
        if dataclasses.is_dataclass(schema) and isinstance(schema, type):
            self.kind = "dataclass"
            self.fields = {f.name for f in dataclasses.fields(schema)}
            for f in dataclasses.fields(schema):
                if f.default is not dataclasses.MISSING:
                    self.defaults[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    self.defaults[f.name] = f.default_factory()
        elif _is_pydantic(schema):
            self.kind = "pydantic"
            model_fields: dict[str, Any] = schema.model_fields
            self.fields = set(model_fields)
            for name, info in model_fields.items():
                if not info.is_required():
                    self.defaults[name] = info.get_default(call_default_factory=True)
        elif _is_typeddict(schema):
            self.kind = "typeddict"
            self.fields = set(schema.__annotations__)
        else:
            raise UsageError(
                f"StateGraph(state_schema): expected a TypedDict, a dataclass, a pydantic model or None, got {schema!r}"
            )
        try:
            hints = get_type_hints(schema, include_extras=True)
        except Exception:  # unresolvable forward references: fall back to the raw annotations
            hints = dict(getattr(schema, "__annotations__", {}))
        for name in self.fields:
            reducer = _reducer_of(hints.get(name))
            if reducer is not None:
                self.reducers[name] = reducer
            elif name == "messages":
                self.reducers[name] = add_messages

    @property
    def name(self) -> str:
        return "dict" if self.schema is None else getattr(self.schema, "__name__", "state")

    def initial(self) -> dict[str, Any]:
        """The values of a new thread (defaults of the schema's fields)."""
        return copy.deepcopy(self.defaults)

    def to_state(self, values: dict[str, Any]) -> Any:
        """A fresh instance of the schema holding ``values`` (a deep copy: nodes may mutate it freely)."""
        data = copy.deepcopy(values)
        if self.kind in ("dict", "typeddict"):
            return data
        if self.kind == "pydantic":
            return self.schema.model_construct(**{**self.defaults, **data})
        try:
            return self.schema(**data)
        except TypeError as exc:
            missing = sorted((self.fields or set()) - set(data))
            raise UsageError(
                f"cannot build {self.name} from the state: {exc}. Fields without a value yet: {missing}; give them "
                "defaults in the dataclass, or pass them in the first input"
            ) from exc

    def from_object(self, obj: Any) -> dict[str, Any] | None:
        """The field values of a state object (an instance of the schema), or None if ``obj`` is not one."""
        if self.kind == "dataclass" and isinstance(obj, self.schema):
            return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        if self.kind == "pydantic" and isinstance(obj, self.schema):
            return {name: getattr(obj, name) for name in self.schema.model_fields if hasattr(obj, name)}
        return None

    def diff(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """The update that turns ``before`` into ``after`` (a node returned a whole state object).

        Keys with a reducer whose new list extends the old one write only the added items (so concurrent
        appends merge); any other change to such a key overwrites it.
        """
        update: dict[str, Any] = {}
        for key, new in after.items():
            old = before.get(key, _MISSING)
            if old is not _MISSING and old == new:
                continue
            if key in self.reducers:
                if isinstance(new, list) and isinstance(old, list) and new[: len(old)] == old:
                    update[key] = new[len(old) :]
                    continue
                update[key] = Overwrite(new)
            else:
                update[key] = new
        return update

    def check_keys(self, update: dict[str, Any], node: str) -> None:
        if self.fields is None:
            return
        unknown = sorted(k for k in update if k not in self.fields)
        if unknown:
            raise InvalidUpdate(
                f"node {node!r} wrote {unknown}, which {self.name} does not declare (keys: {sorted(self.fields)}); "
                "add the field to the state schema or return only declared keys",
                code="unknown_key",
            )

    def merge(self, values: dict[str, Any], writes: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """Apply the writes of one superstep (``(node, update)`` in node order) and return the new values.

        Raises:
            InvalidUpdate: an unknown key, or a key without a reducer written by more than one node.
        """
        writers: dict[str, list[str]] = {}
        for node, update in writes:
            self.check_keys(update, node)
            for key in update:
                writers.setdefault(key, []).append(node)
        conflicts = {k: ns for k, ns in writers.items() if len(ns) > 1 and k not in self.reducers}
        if conflicts:
            detail = "; ".join(f"{k!r} by {ns}" for k, ns in sorted(conflicts.items()))
            raise InvalidUpdate(
                f"conflicting writes in one superstep: {detail}. Nodes that run concurrently may only write the same "
                "key when it has a reducer: declare it as Annotated[list[T], operator.add] (or another reducer) in "
                "the state schema",
                code="conflicting_writes",
            )
        new = dict(values)
        for _node, update in writes:
            for key, value in update.items():
                if isinstance(value, Overwrite):
                    new[key] = value.value
                elif key in self.reducers:
                    new[key] = self.reducers[key](new[key] if key in new else _empty_like(value), value)
                else:
                    new[key] = value
        return new


_MISSING = object()


def _empty_like(value: Any) -> Any:
    """The starting value a reducer folds the first write into: ``[]`` for a list, ``0`` for an int..."""
    if isinstance(value, (list, dict, set, tuple, str, int, float)) and not isinstance(value, bool):
        return type(value)()
    return None


def _reducer_of(hint: Any) -> Reducer | None:
    if hint is None or get_origin(hint) is not typing.Annotated:
        return None
    for meta in reversed(get_args(hint)[1:]):
        if callable(meta):
            return typing.cast(Reducer, meta)
    return None
