"""Stopping the bodies of cancelled Dask nodes together, so that a queued body cancelled with a running one never
starts.

A run's ``cancel()`` cancels all its nodes at once. Stopped one by one (one ``client.run`` each), the interruption of
a running body frees its worker thread, which picks the next task queued on that worker, often one of the very
nodes just cancelled whose own stop has not arrived yet: its body started after ``cancel()`` had returned. Stopped
in one message, a worker marks every cancelled body stopped before it interrupts any (``BodyRegistry.stop_many``),
and a body marked stopped never starts there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aether_nb.executors.payload import remote_module

__all__ = ["BatchStopper", "Stoppable"]

_log = logging.getLogger("aether_nb.dask")


class Stoppable(Protocol):
    """A cancelled body on the cluster (a ``DaskSubmission``)."""

    token: str
    future: Any
    where: str | None

    def stopped(self) -> None:
        """Its body has ended on the cluster, or never started (and never will)."""

    def stop_failed(self, exc: Exception) -> None:
        """The cluster could not be reached to stop it."""


class BatchStopper:
    """Gathers the cancelled bodies of one executor and stops them on the workers together.

    Args:
        client: the executor's asyncio client, or None once it is closed (then nothing is sent).
    """

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client
        self._pending: dict[str, Stoppable] = {}  # by token
        self._task: asyncio.Task[None] | None = None

    def add(self, body: Stoppable) -> None:
        """Stop ``body`` with every other one cancelled meanwhile (called on the executor's loop)."""
        self._pending[body.token] = body
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._stop_all(), name="aether_nb dask stop")

    async def _stop_all(self) -> None:
        """Cancel the Dask futures of the pending bodies, then stop them on every worker in one message. Bodies
        cancelled while a Dask call is awaited join the batch (their futures are cancelled first)."""
        remote = remote_module()
        cancelled: set[str] = set()
        while self._pending:
            client = self._client()
            fresh = [b for token, b in self._pending.items() if token not in cancelled]
            try:
                if fresh:
                    cancelled.update(b.token for b in fresh)
                    futures = [b.future for b in fresh if b.future is not None]
                    if client is not None and futures:
                        await client.cancel(futures, reason="aether_nb: node cancelled or timed out")
                    continue  # others may have been cancelled meanwhile: cancel theirs too, then stop all at once
                batch, self._pending = self._pending, {}
                replies = (
                    await client.run(remote.stop_bodies, list(batch), on_error="return") if client is not None else {}
                )
            except Exception as exc:
                # The cluster could not be reached: the bodies' end cannot be confirmed. Say so, not pretend.
                batch, self._pending = self._pending, {}
                for body in batch.values():
                    body.stop_failed(exc)
                continue
            for address, reply in replies.items():
                if isinstance(reply, list):
                    for token in reply:
                        if token in batch:
                            batch[token].where = address
                else:
                    _log.warning("could not confirm on Dask worker %s that %s stopped: %r", address, list(batch), reply)
            for body in batch.values():
                body.stopped()
