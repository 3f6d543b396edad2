"""Dormancy: what a run keeps while it waits outside memory (see :meth:`aether_nb.runtime.run.Run.evict`).

A parked run may leave memory (``ag.configure(max_live_waiting=...)``): its task is cancelled and nothing of its
execution stays. What must stay is small and lives here: the records of its open waits (an answer to one resumes
the run from the journal, and ``run.waits`` still lists them without a store query), and the future that code
awaiting the run waits on while no task of it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aether_nb.runtime.waits import Wait
from aether_nb.store.records import WaitRecord

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Execution, Scope
    from aether_nb.runtime.session import Session


class Dormancy:
    """The open waits an evicted run keeps, by token, and the future its awaiters wait on until it moves again."""

    def __init__(self) -> None:
        self.waits: dict[str, WaitRecord] = {}
        self.complete = True  # False: the run's waits are the store's to say (see remember)
        self._changed: asyncio.Future[None] | None = None

    def keep(self, record: WaitRecord) -> None:
        """Keep a wait of the run while it is out of memory: an open one, or one answered whose step the run had
        not reached again when it left (the resumed execution takes the answer from it)."""
        self.waits[record.token] = record

    def remember(self, known: dict[str, WaitRecord] | None, *, resumed: bool) -> None:
        """The run leaves memory: keep what its execution ``known`` of its waits (from an earlier eviction), since
        a wait answered, or open, that this execution had not reached again is no live wait to keep. An execution
        that read its earlier waits from the store (``resumed`` after a restart) leaves that to the store: the next
        execution, and a look at the run's waits, read it again."""
        if known is not None:
            self.waits.update(known)
        elif resumed:
            self.complete = False

    def get(self, token: str) -> WaitRecord | None:
        return self.waits.get(token)

    def answered(self, record: WaitRecord) -> None:
        """A kept wait was answered: keep its answered record (the resumed execution reads the answer from it)."""
        if record.token in self.waits:
            self.waits[record.token] = record

    def open_waits(self) -> list[Wait]:
        """The kept waits still open, oldest first."""
        still = [w for w in self.waits.values() if w.status == "open"]
        return [Wait.from_record(w) for w in sorted(still, key=lambda w: w.created_at)]

    def take(self) -> dict[str, WaitRecord]:
        """The kept waits, handed over (the run resumes or is cancelled); none are kept after."""
        waits, self.waits = self.waits, {}
        self.complete = True
        return waits

    async def changed(self) -> None:
        """Wait until :meth:`wake`: the run was resumed or finished."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._changed)

    def wake(self) -> None:
        """Wake everyone in :meth:`changed`."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)


_EXTERNAL: weakref.WeakKeyDictionary[Execution, int] = weakref.WeakKeyDictionary()
"""Executions with external calls in flight, and how many (see :func:`external_call`)."""


@contextlib.contextmanager
def external_call(scope: Scope | None) -> Iterator[None]:
    """Mark a request to another process as in flight for a step of ``scope`` (its ``NodeContext.scope``; None
    outside a run: nothing to mark), e.g. an MCP tool call, which the server runs now and may ask the run's
    questions during. Meanwhile the run does not leave memory, though its task may be parked on such a question:
    an eviction would cancel the request, and the resumed run would have to send it again, a second effect on the
    other side (a run that left memory must read as one that never left)."""
    if scope is None:
        yield
        return
    execution = scope.execution
    _EXTERNAL[execution] = _EXTERNAL.get(execution, 0) + 1
    try:
        yield
    finally:
        left = _EXTERNAL.get(execution, 1) - 1
        if left > 0:
            _EXTERNAL[execution] = left
        else:
            _EXTERNAL.pop(execution, None)


def only_parked(session: Session, run_id: str, execution: Execution, root: Scope) -> bool:
    """Whether an execution of run ``run_id`` (its body's scope ``root``) only waits, so it can leave memory: every
    step executing is parked or waits on its children, none is about to start, and no parked wait has its answer
    (off the live table a loop turn before its task reads it: the resumed run would ask again) or passed its
    deadline, and no external call is in flight (see :func:`external_call`). A wait that has its answer or passed
    its deadline (a sleep that is over, a question timing out) is about to let the run go on: out of memory, it
    would be resumed at once, and its park would push another such run out (300 runs of ``context.sleep`` beyond
    the cap evicted and resumed each other forever)."""
    scopes = execution.scopes
    if execution in _EXTERNAL:
        return False
    if root.active == 0 or execution.pending or not all(s.active > 0 or s.parked > 0 for s in scopes):
        return False
    parked = root.parked + sum(s.parked for s in scopes)
    if not (parked > 0 and session.parks(run_id) == parked):
        return False
    now = session.clock.now()
    return all(live.record.deadline is None or live.record.deadline > now for live in session.live_waits_of(run_id))


__all__ = ["Dormancy", "external_call", "only_parked"]
