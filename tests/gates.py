"""Shared by the tests of sync bodies on threads (abandoned, queued, capped): a gate that counts the bodies running
and holds the blocked ones until the test releases them (the ``gate`` fixture, tests/conftest.py), and a wait on
state that needs no wall clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class Gate:
    """Counts the bodies running now (and the peak); ``release`` lets the blocked ones return; ``changed`` holds
    callbacks called (from the body's thread) whenever a body starts or ends, for a wait that wakes on them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = threading.Event()
        self.changed: list[Callable[[], None]] = []

    def body(self, label: str, *, block: bool) -> str:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(label)
        self._notify()
        try:
            if block:
                assert self.release.wait(20), "the test never released a blocked body"
            return label
        finally:
            with self.lock:
                self.running -= 1
                self.finished.append(label)
            self._notify()

    def _notify(self) -> None:
        for callback in list(self.changed):
            callback()


async def until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Wait on state, under a timeout (re-checked at each loop turn: bodies change it from their threads)."""

    async def check() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(check(), timeout)
