"""Secrets in the results promotion reads: a tool's result holding one was never journaled, and a key's value is
found again by the environment variable that holds it (see :mod:`~aether_nb.runtime.promote`). Kept apart from the
analysis so that module stays readable; nothing here changes what promotion does."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.runtime.promote_trace import holds_secret
from aether_nb.store.redact import MASK

if TYPE_CHECKING:
    from aether_nb.runtime.graph import GraphNode
    from aether_nb.runtime.run import Run

__all__ = ["env_name", "masked", "unjournaled"]


def env_name(value: str) -> str | None:
    """The environment variable holding exactly ``value`` (how the agent most likely got it), or None."""
    return next((k for k, v in sorted(os.environ.items()) if v == value), None)


def unjournaled(run: Run, node: GraphNode) -> dict[str, Any]:
    """The outputs of a tool call whose result was not journaled, for a node that calls the tool again when the
    promoted graph runs. A result holding a secret is never journaled nor stored (a resume runs the call again):
    the run still in memory holds it (a ``read_env`` read after a restart is read again); otherwise the promotion
    cannot be checked against the run, and says what to change."""
    held = node.outputs if isinstance(node.outputs, dict) else None
    if held is not None and holds_secret(held) and not masked(held):
        return held
    if node.name == "read_env" and isinstance(node.inputs, dict) and isinstance(node.inputs.get("name"), str):
        return {"value": os.environ.get(node.inputs["name"])}  # (aether_nb.tools.read_env: read again)
    if held is not None and masked(held):
        raise UsageError(
            f"node {node.id} ({node.name}) returned a secret, which is never journaled nor stored, and run {run.id} "
            "was loaded from the store, so its value is gone: promote the run in the kernel that ran it (before a "
            "restart), or have the agent read its key with aether_nb.tools.read_env(name=...), which the promoted "
            "graph reads again when it runs",
            run_id=run.id,
            node_id=node.id,
            code="not_promotable",
        )
    raise UsageError(
        f"node {node.id} ({node.name}) has no journaled result, so the promotion of run {run.id} cannot be checked "
        "against it (a result that is neither JSON-friendly nor picklable is not journaled): make "
        f"{node.name} return JSON-friendly or picklable values, run the agent again and promote that run",
        run_id=run.id,
        node_id=node.id,
        code="not_promotable",
    )


def masked(value: Any) -> bool:
    """Whether ``value`` holds a redacted string (a secret replaced by the store)."""
    if isinstance(value, list):
        return any(masked(v) for v in value)
    if isinstance(value, dict):
        return any(masked(v) for v in value.values())
    return isinstance(value, str) and MASK in value
