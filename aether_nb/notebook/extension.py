"""``%load_ext aether_nb``: wire the notebook's store, the widget channel, run display and the ``%aether`` magics.

Lazy (nothing heavy is imported before the extension loads) and reversible (``%unload_ext aether_nb`` removes
the hooks and restores the previous channel; the store stays open so runs keep their history, and the run widgets
on the page stay live: the next ``%load_ext``, ``%reload_ext`` say, takes them over).

Re-running a cell (the documented rule, :mod:`aether_nb.notebook.reruns`): when a cell runs again and starts runs,
the runs its previous execution started that are still going are **cancelled** and both widgets say so — unless a
new start is the same run (same ``run_id``, e.g. ``agent.start(..., run_id="x")``), which is **adopted**: the cell
shows the existing run. The runs one execution starts never stop each other.

One live widget per run per page: a run already shown live under another cell (its front end reported a view)
shows a one-line pointer there instead of a second copy. Stopping a run a cell awaits prints one line, not a
``RunCancelled`` traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import IPython
from IPython.display import display

from aether_nb import config
from aether_nb.errors import AetherError, RunCancelled, StorageError
from aether_nb.notebook import store_home
from aether_nb.notebook.channel import WidgetChannel
from aether_nb.notebook.crowd import MAX_DRAWN, CellCrowd, stopped
from aether_nb.notebook.interrupts import InterruptWakeup
from aether_nb.notebook.kernel_parent import CommParentGuard
from aether_nb.notebook.notices import REATTACHED_NOTICE
from aether_nb.notebook.reruns import CellRuns
from aether_nb.notebook.tracebacks import groups_as_notes, user_frames
from aether_nb.notebook.widget import RunView, RunWidget, request_of
from aether_nb.runtime.interrupted import told
from aether_nb.runtime.run import Run
from aether_nb.runtime.status import words
from aether_nb.runtime.taskgraph import TaskGraph
from aether_nb.store import redact

__all__ = ["Extension", "graph_bundle", "load", "loaded", "unload", "user_frames"]

_log = logging.getLogger("aether_nb")

_IPYTHON_COUNTS_FIRST = int(IPython.__version__.split(".")[0]) >= 9
"""IPython 9 moves ``execution_count`` on when a cell starts; IPython 8 when it ends."""


class Extension:
    """The loaded extension's state for one IPython shell."""

    def __init__(self, ip: Any) -> None:
        self.ip = ip
        self.views: dict[str, RunView] = {}
        self._reruns = CellRuns()
        self._shown: dict[str, str] = {}  # run id -> the execution (see _here) whose output shows it last
        # run id -> the execution whose output shows its live widget, and that cell's number ([N]) for pointers
        # run id -> where its widget was drawn: (execution, its number [N], the cell's id)
        self._first_cell: dict[str, tuple[str, int, str | None]] = {}
        self._crowds: dict[str, CellCrowd] = {}  # execution -> the runs it shows beyond MAX_DRAWN
        self._previous_channel: Any = None
        self._previous_custom_exc: tuple[Any, Any] | None = None
        self._cells: set[str] = set()  # the notebook's cell ids its store remembers (see store_home)
        self._cells_store: Any = None  # the store they were remembered in (the notebook's own)
        kernel = getattr(ip, "kernel", None)
        self.parent_guard = CommParentGuard(kernel) if kernel is not None else None
        self.wakeup: InterruptWakeup | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def load(self) -> None:
        session = config.session()
        # the notebook's own file, unless the user (configure / AETHER_NB_STORE) chose a store already
        chosen = session.config.get("store_configured") or os.environ.get("AETHER_NB_STORE")
        said: list[str] = []
        if getattr(session.store.inner, "closed", False) is True and session.store.location != ":memory:":
            config.configure(store=session.store.location)  # (closed by the user: a reload opens it again)
        if session.store.location == ":memory:" and not chosen:
            said = self._open_notebook_store()
        redact.prepare()  # (what the first run would load mid-run otherwise; a no-op after ag.configure(store=...))
        self.report_store(said)
        session.config.setdefault(config.STORE_OPENED, []).append(self.report_switch)
        self._previous_channel = session.config.get("channel")
        session.config["channel"] = WidgetChannel()
        session.run_observers.append(self.on_run)
        session.returned_observers.append(self.on_returned)
        self._previous_custom_exc = (self.ip.custom_exceptions, getattr(self.ip, "CustomTB", None))
        self.ip.set_custom_exc((AetherError, asyncio.CancelledError), self.cell_error)
        self.ip.display_formatter.mimebundle_formatter.for_type(Run, self.run_bundle)
        self.ip.display_formatter.mimebundle_formatter.for_type(TaskGraph, graph_bundle)
        from aether_nb.notebook.magics import AetherMagics

        self.ip.register_magics(AetherMagics(self.ip, extension=self))
        self.ip.events.register("post_run_cell", self.after_cell)
        if self.parent_guard is not None:  # widgets' comm messages must not leave a cell at [*] (see kernel_parent)
            self.parent_guard.install()
            # the interrupt button must stop a cell that awaits a run now, not when the loop next wakes (interrupts)
            self.wakeup = InterruptWakeup(asyncio.get_event_loop())
            self.wakeup.install()

    def report_switch(self) -> None:
        """A cell chose another store (``ag.configure(store=...)``): what :meth:`report_store` says, for it."""
        self.report_store(now=True)

    def report_store(self, said: list[str] | None = None, *, now: bool = False) -> None:
        """Say where runs are stored and which of them wait for an answer or were cut off: when the extension
        loads, and again when a cell picks another store (``ag.configure(store=...)`` right after ``%load_ext``
        reported on the notebook's own file, where none of the runs were)."""
        session = config.session()
        where = session.store.location
        print(
            "aether_nb: runs are kept in memory only (they will not survive a restart)"
            if where == ":memory:"
            else f"aether_nb: runs are {'now ' if now else ''}stored in {where}"
        )
        for line in said or []:
            print(line)
        if where == ":memory:":
            return
        waiting = session.store.list_runs(status="waiting")
        if waiting:
            print(
                f"aether_nb: {len(waiting)} run{'s' if len(waiting) > 1 else ''} of this store wait"
                f"{'' if len(waiting) > 1 else 's'} for an answer: `%aether runs` lists them"
            )
        # runs the last kernel was executing when it stopped: nothing executes them now, nothing is lost either
        cut = [
            r.run_id
            for s in ("running", "pending")
            for r in session.store.list_runs(status=s)
            if not getattr(session.held_run(r.run_id), "live", False)  # (not one this process executes)
        ]
        if cut:
            ids = ", ".join(cut[:3]) + (f" and {len(cut) - 3} more" if len(cut) > 3 else "")
            print(
                f"aether_nb: {len(cut)} run{'s were' if len(cut) > 1 else ' was'} cut off while running ({ids}): "
                f"`%aether resume {cut[0]}` goes on from its last completed step; `%aether runs` lists them"
            )

    def _open_notebook_store(self) -> list[str]:
        """Open the notebook's own store (``<notebook>.aether.duckdb``), or the one it had before a rename (see
        :mod:`aether_nb.notebook.store_home`); returns what to tell the person about it.

        The extension loads whatever happens to that file: when it cannot be opened (another kernel holds it, it
        is damaged or unreadable) or opening it would leave runs behind (runs started before ``%load_ext`` live in
        memory), runs stay in memory and the person is told why and what to do. A ``%load_ext`` that raised left
        nothing to answer a waiting run in, and it looked like a store the person had chosen to switch from."""
        path = config.notebook_store_path(user_ns=self.ip.user_ns, cwd=os.getcwd())
        notebook = config.notebook_path(user_ns=self.ip.user_ns, cwd=os.getcwd())
        live = [r.id for r in config.session().known_runs() if r.live]
        if live:
            runs = ", ".join(live[:3]) + (f" and {len(live) - 3} more" if len(live) > 3 else "")
            print(
                f"aether_nb: {'runs' if len(live) > 1 else 'run'} {runs} {'are' if len(live) > 1 else 'is'} live in "
                f"this kernel's memory (running, or waiting for an answer): opening this notebook's store "
                f"{path.name} now would leave {'them' if len(live) > 1 else 'it'} behind, so this kernel keeps its "
                "runs in memory for now (they will not survive a restart). Once they end (await, answer or cancel "
                f"them), `%aether store {_store_arg(path)}` keeps runs in the notebook's store.",
                file=sys.stderr,
            )
            return []
        said: list[str] = []
        here = self._cell_id()
        cells = {here} if here is not None else set()
        if notebook is not None and not path.exists():
            # (the notebook file is read only here: a notebook with big outputs takes a while to parse)
            cells |= store_home.cell_ids(notebook)
            found = store_home.find_previous(path, cells)
            if found.previous is not None and store_home.adopt(found.previous, path):
                said.append(
                    f"aether_nb: this notebook's store was {found.previous.name} (the notebook was renamed): it is "
                    f"{path.name} now, with its runs, waiting runs, memory and artifacts"
                )
            else:  # (a store this notebook had that could not be taken over is pointed at with the others)
                unclaimed = (found.previous, *found.unclaimed) if found.previous is not None else found.unclaimed
                line = store_home.describe(dataclasses.replace(found, previous=None, unclaimed=unclaimed))
                said += [line] if line else []
        try:
            config.configure(store=path)
        except StorageError as exc:
            # Keep working, in memory, and say so plainly: what failed, and what opens the file once it is fixed.
            if exc.code == "locked":  # another kernel holds the file
                then = "`%aether store PATH` switches to a file of its own."
            elif exc.code == "open_failed":  # not a DuckDB file (damaged, or another program's), unreadable
                then = (
                    "The file was left as it is: move it aside (or delete it, if nothing in it matters), then "
                    f"`%aether store {_store_arg(path)}` starts a new store there; `%aether store PATH` opens another."
                )
            else:
                then = f"Once that is fixed, `%aether store {_store_arg(path)}` opens it."
            print(
                f"aether_nb: this notebook's store could not be opened: {exc.message}\nThis kernel keeps its runs "
                f"in memory for now (they will not survive a restart). {then}",
                file=sys.stderr,
            )
            return said
        if notebook is not None:
            self._cells = store_home.remember_cells(config.session().store, cells)
            self._cells_store = config.session().store
        return said

    def _remember_cell(self, cell: str | None) -> None:
        """A run started in ``cell``: the notebook's store remembers the cell (see store_home)."""
        store = config.session().store
        if cell is None or cell in self._cells or store is not self._cells_store:
            return
        self._cells = store_home.remember_cells(store, [cell])

    def unload(self) -> None:
        session = config.session()
        if self.parent_guard is not None:
            self.parent_guard.remove()
        if self.wakeup is not None:
            self.wakeup.remove()
            self.wakeup = None
        if self.on_run in session.run_observers:
            session.run_observers.remove(self.on_run)
        if self.on_returned in session.returned_observers:
            session.returned_observers.remove(self.on_returned)
        reports = session.config.get(config.STORE_OPENED) or []
        if self.report_switch in reports:
            reports.remove(self.report_switch)
        if self.after_cell in self.ip.events.callbacks.get("post_run_cell", []):
            self.ip.events.unregister("post_run_cell", self.after_cell)
        if self._previous_channel is not None:
            session.config["channel"] = self._previous_channel
        if self._previous_custom_exc is not None:
            self.ip.custom_exceptions, custom_tb = self._previous_custom_exc
            if custom_tb is not None:
                self.ip.CustomTB = custom_tb
        self.ip.display_formatter.mimebundle_formatter.pop(Run, None)
        self.ip.display_formatter.mimebundle_formatter.pop(TaskGraph, None)
        self.ip.magics_manager.magics["line"].pop("aether", None)
        # The run widgets on the page stay as they are (not closed): closing one removed it from its cell, a waiting
        # run's answer box with it, and the saved notebook said "model not found" there. The next load takes them
        # over (see take_over), so ``%reload_ext`` (what IPython says to type when ``%load_ext`` runs again) keeps them.
        if not getattr(session.store.inner, "closed", False):  # (closed by the user: nothing to flush, and
            session.store.flush()  # raising here left the extension half unloaded, %aether gone and "loaded")

    def take_over(self, previous: Extension) -> None:
        """Go on with what the extension unloaded from this shell (``%reload_ext``) knew: its live widgets, where
        each run is shown, and the runs each cell started (the re-run rule). Why: the unload closed every widget,
        so a run waiting for an answer lost its widget (its cell still said "see its widget above"), and a second
        ``%aether resume`` drew one more. A store changed meanwhile (a closed one reopened) has other run objects:
        the widgets of runs the session no longer holds are closed, as they show runs of a store that is gone."""
        session = config.session()
        for run_id, view in list(previous.views.items()):
            if session.held_run(run_id) is not view.run:
                previous.views.pop(run_id).close()
        self.views, self._reruns, self._shown = previous.views, previous._reruns, previous._shown
        self._first_cell, self._crowds = previous._first_cell, previous._crowds
        if self._cells_store is None:
            self._cells, self._cells_store = previous._cells, previous._cells_store

    # -- runs ----------------------------------------------------------------------------------------------------------
    def _cell_id(self) -> str | None:
        parent = getattr(self.ip, "parent_header", None) or {}
        cell = (parent.get("metadata") or {}).get("cellId")
        return cell if isinstance(cell, str) else None

    def _request_id(self) -> str | None:
        """The message id of the execute request whose code is running: it names one execution of one cell.

        Why not the execution count: ipykernel keeps the parent message in a context variable, so a run started
        later by a task that a cell created (an agent that starts another agent in its body) still names the
        cell that created it, while the count names the cell executing at that moment: the start looked like a
        re-run of the first cell, and cancelled the agent that made it."""
        return request_of(getattr(self.ip, "parent_header", None))

    def _here(self) -> str:
        """The execution whose output a display made now lands in: the execute request of the current context (a
        task keeps the one of the cell that created it, and so does what it displays), else the execution count.

        Why: a batch started by a task of one cell (``asyncio.create_task(batch())``) counted its widgets against
        whichever cell was executing meanwhile, and an agent started there was put in a crowd line drawn in the
        first cell's output: that cell showed nothing for it."""
        return self._request_id() or f"count {self._execution()}"

    def _execution(self) -> int:
        """The number the front end shows beside the cell being executed (``[N]``).

        Read from the cell's ``ExecutionResult``: IPython 9 moves ``execution_count`` on before a cell runs and
        IPython 8 after it, so the counter alone names the wrong cell on one of them. Outside a cell (a run
        started by a background task) the counter is the best there is.
        """
        result = getattr(getattr(self.ip, "displayhook", None), "exec_result", None)
        count = getattr(result, "execution_count", None)
        if isinstance(count, int):
            return count
        current = int(getattr(self.ip, "execution_count", 0) or 0)
        return current - 1 if _IPYTHON_COUNTS_FIRST else current

    def view_for(self, run: Run) -> RunView:
        view = self.views.get(run.id)
        if view is None:
            view = self.views[run.id] = RunView(run)
        return view

    def show(self, view: RunView, notice: str = "", *, until_end: bool = False) -> None:
        """Display the view in the current cell, once per cell execution; a run already live under another cell
        gets a one-line pointer instead of a second widget.

        ``notice`` (see :meth:`RunView.set_notice`) is said by the widget drawn here, never through a pointer: the
        widget in the other cell keeps what it says (it said "this is its live widget" of itself, for good).
        """
        run_id = view.run.id
        if self._shown.get(run_id) == self._here():
            return
        first = self._first_cell.get(run_id)
        if view.live_views > 0 and self._elsewhere(first):
            assert first is not None
            run, cell = view.run, first[1]
            text = _pointer_text(run, cell)
            display({"text/plain": text, "text/html": _pointer_html(run, text)}, raw=True)  # type: ignore[no-untyped-call]
            self._shown[run_id] = self._here()
            return
        self._shown[run_id] = self._here()
        self._first_cell[run_id] = (self._here(), self._execution(), self._cell_id())
        if notice:
            view.set_notice(notice, until_end=until_end)
        view.display()

    def _elsewhere(self, first: tuple[str, int, str | None] | None) -> bool:
        """Whether a run's widget was drawn by another cell, which still shows it. Not by an earlier execution of
        the cell running now: the front end cleared that output when the cell ran again (its view may not have
        said it closed yet), and a pointer to it pointed at nothing, leaving a waiting run no widget to answer in."""
        if first is None or first[0] == self._here():
            return False
        cell = self._cell_id()
        return cell is None or first[2] != cell

    def on_run(self, run: Run) -> None:
        """A run started (or resumed) in this process: show it under the cell, applying the re-run rule (see
        :mod:`aether_nb.notebook.reruns`).

        Notices say what happened: "adopted" only when this very cell started the run before.
        """
        cell = self._cell_id()
        request = self._request_id()
        started = self._reruns.started(cell, request, run.id, resumed=run.resumed) if cell and request else None
        replaced = self._stop_replaced(started.replaces, run.id) if started is not None else None
        if run.id not in self.views and self._drawn_here() >= self._max_drawn():
            self._crowd_here().add(run)  # a batch: counted in one line, not drawn (see crowd)
            self._remember_cell(cell)
            return
        view = self.view_for(run)
        notice = ""
        if replaced is not None:
            notice = f"This cell's previous run {replaced} was still going and has been cancelled."
        elif started is not None and started.adopted:
            notice = f"Adopted run {run.id}: this cell started it before; it goes on from where it was."
        self._remember_cell(cell)
        self.show(view, notice)

    def on_returned(self, run: Run) -> None:
        """``start(run_id=...)`` returned a run as it is: a finished one (its stored outputs; a notebook run again
        after a restart showed nothing at all for it, its old widget cleared by Run All) or one executing already.
        Shown as a started run is (a pointer when its live widget is in another cell), saying it ran nothing."""
        cell, request = self._cell_id(), self._request_id()
        if cell and request:  # (it holds its place among the runs the cell starts: see reruns)
            started = self._reruns.started(cell, request, run.id)
            self._stop_replaced(started.replaces, run.id)
            self._remember_cell(cell)
        view = self.view_for(run)
        notice = ""
        if run.done:
            notice = (
                f"Run {run.id} had finished already ({words(run.status)}): start() with its run_id returned it as it "
                "is, and nothing ran again."
            )
        self.show(view, notice)

    def _draw_waiting(self, run: Run) -> None:
        """Draw a run a cell's crowd line counted, now that it waits for an answer (see :mod:`.crowd`)."""
        view = self.view_for(run)
        self.show(view, "Drawn because it waits for you: this cell's other runs past its first widgets are counted "
                        "in one line.")  # fmt: skip

    def _stop_replaced(self, run_id: str | None, by: str | None) -> str | None:
        """Cancel ``run_id`` (a run the cell's previous execution started) if it is still going; returns it then.
        ``by``: the run that takes its place (None: the cell ran again and started fewer runs)."""
        if run_id is None:
            return None
        previous = config.session().held_run(run_id)
        if previous is None or previous.done:
            return None
        previous.cancel()
        view = self.views.get(run_id)
        if view is not None:
            view.set_notice(
                f"Cancelled: the cell was run again and started run {by}."
                if by is not None
                else "Cancelled: the cell was run again and started fewer runs."
            )
        return run_id

    def after_cell(self, result: Any) -> None:
        """A cell finished: the widgets' held-back updates go out while it is still the cell being executed, and
        the runs its previous execution left going that no new run took the place of stop (the re-run rule, see
        :mod:`aether_nb.notebook.reruns`)."""
        for view in list(self.views.values()):
            view.flush_pending()
        cell, request = self._cell_id(), self._request_id()
        if cell is None or request is None:
            return
        for run_id in self._reruns.left_over(cell, request):
            self._stop_replaced(run_id, None)

    @staticmethod
    def _max_drawn() -> int:
        drawn = config.session().config.get("widgets_per_cell")
        return drawn if isinstance(drawn, int) else MAX_DRAWN

    def _drawn_here(self) -> int:
        """How many live run widgets the cell being executed shows."""
        here = self._here()
        return sum(1 for shown in self._shown.values() if shown == here)

    def _crowd_here(self) -> CellCrowd:
        here = self._here()
        crowd = self._crowds.get(here)
        if crowd is None:
            crowd = self._crowds[here] = CellCrowd(self._max_drawn(), self._draw_waiting)
            while len(self._crowds) > 64:  # (old cells' lines are never redrawn once their runs are done)
                self._crowds.pop(next(iter(self._crowds)))
        return crowd

    def run_bundle(self, run: Run) -> dict[str, Any]:
        """How a ``Run`` displays in the notebook: its live widget (text only if already shown in this cell)."""
        if self._shown.get(run.id) == self._here():
            # The widget right above is live; the repr's status would be a snapshot that soon contradicts it.
            text = f"↑ run {run.id} ({run.graph_name}): see its widget above"
            return {"text/html": _pointer_html(run, text), "text/plain": text}
        reattached = not run.live and not run.done and run.id not in self.views
        view = self.view_for(run)
        if reattached and run.status == "waiting":
            # (a run cut off while it ran has nothing to answer: its widget says so, and how to resume it)
            view.set_notice(REATTACHED_NOTICE, until_end=True)
        first = self._first_cell.get(run.id)
        if view.live_views > 0 and self._elsewhere(first):
            assert first is not None
            self._shown[run.id] = self._here()
            text = _pointer_text(run, first[1])
            return {"text/html": _pointer_html(run, text), "text/plain": text}
        self._shown[run.id] = self._here()
        self._first_cell[run.id] = (self._here(), self._execution(), self._cell_id())
        return view.mimebundle()

    def cell_error(self, shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        """How a cell that awaited a run shows its end: a stopped run in one line (the widget's Stop button,
        ``run.cancel()``); a cell stopped by the kernel's interrupt in one line per run it showed that was stopped
        with it (the first saying what the cancelled ``await`` noted, see :mod:`aether_nb.runtime.interrupted`:
        ``gather`` of two agents stops both, and both are said); any other aether_nb error (a failed or timed-out
        run, a StateGraph's recursion limit, a replay mismatch, a usage error whose message says what to do) as a
        traceback of the user's frames only. A cancellation that stopped no run of the cell keeps asyncio's
        traceback."""
        if isinstance(value, RunCancelled):
            message = getattr(value, "message", None) or str(value)
            print(f"■ Stopped: {message}.")
            return
        if isinstance(value, asyncio.CancelledError):
            said = told(value)
            lines = [said] if said is not None else []
            for run in self._shown_here():
                if stopped(run) and not (said is not None and run.id in said):
                    lines.append(f"run {run.id} ({run.graph_name}) was stopped")
            crowd = self._crowds.get(self._here())
            more = crowd.stopped() if crowd is not None else 0
            if more:
                lines.append(
                    f"{more} more run{'s' if more > 1 else ''} of this cell {'were' if more > 1 else 'was'} stopped"
                )
            if not lines:
                shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
            for line in lines:
                print(f"■ Interrupted: {line}.")
            return
        # A cell's error output is saved with the notebook: the failing tool's message (and its chained cause)
        # may hold a secret the store and the widget redact; so does this traceback.
        printer = shell.InteractiveTB
        render = printer.structured_traceback
        printer.structured_traceback = lambda *a, **k: [redact.redact_text(line) for line in render(*a, **k)]
        try:
            with groups_as_notes(value):  # (IPython cannot draw an ExceptionGroup in a chain: see tracebacks)
                shell.showtraceback((etype, value, user_frames(value, tb)), tb_offset=tb_offset)
        finally:
            del printer.structured_traceback  # (the instance attribute: the class's method again)

    def _shown_here(self) -> list[Run]:
        """The runs whose widget (or pointer) the cell being executed shows."""
        here = self._here()
        return [self.views[r].run for r, shown in self._shown.items() if shown == here and r in self.views]


def _store_arg(path: Path) -> str:
    """``path`` as ``%aether store`` takes it: relative to the kernel's folder when it is in it, quoted if need be."""
    try:
        shown = str(path.relative_to(os.getcwd()))
    except ValueError:
        shown = str(path)
    return shlex.quote(shown)


def _pointer_text(run: Run, execution: int) -> str:
    """The one line a second cell shows for a run whose live widget is already on the page."""
    return f"↑ run {run.id} ({run.graph_name}): see its widget under cell [{execution}]"


def _pointer_html(run: Run, text: str) -> str:
    """A pointer line as HTML: the run's widget, once its kernel stops, says so in it too (it said "shown live"
    beside an inert widget). Its words hold in a saved notebook too, where no script rewrites them (they said
    "shown live" above a saved view)."""
    return f"<div class='aether-run-pointer' data-run-id='{html.escape(run.id)}'>{html.escape(text)}</div>"


def graph_bundle(graph: TaskGraph) -> dict[str, Any]:
    """``display(g)`` of a built graph: the run widget showing its nodes (and its SVG where widgets cannot run)."""
    widget = RunWidget(graph=graph.to_graph_dict())
    svg = graph.visualize()
    if svg is not None:
        widget.static_fallback = svg
    bundle = widget._repr_mimebundle_()
    data: dict[str, Any] = bundle[0] if isinstance(bundle, tuple) else bundle
    return data


_extensions: dict[int, Extension] = {}
_unloaded: dict[int, Extension] = {}  # the extension last unloaded from a shell: the next load takes over its widgets


def load(ip: Any) -> None:
    """Entry point of ``%load_ext aether_nb`` (idempotent).

    The extension counts as loaded only once everything is in place: one whose load raised was kept, so every later
    ``%load_ext`` did nothing (``%aether`` not found, runs shown as their repr) until ``%unload_ext``. What it had
    installed before it failed is removed, and the next ``%load_ext`` tries again."""
    if id(ip) in _extensions:
        return
    ext = Extension(ip)
    try:
        ext.load()
        previous = _unloaded.pop(id(ip), None)
        if previous is not None:
            ext.take_over(previous)
    except BaseException:
        try:
            ext.unload()
        except Exception:  # (the error that stopped the load is the one to show)
            _log.warning("aether_nb: removing what a failed %%load_ext installed failed too", exc_info=True)
        print(
            "aether_nb: `%load_ext aether_nb` failed (the error below says why) and installed nothing: once that is "
            "fixed, run `%load_ext aether_nb` again.",
            file=sys.stderr,
        )
        raise
    _extensions[id(ip)] = ext


def loaded(ip: Any) -> Extension | None:
    """The extension loaded in ``ip`` (None before ``%load_ext aether_nb``): for diagnostics and tests."""
    return _extensions.get(id(ip))


def unload(ip: Any) -> None:
    """Entry point of ``%unload_ext aether_nb``."""
    ext = _extensions.pop(id(ip), None)
    if ext is not None:
        ext.unload()
        _unloaded[id(ip)] = ext
