"""Answers: a run consumes an answer only once the answer is in the store (:func:`give`, ``Session.answer``).

README ("When history reaches the store"): in both durability modes an answer is durable before the run consumes
it. So an answer is stored as a :class:`~aether_nb.runtime.history.Claim` (written at the end of the loop
iteration it was given in, with every other answer of that iteration) and handed to the run only once that write
succeeded: the task parked on the wait is woken, a run that left memory resumes, a run told of it remembers it.

When the write fails (a full disk), the answer is taken back out of the pending history (never written later),
nothing is handed to the run, and the wait stays open, in memory as in the store: the task stays parked on it,
the run says ``waiting`` again and lists it in ``run.waits`` (what the widget makes its controls from), and the
run gets an ``answer_not_written`` warning saying to answer again once the store can be written. Why not keep the
answer pending and retry it: the run would go on with an answer a killed process loses (after a restart the
question was asked again and the step after it ran twice), and ``await run.answer(...)`` in ``"sync"`` mode,
which raises then, would have said "nothing kept" about an answer consumed anyway.

The answer's write also carries the run's change from ``waiting`` to ``running`` when the answered wait was the last
one keeping it waiting (:func:`_going_on`): written in a later batch, a process killed in between left a stored run
that read ``waiting`` with no open wait (listed as waiting, refusing every answer).

One exception: the answer the runtime gives a durable sleep (``context.sleep``) at its deadline is handed over
even when it cannot be written: the store then still holds the wait open with its deadline passed, and a run
resumed after a restart goes on at once there too, so nothing runs twice because of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from aether_nb.errors import InvalidAnswer, StorageError, UsageError, shown
from aether_nb.runtime.codec import NotEncodable, encode
from aether_nb.runtime.history import Claim
from aether_nb.runtime.waits import closed_wait, normalise_answer, only_wait
from aether_nb.store.records import JournalEntry, RunRecord, WaitRecord
from aether_nb.store.redact import contains_secret, redact_text
from aether_nb.store.values import json_dumps

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run
    from aether_nb.runtime.session import LiveWait, Session

__all__ = ["Given", "answer_run", "give", "not_written"]

_log = logging.getLogger(__name__)

_NO_SUCH_WAIT = "no wait has this token; a token belongs to one wait of one run — use run.waits to see the open ones"


class Given(NamedTuple):
    """An answer given: its record (``answered``, or ``closed`` for a secret kept in memory only) and the claim
    that settles once it is in the store, or taken back (``await session.store.barrier(given.written)``)."""

    record: WaitRecord
    written: Claim


def not_written(record: WaitRecord, error: BaseException) -> StorageError:
    """The error said when the answer to ``record``'s wait could not be written (its wait stays open)."""
    what = shown(record.prompt or record.kind)
    why = str(error).rstrip(".")
    return StorageError(
        f"run {record.run_id}: the answer to {what} ({record.node_id}) could not be written to the store: {why}. "
        "Nothing of it was kept and the run did not get it: the question is still open. Free disk space (or fix "
        "what the error names), then answer it again.",
        run_id=record.run_id,
        node_id=record.node_id,
        code="answer_not_written",
    )


def give(session: Session, token: str, payload: Any, *, along: Callable[[], object] | None = None) -> Given:
    """Validate an answer to the wait with ``token``, store it, and hand it to the run once it is written.

    Thread-safe (a widget's answer arrives on a kernel thread): without a loop in this thread the answer is written
    here and now. With one, it is written at the end of this loop iteration.

    ``along``: store writes that must land with the answer or not at all (``receive()`` deleting the message it
    answers with from the run's inbox), made inside the answer's claim: one batch, one transaction, taken back
    with the answer if its write fails. Made after the answer, in a write of their own, a process killed between
    the two writes left the answer stored and the message queued: read twice after a restart.

    Raises:
        UsageError: unknown token, or the wait is no longer open.
        InvalidAnswer: the payload does not fit; nothing changed and the wait stays open.
        StorageError: the answer was written here and now and that failed (nothing kept, the wait stays open).
    """
    if not isinstance(token, str):
        raise UsageError(
            f"a wait's token is a string (wait.token of one of run.waits), got {type(token).__name__}",
            code="bad_token",
        )
    if not token or "\x00" in token or len(token) > 200:
        raise UsageError(_NO_SUCH_WAIT, code="bad_token")
    live = session.live_wait(token)
    rec = session.find_wait(token)
    if rec is None:
        raise UsageError(_NO_SUCH_WAIT, code="bad_token")
    if rec.status != "open":
        raise UsageError(
            f"run {rec.run_id} cannot take this answer: {closed_wait(rec)}",
            run_id=rec.run_id,
            node_id=rec.node_id,
            code="wait_closed",
        )
    if rec.deadline is not None and rec.kind != "time" and session.clock.now() >= rec.deadline:
        # (a sleep's deadline is its answer.) A run that was not executing when its deadline passed (the kernel
        # restarted, it left memory) still shows the wait open: it closes it as expired when it goes on.
        raise UsageError(
            f"run {rec.run_id} cannot take this answer: its question {shown(rec.prompt or rec.kind)} "
            f"({rec.node_id}) passed its deadline {session.clock.now() - rec.deadline:.0f} s ago, so the run gets a "
            "WaitTimeout: `await run` for its outcome, or start a new run to ask again",
            run_id=rec.run_id,
            node_id=rec.node_id,
            code="wait_expired",
        )
    hook = session.answer_hooks.get(rec.kind)
    if hook is not None:
        payload = hook(rec, payload)
    value = normalise_answer(rec, payload)
    try:
        encoded = encode(value)
        text = json_dumps(encoded)  # (an int of any size: stored tagged, see store.values.wide_ints)
    except (NotEncodable, RecursionError, ValueError, TypeError) as exc:
        raise InvalidAnswer(
            f"answer to {rec.kind} wait {shown(rec.node_id)}: this value cannot be stored ({exc}); answer with "
            "JSON-friendly data (strings, numbers, lists, dicts)",
            run_id=rec.run_id,
            node_id=rec.node_id,
        ) from None
    if contains_secret(text):
        # A secret is never stored: a live wait gets it in memory only; a dormant run cannot keep it.
        if live is None:
            raise UsageError(
                "this answer contains a secret (an API key or credential), which aether_nb never stores, and "
                f"run {rec.run_id} is not executing to receive it directly: answer it with `await run.answer(...)`"
                " (which executes the run up to its question first), or start it with `run.resume()` first",
                run_id=rec.run_id,
                node_id=rec.node_id,
                code="secret_answer",
            )
        answered = replace(rec, status="closed", meta={**(rec.meta or {}), "secret_answer": True})
    else:
        answered = replace(rec, status="answered", answer=encoded)
    going = _going_on(session, rec, live)
    with session.store.claimed() as claim:
        session.store.put_wait(answered)
        if going is not None:
            session.store.put_run(going)  # (taken back with the answer if its write fails)
        if along is not None:
            along()
    if live is not None:
        # Taken now: a second answer meanwhile finds the answered record and is refused; the run no longer counts
        # as waiting on it. Put back if the write fails.
        session.pop_live_wait(token)
        live.run.refresh_status_threadsafe()
    claim.when_settled(lambda error: _written(session, answered, live, value, error, going))
    if claim.error is not None:  # written here and now (no loop in this thread), and that failed
        raise not_written(answered, claim.error) from claim.error
    return Given(answered, claim)


def _going_on(session: Session, rec: WaitRecord, live: LiveWait | None) -> RunRecord | None:
    """The run's record once the answer to ``rec`` is taken, if that changes its status: ``running``, when ``rec``
    was the last wait keeping it ``waiting`` (``live``: a task here is parked on it). Read before the answer is
    stored; a run executing here counts the waits its tasks are parked on, any other run its open waits."""
    owner = session.held_run(rec.run_id)
    record = owner.record if owner is not None else session.store.get_run(rec.run_id)
    if record is None or record.status != "waiting":
        return None
    if owner is not None and owner.live:
        if session.parks(rec.run_id) > (1 if live is not None else 0):
            return None  # another of its tasks still waits
    else:
        still = owner.waits if owner is not None else session.store.list_waits(rec.run_id, status="open")
        if any(w.token != rec.token for w in still):
            return None
    return replace(record, status="running", updated_at=session.clock.now())


async def answer_run(run: Run, payload: Any, token: str | None) -> None:
    """``run.answer(payload, token=...)`` (see there): validated and stored; a run no task executes here is
    resumed to take it, after its write (a run that left memory is resumed by the answer's delivery instead)."""
    session = run.session
    if token is None:
        token = only_wait(run.waits, run.id, run.status, session.store).token
    elif isinstance(token, str) and "\x00" not in token:
        rec = session.find_wait(token)
        if rec is not None and rec.run_id != run.id:
            raise UsageError(f"that token belongs to run {rec.run_id}, not {run.id}", code="bad_token")
    idle = run.task is None and not run.done  # (never executed here since it was loaded, or it left memory)
    checked = run.check_resumable() if idle else None  # before the answer is stored (see there)
    try:
        given = session.give(token, payload)
    except UsageError as exc:
        if checked is None or exc.code != "secret_answer":
            raise
        given = await _answer_when_asked(run, token, payload, checked[1])
        checked = None
    store = session.store
    # Written at the end of this loop iteration with every other answer given in it (one write for many): a
    # thousand runs answered in a row, a thousand resumed, share it. The run gets the answer after that write
    # (see _written): "sync" mode awaits it here.
    if store.durability == "sync":
        try:
            await store.barrier(given.written)
        except StorageError as exc:
            raise not_written(given.record, exc) from exc
    if checked is not None:
        run.resume(checked[1])


async def _answer_when_asked(run: Run, token: str, payload: Any, journal: list[JournalEntry]) -> Given:
    """A secret is never stored, so it cannot wait in the store for the run: the run executes up to its question
    again (a reattached widget executes nothing before an answer), then gets the answer in memory."""
    session = run.session
    run.resume(journal)

    def asked() -> bool:
        return run.done or token in session.live_tokens(run.id)

    await run.until(lambda: asked() or run.status != "waiting", None)  # (it runs again)
    await run.until(lambda: asked() or run.status == "waiting", None)  # (it asks, or parks)
    if run.done or not asked():
        now = (
            f"ended {run.status}: {redact_text(run.error or '')}"
            if run.done
            else "waits for: " + (", ".join(shown(w.prompt or w.kind) for w in run.waits))
        )
        raise UsageError(
            f"run {run.id}, resumed to receive this answer, did not ask its question again (its code changed?); "
            f"it {now}",
            run_id=run.id,
            code="question_gone",
        )
    return session.give(token, payload)


def _written(
    session: Session,
    answered: WaitRecord,
    live: LiveWait | None,
    value: Any,
    error: BaseException | None,
    going: RunRecord | None,
) -> None:
    """The answer's write ended (``error``: it failed and was taken back). Runs right after that write, on its
    thread (normally the loop's, at the end of the iteration the answer was given in): a run resumed by the answer
    (``run.answer`` of a run that left memory) runs its first step after this, and finds the answer given or not."""
    sleep_over = answered.kind == "time" and answered.deadline is not None and session.clock.now() >= answered.deadline
    if error is not None and not sleep_over:
        _not_written(session, answered, live, error)
    else:
        _deliver(session, answered, live, value, error, going)


def _deliver(
    session: Session,
    answered: WaitRecord,
    live: LiveWait | None,
    value: Any,
    error: BaseException | None,
    going: RunRecord | None,
) -> None:
    """Hand the written answer to the run: wake the task parked on the wait, tell the run (a run that left memory
    resumes to take it)."""
    if error is not None:
        _log.debug("run %s: the sleep %s ended, its end not written: %s", answered.run_id, answered.node_id, error)
    if live is None:  # a resumed execution may have reached the wait (and parked on it) while it was written
        live = session.live_wait(answered.token)
        if live is not None and live.run.id == answered.run_id:
            session.pop_live_wait(answered.token, live.future)
            live.run.refresh_status_threadsafe()
        else:
            live = None
    owner = session.held_run(answered.run_id)
    if owner is not None:
        owner.wait_answered(answered, parked=live is not None, going_on=None if error is not None else going)
    if live is not None:
        try:
            here = asyncio.get_running_loop() is live.loop
        except RuntimeError:  # a widget's answer, on a kernel thread without a loop
            here = False
        (live.loop.call_soon if here else live.loop.call_soon_threadsafe)(_resolve, live.future, value)


def _not_written(session: Session, answered: WaitRecord, live: LiveWait | None, error: BaseException) -> None:
    """The answer was taken back: the wait is open again where the run and the widget look (the task parked on it,
    ``run.waits``, the run's status), and the run says what happened and what to do."""
    from aether_nb.runtime.events import RunWarning

    if live is not None and not live.future.done() and session.live_wait(answered.token) is None:
        session.add_live_wait(live.future, live.run, live.record)
        live.run.refresh_status_threadsafe()
    told = not_written(answered, error)
    _log.error("aether_nb: %s", told.message)
    owner = session.held_run(answered.run_id)
    if owner is not None:
        detail = {"error": str(error), "token": answered.token}
        owner.emit(RunWarning, node_id=answered.node_id, code="answer_not_written", message=told.message, detail=detail)


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)
