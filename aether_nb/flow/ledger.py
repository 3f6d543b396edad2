"""The call ledger of a superstep that failed or was stopped: the calls its tasks completed happen once.

A turn is one run, and a run's journal replays what its steps did when the *same run* goes on (after a kill, an
``interrupt()``, a retry). A failed or stopped turn is not gone on with: the thread's next call
(``ainvoke(None)``, new input merged, a ``Command``) starts a new turn — a new run with an empty journal — whose
first superstep runs the failed or stopped tasks again. Without more, a tool call such a task completed before
the failure or the stop (a charge, an e-mail) ran a second time; Agentflow's ToolNode answers it from its
idempotency ledger instead (agentflow-inventory §1.7: "on a replay (crash, stop, ``interrupt()`` in a sibling
tool) completed calls are returned from the ledger").

So when a superstep fails or is stopped, the checkpoint it started from records, per task, where the task ran
(``Checkpoint.ran``: the run and the task's step key, after the places it ran in earlier failed turns). When a
turn goes on from that checkpoint, each such task is given, before its node runs, the journal entries of the calls
it completed there (:func:`carry_calls`). A call replays one of them when it is the same call: the same name and
arguments in the same scope of the node (a call of a ``@graph_fn`` tool, inside it). Anything else executes:

* a call that failed there (its error is not replayed: running it again is the retry the caller asked for);
* a call with other arguments (the node's input changed, e.g. a new message: a new call);
* ``interrupt()`` answers (a failed node asks again: a wrong answer can be corrected) and the engine's own steps.

The entries are added under keys of their own (``<call key>~<n>``), never at the key the node will number the
call with: a different call there would otherwise be a ``ReplayMismatch``, where it is simply a new call.

A fork (a config naming a past checkpoint), ``update_state`` (it routes again: new tasks) and a task that finishes
leave no ledger. ``ainvoke(None)`` at an ``interrupt()`` stops the paused turn on purpose (as in LangGraph, the
node runs again with its calls), so does running a branch from an older checkpoint: those stops leave none either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.flow.checkpoint import GOTO_KEY
from aether_nb.flow.error_handlers import is_handler_failure, recorded_error
from aether_nb.flow.state import journal_form
from aether_nb.flow.types import ParentCommand
from aether_nb.runtime.failures import FAILED
from aether_nb.store.records import JournalEntry

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.tasks import Outcome, Task
    from aether_nb.runtime.execution import Scope, StepHost

RAN_KEY = "__ran__"
"""Key of a checkpoint's ``ran`` in the pending results a turn's start (or a reload) journals: the engine hands
it to the superstep that runs those tasks (a task id is a node's name, never this)."""

STOPPED_ERROR = repr(asyncio.CancelledError())
"""A checkpoint's error for a task a stop cancelled (LangGraph's, as its ``get_state`` shows it): not a failure."""

Sources = tuple[tuple[str, str], ...]
"""Where a task ran before, newest first: ``((run id, step key), ...)``."""

_NOT_CARRIED = frozenset({FAILED, "wait", "flow", "state_node"})
"""Journal entry kinds that never replay in another turn: failures (the call runs again), answers to waits
(asked again), the engine's reads of the state and the tasks of graphs run inside the node (their own
checkpoints carry their own ledger)."""


def sources_of(ledger: Mapping[str, Any], tid: str) -> Sources:
    """The places task ``tid`` ran before, from a checkpoint's ``ran`` (as journaled in a turn's start)."""
    return tuple((str(run), str(key)) for run, key in ledger.get(tid, ()))


def ledger_of(run_id: str, tasks: Iterable[Task], skip: Iterable[str] = ()) -> dict[str, list[list[str]]]:
    """The ``Checkpoint.ran`` of a superstep that failed or was stopped: for each task that ran (not a result
    reused from an earlier turn, nor one in ``skip``), its step key in this run, then where it ran before."""
    left_out = set(skip)
    out: dict[str, list[list[str]]] = {}
    for t in tasks:
        if not t.key or t.tid in left_out:
            continue
        places = [[run_id, t.key]]
        places += [[run, key] for run, key in t.ran if [run, key] not in places]
        out[t.tid] = places
    return out


def carry_calls(child: Scope, sources: Sequence[tuple[str, str]]) -> int:
    """Give the task whose step ``child`` is the body of the calls it completed where it ran before (see the
    module docstring); returns how many entries were added. Entries of this run itself are its own journal's."""
    execution = child.execution
    run = execution.host
    store = run.session.store
    carried: list[JournalEntry] = []
    for n, (run_id, key) in enumerate(sources):
        if run_id == run.id:
            continue
        old = key + "/"
        for e in store.load_journal(run_id):
            if not e.durable or e.kind in _NOT_CARRIED or not e.key.startswith(old):
                continue
            new_key = f"{child.prefix}{e.key[len(old) :]}~{n}"
            carried.append(JournalEntry(e.run_id, new_key, e.name, e.kind, e.fingerprint, e.value, True, e.created_at))
    if carried:
        execution.journal.add(carried)
    return len(carried)


def asking_keys(run: StepHost) -> list[str]:
    """The ids (step keys) of the questions the run's tasks are parked at now."""
    return [w.record.node_id for w in run.session.live_waits_of(run.id)]


def parked(task: Task, asking: Sequence[str]) -> bool:
    """Whether ``task`` is parked at one of these questions (an interrupt id starts with its task's step key)."""
    return bool(task.key) and any(i.startswith(task.key + "/") for i in asking)


def record_failure(
    engine: Engine,
    tasks: list[Task],
    done: Mapping[str, Outcome],
    errors: Mapping[str, BaseException],
    cancelled: Iterable[str] = (),
) -> None:
    """Keep the results of the tasks that finished and the errors on the checkpoint the superstep started from,
    so the next turn re-runs only the failed tasks (a task whose router failed: only its routers), and where the
    re-run ones ran (their completed calls replay then). The siblings the failure cancelled while they ran
    (``cancelled``) get the cancel as their error, as LangGraph's ``get_state`` shows them."""
    if any(isinstance(e, ParentCommand) for e in errors.values()):
        return
    for t in tasks:
        error = errors.get(t.tid)  # (an error handler's failure streamed its tasks chunks as it failed)
        if error is not None and not isinstance(error, asyncio.CancelledError) and not is_handler_failure(error):
            engine.emit_task_result(t, [], error=error)
    head = engine.current_head()
    if head is None:
        return
    pending = {tid: {"writes": journal_form(o.writes), "route": o.route.to_json()} for tid, o in done.items()}
    pending.update((tid, kept) for tid, kept in engine.unrouted.items() if tid in errors)
    if GOTO_KEY in head.pending:  # (the tasks a Command(goto=...) at its pause added run again too)
        pending[GOTO_KEY] = head.pending[GOTO_KEY]
    ran = {tid: v for tid, v in head.ran.items() if tid not in pending}
    ran.update(ledger_of(engine.run.id, tasks, skip=pending))
    recorded = {tid: STOPPED_ERROR for tid in cancelled if tid not in pending} | {
        tid: repr(recorded_error(e)) for tid, e in errors.items()
    }
    engine.checkpointer.replace(engine.thread, replace(head, pending=pending, errors=recorded, ran=ran))


def _sibling_failed(engine: Engine) -> bool:
    """Whether this subgraph's engine was cancelled because a task beside the task running it (or beside one of
    the tasks it runs in, further up) failed: its turn fails, and the results of its tasks that finished are kept
    as after a stop (LangGraph saves each task's writes as it finishes), so the re-run subgraph goes on from them."""
    parent = engine.parent
    while parent is not None:
        if parent.cancelling_siblings:
            return True
        parent = parent.parent
    return False


def record_stop(engine: Engine, tasks: list[Task], done: Mapping[str, Outcome]) -> None:
    """A stop (``astop``, a cancelled call, the kernel's interrupt) cancelled the superstep's tasks: the checkpoint
    it started from keeps the results of the tasks that had finished (``done``: LangGraph's pending writes, so the
    turn that goes on runs only the others, and a finished node's code does not run twice) and records where the
    others ran, so that turn replays their completed calls. Not for a run that only left memory (it goes on
    itself, from its own journal) nor one a call gave up on purpose (``graph.abandoned_runs``)."""
    run = engine.run
    if run.id in engine.root.graph.abandoned_runs or not (run.cancel_requested or _sibling_failed(engine)):
        return
    head = engine.current_head()
    if head is None:
        return
    pending = {**head.pending}
    pending.update((tid, {"writes": journal_form(o.writes), "route": o.route.to_json()}) for tid, o in done.items())
    ran = {tid: v for tid, v in head.ran.items() if tid not in pending}
    ran.update(ledger_of(run.id, tasks, skip=pending))
    # the stopped tasks' error is the cancel, as LangGraph records it (get_state's tasks show it); not a task
    # parked at a question, which had ended there, nor one running a subgraph (its own tasks have the cancel), nor
    # any when a failure beside the subgraph cancelled it (the task running it has the cancel), as in LangGraph
    asking = asking_keys(run) if run.cancel_requested else []
    nodes = engine.graph.nodes
    stopped = {
        t.tid: STOPPED_ERROR
        for t in tasks
        if run.cancel_requested and t.tid not in pending and not parked(t, asking) and nodes[t.node].subgraph is None
    }
    errors = {tid: e for tid, e in head.errors.items() if tid not in pending and tid not in stopped} | stopped
    if pending != head.pending or ran != head.ran or errors != head.errors:
        engine.checkpointer.replace(engine.thread, replace(head, pending=pending, ran=ran, errors=errors))
