"""The run widget: the live DAG and the chat of one run, under the cell that started it.

:class:`RunWidget` is the anywidget (front end in ``js/run_widget.ts``); :class:`RunView` binds it to a
:class:`~aether_nb.runtime.run.Run`: it folds the run's events into the widget's traits at most ~10 times per second
(a slim graph, sent only when it changed), and turns the browser's commands (answers, uploads, messages, stop,
downloads, inspecting one node's details) into runtime calls on the kernel's loop.

What the widget shows is what the run is (:mod:`aether_nb.runtime.status`): a finished run offers no control, its
unfinished nodes show "stopped", a failed run names the node and the error. The chat holds each question once,
with its answer; waits that no ``ask_*`` announced (a ``DualStageTool``, a StateGraph ``interrupt()``) get their
question and answer bubbles from the run's ``wait_opened``/``wait_answered`` events (:mod:`.chat_fold`).
A second cell shows a pointer instead of a second widget only when a view is drawn on its own page
(:attr:`RunView.live_views`, :mod:`.page_views`).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import pathlib
import threading
from typing import Any

import anywidget
import traitlets
from IPython import get_ipython
from IPython.display import DisplayHandle, display

from aether_nb.errors import AetherError
from aether_nb.notebook import protocol as proto
from aether_nb.notebook.chat_fold import ChatFold
from aether_nb.notebook.notices import (
    HISTORY_NOTICES,
    RAN_AGAIN_NOTICE,
    RESUMED_AFTER_FAILURE_NOTICE,
    RESUMED_NOTICE,
    SECRET_INPUTS_DONE_NOTICE,
    SECRET_STEP_DONE_NOTICE,
    SECRET_STEP_NOTICE,
    TOOL_CHANGED_NOTICE,
    refused_answer,
)
from aether_nb.notebook.page_views import PageViews, current_cell, current_page
from aether_nb.notebook.ran_again import ResumeNotice
from aether_nb.notebook.static_view import (
    failure_reason,
    header_counts,
    moment_note,
    run_words,
    static_html,
    static_svg,
    transcript,
)
from aether_nb.notebook.synced import redacted_messages, runtime_only, utf8_json
from aether_nb.runtime import status
from aether_nb.runtime.checks import utf8_safe
from aether_nb.runtime.events import (
    ChannelMessage,
    Event,
    RunFinished,
    RunStarted,
    RunWarning,
)
from aether_nb.runtime.run import Run
from aether_nb.runtime.storable import durable_inputs, not_resumable
from aether_nb.services.artifacts import parse_uri
from aether_nb.services.channel import INBOX_SCOPE, post_message, queued_messages
from aether_nb.store.redact import redact_text, redact_value


class RunWidget(anywidget.AnyWidget):
    """Shows a run: its DAG (nodes, statuses, timings, inspector), its chat, and controls for its open questions.

    Traits only carry state from the kernel to the browser; commands come back as custom messages, because trait
    sync from the browser can stall on ipykernel 7.4 (FACTS.md). ``static_html`` is the run's static view (set when
    it finishes): the front end saves it into the notebook, so a notebook reopened without this kernel shows it
    instead of "model not found".
    """

    _esm = pathlib.Path(__file__).parent / "static" / "run_widget.js"
    graph = traitlets.Dict().tag(sync=True)
    messages: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    waits: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    static_html = traitlets.Unicode("").tag(sync=True)
    view_id = traitlets.Unicode("").tag(sync=True)
    # Why a run cannot be picked up in a new process (a secret among its inputs), said where the notes after a
    # restart or in a saved notebook would say `%aether resume` (which refuses it); "" when it can.
    not_resumable = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.static_fallback = ""
        self.view_id = str(self.model_id)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle: Any = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget returns (data, metadata)
        if isinstance(data, dict):
            note = moment_note(self.graph or {}) if self.static_fallback else ""
            data["text/plain"] = self.text_summary() + (f"\n{note}" if note else "")
            if self.static_fallback:
                data["text/html"] = self.static_fallback
        return bundle

    def text_summary(self) -> str:
        """What a text-only front end (a terminal, ``make demo``) shows: status in words, nodes and the chat."""
        g = self.graph or {}
        # what the run did, as the widget's header counts it and in its words (no "0/0 nodes" for a run that only
        # used services, and no second way of counting the same run)
        did = " · ".join(header_counts(g))
        head = f"run {g.get('name', '?')} ({g.get('run_id', '?')}): {run_words(g)}"
        lines = [f"{head}, {did}" if did else head]
        if status.tone(str(g.get("status", "?"))) == "failed":
            where, why = failure_reason(g)
            lines.append("failed" + (f" {where}" if where else "") + (f": {why}" if why else ""))
        if g.get("cut_off"):
            lines.append(str(g["cut_off"]))
        chat = transcript(self.messages)
        if chat:
            lines.append(chat)
        lines.extend(f"? {w.get('prompt') or w.get('kind')}" for w in self.waits if w.get("prompt"))
        return "\n".join(lines)


class RunView:
    """Keeps a :class:`RunWidget` in step with a run and executes the widget's commands.

    Updates are coalesced: events mark the view dirty, and a flush (one comm message for all traits) happens at
    most every ``MIN_SYNC_INTERVAL_S`` — immediately when the run finishes, so the final DAG shows at once. The
    chat is folded incrementally (each event once), so a run of thousands of steps costs no more per flush.
    """

    def __init__(self, run: Run, *, notice: str = "", notice_until_end: bool = False) -> None:
        self.run = run
        self.widget = RunWidget(notice=notice)
        self._until_end = notice_until_end  # the notice says what to do while the run is unfinished (see set_notice)
        if not durable_inputs(run.record):
            self.widget.not_resumable = not_resumable(run.id).message
        self._loop = asyncio.get_event_loop()
        self._thread = threading.get_ident()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._graph_json = ""  # the last graph sent: an unchanged graph is not sent again
        self._labels: dict[str, str] = {}
        # every display of the run, not only the last: each is updated when the run ends (a notebook executed
        # headless kept an earlier cell's display, a run shown again by `%aether resume`, at "waiting" for good)
        self._handles: list[DisplayHandle] = []
        self._saved_as = ""  # the run's state (see _state) the displays' fallback was made for
        self._saved_graph = ""  # the graph (as sent) it was made from: a running run's changes between rests
        self._copy_handle: asyncio.TimerHandle | None = None  # the next refresh of a running run's saved copy
        self._last_copy = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pages = PageViews()  # the front-end views drawn now, by page (``view``/``unview`` messages)
        self._shown_in: dict[str, set[str]] = {}  # page -> the cells whose execution displayed the widget there
        self._chat = ChatFold(run)  # the run's events, folded into the chat's messages
        self._inbox: list[dict[str, Any]] = []
        self._unwritten = False  # the notice says history is not written yet (cleared when the store recovers)
        # the node the run failed at ("" its body), when it ended failed (a resume says so)
        self._failed_at: str | None = (self._failed_node() or "") if run.status == "failed" else None
        self._resume = ResumeNotice()  # what a resume did: replayed, and executed again (see ran_again)
        self._resume.learn(run.event_log)
        self._secret_step: str | None = None  # the step the notice says holds a secret (while it says so)
        self._secret_inputs = False  # the notice says an input holds a secret (while it says so)
        if not notice and run.live:
            # A second view of an executing run (the table's Resume after outputs were cleared): what the run
            # warned about before it, as the first view said it (a secret step that would run again, say).
            for event in run.event_log:
                if isinstance(event, RunWarning):
                    self._on_warning(event)
                elif isinstance(event, RunStarted) and event.resumed:
                    self._resume.resumed()
                    self.set_notice(self._resume.notice())
        self._refresh_inbox()
        self._unsubscribe = run.subscribe(self._on_event)
        self.widget.on_msg(self._on_msg)
        self.flush()

    @property
    def live_views(self) -> int:
        """How many views of the widget the page being served now draws (the page of the executing cell): the
        pointer rule, "one live widget per run per page" (see :mod:`aether_nb.notebook.page_views`). Every page's
        views when no request is served (a run started by a background task).

        0 when the only cell of that page that displayed the widget is the one executing now: the page clears a
        cell's output as it sends the cell again, so the view there says it went only after the cell has started
        (another tab's cell showed the run since, and this page was pointed at that cell)."""
        page = current_page()
        drawn = self.pages.count(page)
        cells = self._shown_in.get(page or "")
        here = current_cell()
        return 0 if drawn and cells and here is not None and cells <= {here} else drawn

    def _displayed_here(self) -> None:
        """Note the cell (of its page) whose execution displays the widget now (see :attr:`live_views`)."""
        page, cell = current_page(), current_cell()
        if page is not None and cell is not None:
            self._shown_in.setdefault(page, set()).add(cell)

    # -- display -----------------------------------------------------------------------------------------------------
    def display(self) -> None:
        """Show the widget in the current cell's output (with a static fallback for saved notebooks)."""
        if self._stale():
            self._refresh_fallback(update=self._unwatched())
        self._last_copy = self._loop.time()  # (a page draws it now: not drawn again at once for the next step)
        self._displayed_here()
        self._handles.append(display(self.widget, display_id=True))  # type: ignore[no-untyped-call]
        del self._handles[:-8]  # (a run shown in a few cells; bounded all the same)
        if self.run.done:
            self._spawn(self._refresh_static())

    def mimebundle(self) -> dict[str, Any]:
        """The widget's display data, its fallback made for the run as it is now (a run's repr, ``r``)."""
        if self._stale():
            self._refresh_fallback(update=False)
        self._displayed_here()
        bundle = self.widget._repr_mimebundle_()
        data: dict[str, Any] = bundle[0] if isinstance(bundle, tuple) else bundle
        return data

    def set_notice(self, text: str, *, until_end: bool = False) -> None:
        """Show ``text`` above the DAG (replacing what it said). ``until_end``: the text says what to do with the
        run while it is unfinished (answer below to resume it, it is executing here), so it goes when the run ends:
        "stopped" beside "answer below to resume it" would contradict the run. Other notices stay true once it
        ended (what a resume replayed, a secret kept out of the store)."""
        self._secret_step = None
        self._secret_inputs = False
        self._until_end = until_end
        self.widget.notice = "" if until_end and self.run.done else text

    def _state(self) -> str:
        """What a saved copy of the run must show it as: its status, or cut off (the graph trait holds both), and
        the questions it waits at (the ``waits`` trait): a chat loop answered and waiting at its next question is
        "waiting" again, but its saved copy showed the first question, unanswered."""
        graph = self.widget.graph
        questions = ",".join(sorted(str(w.get("token")) for w in self.widget.waits))
        return f"{graph.get('status')}|{bool(graph.get('cut_off'))}|{questions}"

    def _rests(self) -> bool:
        """Whether the run rests where a saved copy should show it (waiting at its questions, cut off, ended), as
        the sent ``graph`` trait says: not between two steps."""
        graph = self.widget.graph
        return graph.get("status") not in (None, "pending", "running") or bool(graph.get("cut_off"))

    def _stale(self) -> bool:
        """Whether the displays' fallback shows the run other than the sent traits do: another state, or (between
        its rests) other steps."""
        return self._saved_as != self._state() or self._saved_graph != self._graph_json

    def _follow_steps(self) -> None:
        """Bring a running run's saved copy up to date within :func:`copy_interval` of a change (a notebook saved
        while a step ran kept its copy from display time: "starting", no DAG, whether a page drew the widget or
        not). Not per step: JupyterLab draws an updated output again, a whole DAG each time."""
        if self._copy_handle is not None or not self._handles:
            return
        nodes = len(self.widget.graph.get("nodes") or ())
        delay = max(0.0, self._last_copy + copy_interval(nodes) - self._loop.time())
        self._copy_handle = self._loop.call_later(delay, self._copy_steps)

    def _copy_steps(self) -> None:
        self._copy_handle = None
        if not self._rests() and self._stale():  # (a rest or the end made it already: see flush)
            self._refresh_fallback(resend=False)

    def _unwatched(self) -> bool:
        """Whether the run is displayed, but no page draws its widget (a notebook executed headless): its displays
        then follow it between its rests too (one still running when its cell ends)."""
        return bool(self._handles) and self.pages.count() == 0

    def _refresh_fallback(self, *, update: bool = True, resend: bool = True) -> None:
        """Make the displays' fallback (``text/plain`` and ``text/html``: what a notebook saved without widget state
        keeps) for the run as it is now, and send it to the displays (``update``). Done when its state changes, and
        between its rests at most once per :func:`copy_interval`, never per event (a static view per event would
        cost more than the widget): a notebook executed headless kept the fallback made at display time, and saved
        a run that waited at its question as "starting". ``resend``: also under the request served now (see
        :meth:`_also_under_the_cell_executing_now`; a copy made between rests is not worth the widget's whole
        state again: the cell's end brings a headless notebook's up to date)."""
        self._saved_as, self._saved_graph = self._state(), self._graph_json
        self._last_copy = self._loop.time()
        graph = self.widget.graph
        # (an unfinished run's copy says it is that moment's: the run may go on in a later cell, after a restart)
        self.widget.static_fallback = static_html(graph, self.widget.messages, None, notice=moment_note(graph))
        if update and self._handles:
            self._update_displays(resend=resend)

    def _failed_node(self) -> str | None:
        """The node a failed run's error was raised at, as the run recorded it (None: its body raised it). Not the
        last failed step: a tool whose error the body (or a ``run_tools`` loop) handled did not fail the run."""
        for event in reversed(self.run.event_log):
            if isinstance(event, RunFinished):
                return event.failed_node
        return self.run.failed_node

    async def _refresh_static(self) -> None:
        graph, state, sent = self.widget.graph, self._state(), self._graph_json
        svg = await static_svg(graph)
        html = static_html(graph, self.widget.messages, svg)
        self._saved_as, self._saved_graph = state, sent
        self.widget.static_fallback = html
        self.widget.static_html = html
        if self._handles:
            self._update_displays()

    def _update_displays(self, *, resend: bool = True) -> None:
        for handle in self._handles:
            handle.update(self.widget)  # type: ignore[no-untyped-call]
        if resend:
            self._also_under_the_cell_executing_now()

    def _also_under_the_cell_executing_now(self) -> None:
        """Send the final state and display once more under the request the kernel serves now, when the run ended
        in another cell than the one that showed it (answered later). ipykernel 7 sends what the run's task does
        under the showing cell's header: JupyterLab routes updates by display and comm id and takes them, but a
        notebook executed headless (nbclient, ``nbconvert --execute``, papermill) only keeps the messages of the
        cell it executes, and saved "starting" with no static view. In an empty context, both the display
        publisher and the comms fall back to the kernel's latest request."""
        ip = get_ipython()
        handles = list(self._handles)
        if ip is None or not handles:
            return
        shown_by = request_of(getattr(ip, "parent_header", None))

        def resend() -> None:
            now = request_of(getattr(ip, "parent_header", None))
            if now is None or now == shown_by:
                return  # the same request: it has everything already
            self.widget.send_state()
            for handle in handles:
                handle.update(self.widget)  # type: ignore[no-untyped-call]

        contextvars.Context().run(resend)

    # -- state -------------------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            self._failed_at = (event.failed_node or "") if event.status == "failed" else None
            self._refresh_inbox()  # what is still queued will never be read now
            if self._until_end:  # it said what to do with the run: nothing is left to do
                self.set_notice("")
            elif self._secret_step is not None and event.status in ("succeeded", "cancelled"):  # (nothing resumes it)
                self.set_notice(self._resume.after(SECRET_STEP_DONE_NOTICE.format(step=self._secret_step)))
            elif self._secret_inputs and event.status in ("succeeded", "cancelled"):
                self.set_notice(SECRET_INPUTS_DONE_NOTICE)
            # The static view at once (flush makes it for the new state), without the drawing (a notebook executed
            # headless may end before dot does); the SVG replaces the step list when dot is done.
            self.flush()
            self._spawn(self._refresh_static())
            return
        again = self._resume.fold(event)  # (first: a step's warning then knows whether it ran again)
        if isinstance(event, RunWarning):
            self._on_warning(event)
        if isinstance(event, RunStarted) and event.resumed:
            # What actually happened, once it happened (a notice from before the resume would be stale now).
            failed, self._failed_at = self._failed_at, None
            where = f" at {failed}" if failed else ""
            self._resume.resumed(RESUMED_NOTICE if failed is None else RESUMED_AFTER_FAILURE_NOTICE.format(where=where))
            self.set_notice(self._resume.notice())
        elif again:  # a completed step executes again (see ran_again): said as it starts, not "replayed"
            self.set_notice(self._resume.notice())
        if (
            isinstance(event, ChannelMessage)
            and isinstance(event.content, dict)
            and event.content.get("turn") == "message"
        ):
            self._refresh_inbox()  # receive() took a message out of the inbox
        if self._flush_handle is None:
            delay = max(0.0, self._last_flush + proto.MIN_SYNC_INTERVAL_S - self._loop.time())
            self._flush_handle = self._loop.call_later(delay, self.flush)

    def _on_warning(self, event: RunWarning) -> None:
        """What the run warns about, in words, decided by the warning's code and detail (never by its wording)."""
        detail = event.detail if isinstance(event.detail, dict) else {}
        if event.code == "abandoned_body_ended" and self.run.done:  # (the saved copy, drawn at the end, said it ran)
            self.flush()
            self._spawn(self._refresh_static())  # (then returns below: no notice for it)
        if event.code in ("tool_changed", "ran_again"):
            # A replayed step whose tool has other code now: the result shown is the old code's (every effect once).
            # A step cut off while it ran, run again from its start: what it did before the stop may be twice.
            notice = TOOL_CHANGED_NOTICE if event.code == "tool_changed" else RAN_AGAIN_NOTICE
            self._resume.changed.append(
                notice.format(tool=detail.get("tool"), step=detail.get("step") or event.node_id)
            )
            self.set_notice(self._resume.notice())
            return
        if event.code not in HISTORY_NOTICES:
            return
        # The run says its history is not safe (README, "How runs work"): so does the widget, in words.
        self._unwritten = event.code == "history_not_written"
        if event.code == "not_durable" and detail.get("reason") == "secret":
            # by design, not a failure of the store (a read_env node, a tool returning a token)
            step = str(detail.get("step") or event.node_id)
            if self._resume.said(step):
                return  # (the resume notice says it ran again, and why)
            self.set_notice(self._resume.after(SECRET_STEP_NOTICE.format(step=step)))
            self._secret_step = step
            return
        error = str(detail.get("fix" if event.code == "inputs_not_durable" else "error") or event.message)
        error = error if len(error) <= 300 else error[:300] + "…"
        self.set_notice(redact_text(HISTORY_NOTICES[event.code].format(error=error)))
        self._secret_inputs = event.code == "inputs_not_durable"

    def flush_pending(self) -> None:
        """Push an update held back by the throttle now (a cell ends): a notebook executed headless (nbclient,
        papermill) keeps only the messages sent while a cell runs, and saved a run that waited as "pending". Its
        displays' fallback too, if the run's state changed since it was made (one still running, say)."""
        if self._flush_handle is not None:
            self.flush()
        if self._unwatched() and self._stale():
            self._refresh_fallback()

    def flush(self) -> None:
        """Push the run's current state to the browser in one message."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._last_flush = self._loop.time()
        if self._unwritten and not self.run.session.store.failing:
            self._unwritten = False  # a notice that the store fails must not outlive the failure
            self.set_notice("The store is written again: this run's history is saved.")
        full = self.run.graph.to_dict()
        full["status"] = self.run.status
        full["error"] = self.run.error if self.run.status == "failed" else None
        if self.run.status == "failed":
            full["failed_node"] = self._failed_node()
        if status.cut_off(self.run.status, self.run.live):
            # Its status says running, but nothing executes it: no Stop, clock or message box (status.CUT_OFF).
            full["cut_off"] = status.cut_off_hint(self.run.id)
        graph = proto.slim_graph(full, self._labels)  # details travel on demand (``inspect``): ~10x less per message
        graph, graph_json = utf8_json(graph)
        # A finished run answers nothing: no control may stay (a restarted or failed run's old waits are closed).
        # Controls show while the run says it waits, as the header does: a run waits exactly when one of its
        # tasks is parked on a written wait, and between that write and the status change a control would
        # stand beside "running".
        waits = [self._wait_dict(w) for w in self.run.waits] if self.run.status == "waiting" else []
        with self.widget.hold_sync():
            if graph_json != self._graph_json:
                self._graph_json = graph_json
                # synced state is saved with the notebook: it passes the store's redaction (README, "Secrets")
                clean = redact_text(graph_json)
                self.widget.graph = graph if clean == graph_json else json.loads(clean)
            self.widget.messages = redacted_messages(self._chat.messages(self._inbox))
            self.widget.waits = utf8_safe(redact_value(waits))
        # A saved copy shows where the run rests (waiting at its questions, cut off, ended): the displays' fallback
        # follows each such change at once, whether a page draws the widget or not (JupyterLab saves the fallback
        # its page received: a live widget's saved copy said "starting" beside a run that waited). Once per rest,
        # not per step; the page draws the updated output again and its new view takes over what the old one
        # showed, typed text included (js/lib/view_state.ts). One still running is brought up to date a few
        # seconds after it changed (_follow_steps), and when the cell ends if no page draws it.
        if self._rests():
            if self._saved_as != self._state():
                self._refresh_fallback()
        elif self._stale():
            self._follow_steps()

    @staticmethod
    def _wait_dict(w: Any) -> dict[str, Any]:
        return {
            "token": w.token,
            "kind": w.kind,
            "prompt": w.prompt,
            "options": w.options,
            "node_id": w.node_id,
            "deadline": w.deadline,
            "meta": w.meta or {},
        }

    def _refresh_inbox(self) -> None:
        """The messages written to the run that its agent has not read: "queued" while the run goes on (its next
        ``receive()`` takes them), "not read" once it ended (nothing will: the widget said "queued: the agent reads
        it at its next receive()" beside a finished run, in the page and in the saved notebook)."""
        ended = self.run.done
        self._inbox = [
            {
                "id": f"inbox:{key}",
                "type": "text",
                "role": "user",
                "content": {"text": msg["text"], "turn": "message", "queued": not ended, "unread": ended},
                "final": True,
                "node_id": None,
            }
            for key, msg in queued_messages(self.run.session.store, self.run.id)
        ]

    # -- commands ------------------------------------------------------------------------------------------------
    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        # May run on a comm subshell thread (JupyterLab 4.6): only hand off to the loop from here. A ping is
        # answered at once from whichever thread: it asks whether the kernel is there, even while a cell blocks.
        if isinstance(content, dict) and content.get("type") == "ping" and isinstance(content.get("id"), str):
            self.widget.send(proto.reply(content["id"], ok=True))
            return
        # The page that sent it (``view``/``unview``), read while the kernel still serves its message.
        page = current_page() or ""
        if threading.get_ident() == self._thread:
            self._handle_command(content, page)
        else:
            self._loop.call_soon_threadsafe(self._handle_command, content, page)

    def _handle_command(self, msg: Any, page: str = "") -> None:
        if not isinstance(msg, dict) or msg.get("type") not in proto.COMMANDS or not isinstance(msg.get("id"), str):
            return  # not one of ours (ipywidgets may route other custom messages here)
        if msg["type"] in ("view", "unview"):
            # (a view without a key, from an older bundle: keyed by its request, so it is forgotten once stale)
            key = str(msg.get("key") or msg["id"])
            if msg["type"] == "view":
                self.pages.report(page, key)
            else:
                self.pages.gone(page, key)
        self._spawn(self._execute(msg))

    async def _execute(self, msg: dict[str, Any]) -> None:
        request_id = msg["id"]
        try:
            extra = await self._command(msg)
        except AetherError as exc:  # (the code lets the widget tell an answer that came too late from a failure)
            error = self._refusal(msg, exc)
            self.widget.send(utf8_safe(proto.reply(request_id, ok=False, error=error, code=exc.code)))
        except Exception as exc:  # reported to the widget, which shows it under the control that sent it
            self.widget.send(utf8_safe(proto.reply(request_id, ok=False, error=f"{type(exc).__name__}: {exc}")))
        else:
            self.widget.send(utf8_safe(proto.reply(request_id, ok=True, **extra)))
        if msg["type"] not in ("inspect", "view", "unview", "ping"):  # the others change the run: show it at once
            self.flush()

    def _refusal(self, msg: dict[str, Any], exc: AetherError) -> str:
        """What the widget shows for a refused command: an answer whose question was closed meanwhile (answered from
        another view) in the words of :func:`~aether_nb.notebook.notices.refused_answer`, else the error's message."""
        if exc.code != "wait_closed" or msg["type"] not in ("answer", "upload"):
            return exc.message
        rec = self.run.session.find_wait(str(msg.get("token")))
        secret = rec is not None and isinstance(rec.meta, dict) and bool(rec.meta.get("secret_answer"))
        return refused_answer(rec.status if rec is not None else None, secret)

    async def _command(self, msg: dict[str, Any]) -> dict[str, Any]:
        kind = msg["type"]
        if kind == "ping":
            return {}
        if kind in ("view", "unview"):
            return {}  # (counted as it came in: see _handle_command)
        if kind == "stop":
            self.run.cancel()
            return {}
        if kind == "answer":
            await self.run.answer(msg.get("payload"), token=str(msg.get("token")))
            return {}
        if kind == "message":
            outcome = await post_message(self.run, msg.get("text"))  # type: ignore[arg-type]  # validated there
            self._refresh_inbox()
            return {"outcome": outcome}
        if kind == "inspect":
            node = self.run.graph.node(str(msg.get("node_id")))
            details = {key: getattr(node, key) for key in proto.DETAIL_FIELDS}
            if isinstance(details.get("error"), dict) and runtime_only(details["error"]):
                details["error"] = {**details["error"], "traceback": ""}
            return {"node": redact_value(details)}
        if kind == "upload":
            files = [(f["name"], base64.b64decode(f["data_b64"])) for f in msg.get("files", [])]
            await self.run.answer(files, token=str(msg.get("token")))
            return {}
        hit = self.run.session.store.artifact_get(parse_uri(msg.get("artifact_uri")))
        if hit is None:
            raise FileNotFoundError(f"artifact {msg.get('artifact_uri')} is not in this notebook's store")
        return {"name": hit[0].name, "mime": hit[0].mime, "data_b64": base64.b64encode(hit[1]).decode()}

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.set_notice(f"widget error: {type(exc).__name__}: {exc}")  # shown under the widget, never lost

    def close(self) -> None:
        self._unsubscribe()
        if self._copy_handle is not None:
            self._copy_handle.cancel()
        for task in self._tasks:
            task.cancel()
        self.widget.close()


__all__ = ["INBOX_SCOPE", "RunView", "RunWidget"]


def copy_interval(nodes: int) -> float:
    """Seconds at least between two refreshes of a running run's saved copy (:meth:`RunView._follow_steps`):
    :data:`~aether_nb.notebook.protocol.SAVED_COPY_INTERVAL_S`, longer for a large DAG, which JupyterLab takes
    longer to draw again (about a second for thousands of nodes): a few percent of the page's time either way."""
    return min(proto.MAX_SAVED_COPY_INTERVAL_S, proto.SAVED_COPY_INTERVAL_S * max(1.0, nodes / 300))


def request_of(parent: Any) -> str | None:
    """The message id of a kernel request's parent message (None when there is none)."""
    header = parent.get("header") if isinstance(parent, dict) else None
    msg_id = header.get("msg_id") if isinstance(header, dict) else None
    return msg_id if isinstance(msg_id, str) and msg_id else None
