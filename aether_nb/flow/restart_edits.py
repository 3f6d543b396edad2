"""A thread edited while its turn's process was gone: the turn's re-run nodes see the edit.

A turn cut off by a kill (the kernel died while a node ran) is a run whose journal holds what it finished; the
thread's next call starts that run again, which replays its finished steps and runs the others. A call that brings
new input (merged at the thread's head, Agentflow's rule), a ``Command(update=...)`` (the head rewritten) or an
``update_state`` before ``ainvoke(None)`` (an ``update`` checkpoint) edits the head while no process runs the turn;
but the restarted run rebuilds its state from its journal, not from the head. Without more, its re-run nodes got
the state from before the edit and the superstep's checkpoint wrote that state back: the edit was silently lost, the
call returned the old turn's result. A turn stopped in its process (``task.cancel()``, ``astop``) goes on from the
head with the edit, as README's "Stopping" promises for both.

So the nodes of the first superstep a restarted run executes for real (a task not in its journal) run on the
thread's head when the head is the checkpoint that superstep started from, or an edit of it, and holds other
values; the superstep's writes then merge onto it (the engine reads the state again after the superstep, journaled,
as after a pause). Only the node's state changes: its step keeps the inputs the journal knows it by, so the
unfinished node of the dead process is found again and the calls it completed replay (same run, same journal); the
superstep's tasks that finished before the kill replay whole (a task's step is matched by its superstep and task,
not by the state), so a node that finished does not run again. The read itself is not journaled on purpose: a run
killed again in that superstep reads the head again when it restarts, so a second edit is seen too.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from aether_nb.runtime.codec import NotEncodable, fingerprint

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine

_LOOKED: weakref.WeakKeyDictionary[Engine, tuple[int, dict[str, Any] | None]] = weakref.WeakKeyDictionary()
"""engine -> the superstep whose tasks it first executed, and the edited state they run on (None: not edited).
Only that superstep can meet an edit: the later ones start from the checkpoint the restarted run just wrote."""


def state_after_restart(engine: Engine, values: dict[str, Any], step: int) -> dict[str, Any]:
    """The state a task of superstep ``step`` executes on (see the module docstring): the thread's head's values
    when the task's run was restarted and the thread was edited while no process ran it, else ``values`` (the state
    the run's journal rebuilt). Unchanged for a fresh run, a subgraph (it goes on from its own checkpoint, as after
    a stop) and a run with a question open (a pause's rules apply: an answered node reads the state again itself).
    Called by :class:`~aether_nb.flow.tasks.TaskRunner` as a task starts executing (not for a replayed task)."""
    if engine.parent is not None or not engine.scope.execution.resumed:
        return values
    looked = _LOOKED.get(engine)
    if looked is None:
        looked = _LOOKED[engine] = (step, _edited(engine, values, step))
    first, edited = looked
    if first != step or edited is None:
        return values
    engine.interrupted = True  # (the superstep merges its writes onto the state read again, journaled)
    return dict(edited)


def _edited(engine: Engine, values: dict[str, Any], step: int) -> dict[str, Any] | None:
    """The head's values, when they are an edit of where superstep ``step`` started (None: they are not).

    The open questions are looked at last: the three checks are reads, and a run resumed by an answer (the common
    case, its question closed by then) usually has a head that is no edit, told without reading its waits back."""
    head = engine.checkpointer.latest(engine.thread)
    # the head is where this superstep started (step - 1: the run's own checkpoint, or the same one rewritten by a
    # Command) or an edit on top of it (an ``update`` checkpoint, step); an older head (a checkpoint the killed
    # process did not write) is not this superstep's start: the journal's state is the one to go on from
    if head is None or head.step < step - 1 or _same(head.values, values):
        return None
    if engine.graph.interrupts_of(engine.run.session.get_run(engine.run.id)):
        return None
    return head.values


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two states hold the same content, compared as stored (``==`` on a state holding a NumPy array is a
    bare ValueError); a state that cannot be hashed so counts as edited (the head is then read again: the same)."""
    try:
        return fingerprint(a) == fingerprint(b)
    except NotEncodable:
        return False
