"""What the call driving a turn now brings besides its answers: a resuming call's checkpoint metadata.

A turn paused at an ``interrupt()`` or a breakpoint goes on in the run that started it, whose stored config is the
first call's. LangGraph's checkpoints written after a resume carry the *resuming* call's configurable keys and
``config["metadata"]`` (so ``get_state_history(config, filter={"user_id": ...})`` finds what that call wrote):
the resuming call notes its metadata here, per graph and run, and the turn's engine reads it for the checkpoints it
writes from then on. Kept in this process only (as the call's ``context=`` and recursion limit are): a turn that
goes on after a restart records the metadata of the call that resumed it there.

It also notes which questions that call answered for a run it starts again: a run whose task (and event loop) is
gone — the loop of an earlier sync ``invoke()``/``stream()``, each an ``asyncio.run``, or an earlier process — is
answered while no engine waits and then started again from its journal. As LangGraph runs the answered node inside
the answering call, that call returns only once each answered task has an outcome; the new engine has no record of
what the call answered, so it reads these (:mod:`aether_nb.flow.pauses`). Noted before the run starts: its
task may finish before the call looks at it.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.checkpoint_metadata import metadata_of

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

_CALLS: weakref.WeakKeyDictionary[CompiledGraph, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()
# graph -> run id -> the interrupts a call answered for the run it starts again, each with the id of the question
# the answered task asked since (None: none yet), as :attr:`Engine.answered <aether_nb.flow.pauses.Pauses>` holds
_EXPECTED: weakref.WeakKeyDictionary[CompiledGraph, dict[str, dict[str, str | None]]] = weakref.WeakKeyDictionary()


def note_resuming_call(graph: CompiledGraph, run_id: str, config: Mapping[str, Any]) -> None:
    """The call resuming run ``run_id`` of ``graph`` has this flat config: its checkpoints record its metadata."""
    _CALLS.setdefault(graph, {})[run_id] = metadata_of(config)


def resuming_metadata(graph: CompiledGraph, run_id: str) -> dict[str, Any] | None:
    """The metadata of the call that resumed the run last (None: no call resumed it in this process)."""
    if not _CALLS:  # (no call resumed a run: every superstep's checkpoint asks, and a weak lookup makes a ref)
        return None
    calls = _CALLS.get(graph)
    return None if calls is None else calls.get(run_id)


def expect_after_start(graph: CompiledGraph, run_id: str, interrupt_id: str) -> None:
    """The call answering ``interrupt_id`` of run ``run_id``, which no engine of this loop runs, starts the run
    again and returns only once the task that asked has an outcome (see :mod:`aether_nb.flow.pauses`)."""
    _EXPECTED.setdefault(graph, {}).setdefault(run_id, {})[interrupt_id] = None


def expected_outcomes(graph: CompiledGraph, run_id: str) -> dict[str, str | None] | None:
    """The interrupts answered for run ``run_id`` (started again) whose task has no outcome yet: the dict itself,
    which the run's engine updates as those tasks finish or ask again (None: none)."""
    if not _EXPECTED:  # (nothing expected of any run: every task's finish asks)
        return None
    runs = _EXPECTED.get(graph)
    return None if runs is None else runs.get(run_id)


def drop_expected_outcomes(graph: CompiledGraph, run_id: str, interrupt_ids: list[str] | None = None) -> None:
    """Nothing waits for those answered interrupts' tasks any more (all of the run's when ``interrupt_ids`` is
    None): their answer was refused, their tasks have their outcome, or the run ended."""
    runs = _EXPECTED.get(graph)
    expected = None if runs is None else runs.get(run_id)
    if runs is None or expected is None:
        return
    for interrupt_id in expected.copy() if interrupt_ids is None else interrupt_ids:
        expected.pop(interrupt_id, None)
    if not expected:
        del runs[run_id]
        if not runs:
            _EXPECTED.pop(graph, None)


def forget_call(graph: CompiledGraph, run_id: str) -> None:
    """The run ended: nothing of its calls is kept."""
    calls = _CALLS.get(graph)
    if calls is not None:
        calls.pop(run_id, None)
        if not calls:
            _CALLS.pop(graph, None)
    drop_expected_outcomes(graph, run_id)
