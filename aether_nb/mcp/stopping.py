"""``python -m aether_nb.mcp serve`` stopped by SIGTERM or SIGINT ends as when its client disconnects.

SIGTERM is how process managers stop a server, and how the SDK's client stops one that has not exited 2 s after
its stdin closed. Python's default for it ends the process at once, leaving the runs of the calls in progress
``running`` or ``waiting`` in the store for good. Here either signal first ends the session
(:meth:`~aether_nb.mcp.server.AgentServer.end_session`: those runs are cancelled, and stored as such within 5 s),
then stops serving.

Stopping serving cannot always finish: the stdio transport reads stdin in a worker thread that no cancellation
interrupts, so with the client's end of stdin still open the process would wait for its next line. Once the
runs are stored, a process still serving after :data:`GRACE_S` ends as the signal would have ended it (the
default action, re-raised), which a process manager reads as stopped by that signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

__all__ = ["GRACE_S", "STOP_SIGNALS", "SignalStop"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACE_S = 2.0
"""How long serving may take to end once the runs are stored, before the signal's default action ends it."""

_log = logging.getLogger("aether_nb.mcp")


class SignalStop:
    """Ends ``serving`` (the task serving the connection) on SIGTERM or SIGINT, after ``end()`` has run.

    ``received`` is the signal that stopped it, or None. A second signal while it stops is left to its default
    action (a second Ctrl-C ends the process at once).
    """

    def __init__(self, end: Callable[[], Awaitable[None]], serving: asyncio.Task[object]) -> None:
        self.received: int | None = None
        self._end = end
        self._serving = serving
        self._loop = serving.get_loop()
        self._installed: list[int] = []
        self._stopping: asyncio.Task[None] | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            try:
                self._loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # no signal handlers here (Windows, a thread)
                continue
            self._installed.append(signum)

    def remove(self) -> None:
        for signum in self._installed:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signum)
        self._installed.clear()

    def _on_signal(self, signum: int) -> None:
        if self.received is not None:
            self.remove()
            _default_action(signum)
            return
        self.received = signum
        _log.info(
            "aether_nb.mcp: %s received; cancelling the runs of the calls in progress", signal.Signals(signum).name
        )
        self._stopping = self._loop.create_task(self._stop(signum), name="aether_nb mcp serve: stopping")

    async def _stop(self, signum: int) -> None:
        try:
            await self._end()
        except Exception:  # (stopping goes on: the process is asked to end)
            _log.exception("aether_nb.mcp: ending the session on %s failed", signal.Signals(signum).name)
        self._serving.cancel()
        done, _ = await asyncio.wait({self._serving}, timeout=GRACE_S)
        if not done:  # the transport's stdin reader waits for a line no cancellation interrupts
            self.remove()
            _default_action(signum)


def _default_action(signum: int) -> None:
    """End this process as ``signum`` would have without a handler."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
