"""Questions a failed or stopped turn left open, answered by ``Command(resume=...)`` as LangGraph answers them: in a
new turn, whose re-run task's ``interrupt()`` returns the answer instead of asking again.

A turn that failed or was stopped is over (its run ended), but the tasks it was running stay pending on the
thread's head checkpoint, and the questions they had asked stay in ``get_state(config).interrupts``. LangGraph keeps
a resume value as a pending write of the task it answers, so the next call runs that task again and its
``interrupt()`` returns the value; here the answers travel in the new turn's inputs (:data:`ANSWERS_KEY`, stored
with the run, so a turn resumed after a restart gets them again). Each answer is named by the question's id in the
run that asked it and by the node that asked; the task's ledger (``Checkpoint.ran``: where it ran, see
:mod:`aether_nb.flow.ledger`) maps it onto the task's step in the new run (:func:`carried_answers`), so the
``interrupt()`` at the same place of the node gets it. A question inside a subgraph reaches its task the same way:
the subgraph goes on from its own checkpoint there (:func:`~aether_nb.flow.turn_start.prepare`).

The questions a task answered before the one it left open (two ``interrupt()`` calls, the first answered) keep their
answers, as LangGraph's pending resume writes keep them. ``ainvoke(None, config)`` gives no answer: the questions
are asked again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_nb.flow.asks import answer_form, ready
from aether_nb.flow.checkpoint import task_id
from aether_nb.flow.interrupt_keys import interrupt_fp
from aether_nb.flow.types import Interrupt
from aether_nb.runtime.codec import decode
from aether_nb.runtime.waits import normalise_answer

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpoint
    from aether_nb.runtime.execution import Scope
    from aether_nb.runtime.session import Session
    from aether_nb.store.records import WaitRecord

ANSWERS_KEY = "answers"
"""Key of a turn's inputs holding the answers it starts with: ``[[run id, interrupt id, node path, value], ...]``."""

_OWN = re.compile(r"(?:[^/]+/)*interrupt_\d+")
"""An interrupt's key below its task's step key (``interrupt_2``, ``confirm_1/interrupt_1`` in a tool's step)."""


@dataclass(frozen=True, slots=True)
class LeftOpen:
    """A question a pending task of a failed or stopped turn asked last."""

    run_id: str  # the run that asked it
    interrupt: Interrupt
    record: WaitRecord | None  # its wait (None when the store no longer has it): what checks an answer


def left_open(session: Session, head: Checkpoint) -> list[LeftOpen]:
    """The questions the head's unfinished tasks asked last, as ``get_state(config).interrupts`` lists them, each
    with the run that asked it. Only tasks whose ledger says where they ran: an answer is handed to the task's
    step through it."""
    out: list[LeftOpen] = []
    waits: dict[str, dict[str, WaitRecord]] = {}
    for i, t in enumerate(head.tasks):
        tid = task_id(t, i)
        done = head.pending.get(tid)
        recorded = head.interrupts.get(tid) or []
        places = head.ran.get(tid) or []
        if (isinstance(done, dict) and "writes" in done) or not recorded or not places:
            continue
        iid, value = str(recorded[-1][0]), recorded[-1][1]
        found: WaitRecord | None = None
        run_id = str(places[0][0])
        for run, _ in places:  # (the newest run that asked it: ids are step keys, unique only within a run)
            if str(run) not in waits:
                waits[str(run)] = {w.node_id: w for w in session.store.list_waits(str(run), status=None)}
            found = waits[str(run)].get(iid)
            if found is not None:
                run_id = str(run)
                break
        meta = found.meta if found is not None and isinstance(found.meta, Mapping) else {}
        node = str(meta.get("node") or t["node"])
        asked = Interrupt(
            value,
            iid,
            "interrupt",
            node,
            found.prompt if found is not None else None,
            meta.get("response_schema"),
            meta.get("reason"),
        )
        out.append(LeftOpen(run_id, asked, found))
    return out


def checked_answers(session: Session, opens: Sequence[LeftOpen], given: Sequence[tuple[str, Any]]) -> list[list[Any]]:
    """The answers a new turn starts with (:data:`ANSWERS_KEY`), from ``given`` (``(interrupt id, value)`` as
    :func:`~aether_nb.flow.turns.resume_answers` matched them to ``opens``): each checked as its wait checks
    answers (``InvalidAnswer`` when it does not fit, nothing started), plus the answers its task had given to the
    questions it asked before in that run.

    Raises:
        InvalidAnswer: an answer does not fit its question's ``response_schema``.
    """
    by_id = {o.interrupt.id: o for o in opens}
    out: list[list[Any]] = []
    for iid, value in given:
        o = by_id[iid]
        answer = answer_form(o.interrupt, value)
        if o.record is not None:
            answer = normalise_answer(o.record, answer)
        out.append([o.run_id, iid, o.interrupt.node, answer])
        task_key = iid.split("/", 1)[0] + "/"
        for w in session.store.list_waits(o.run_id, status=None):
            meta = w.meta if isinstance(w.meta, Mapping) else {}
            if (
                w.status == "answered"
                and w.node_id != iid
                and w.node_id.startswith(task_key)
                and meta.get("flow") == "interrupt"
                and meta.get("node") == o.interrupt.node
            ):
                out.append([o.run_id, w.node_id, o.interrupt.node, decode(w.answer)])
    return out


def carried_answers(
    answers: Sequence[Sequence[Any]], sources: Sequence[tuple[str, str]], node: str, prefix: str
) -> dict[str, Any]:
    """The answers a task re-run from a failed or stopped turn starts with, by its interrupts' keys in this run:
    those asked by its node (``node``: its path, ``sub/ask`` in a subgraph) in the steps it ran at (``sources``,
    from its ledger), moved under its step's key here (``prefix``)."""
    out: dict[str, Any] = {}
    for run_id, old_key in sources:
        inside = old_key + "/"
        for run, iid, asker, value in answers:
            if run != run_id or asker != node or not str(iid).startswith(inside):
                continue
            rel = str(iid)[len(inside) :]
            if _OWN.fullmatch(rel):
                out.setdefault(prefix + rel, value)
    return out


async def answer_carried(child: Scope, node: str, key: str, answer: Any) -> Any:
    """The step of the node's own ``interrupt()`` at ``key`` that a carried answer answers, journaled and drawn done
    with it, as a question answered while no process waited (:func:`~aether_nb.flow.interrupt_keys.settle`): the
    new turn's DAG shows what was answered. (One asked inside a tool's step is the tool's: it only gets the answer.)"""
    rel = key[len(child.prefix) :]
    if "/" in rel:
        return answer
    inputs = {"kind": "human", "prompt": None, "options": None, "index": int(rel.rpartition("_")[2]) - 1}
    fp = interrupt_fp(node, key, child.prefix)
    return await child.run_step(key, "interrupt", "wait", inputs, lambda _s: ready(answer), fp=fp)
