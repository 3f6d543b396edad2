"""The metadata a state graph's checkpoints record: the caller's, never LangGraph's own keys.

Why a module of its own: the checkpointers, the engine, edits and streaming all read it, and it depends on nothing
of theirs (it was the part of :mod:`aether_nb.flow.checkpoint` that is about configs, not checkpoints).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGGRAPH_METADATA_KEYS = frozenset(
    {
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "langgraph_step",
        "langgraph_node",
        "langgraph_triggers",
        "langgraph_path",
        "langgraph_checkpoint_ns",
    }
)
"""LangGraph's ``EXCLUDED_METADATA_KEYS``: its own keys, never the caller's metadata (a checkpoint's, a task-start
chunk's)."""
# keys of a config that are not the caller's metadata (LangGraph's own, and the top-level keys of a RunnableConfig,
# which aether_nb's flat configs mix with the configurable ones)
_NOT_METADATA = LANGGRAPH_METADATA_KEYS | {
    "recursion_limit",
    "max_concurrency",
    "node_timeout",
    "tags",
    "run_name",
    "run_id",
    "callbacks",
    "metadata",
    "configurable",
}


def metadata_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a flat config adds to its checkpoints: ``config["metadata"]``'s entries, then its other keys
    with a str, int, float or bool value (never ones starting with ``__``), as LangGraph's checkpoints record."""
    out: dict[str, Any] = {}
    extra = config.get("metadata")
    for source in (extra if isinstance(extra, Mapping) else {}, config):
        for key, value in source.items():
            if not isinstance(key, str) or key in out or key.startswith("__") or key in _NOT_METADATA:
                continue
            if isinstance(value, str):
                out[key] = value.replace("\u0000", "")
            elif isinstance(value, (int, bool, float)):
                out[key] = value
    return out


__all__ = ["LANGGRAPH_METADATA_KEYS", "metadata_of"]
