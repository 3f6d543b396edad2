"""How a step pauses on a wait: persist it, show it, then wait for the answer or the deadline.

The order is the guarantee: the wait (and the run's ``waiting`` record) is in the store before the run says it
waits and before the prompt is shown, so a run that asks something survives any crash after that. A resumed run
finds the wait of the same step again (and an answer stored while no process held the run) instead of asking twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from aether_nb.errors import UsageError, WaitTimeout, shown
from aether_nb.runtime.binding import earlier_waits
from aether_nb.runtime.codec import decode, preview
from aether_nb.runtime.events import NodeStatusChanged, WaitAnswered, WaitClosed, WaitOpened
from aether_nb.runtime.kept_answers import despite_moving
from aether_nb.runtime.step_cancels import cancel_ends_step, moved
from aether_nb.runtime.waits import Wait, WaitSpec
from aether_nb.store.records import WaitRecord

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Presenter, Scope
    from aether_nb.runtime.session import Session


class Slots(Protocol):
    """Concurrency slots the code waiting here holds (a static graph's node under a cap: see the scheduler)."""

    def release(self) -> None:
        """Give them back while nobody runs: the wait may last hours."""

    async def retake(self) -> None:
        """Hold them again: the answer came and the node goes on."""

    def forget(self) -> None:
        """The wait given back ended without an answer (cancelled): its code, if it goes on, is not waiting."""

    @property
    def held(self) -> bool:
        """Whether they are held now (not given back while waiting, nor released at the body's end)."""


waiting_slots: contextvars.ContextVar[Slots | None] = contextvars.ContextVar("aether_waiting_slots", default=None)
"""Set by the scheduler around a capped node's step: its waits give the slots back while they wait."""


def _previous_wait(scope: Scope, key: str, earlier: list[WaitRecord] | None = None) -> WaitRecord | None:
    """The still-usable wait this step opened in an earlier execution (open, or answered meanwhile); ``earlier``:
    the run's waits as just read (by :func:`wait_key`, in the same loop turn), else read now."""
    previous = [w for w in (earlier_waits(scope) if earlier is None else earlier) if w.node_id == key]
    if previous and previous[-1].status in ("open", "answered"):
        return previous[-1]
    return None


def _close_left_open(scope: Scope, key: str) -> None:
    """The run asks something new, so it goes on: the questions whose asking task was cancelled as if the loop went
    away (kept open, for a resume: see :mod:`~aether_nb.runtime.step_cancels`) will never be answered, and are closed
    now; left open while the run went on, they were offered again after a restart, their answer going nowhere."""
    execution = scope.execution
    if not execution.left_open or execution.detached:
        return
    store = scope.run.session.store
    kept: list[str] = []
    for token in execution.left_open:
        current = store.get_wait(token)
        if current is not None and current.status == "open" and current.node_id == key:
            kept.append(token)  # the step asking now may take it up again (a retried attempt): closed at the end
            continue
        if current is not None and current.status == "open":
            current = replace(current, status="cancelled")
            store.put_wait(current)
            execution.note_wait(current)
            scope.run.emit(WaitClosed, token=token, node_id=current.node_id, reason="cancelled")
    execution.left_open[:] = kept


_TAKEN_BACK_CHECK_S = 0.05
"""How often a wait whose deadline passed while an answer was being written looks whether that answer was taken back
(its write failed): only then, and only until it is written, which is normally the end of the loop turn."""


async def _answered_by_then(session: Session, rec: WaitRecord, fut: asyncio.Future[Any]) -> bool:
    """The deadline of wait ``rec`` passed before ``fut`` (its answer) was done: True when an answer wins (``fut``
    holds it, or is cancelled), False when the wait expires.

    The one that came first wins. An answer given before the deadline fired (``run.answer``, a message to
    ``receive()``) was accepted, and ``fut`` gets it once it is written (at the end of the loop turn): the task waits
    for it. Expiring the wait then threw an accepted answer away (the message told "delivered" never reached the
    agent), and a sleep's own wake-up answer was refused ("already answered") and failed the run. A timer (a durable
    sleep) with no answer on its way is answered now, its deadline being its answer (stored like one: a resume does
    not sleep again). An answer taken back (its write failed) leaves the wait open and parked here again: it expires
    then (a sleep's is never taken back once its deadline passed, see :mod:`~aether_nb.runtime.answering`).
    """
    while not fut.done():
        live = session.live_wait(rec.token)
        if live is not None and live.future is fut:  # nothing on its way: the deadline's turn
            if rec.kind != "time":
                return False
            try:
                session.answer(rec.token, None)
            except UsageError as exc:  # (answered from another thread this instant: that answer came first)
                if exc.code != "wait_closed":
                    raise
        await asyncio.wait({fut}, timeout=_TAKEN_BACK_CHECK_S)
    return True


async def _answer_came(
    session: Session, rec: WaitRecord, fut: asyncio.Future[Any], cancel: asyncio.CancelledError
) -> bool:
    """Whether the wait ``rec`` takes its answer although its task was just cancelled (``cancel``): only when that
    cancel moves its question elsewhere (:data:`~aether_nb.runtime.step_cancels.MOVED`) and nothing else cancelled
    the task, and only when the answer had come: ``fut`` holds it, or it was given and is being written (it reaches
    ``fut`` at the end of the loop turn it was given in). The cancel is then withdrawn (``Task.uncancel``).

    Why: the question moves when the call holding it got its own reply, and an answer given in that same loop turn
    (a scripted channel's, a person's in the widget) was accepted, then cut with the wait; it was never given to the
    wait the question moved to, which then waited until its deadline. An answer given once the wait has closed
    ``moved`` is refused (``wait_closed``) to whoever gave it, so no answer accepted is dropped. An answer taken back
    (its write failed) leaves the wait open again: the question moves.
    """
    task = asyncio.current_task()
    if not moved(cancel) or task is None or task.cancelling() != 1 or fut.cancelled():
        return False
    while not fut.done():
        if session.live_wait(rec.token) is not None:
            return False  # nothing given (or taken back); or another execution of the run parks on it now
        await asyncio.wait({fut}, timeout=_TAKEN_BACK_CHECK_S)
    if fut.cancelled():  # (the run ended meanwhile: Session.close_waits)
        return False
    task.uncancel()
    return True


def _closed_by_cancel(scope: Scope, key: str, rec: WaitRecord, exc: asyncio.CancelledError) -> bool:
    """Close the wait ``rec`` of step ``key`` whose task was cancelled; True when the cancel interrupts the run
    (the wait stays open, to be resumed).

    Closed when the run was stopped, its code gave up on the question (wait_for, a task group whose other task
    failed) and goes on, or its question moved elsewhere (``moved``); an eviction or the loop going away leave it
    open, to be resumed (see step_cancels; should the run go on after all, it is closed once it asks again or ends).
    """
    run = scope.run
    store = run.session.store
    interrupted = not cancel_ends_step(scope.execution, on_purpose=key in scope.cancelling)
    if interrupted:
        scope.execution.left_open.append(rec.token)
    current = None if interrupted else store.get_wait(rec.token)
    if current is not None and current.status == "open":
        current = replace(current, status="cancelled")
        store.put_wait(current)
        scope.execution.note_wait(current)
        run.emit(WaitClosed, token=rec.token, node_id=key, reason="moved" if moved(exc) else "cancelled")
    return interrupted


async def await_answer(
    scope: Scope,
    key: str,
    spec: WaitSpec,
    present: Presenter | None,
    leaf: Scope,
    earlier: list[WaitRecord] | None = None,
) -> Any:
    """The answer to the wait of step ``key`` (see the module docstring).

    Args:
        scope: the scope whose step waits.
        key: the step key (the wait's node).
        spec: what is asked.
        present: how to show the question (default: the session's presenter for this node).
        leaf: the scope whose code is parked here (it counts as parked while it waits, see ``Run.evictable``).
        earlier: the run's waits as :func:`wait_key` read them in this loop turn (None: read them if needed).

    Raises:
        WaitTimeout: the deadline passed first; the wait is closed ``expired``.
    """
    run = scope.run
    session = run.session
    store = session.store
    rec = _previous_wait(scope, key, earlier)
    if rec is not None and rec.status == "answered":
        value = decode(rec.answer)
        run.emit(WaitAnswered, token=rec.token, node_id=key, answer=preview(value))
        return value
    if rec is None:
        _close_left_open(scope, key)
        now = session.clock.now()
        rec = WaitRecord(
            token=secrets.token_urlsafe(16),
            run_id=run.id,
            node_id=key,
            kind=spec.kind,
            prompt=spec.prompt,
            options=spec.effective_options(),
            schema=spec.schema,
            deadline=None if spec.timeout_s is None else now + spec.timeout_s,
            created_at=now,
            meta=preview(spec.meta),
        )
        store.put_wait(rec)
        scope.execution.note_wait(rec)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    session.add_live_wait(fut, run, rec)  # registered first: an answer may come at any time now
    sleeper: asyncio.Task[None] | None = None
    slots = waiting_slots.get()
    gave_back = False  # (the wait gave them back, and no answer took them again yet)
    interrupted = False
    leaf.parked += 1
    try:
        run.emit(
            WaitOpened,
            token=rec.token,
            node_id=key,
            wait_kind=rec.kind,
            prompt=rec.prompt,
            options=rec.options,
            deadline=rec.deadline,
        )
        run.emit(NodeStatusChanged, node_id=key, status=spec.node_status)
        # Durable before the run says it waits and before the prompt shows: the wait, its node, the run's
        # "waiting" record and status change share one write (with every other wait opened in this loop turn).
        run.persist_waiting()
        try:
            await store.barrier()
        finally:
            run.announce_waiting()
        run.refresh_status()
        presenter = present if present is not None else session.present_wait(scope.context)
        if presenter is not None and rec.kind != "time":  # (a sleep asks nobody; the widget shows it from run.waits)
            await presenter(Wait.from_record(rec))
        if slots is not None:
            slots.release()
            gave_back = True
        if rec.deadline is None:
            # (not ``await fut``: cancelling this task would cancel ``fut`` too, and an answer on its way to it
            # then, which the wait takes when the cancel only moves its question, would be dropped: _answer_came)
            await asyncio.wait({fut})
            value = fut.result()
        else:
            sleeper = asyncio.ensure_future(session.clock.sleep_until(rec.deadline))
            await asyncio.wait({fut, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            if not fut.done() and not await _answered_by_then(session, rec, fut):
                rec = replace(rec, status="expired")
                store.put_wait(rec)
                scope.execution.note_wait(rec)
                run.emit(WaitClosed, token=rec.token, node_id=key, reason="timeout")
                if gave_back:  # the node goes on (it may catch the timeout): under its cap again
                    assert slots is not None
                    await slots.retake()  # (cancelled, it did nothing: the wait gives them up below)
                    gave_back = False
                message = isinstance(rec.meta, dict) and rec.meta.get("message")  # (channel.receive())
                what = (
                    f"nobody answered {shown(rec.prompt)}"
                    if rec.prompt
                    else "no message came to context.channel().receive()"
                    if message
                    else f"nobody answered its {rec.kind} wait"
                )
                raise WaitTimeout(
                    f"{what} within {spec.timeout_s} s (wait {key} of run {run.id}). Catch WaitTimeout in the agent "
                    f"to carry on without {'one' if message else 'an answer'}, or give a longer timeout_s.",
                    run_id=run.id,
                    node_id=key,
                )
            value = fut.result()
    except asyncio.CancelledError as cancel:
        exc: asyncio.CancelledError = cancel
        try:
            taken = await _answer_came(session, rec, fut, exc)
        except asyncio.CancelledError as again:  # (stopped while its answer was being written)
            exc, taken = again, False
        if not taken:
            if gave_back:
                assert slots is not None
                slots.forget()
            interrupted = _closed_by_cancel(scope, key, rec, exc)
            if exc is cancel:
                raise
            raise exc from cancel
        value = fut.result()  # it had come when the question was to move: this wait takes it (step_cancels.MOVED)
    finally:
        leaf.parked -= 1
        session.pop_live_wait(rec.token, fut)
        fut.cancel()  # (no task parks on it now: an answer taken back later must not register it again)
        if sleeper is not None:
            sleeper.cancel()
        if not interrupted:  # an interrupted run keeps its stored "waiting" status, to be resumed
            run.refresh_status()
    run.emit(WaitAnswered, token=rec.token, node_id=key, answer=preview(value))
    if gave_back:  # (not when the answer came before they were given back)
        assert slots is not None
        await _hold_again(slots)
    return value


async def _hold_again(slots: Slots) -> None:
    """Hold ``slots`` again once the answer came (waiting while other bodies hold the cap). A cancel that moves the
    question lands here after the answer was taken: it is withdrawn (:mod:`~aether_nb.runtime.kept_answers`), the
    step ends with its answer; it cut the step, whose answer went nowhere and whose question was asked again. Any
    other cancel gives the wait's slots up (``forget``: left counted, the body never held them again); an
    interruption leaves the answer stored, and the resumed run takes it."""
    try:
        await despite_moving(slots.retake)
    except asyncio.CancelledError:
        slots.forget()
        raise
