"""What a cell shows when it starts more runs than it can draw: the first :data:`MAX_DRAWN` get their live widget,
the rest one line that counts them by status, kept current as they change; a run of the line that waits for you
gets its widget then (only a widget can take an answer while the cell awaits the batch), as many at once as the
cell's first widgets, the next one drawn as one is answered.

Why: every run a cell starts shows its widget under the cell. A cell that starts a batch (``await
asyncio.gather(*(agent(doc) for doc in docs))`` over 500 documents) made 500 live widgets: ~12 ms of the kernel each
to make, and a page the browser could hardly scroll. The line below the drawn widgets says what the others do and
how to see one; it is plain HTML (a display updated in place), so the saved notebook keeps its last counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import re
from collections.abc import Callable
from typing import Any

from IPython.display import display

from aether_nb.runtime.events import Event, RunFinished, RunStarted, RunStatusChanged
from aether_nb.runtime.run import Run
from aether_nb.runtime.status import words

__all__ = ["MAX_DRAWN", "CellCrowd", "stopped"]

MAX_DRAWN = 12
"""Live run widgets one cell execution draws by default (``ag.configure(widgets_per_cell=...)``); the runs it starts
after them are counted in one line."""

UPDATE_S = 0.25
"""The line is redrawn at most this often (a batch of runs changes status hundreds of times a second)."""

_NAMED = 5
"""Waiting runs the line names (the others are counted)."""

_ORDER = ("waiting for you", "running", "failed", "timed out", "stopped", "done")


def stopped(run: Run) -> bool:
    """Whether ``run`` was stopped, or is being stopped (cancelled, its task not unwound yet)."""
    return run.status == "cancelled" or (run.cancel_requested and not run.done)


class CellCrowd:
    """The runs one cell execution started beyond :data:`MAX_DRAWN`, as one line (see the module docstring)."""

    def __init__(self, drawn: int = MAX_DRAWN, draw: Callable[[Run], None] | None = None) -> None:
        self.drawn = drawn  # (how many widgets the cell drew: the line says so)
        self.draw = draw  # shows a run's widget under the cell: a run of the line that waits for you
        self.runs: dict[str, Run] = {}
        self._handle: Any = None
        self._redraw: asyncio.TimerHandle | None = None
        self._unsubscribe: dict[str, Callable[[], None]] = {}
        self._asking: dict[str, Callable[[], None]] = {}  # runs drawn because they wait, until they stop waiting
        self._max_asking = drawn  # at most as many such widgets at once as the cell drew (the others queue)
        # The cell's context (its execute request, which ipykernel keeps in a context variable): a run drawn when
        # another is answered is drawn from the answer's context (a widget's comm message, another cell), and its
        # widget went there, not under the batch's cell.
        self._context = contextvars.copy_context()

    def add(self, run: Run) -> None:
        """Count ``run`` in the line (shown under the cell the first time), or draw it if it waits for you."""
        if run.id in self.runs or run.id in self._asking:
            return
        self.runs[run.id] = run
        if not run.done:
            run_id = run.id

            def on_event(event: Event) -> None:
                self._on_event(run_id, event)

            self._unsubscribe[run_id] = run.subscribe(on_event)
        if run.status == "waiting":
            self._draw_next()
        if self._handle is None:
            if self.runs:  # (a run drawn at once needs no line)
                self._handle = display(self.bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._changed()

    def stopped(self) -> int:
        """How many of its runs were stopped (or are being stopped)."""
        return sum(1 for r in self.runs.values() if stopped(r))

    def text(self) -> str:
        """The line ("" once every run of it was drawn: they all came to wait for you)."""
        if not self.runs:
            return ""
        counts: dict[str, int] = {}
        waiting: list[str] = []
        for run in self.runs.values():
            said = words(run.status)
            counts[said] = counts.get(said, 0) + 1
            if run.status == "waiting":
                waiting.append(run.id)
        ordered = sorted(counts.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else len(_ORDER))
        parts = " · ".join(f"{n} {said}" for said, n in ordered)
        n = len(self.runs)
        line = f"+{n} more run{'s' if n != 1 else ''} started by this cell, not drawn ({self.drawn} are): {parts}."
        if waiting:
            names = ", ".join(waiting[:_NAMED]) + (
                f" and {len(waiting) - _NAMED} more" if len(waiting) > _NAMED else ""
            )
            later = (
                "each is drawn above as you answer the ones drawn"
                if self.draw is not None
                else ("`ag.get_run(run_id)` shows one with its question")
            )
            line += f" Waiting for you: {names}; {later}."
        return line + " `%aether runs` lists them all."

    def bundle(self) -> dict[str, str]:
        """The line as HTML and as text (a notebook read without HTML showed ``<IPython.core.display.HTML
        object>``: ``make demo``'s runner, a terminal, a diff of the saved notebook)."""
        return {"text/plain": self.text(), "text/html": self.html()}

    def html(self) -> str:
        text = self.text()
        if not text:
            return ""
        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
        return f"<div class='aether-crowd' style='opacity:.8;font-size:90%'>{body}</div>"

    def _on_event(self, run_id: str, event: Event) -> None:
        if isinstance(event, (RunStatusChanged, RunFinished, RunStarted)):
            if isinstance(event, RunFinished):
                self._unsubscribe.pop(run_id, lambda: None)()
            run = self.runs.get(run_id)
            if run is not None and run.status == "waiting":
                self._draw_next()
            self._changed()

    def _draw_next(self) -> bool:
        """Draw the runs of the line that wait for you, oldest first, while fewer than the cell's first widgets
        are drawn so and still waiting; True when one was drawn.

        Why: only a widget can take an answer while the cell awaits the batch (another cell waits for it to end).
        Counted in the line, a waiting run was named with ``ag.get_run(run_id)``, which the person could not run:
        the cell queued behind the batch, and the interrupt that freed it stopped the run. Bounded, so a batch of
        500 runs that all ask draws 12 more widgets, not 500: each one answered makes room for the next."""
        if self.draw is None:
            return False
        drew = False
        for run in [r for r in self.runs.values() if r.status == "waiting"]:
            if len(self._asking) >= self._max_asking:
                break
            del self.runs[run.id]
            self._unsubscribe.pop(run.id, lambda: None)()
            run_id = run.id

            def on_event(event: Event, run_id: str = run_id, run: Run = run) -> None:
                if run.status != "waiting" and run_id in self._asking:
                    self._asking.pop(run_id)()
                    if self._draw_next():
                        self._changed()

            self._asking[run_id] = run.subscribe(on_event)
            self.drawn += 1
            self._context.copy().run(self.draw, run)
            drew = True
        return drew

    def _changed(self) -> None:
        if self._redraw is not None or self._handle is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop here: draw now)
            self._update()
            return
        self._redraw = loop.call_later(UPDATE_S, self._update)

    def _update(self) -> None:
        self._redraw = None
        if self._handle is not None:
            self._handle.update(self.bundle(), raw=True)
