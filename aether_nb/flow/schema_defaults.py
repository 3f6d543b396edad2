"""Defaults written in a TypedDict state's class body (``class MyState(AgentState): count: int = 0``).

Python keeps them as class attributes while type checkers reject them and LangGraph ignores them (a node reading
the key before anything wrote it gets a ``KeyError``). Agentflow's ``AgentState`` is a pydantic model, whose users
write them as defaults and expect them applied, so :class:`~aether_nb.flow.state.StateSpec` makes each its key's
initial value.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any


def is_typeddict(schema: Any) -> bool:
    """Whether ``schema`` is a TypedDict class (a dict subclass with annotations)."""
    return isinstance(schema, type) and issubclass(schema, dict) and hasattr(schema, "__annotations__")


def typeddict_defaults(schema: Any) -> dict[str, Any]:
    """The values a TypedDict's fields are given in its class body (``class MyState(AgentState): count: int = 0``),
    a parent's before the class's own.

    A parent TypedDict's defaults are found through ``__orig_bases__`` (Python 3.12+, ``typing_extensions``):
    Python 3.11's ``typing.TypedDict`` keeps no link to its parents, so there only the class's own body counts.
    """
    out: dict[str, Any] = {}
    seen: set[int] = set()

    def walk(cls: Any) -> None:
        if id(cls) in seen or not is_typeddict(cls):
            return
        seen.add(id(cls))
        for base in getattr(cls, "__orig_bases__", ()):
            walk(base)
        own = vars(cls)
        for name in inspect.get_annotations(cls):
            if name in own:
                out[name] = own[name]

    walk(schema)
    return out


def has_default(schema: Any, key: str) -> bool:
    """Whether a dataclass (or class with a keyword default) ``schema`` gives field ``key`` a value of its own, so a
    state missing it is not what makes building the schema fail (an error lists only the fields that need one)."""
    if dataclasses.is_dataclass(schema):
        for f in dataclasses.fields(schema):
            if f.name == key:
                return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        return False
    try:
        param = inspect.signature(schema).parameters.get(key)
    except (TypeError, ValueError):
        return False
    return param is not None and param.default is not inspect.Parameter.empty
