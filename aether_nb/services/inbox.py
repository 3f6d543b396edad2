"""A run's inbox: messages the user writes to a run while its agent is not in ``Channel.receive()``.

Split from :mod:`aether_nb.services.channel` (which re-exports these names): a message is either an answer to the
agent's open ``receive()`` wait, or a KV entry (scope ``inbox:<run_id>``) that the agent's next ``receive()`` takes,
in this process or after a restart.
"""

from __future__ import annotations

import time
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.run import Run
from aether_nb.runtime.waits import Wait
from aether_nb.store.protocol import Store
from aether_nb.store.redact import contains_secret

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
