"""``Command(resume=...)`` with the config of a past checkpoint whose superstep asked a question (a snapshot of a
pause the thread has moved past, from ``get_state_history``): as LangGraph, a branch from that checkpoint, in which
the task that asked runs again and its ``interrupt()`` returns an answer instead of asking.

LangGraph writes the resume value on the named checkpoint and runs its tasks again from there; an answer a task
recorded there wins over the new value (the question was answered when the thread went on from that checkpoint),
so the branch takes the answer the thread had: a warning says when the value given is not used. The answers
travel as those of a question a failed or stopped turn left open (:mod:`aether_nb.flow.left_open`): the branch's
head names, for each task that asked, the step where it asked (its ledger), so the re-run task's ``interrupt()``
at the same place of the node gets the answer, and the calls the task completed there replay, as at any resume
(nothing it did before its question happens twice). Its siblings run again, as on any branch.

A question asked inside a subgraph is not answered so (the subgraph would go on from its own latest checkpoint,
not from where that past checkpoint left it): the call is refused and says how to run the branch instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.checkpoint import task_id
from aether_nb.flow.edits import merge_at_pause
from aether_nb.flow.left_open import LeftOpen, checked_answers, left_open
from aether_nb.flow.resume_values import resume_answers
from aether_nb.runtime.codec import decode

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpoint
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.types import Command
    from aether_nb.runtime.run import Run
    from aether_nb.runtime.session import Session


def answer_past_question(
    graph: CompiledGraph, run: Run, thread_id: str, checkpoint_id: int, command: Command[Any]
) -> tuple[list[list[Any]], Checkpoint] | None:
    """For ``Command(resume=...)`` with the config of past checkpoint ``checkpoint_id`` (the thread's last turn
    ``run`` is over): the answers the new turn starts with and the head of the branch it runs from (the command's
    update and goto merged), or None when no task of that checkpoint has a question open there.

    Raises:
        UsageError: a question there was asked inside a subgraph, or the resume names no question there.
        AmbiguousResume: a bare value for several questions.
        InvalidAnswer: an answer does not fit its question's ``response_schema``.
    """
    session = run.session
    cp = graph.checkpointer_for(session)
    past = cp.get(thread_id, checkpoint_id)
    if past is None or not past.interrupts:
        return None
    ledger = _where_asked(session, past, run)
    opens = left_open(session, replace(past, ran=ledger)) if ledger else []
    if not opens:
        return None
    nested = [o.interrupt for o in opens if "/" in o.interrupt.node]
    if nested:
        i = nested[0]
        raise UsageError(
            f"Command(resume=...) at checkpoint {checkpoint_id} of thread {shown(thread_id)}: its question "
            f"{shown(i.value)} was asked inside a subgraph ({i.node}), which a resume at a past checkpoint does not "
            "answer; run the branch with `ainvoke(None, config)` (the question is asked again), then answer it "
            "with `ainvoke(Command(resume=value), config)`",
            code="resume_past_subgraph",
        )
    by_id = {o.interrupt.id: o for o in opens}
    given: list[tuple[str, Any]] = []
    for iid, value in resume_answers(run, [(o.interrupt.id, o.interrupt) for o in opens], command.resume):
        given.append((iid, _recorded(by_id[iid], value, thread_id)))
    carried = checked_answers(session, opens, given)
    head = merge_at_pause(
        graph, cp, thread_id, past, command.update, command.goto_list(), run_id=None, now=session.clock.now()
    )
    head = replace(head, ran={**head.ran, **ledger})
    cp.replace(thread_id, head)
    return carried, head


def _where_asked(session: Session, past: Checkpoint, run: Run) -> dict[str, list[list[Any]]]:
    """``{task id: [[run id, step key]]}``: for each unfinished task of ``past`` that asked a question there, the
    run and the step it asked from (an interrupt's id starts with its task's step key). The run is the one that
    wrote the checkpoint (it ran the superstep after it), else one its ledger names, else the thread's last."""
    out: dict[str, list[list[Any]]] = {}
    for i, t in enumerate(past.tasks):
        tid = task_id(t, i)
        asked = past.interrupts.get(tid) or []
        done = past.pending.get(tid)
        if not asked or (isinstance(done, Mapping) and "writes" in done):
            continue
        iid = str(asked[-1][0])
        runs = [past.run_id, *(r for r, _ in past.ran.get(tid) or ()), run.id]
        for run_id in dict.fromkeys(str(r) for r in runs if r):
            if any(w.node_id == iid for w in session.store.list_waits(run_id, status=None)):
                out[tid] = [[run_id, iid.split("/", 1)[0]]]
                break
    return out


def _recorded(o: LeftOpen, value: Any, thread_id: str) -> Any:
    """The answer a question gets on the branch: the one recorded when the thread went on from the checkpoint,
    as LangGraph's (its resume write there wins), else ``value``."""
    record = o.record
    if record is None or record.status != "answered":
        return value
    kept = decode(record.answer)
    if kept != value:
        warnings.warn(
            f"the question {shown(o.interrupt.value)} of thread {thread_id!r} at that checkpoint was answered with "
            f"{kept!r} when the thread went on from it; as in LangGraph the branch takes that answer and the resume "
            f"value {value!r} is not used. To answer it anew, run the branch with `ainvoke(None, config)` (the "
            "question is asked again) and answer that",
            UserWarning,
            stacklevel=7,
        )
    return kept


__all__ = ["answer_past_question"]
