"""How a superstep's writes are written down: LangGraph's JSON form of an ``Overwrite``, and the journaled form of a
task's writes (a ``{key: value}`` object, or ``[[key, value], ...]`` when a key is written more than once).

Apart from :mod:`aether_nb.flow.state` (which re-exports them) because every task's journaled value and every
superstep's merge go through them: small, and kept cheap on purpose.
"""

from __future__ import annotations

from typing import Any

from aether_nb.flow.types import Overwrite

__all__ = ["OVERWRITE_KEY", "Write", "is_overwrite", "journal_form", "unwrap_overwrite", "writes_of"]

Write = tuple[str, Any]
OVERWRITE_KEY = "__overwrite__"


def is_overwrite(value: Any) -> bool:
    return isinstance(value, Overwrite) or (isinstance(value, dict) and len(value) == 1 and OVERWRITE_KEY in value)


def unwrap_overwrite(value: Any) -> Any:
    if isinstance(value, Overwrite):
        return value.value
    if isinstance(value, dict) and len(value) == 1 and OVERWRITE_KEY in value:
        return value[OVERWRITE_KEY]
    return value


def journal_form(writes: list[Write]) -> dict[str, Any] | list[list[Any]]:
    """Writes as JSON (an Overwrite as ``{"__overwrite__": value}``, LangGraph's JSON form): ``{key: value}``,
    or ``[[key, value], ...]`` when a key is written more than once."""
    plain: dict[str, Any] = {}
    for k, v in writes:  # (most writes: no Overwrite, each key once)
        if k in plain or isinstance(v, Overwrite):
            break
        plain[k] = v
    else:
        return plain
    pairs = [(k, {OVERWRITE_KEY: v.value} if isinstance(v, Overwrite) else v) for k, v in writes]
    as_dict = dict(pairs)
    return as_dict if len(as_dict) == len(pairs) else [[k, v] for k, v in pairs]


def writes_of(data: Any) -> list[Write]:
    """The writes of :func:`journal_form` (either shape)."""
    if isinstance(data, dict):
        return list(data.items())
    return [(k, v) for k, v in data or []]
