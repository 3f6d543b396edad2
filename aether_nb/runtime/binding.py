"""Which earlier record a call of a resumed run is: its journal entry, its stored wait, its unfinished node.

Each call inside a run gets a key when it is made, in program order (``double_1``, ``research_1/double_1``), and a
resumed body finds what its calls did by those keys. Concurrent branches of one scope (``asyncio.gather`` of
coroutines, tasks) break the order: a replayed step returns at once where it first waited, so branches that call
after awaiting something number those calls in another order than the first execution did. So a call is matched
with what *it* did — the journal entry of the same name and arguments (:func:`bind_call`), the wait that asked the
same question (:func:`wait_key`), the unfinished node with the same inputs (:func:`bind_started`) — and keeps that
record's key, so its node id stays the one the stored history shows. A branch's call whose number holds another
call's record gets a new number. ``ReplayMismatch`` is raised only for the scope's own code, numbered in program
order: there a different call at a journaled position means the body no longer does what it did. Code that runs
in the order someone outside asks (an MCP server's questions, handled in the node's own task in the order the
server sends them, which a replay changes) says so with :func:`unordered`: its calls are matched like a branch's.

Only resumed executions pay for any of this: a fresh run's journal is empty and nothing was asked or started before.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aether_nb.errors import ReplayMismatch
from aether_nb.runtime.graph import FINAL_NODE_STATUSES
from aether_nb.store.records import JournalEntry, WaitRecord

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope


_UNORDERED: contextvars.ContextVar[bool] = contextvars.ContextVar("aether_nb_unordered", default=False)


@contextlib.contextmanager
def unordered() -> Iterator[None]:
    """Calls made inside are not in program order, though the scope's own task makes them: it does what someone
    outside asks, in the order they ask (an MCP server's questions from concurrent calls of one node's task come
    in another order after a restart), so each call finds its own earlier record by name and arguments."""
    token = _UNORDERED.set(True)
    try:
        yield
    finally:
        _UNORDERED.reset(token)


def _own(scope: Scope, ordered: bool | None) -> bool:
    """Whether the call was numbered by the scope's own code, in program order (``ordered``: the caller knows;
    never inside :func:`unordered`)."""
    if _UNORDERED.get():
        return False
    return ordered if ordered is not None else scope.task is not None and scope.task is asyncio.current_task()


def bind_call(
    scope: Scope, key: str, name: str, fp: str, inputs: Any, ordered: bool | None = None
) -> tuple[JournalEntry | None, str]:
    """The journal entry the call numbered ``key`` replays (None: it executes) and the key it keeps: the entry's, when
    the entry of the same name and arguments in this scope holds another number. ``ordered``: see :func:`_own`."""
    journal = scope.execution.journal
    try:
        entry = journal.replay(key, name, fp, inputs)
    except ReplayMismatch:
        if _own(scope, ordered):
            raise
        entry = None  # a branch's call, numbered in another order: the entry at its number is another call's
    if entry is not None:
        return entry, entry.key
    return None, (fresh_key(scope, name) if journal.holds(key) else key)


def fresh_key(scope: Scope, name: str, taken: Callable[[str], bool] | None = None) -> str:
    """The next key for ``name`` in ``scope`` that no journal entry (nor ``taken``) holds."""
    journal = scope.execution.journal
    while True:
        key = scope.next_key(name)
        if not journal.holds(key) and (taken is None or not taken(key)):
            return key


def bind_started(scope: Scope, key: str, name: str, shown: Any, ordered: bool | None = None) -> str:
    """The key of a node step that executes in a resumed run, called from a concurrent branch (the scope's own code
    keeps its number): the key of the node of the same name and inputs that an earlier execution started and did
    not finish (a nested graph_fn or a tool waiting inside), so what it did inside is found under its key again;
    a new key when the node at ``key`` is another call's unfinished one. ``shown``: the call's inputs preview."""
    started = scope.execution.started
    if _own(scope, ordered) and key not in started:
        started.add(key)
        return key
    graph = scope.run.graph

    def fits(node_id: str) -> bool:
        node = graph.node(node_id)
        return (
            node.name == name
            and node.status not in FINAL_NODE_STATUSES
            and node.id not in started
            and node.inputs == shown
        )

    chosen = key
    if not (key in graph and fits(key)):
        stem = key.rpartition("_")[0]
        same = [n.id for n in graph.nodes if n.id.rpartition("_")[0] == stem and fits(n.id)]
        if same:
            chosen = same[0]
        elif key in started or (key in graph and graph.node(key).status not in FINAL_NODE_STATUSES):
            # another call's node (unfinished from before, or one this execution gave a call already): leave it
            chosen = fresh_key(scope, name, lambda k: k in graph or k in started)
    started.add(chosen)
    return chosen


def earlier_waits(scope: Scope) -> list[WaitRecord]:
    """The run's waits from earlier executions (and this one), oldest first; none for a fresh execution."""
    execution = scope.execution
    known = execution.known_waits
    if known is not None:
        return sorted(known.values(), key=lambda w: w.created_at)
    if execution.resumed:
        run = scope.run
        return sorted(run.session.store.list_waits(run.id, status=None), key=lambda w: w.created_at)
    return []  # a fresh execution cannot have persisted a wait before


def wait_key(scope: Scope, key: str, name: str, fp: str, inputs: dict[str, Any]) -> tuple[str, list[WaitRecord] | None]:
    """The key of a wait step numbered ``key``: the key of the earlier wait (a journaled answer, or a stored wait,
    open or answered meanwhile) that asked the same thing in this scope, so a resumed run gives each question its
    own answer and never asks one twice.

    Waits of concurrent branches (``asyncio.gather`` of questions, branches that ask after steps of their own) are
    numbered in the order they happen to ask, which a replay changes (a replayed step returns at once where it
    first waited). So a question is matched by kind, prompt and options first; by its key alone only in the
    scope's own code, numbered in program order (a prompt edited before the resume finds its wait again). A
    question that matches nothing gets a key that no earlier step or wait holds. Also returns the run's waits it
    read (None: it read none), which the step's :func:`await_answer` uses instead of reading them again.
    """
    execution = scope.execution
    journal = execution.journal
    if not (journal.active or execution.resumed or execution.known_waits):
        return key, None  # a fresh execution: nothing was asked before
    bound = execution.bound_waits
    entry = journal.find(key, name, fp) if journal.active else None
    if entry is not None:  # answered and journaled: the step replays it
        bound.add(entry.key)
        return entry.key, None
    chosen: str | None = None
    stored = earlier_waits(scope)
    if stored:
        stem = key.rpartition("_")[0]  # the scope and the name: "research_1/ask_text"
        usable = [
            w
            for w in stored
            if w.node_id not in bound and w.status in ("open", "answered") and w.node_id.rpartition("_")[0] == stem
        ]
        same = [w for w in usable if _asks(w, inputs)]
        if any(w.node_id == key for w in same):
            chosen = key
        elif same:
            chosen = same[0].node_id
        elif any(w.node_id == key for w in usable) and _own(scope, None):
            chosen = key
    if chosen is None:
        taken = bound | {w.node_id for w in stored}
        chosen = key if not (journal.holds(key) or key in taken) else fresh_key(scope, name, taken.__contains__)
    bound.add(chosen)
    return chosen, stored


def _asks(wait: WaitRecord, inputs: dict[str, Any]) -> bool:
    """Whether the stored ``wait`` asks what a wait step with ``inputs`` asks (kind, prompt and options)."""
    return bool(wait.kind == inputs["kind"] and wait.prompt == inputs["prompt"] and wait.options == inputs["options"])


__all__ = ["bind_call", "bind_started", "earlier_waits", "fresh_key", "unordered", "wait_key"]
