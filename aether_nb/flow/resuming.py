"""What the call driving a turn now brings besides its answers: a resuming call's checkpoint metadata.

A turn paused at an ``interrupt()`` or a breakpoint goes on in the run that started it, whose stored config is the
first call's. LangGraph's checkpoints written after a resume carry the *resuming* call's configurable keys and
``config["metadata"]`` (so ``get_state_history(config, filter={"user_id": ...})`` finds what that call wrote):
the resuming call notes its metadata here, per graph and run, and the turn's engine reads it for the checkpoints it
writes from then on. Kept in this process only (as the call's ``context=`` and recursion limit are): a turn that
goes on after a restart records the metadata of the call that resumed it there.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.checkpoint import metadata_of

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

_CALLS: weakref.WeakKeyDictionary[CompiledGraph, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def note_resuming_call(graph: CompiledGraph, run_id: str, config: Mapping[str, Any]) -> None:
    """The call resuming run ``run_id`` of ``graph`` has this flat config: its checkpoints record its metadata."""
    _CALLS.setdefault(graph, {})[run_id] = metadata_of(config)


def resuming_metadata(graph: CompiledGraph, run_id: str) -> dict[str, Any] | None:
    """The metadata of the call that resumed the run last (None: no call resumed it in this process)."""
    calls = _CALLS.get(graph)
    return None if calls is None else calls.get(run_id)


def forget_call(graph: CompiledGraph, run_id: str) -> None:
    """The run ended: nothing of its calls is kept."""
    calls = _CALLS.get(graph)
    if calls is not None:
        calls.pop(run_id, None)
        if not calls:
            _CALLS.pop(graph, None)
