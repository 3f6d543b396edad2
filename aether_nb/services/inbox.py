"""A run's inbox: messages the user writes to a run while its agent is not in ``Channel.receive()``.

Split from :mod:`aether_nb.services.channel` (which re-exports these names): a message is either an answer to the
agent's open ``receive()`` wait, or a KV entry (scope ``inbox:<run_id>``) that the agent's next ``receive()`` takes,
in this process or after a restart.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.runtime.answering import give
from aether_nb.runtime.run import Run
from aether_nb.runtime.waits import Wait
from aether_nb.store.protocol import Store
from aether_nb.store.redact import contains_secret

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

INBOX_SCOPE = "inbox:"
"""KV scope prefix of a run's inbox (``inbox:<run_id>``): messages written while the agent was not receiving."""


def queued_messages(store: Store, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Messages waiting in a run's inbox, oldest first: ``[(key, {"text", "ts"}), ...]``."""
    scope = INBOX_SCOPE + run_id
    out = []
    for key, _ in store.kv_keys(scope):
        hit = store.kv_get(scope, key)
        if hit is not None and isinstance(hit[0], dict) and isinstance(hit[0].get("text"), str):
            out.append((key, hit[0]))
    return out


RETAKE_FIRST_S = 0.5
"""Seconds before a ``receive()`` whose taking of a queued message could not be written tries again (then twice as
long each time, at most :data:`RETAKE_MAX_S`)."""
RETAKE_MAX_S = 30.0


def take_queued(session: Session, run_id: str, token: str, delay: float = RETAKE_FIRST_S) -> bool:
    """Answer ``receive()``'s open wait ``token`` with the oldest queued message, which leaves the inbox in the
    answer's own write (one transaction, taken back with it if that write fails). Returns whether there was one.

    Why it tries again by itself: when that write fails (a full disk for a moment), the answer and the removal are
    taken back, the wait is open again and the message still queued, where nothing would offer it to the wait any
    more (a message posted later queues behind it, to keep their order): the agent waited in ``receive()`` until a
    restart. So a failed write is retried here, after ``delay`` and then longer, while a task of the run is parked on
    the wait; once the store can be written again the agent reads the message (once).
    """
    current = session.store.get_wait(token)
    if current is None or current.status != "open":
        return False  # a message written while the wait was being stored answered it already
    if current.deadline is not None and session.clock.now() >= current.deadline:
        return False  # it timed out while the run was not executing: a WaitTimeout, the message stays queued
    queued = queued_messages(session.store, run_id)
    if not queued:
        return False
    key, message = queued[0]
    scope = INBOX_SCOPE + run_id
    given = give(session, token, message["text"], along=lambda: session.store.kv_delete(scope, key))
    loop = asyncio.get_running_loop()

    def again() -> None:
        # only while a task of the run is still parked on this wait (the run executes here): a body that was told
        # the write failed ("sync") or gave up on its receive() reads the message with its next receive(), never
        # an orphan wait
        if token in session.live_tokens(run_id):
            take_queued(session, run_id, token, min(delay * 2, RETAKE_MAX_S))

    def settled(error: BaseException | None) -> None:
        if error is not None and not loop.is_closed():  # (the claim settles on the thread that tried the write)
            loop.call_soon_threadsafe(loop.call_later, delay, again)

    given.written.when_settled(settled)
    return True


def _is_message_wait(wait: Wait) -> bool:
    return wait.kind == "human" and isinstance(wait.meta, dict) and bool(wait.meta.get("message"))


def _refuse_if_finished(run: Run) -> None:
    if run.done:
        raise UsageError(f"run {run.id} is {run.status}: it reads no more messages", run_id=run.id, code="run_done")
    if run.cancel_requested:  # (stopped, not ended yet: a message queued now would never be read)
        raise UsageError(f"run {run.id} is being stopped: it reads no more messages", run_id=run.id, code="run_done")


async def post_message(run: Run, text: str) -> str:
    """Write ``text`` to a run, as the widget's message box does; returns ``"delivered"`` or ``"queued"``.

    Delivered: the agent was waiting in ``receive()`` (here or, for a run not executing, it is resumed to read it).
    Queued: the message waits in the run's inbox for the agent's next ``receive()``.

    Raises:
        UsageError: an empty message, or the run is finished.
    """
    if not isinstance(text, str) or not text.strip():
        raise UsageError("write something first: a message must be a non-empty string")
    _refuse_if_finished(run)
    store = run.session.store
    if not queued_messages(store, run.id):  # with older messages waiting, this one queues behind them (order)
        now = run.session.clock.now()
        for wait in run.waits:
            # A receive() whose deadline passed while the run was not executing (a restart, it left memory) is a
            # WaitTimeout for the agent, not a listener: the message queues for the agent's next receive(), as it
            # would in a live run. It was refused ("passed its deadline ... start a new run") and lost.
            if _is_message_wait(wait) and (wait.deadline is None or now < wait.deadline):
                try:
                    await run.answer(text, token=wait.token)
                except UsageError as exc:
                    # Its deadline passed since ``now`` (or it expired, or took another message, this instant): the
                    # agent gets its WaitTimeout (or that message), and this one queues for its next receive(), as
                    # a moment later. It was refused ("passed its deadline 0 s ago"), and lost.
                    if exc.code not in ("wait_expired", "wait_closed"):
                        raise
                    _refuse_if_finished(run)  # (closed because the run ended: nothing will read it)
                    break
                return "delivered"
    if contains_secret(text):
        raise UsageError(
            "this message contains a secret (an API key or credential), which aether_nb never stores, and the agent "
            "is not in receive() to take it directly: send it when the agent listens, or pass secrets through "
            "configuration",
            run_id=run.id,
            code="secret_message",
        )
    store.kv_set(INBOX_SCOPE + run.id, f"{time.time_ns():020d}", {"text": text, "ts": time.time()}, None)
    await store.barrier()  # queued means stored: it survives a restart from here on
    return "queued"
