"""Managed values: state keys the engine fills in for each task instead of storing them (LangGraph's
``langgraph.managed``).

``remaining_steps: RemainingSteps`` lets an agent loop stop cleanly before the recursion limit (a prebuilt ReAct
agent answers "need more steps" at ``remaining_steps < 2``) rather than fail with ``GraphRecursionError``;
``is_last_step: IsLastStep`` is True in the last superstep before the limit. The values are LangGraph's: a call
starting a turn with input gives its first node ``recursion_limit - 1`` remaining steps (a resuming call, two
more, as its budget), one less each superstep; a router sees its node's value. A managed key is never written: it
is not in the checkpoints, ``invoke``'s result or the streamed values, and a node's write to it is dropped.

LangGraph's own annotations (``from langgraph.managed import RemainingSteps``) are recognised too, so a
switching user's schema builds unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin


class RemainingStepsManager:
    """The marker of :data:`RemainingSteps` (only its identity matters)."""


class IsLastStepManager:
    """The marker of :data:`IsLastStep` (only its identity matters)."""


RemainingSteps = Annotated[int, RemainingStepsManager]
"""A state key holding how many supersteps the call may still run (this one included)."""

IsLastStep = Annotated[bool, IsLastStepManager]
"""A state key that is True in the last superstep the recursion limit allows."""

_KINDS: dict[str, str] = {"RemainingStepsManager": "remaining_steps", "IsLastStepManager": "is_last_step"}
UPDATE_STATE_REMAINING = 2
"""What ``update_state``'s routing sees: LangGraph runs the routers of an update with a budget of two steps."""


def managed_kind(marker: Any) -> str | None:
    """``"remaining_steps"`` or ``"is_last_step"`` for an ``Annotated`` metadata item that marks a managed value
    (ours or LangGraph's), else None."""
    if not isinstance(marker, type) or marker.__name__ not in _KINDS:
        return None
    if marker in (RemainingStepsManager, IsLastStepManager) or marker.__module__.startswith("langgraph."):
        return _KINDS[marker.__name__]
    return None


def managed_of(hint: Any) -> str | None:
    """The managed kind a field's annotation declares (``Annotated[int, RemainingStepsManager]``), else None."""
    if get_origin(hint) is not Annotated:
        return None
    for marker in get_args(hint)[1:]:
        kind = managed_kind(marker)
        if kind is not None:
            return kind
    return None


def managed_values(managed: Mapping[str, str], remaining: int) -> dict[str, Any]:
    """The values of the managed keys ``{key: kind}`` for a task with ``remaining`` steps left."""
    return {k: remaining if kind == "remaining_steps" else remaining == 1 for k, kind in managed.items()}
