"""A guard against a cell left at ``[*]`` by ipykernel 7.4 when a comm message arrives as an async cell ends.

What happens (ipykernel 7.4.0, ``Kernel.shell_main``): the main shell handles every message in one shared
``contextvars`` context, and a comm message that arrives while a cell holds the shell's lock is dispatched at once,
in a copy of that context, so an awaiting cell can hear from its widgets. When that dispatch is done, the kernel sets
the shell's parent (the request whose outputs and status it is sending) back to the value it read *before* the
dispatch. If the cell ended meanwhile and the next one started (a Run All queues them all), that value is the
previous cell's: the next cell's outputs and its final ``idle`` status go out under the previous cell's header, so
the front end shows the outputs under the wrong cell and never sees the next one end — it keeps ``[*]``. Widgets make
it likely: their front ends send comm messages as they render, right when the cell that displayed them ends. Measured
with a bare kernel (an async cell, a comm message sent as it ends, the next cell): 9 runs in 90 lost the next
cell's ``idle``; ``tests/kernel/test_kernel_parent.py`` is that measurement, with the guard.

The guard recognises that restore — it passes back the very parent object the comm's dispatch started under — and
gives it the parent current at that moment instead (the request the shell is serving now, read from the same shared
context). When nothing changed meanwhile that is the same parent, so the guard is a no-op on the kernels where the
race does not occur; it is installed only on kernels whose ``dispatch_shell`` has the concurrent mode.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["CommParentGuard"]

_MAX_MARKS = 64
"""Parents marked at once at most: a mark lives from a comm's dispatch to its restore (a loop turn or two)."""


class CommParentGuard:
    """Wraps a running ipykernel's ``dispatch_shell`` and ``set_parent`` (instance attributes, so ``remove``
    restores the kernel's own methods)."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        # id -> (the parent object concurrent comm dispatches started under, how many of them have not restored)
        self._marks: dict[int, tuple[Any, int]] = {}
        self._lock = threading.Lock()  # (subshells dispatch from their own threads)
        self._installed = False
        self.repaired = 0
        """How many restores the guard redirected to another request (the times the race happened)."""

    @staticmethod
    def needed(kernel: Any) -> bool:
        """Whether ``kernel`` dispatches comm messages concurrently with a running cell (ipykernel 7.4's mode)."""
        dispatch = getattr(type(kernel), "dispatch_shell", None)
        if dispatch is None or not callable(getattr(kernel, "get_parent", None)):
            return False
        try:
            return "concurrent" in inspect.signature(dispatch).parameters
        except (TypeError, ValueError):  # (a builtin or odd callable: not the kernel this guards)
            return False

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> bool:
        """Install the wrappers if the kernel needs them; returns whether they are in place."""
        if self._installed or not self.needed(self.kernel):
            return self._installed
        dispatch: Callable[..., Awaitable[Any]] = self.kernel.dispatch_shell
        set_parent: Callable[..., Any] = self.kernel.set_parent

        def dispatch_shell(msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False) -> Awaitable[Any]:
            if concurrent:  # marked at the call, in the caller's context: the parent the kernel just read
                self._mark(self.kernel.get_parent("shell"))
            return dispatch(msg, subshell_id=subshell_id, concurrent=concurrent)

        def guarded_set_parent(ident: Any, parent: Any, channel: str = "shell") -> Any:
            if channel == "shell" and self._marks and self._take(parent):
                now = self.kernel.get_parent("shell")  # the request served now, not the one before the comm
                if now is not parent:
                    self.repaired += 1
                    parent = now
            return set_parent(ident, parent, channel)

        self.kernel.dispatch_shell = dispatch_shell
        self.kernel.set_parent = guarded_set_parent
        self._installed = True
        return True

    def remove(self) -> None:
        """Give the kernel its own methods back."""
        if not self._installed:
            return
        for name in ("dispatch_shell", "set_parent"):
            self.kernel.__dict__.pop(name, None)
        self._marks.clear()
        self._installed = False

    def _mark(self, parent: Any) -> None:
        """One more concurrent dispatch started under ``parent`` (several comm messages can arrive during one cell,
        and each restores)."""
        with self._lock:
            known = self._marks.get(id(parent))
            if known is not None and known[0] is parent:
                self._marks[id(parent)] = (parent, known[1] + 1)
                return
            if len(self._marks) >= _MAX_MARKS:  # restores that never came (another kernel's way): forget the oldest
                self._marks.pop(next(iter(self._marks)))
            self._marks[id(parent)] = (parent, 1)

    def _take(self, parent: Any) -> bool:
        """Whether ``parent`` is a marked object (then one mark of it goes): the identity, not equality, tells the
        kernel's restore from a new request, whose parent is a message deserialised just now."""
        with self._lock:
            known = self._marks.get(id(parent))
            if known is None or known[0] is not parent:
                return False
            if known[1] > 1:
                self._marks[id(parent)] = (parent, known[1] - 1)
            else:
                del self._marks[id(parent)]
            return True
