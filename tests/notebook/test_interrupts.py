"""The wakeup that lets a signal's handler run on an idle event loop at once (aether_nb.notebook.interrupts).

The handler under test behaves as ipykernel 7.4's SIGINT handler does: it asks the loop for a callback with a plain
``call_soon`` (what tornado's ``add_callback`` is on the loop's own thread), which does not wake a loop asleep in its
selector. The real kernel's interrupt button is in tests/kernel/test_interrupt.py (which, without the wakeup, fails:
a signal sent here while the loop is still running Python finds the loop awake either way, so only an interrupt
of a kernel whose loop is known to be asleep shows the difference).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from collections.abc import Iterator

import pytest

from aether_nb.notebook.interrupts import InterruptWakeup


@pytest.fixture
def usr1() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGUSR1)
    yield
    signal.signal(signal.SIGUSR1, previous)


def _wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


def _signal_reaches_idle_loop(install: bool) -> tuple[bool, int]:
    """Send SIGUSR1 to this process while its loop awaits what the signal's handler resolves, with nothing else
    scheduled. Returns whether the handler's callback ran before a watchdog (20 s) woke the loop, and how many
    signals the wakeup read."""
    loop = asyncio.new_event_loop()
    wakeup = InterruptWakeup(loop)
    done = threading.Event()
    watchdog_woke = threading.Event()
    ran_before_watchdog: list[bool] = []

    async def main() -> None:
        fut = loop.create_future()

        def callback() -> None:
            ran_before_watchdog.append(not watchdog_woke.is_set())
            if not fut.done():
                fut.set_result(None)

        signal.signal(signal.SIGUSR1, lambda *_: loop.call_soon(callback))

        def watchdog() -> None:  # only wakes a loop that nothing else woke (it ends as soon as the test does)
            if not done.wait(20):
                watchdog_woke.set()
                loop.call_soon_threadsafe(lambda: None)

        threading.Thread(target=watchdog, daemon=True).start()
        threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1), daemon=True).start()
        await fut
        done.set()

    try:
        if install:
            assert wakeup.install()
        loop.run_until_complete(main())
    finally:
        wakeup.remove()
        loop.close()
    return ran_before_watchdog[0], wakeup.signals


def test_a_signal_wakes_the_idle_loop_at_once(usr1: None) -> None:
    ran_first, signals = _signal_reaches_idle_loop(install=True)
    assert ran_first
    assert signals == 1


def test_remove_unsets_the_descriptor_and_install_again_works() -> None:
    loop = asyncio.new_event_loop()
    try:
        wakeup = InterruptWakeup(loop)
        assert _wakeup_fd() == -1
        assert wakeup.install() and wakeup.installed
        assert _wakeup_fd() >= 0
        assert wakeup.install()  # (twice: still one descriptor)
        wakeup.remove()
        assert not wakeup.installed and _wakeup_fd() == -1
        wakeup.remove()  # (twice: nothing to do)
        assert wakeup.install()
        wakeup.remove()
    finally:
        loop.close()


def test_someone_elses_descriptor_is_left_alone() -> None:
    loop = asyncio.new_event_loop()
    theirs, other = socket.socketpair()
    theirs.setblocking(False)
    try:
        signal.set_wakeup_fd(theirs.fileno())
        wakeup = InterruptWakeup(loop)
        assert not wakeup.install()
        assert _wakeup_fd() == theirs.fileno()
        signal.set_wakeup_fd(-1)
        # set after ours: remove keeps theirs
        assert wakeup.install()
        signal.set_wakeup_fd(theirs.fileno())
        wakeup.remove()
        assert _wakeup_fd() == theirs.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        theirs.close()
        other.close()
        loop.close()


def test_off_the_main_thread_it_does_nothing() -> None:
    loop = asyncio.new_event_loop()
    got: list[bool] = []
    try:
        thread = threading.Thread(target=lambda: got.append(InterruptWakeup(loop).install()))
        thread.start()
        thread.join(10)
        assert got == [False]
        assert _wakeup_fd() == -1
    finally:
        loop.close()
