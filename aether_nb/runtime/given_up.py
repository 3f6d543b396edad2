"""Steps the run's own code gave up on: journaled, so a resumed body gives up on them again, never runs them twice.

A body gives up on a call with ``asyncio.wait_for(tool(...), timeout)`` / ``asyncio.timeout``, a ``TaskGroup``
whose other task failed, or by cancelling the call's task itself; it handles that and goes on (records it, asks a
person). The step ends ``CANCELLED`` (:mod:`~aether_nb.runtime.step_cancels`). Were it left out of the journal, a
resumed execution (a new process after a crash, or the same one after the run left memory) would run the call again:
its effect twice ("quote requested" twice), and a call that answers in time now sends the body down the other path
(a :class:`~aether_nb.errors.ReplayMismatch` at its next journaled step, blaming changed code).

So such a step is journaled as given up (a ``failed`` entry marked :data:`GIVEN_UP`, with the failures of
:mod:`~aether_nb.runtime.failures`) once the run shows it goes on (a step of it starts), and its replay runs
nothing: the call *parks* until the body gives up on it again, then raises ``CancelledError`` there. Parking (not
raising at once) sends the body down the same path: ``wait_for`` turns the cancel of its own timeout into
``TimeoutError`` (a call that ended cancelled before the timeout would reach the body as ``CancelledError``); a
``TaskGroup``'s other task replays its failure and cancels it. Not journaled before a step starts: the other
branches of a ``gather`` whose branch failed are cancelled the same way once the body has ended (see
:mod:`~aether_nb.runtime.leftovers`); nothing goes on after them, that run ends.

What the user gets for a call whose effect may have started before the cancel (a transfer sent, then cancelled
while awaiting its reply): the effect is unknown, as it was when the body gave up on it; it happened at most once,
and a resume never runs the call again. A body that would not give up on it again (its code changed: no timeout any
more) waits on it until the run is stopped.

Not journaled, so a resume runs the step as before: a run stopped as a whole (``run.cancel()``, a kernel interrupt
of the cell that owns it), a step its scheduler cancels on purpose (and every step inside it), a question that
moved elsewhere, a run that left memory, the loop going away, and waits (their own records replay a given-up
question). A failed run retried with ``resume_mode="failed_nodes"`` runs given-up steps again, as its failed ones.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, NoReturn

from aether_nb.runtime.codec import preview
from aether_nb.runtime.failures import FAILED
from aether_nb.runtime.step_cancels import loop_going_away, moved
from aether_nb.store.records import FINISHED_RUN_STATUSES, JournalEntry

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Execution, Scope

__all__ = ["GIVEN_UP", "given_up", "journal_given_up", "note_given_up", "replay_given_up"]

_pending: weakref.WeakKeyDictionary[Execution, list[tuple[str, str, str]]] = weakref.WeakKeyDictionary()
"""Steps each execution's code gave up on, not journaled yet (see :func:`note_given_up`)."""

GIVEN_UP = "given_up"
"""The key marking a journaled failure record as a step the body gave up on (its value: True)."""


def _cancelled_on_purpose(child: Scope) -> bool:
    """Whether ``child``'s step, or a step it runs inside, is one its scheduler cancels on purpose: a static graph's
    ``stop_on_first_error``, a state graph's sibling nodes stopped when one failed or paused (they run again)."""
    scope: Scope | None = child
    while scope is not None and scope.step is not None:
        parent = scope.step[0]
        if scope.node_id in parent.cancelling:
            return True
        scope = parent
    return False


def note_given_up(scope: Scope, child: Scope, key: str, name: str, kind: str, fp: str, exc: BaseException) -> None:
    """Step ``key`` of ``scope`` (its body: ``child``) was just cancelled: when the run's code gave up on it (see the
    module docstring), it is journaled as given up once the run shows it goes on (:func:`journal_given_up`).
    Called where the step's cancel is handled, after it was drawn ``CANCELLED``."""
    execution = scope.execution
    run = execution.host
    if kind == "wait" or moved(exc) or run.cancel_requested or execution.detached:
        return
    if run.record.status in FINISHED_RUN_STATUSES or _cancelled_on_purpose(child) or loop_going_away():
        return
    _pending.setdefault(execution, []).append((key, name, fp))


def journal_given_up(scope: Scope) -> None:
    """The run goes on (a step of ``scope`` starts): journal the steps its execution gave up on since its last step
    (see :func:`note_given_up`). Cheap when there are none (every step calls it)."""
    if not _pending:
        return
    execution = scope.execution
    steps = _pending.pop(execution, None)
    if not steps or execution.detached or execution.host.cancel_requested:
        return
    for key, name, fp in steps:
        record: dict[str, Any] = {
            "type": "asyncio.exceptions:CancelledError",
            "name": "CancelledError",
            "message": f"step {key} ({name}) was given up on by the run's code (a timeout, a task group, a cancel)",
            "args": [],
            GIVEN_UP: True,
        }
        try:
            scope.journal(key, name, FAILED, fp, record, None, encoded=record)
        except Exception as error:  # (the step that starts is not this one's: the run says so, and stays in memory)
            message = f"step {key!r} ({name}), which the run's code gave up on, could not be journaled "
            message += f"({type(error).__name__}: {error}): if this run is resumed in a new process, the call runs "
            message += "again. Fix what the error names."
            scope.not_journaled(key, message, detail={"reason": "given_up", "step": key})


def given_up(entry: JournalEntry) -> bool:
    """Whether a journaled failure is a step the body gave up on (replayed by :func:`replay_given_up`)."""
    value = entry.value
    return isinstance(value, dict) and value.get(GIVEN_UP) is True


async def replay_given_up(
    scope: Scope, entry: JournalEntry, kind: str, inputs: Any, parents: tuple[str, ...], meta: Any, node: bool
) -> NoReturn:
    """Replay a step the body gave up on: run nothing, park until the call is cancelled again, then raise that
    ``CancelledError`` (its node drawn as it ended: ``CANCELLED``). Never returns."""
    run = scope.run
    if node:
        run.start_node(node_id=entry.key, name=entry.name, node_kind=kind, parent=scope.node_id,
                       parents=parents, inputs=preview(inputs), replayed=True, meta=meta)  # fmt: skip
    try:
        await asyncio.get_running_loop().create_future()  # (nothing completes it: only a cancel ends it)
    except asyncio.CancelledError:
        if node:
            run.finish_node(entry.key, "CANCELLED", replayed=True)
        raise
    raise AssertionError(f"the replay of given-up step {entry.key} ended without a cancel")  # (unreachable)
