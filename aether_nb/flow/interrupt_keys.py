"""Which ``interrupt()`` an answer belongs to.

An ``interrupt()`` is known by the step whose body calls it — a tool call, a ``@graph_fn`` call, an LLM's tool
call, at any depth; the task itself for the node's own code — and by its rank among the interrupts that step's
body called in this attempt: ``<step key>/interrupt_<n>``, which is also the key of its wait and its id in
``res["__interrupt__"]``. After an answer the node runs again from its start and the steps it completed replay
from the journal, so their bodies (and the interrupts in them) are not called again: numbering every call of the
task in one sequence gave the next question the answer of one asked inside a replayed step, and concurrent tool
calls of one node took each other's answers in whatever order their threads asked. Keyed by their step, each
answer reaches the question that asked it, however the steps replay and in whatever order concurrent calls ask.

The step is the runtime's :func:`~aether_nb.runtime.execution.step_here`: the current scope's, or in a sync
body's worker thread (which runs outside any scope) the step it runs for.

The node's own interrupts keep the keys (and fingerprints) they always had, ``<task key>/interrupt_<n>``, so a
run paused by an older aether_nb where only the node's own code asked resumes as it would have. (One where a tool
asked resumes as that version did, answers matched by their order.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.asks import ready
from aether_nb.flow.types import GraphInterrupt
from aether_nb.runtime.codec import decode, preview
from aether_nb.runtime.events import WaitAnswered
from aether_nb.runtime.execution import Scope, step_here

if TYPE_CHECKING:
    from aether_nb.store.records import WaitRecord

_ASKED = re.compile(r"(?:[^/]+/)*interrupt_\d+")
"""A task's interrupt key below the task's prefix: ``interrupt_2``, ``confirm_1/interrupt_1``."""


class AskedInterrupt(GraphInterrupt):
    """:class:`GraphInterrupt` with the key of the interrupt that raised it (see the module docstring)."""

    def __init__(
        self,
        key: str,
        index: int,
        value: Any,
        message: str | None,
        response_schema: Any = None,
        checks: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(index, value, message, response_schema, checks, reason)
        self.key = key


def asking_prefix(task_prefix: str) -> str:
    """The prefix of the keys of the interrupts called here, in the task whose step keys start with
    ``task_prefix``: the innermost step of the task whose body runs here, else the task's own."""
    step = step_here()
    if step is not None and (step + "/").startswith(task_prefix):
        return step + "/"
    return task_prefix


def interrupt_key(gi: GraphInterrupt, task_prefix: str) -> str:
    """The key of the interrupt that raised ``gi`` (a bare GraphInterrupt: the node's own n-th, as before)."""
    return gi.key if isinstance(gi, AskedInterrupt) else f"{task_prefix}interrupt_{gi.index + 1}"


def interrupt_fp(node: str, key: str, task_prefix: str) -> str:
    """The fingerprint of the wait at ``key``: a journal lookup (which also accepts another entry of the same name
    and fingerprint in the same scope) must never take another interrupt's answer. The node's own interrupts keep
    the one they always had (``...:<n - 1>``), so older journals replay."""
    rel = key[len(task_prefix) :]
    if "/" not in rel:
        return f"flow-interrupt:{node}:{int(rel.rpartition('_')[2]) - 1}"
    return f"flow-interrupt:{node}:{rel}"


def answered_before(child: Scope, node: str) -> tuple[dict[str, Any], list[WaitRecord]]:
    """In an execution resumed from the store: the answers this task's interrupts already have, by key
    (journaled, or given while no process ran it), so the node runs once with all of them instead of once per
    answer; and the waits among them answered but not journaled (their step is completed by :func:`settle`).

    The task's interrupts are its waits below its key whose ``node`` is this task's (a graph run inside the node
    has tasks of its own below it, which read their own answers)."""
    execution = child.execution
    if not execution.resumed:
        return {}, []
    prefix = child.prefix
    journal = execution.journal
    answers: dict[str, Any] = {}
    n = 1
    while (entry := journal.get(f"{prefix}interrupt_{n}")) is not None:  # (the node's own, in any version)
        answers[entry.key] = decode(entry.value)
        n += 1
    known = execution.known_waits
    run = execution.host
    records = known.values() if known is not None else run.session.store.list_waits(run.id, status=None)
    unjournaled: list[WaitRecord] = []
    for rec in records:
        key = rec.node_id
        if key in answers or not key.startswith(prefix) or not _ASKED.fullmatch(key, len(prefix)):
            continue
        meta = rec.meta
        if "/" in key[len(prefix) :] and not (isinstance(meta, Mapping) and meta.get("node") == node):
            continue  # (a task of a graph run inside the node)
        entry = journal.get(key)
        if entry is not None:
            answers[key] = decode(entry.value)
        elif rec.status == "answered":
            answers[key] = decode(rec.answer)
            unjournaled.append(rec)
    unjournaled.sort(key=lambda r: r.created_at)
    return answers, unjournaled


async def settle(child: Scope, node: str, rec: WaitRecord, answer: Any) -> None:
    """Complete the step of an ``interrupt()`` answered while no execution waited on it (a kernel restart, or a
    resume from another event loop): its DAG node ends DONE with the answer, as it would have live, instead of
    being left waiting and closed as cancelled when the run ends; the step is journaled like a live answer, and
    the run says it was answered (the widget shows the answer under its question, as for a live one)."""
    key = rec.node_id
    index = int(key.rpartition("_")[2]) - 1
    inputs = {"kind": rec.kind, "prompt": rec.prompt, "options": None, "index": index}

    def answered(_s: Scope) -> Any:
        child.run.emit(WaitAnswered, token=rec.token, node_id=key, answer=preview(answer))
        return ready(answer)

    await child.run_step(key, "interrupt", "wait", inputs, answered, fp=interrupt_fp(node, key, child.prefix))
