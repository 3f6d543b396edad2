"""A kernel interrupt that stops an awaiting cell at once, not when the event loop next wakes (ipykernel 7.4).

What happens without it (ipykernel 7.4.0, ``IPythonKernel._cancel_on_sigint``; upstream ipykernel#881): while a
cell awaits (``await agent(...)``), the kernel's SIGINT handler asks the event loop to cancel the cell with
``IOLoop.add_callback``, which on the loop's own thread is a plain ``call_soon``: it does not wake the loop. The loop
sleeps on until its next timer or message, so the interrupt button does nothing until then: a cell awaiting a
30-second tool call ended 26 seconds after the click, and a cell awaiting a run that waits for your answer, with
nothing else scheduled, was not stopped at all until something else woke the kernel.

:class:`InterruptWakeup` gives the process a wakeup file descriptor (``signal.set_wakeup_fd``): Python's C signal
handler writes the signal's number into it, the event loop watches its other end, so a signal wakes the loop and the
kernel's handler's callback runs at once. It only wakes the loop; the kernel's own handler still decides what an
interrupt does. It is installed only on the main thread and only when no wakeup descriptor is set already (an asyncio
signal handler sets its loop's own, which wakes that loop just as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading

__all__ = ["InterruptWakeup"]


class InterruptWakeup:
    """The wakeup descriptor of one event loop (see the module's docstring); :meth:`remove` gives the previous
    state back."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pair: tuple[socket.socket, socket.socket] | None = None
        self.signals = 0
        """How many signals woke the loop through it."""

    @property
    def installed(self) -> bool:
        return self._pair is not None

    def install(self) -> bool:
        """Watch for signals on :attr:`loop`; returns whether the descriptor is in place (False off the main thread,
        where signals cannot be configured, or when another wakeup descriptor is set)."""
        if self._pair is not None:
            return True
        if threading.current_thread() is not threading.main_thread() or self.loop.is_closed():
            return False
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)  # (set_wakeup_fd requires it: the C handler must never block)
        try:
            previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            reader.close()
            writer.close()
            return False
        if previous != -1:  # someone else's: leave it as it was
            signal.set_wakeup_fd(previous)
            reader.close()
            writer.close()
            return False
        try:
            self.loop.add_reader(reader.fileno(), self._drain)
        except (NotImplementedError, RuntimeError):  # a loop that cannot watch sockets
            signal.set_wakeup_fd(-1)
            reader.close()
            writer.close()
            return False
        self._pair = (reader, writer)
        return True

    def remove(self) -> None:
        """Stop watching; the process's wakeup descriptor is unset unless someone replaced it meanwhile."""
        pair, self._pair = self._pair, None
        if pair is None:
            return
        reader, writer = pair
        if threading.current_thread() is threading.main_thread():
            current = signal.set_wakeup_fd(-1)
            if current not in (-1, writer.fileno()):
                signal.set_wakeup_fd(current)  # replaced since: theirs now
        if not self.loop.is_closed():
            self.loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()

    def _drain(self) -> None:
        """Read the signal numbers written (their handlers run on their own): waking the loop was the point."""
        pair = self._pair
        if pair is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while data := pair[0].recv(4096):
                self.signals += len(data)
