"""``%aether``: the notebook's run history and store from a line of text.

``%aether runs`` (a table with a Resume action per unfinished run) · ``%aether resume RUN_ID`` ·
``%aether store [PATH]`` · ``%aether llm --model M --base-url U [--profile P] [--cache/--no-cache]`` ·
``%aether mcp`` · ``%aether help``.

What they print is saved with the notebook, so it passes the store's redaction (README, "Secrets"): a question
built from a key, a base URL with a password or ``?api_key=``, an MCP server's URL or failure. The live widgets may
show your own input; these lines are output, and saved.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import inspect
import shlex
import threading
import warnings
from types import FrameType
from typing import TYPE_CHECKING, Any

import ipywidgets
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from aether_nb import config
from aether_nb.errors import UsageError, shown
from aether_nb.notebook.promoted import PromotedSource
from aether_nb.notebook.saved_view import SavedView
from aether_nb.runtime.status import CUT_OFF, cut_off, words
from aether_nb.store.redact import redact_text

if TYPE_CHECKING:
    from aether_nb.notebook.extension import Extension

HELP = """%aether runs              runs of this notebook, newest first, with a Resume action
%aether resume RUN_ID     reattach a run (after a kernel restart too) and resume it if it is unfinished
%aether store [PATH]      show the notebook's store, or switch to another file (':memory:' for none)
%aether promote RUN_ID [NAME]
                          put @graphify source reproducing a finished run into a new cell
                          below (once: not again while the cell below holds it)
%aether llm [--model M] [--base-url U] [--profile P] [--cache | --no-cache]
                          configure context.llm() (the key comes from OPENAI_API_KEY or ag.configure)
%aether mcp               MCP servers of this session (configured or connected) and their tools"""


@magics_class
class AetherMagics(Magics):
    def __init__(self, shell: Any, *, extension: Extension) -> None:
        super().__init__(shell)
        self.extension = extension

    @line_magic
    def aether(self, line: str) -> Any:
        try:
            argv = shlex.split(line)
        except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
            raise UsageError(
                f"%aether {line.strip()}: the line does not split into arguments ({str(exc).lower()}): close each "
                f"quote you open, and end the line without a lone backslash\n{HELP}",
                code="bad_magic_line",
            ) from None
        cmd, args = (argv[0], argv[1:]) if argv else ("help", [])
        if cmd == "runs":
            if args:
                raise UsageError("usage: %aether runs (no arguments: the unfinished runs and the newest finished ones)")
            return runs_table(self.extension)
        if cmd == "resume":
            if len(args) != 1:
                raise UsageError("usage: %aether resume RUN_ID (see %aether runs)")
            resume(self.extension, args[0])
            return None
        if cmd == "store":
            if len(args) > 1:
                raise UsageError("usage: %aether store [PATH]")
            if args:
                config.configure(store=args[0])
            # (said, not returned: no quoted repr as the value)
            print(f"aether_nb store: {redact_text(config.store().location)}")
            return None
        if cmd == "llm":
            print(llm_command(args))
            return None
        if cmd == "mcp":
            if args:
                raise UsageError("usage: %aether mcp")
            print(mcp_listing())
            return None
        if cmd == "promote":
            if len(args) not in (1, 2):
                raise UsageError("usage: %aether promote RUN_ID [NAME]")
            run = config.get_run(args[0])
            with warnings.catch_warnings(record=True) as said:
                source = run.promote(args[1] if len(args) == 2 else None)
            warn_from_cell(said)
            # (not set_next_input: JupyterLab inserts a new cell for it at every run of the cell, copies piling up)
            display(PromotedSource(promoted_source=source, run_id=run.id))  # type: ignore[no-untyped-call]
            return None
        if cmd == "help":
            print(HELP)
            return None
        raise UsageError(f"unknown %aether command {shown(cmd)}\n{HELP}")


def warn_from_cell(said: list[warnings.WarningMessage]) -> None:
    """Say the warnings a magic's call caught (a :class:`PromotionWarning`) again, from the user's cell: they
    named this module's line (``magics.py:92``, ``source = run.promote(...)``), where nothing is for the person
    to change. The cell is the innermost frame of the notebook's namespace (``__main__``); with none, the warning
    names ``%aether`` and shows no line."""
    here = inspect.currentframe()
    frame: FrameType | None = here.f_back if here is not None else None
    while frame is not None and frame.f_globals.get("__name__") != "__main__":
        frame = frame.f_back
    for w in said:
        if frame is None:
            warnings.warn_explicit(w.message, w.category, "%aether", 0)
            continue
        registry = frame.f_globals.setdefault("__warningregistry__", {})
        warnings.warn_explicit(
            w.message, w.category, frame.f_code.co_filename, frame.f_lineno, "__main__", registry, frame.f_globals
        )


def llm_command(args: list[str]) -> str:
    """``%aether llm``: update an LLM profile (the default one unless ``--profile``) and say what is configured."""
    import argparse
    import dataclasses

    from aether_nb.services.llm import LLMProfile, configure_llm

    parser = argparse.ArgumentParser(prog="%aether llm", add_help=False, exit_on_error=False)
    parser.add_argument("--model")
    parser.add_argument("--base-url")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None)
    try:
        ns, extra = parser.parse_known_args(args)
    except argparse.ArgumentError as exc:
        raise UsageError(f"%aether llm: {exc}\n{HELP}") from None
    if extra:
        raise UsageError(f"%aether llm: unknown argument(s) {extra}\n{HELP}")
    session = config.session()
    current = session.config.get("llm_profiles", {}).get(ns.profile) or LLMProfile(name=ns.profile)
    changes = {k: v for k, v in (("model", ns.model), ("base_url", ns.base_url), ("cache", ns.cache)) if v is not None}
    (profile,) = configure_llm(session, dataclasses.replace(current, **changes))
    where = profile.base_url or "OPENAI_BASE_URL / the OpenAI API"
    cache = "on" if profile.cache else "off"
    # (a base URL may carry a password or ``?api_key=``: printed output is saved with the notebook)
    return redact_text(f"aether_nb LLM profile {profile.name!r}: model {profile.model} at {where}, cache {cache}")


def mcp_listing() -> str:
    """``%aether mcp``: each MCP server of the session, whether it is connected, and its tools."""
    from aether_nb import mcp

    servers = mcp.servers()
    if not servers:
        return (
            "no MCP servers in this session: ag.configure(mcp={'name': {'command': [...]}}) or "
            "await ag.mcp.connect('name', command=[...]) (or url='http://.../mcp')"
        )
    lines: list[str] = []
    for name, conn in sorted(servers.items()):
        failure = None if conn.connected else conn.failure
        state = "connected" if conn.connected else "not connected (starts on first use)"
        if failure is not None:
            why = failure.strip().splitlines()[0] if failure.strip() else "no reason given"
            state = f"failed: {why[:300]}"
        lines.append(f"{name} · {conn.spec.transport} · {conn.spec.describe()} · {state}")
        if failure is not None:
            lines.append(
                f"    retry: await ag.mcp.servers()[{name!r}].connect() (or ag.mcp.connect({name!r}, ...) again with "
                "fixed settings)"
            )
        if not conn.listed:
            lines.append(f"    tools not listed yet: await ag.mcp.servers()[{name!r}].connect()")
            continue
        for tool in conn.tools.values():
            first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            lines.append(f"    {tool.call_text()}" + (f" · {first}" if first else ""))
    # (a server's URL may carry a password or a key, its failure may repeat one, and so may a tool's description)
    return redact_text("\n".join(lines))


def resume(extension: Extension, run_id: str) -> None:
    """Show the run's widget here, and resume it when it is unfinished and not executing.

    The notice says what happened: resumed from the store, already executing, or already finished. It is said by a
    widget drawn here; when the run's live widget is in another cell, this cell gets a pointer to it, and that widget
    keeps its own notice. A notice that says what to do while the run is unfinished goes when it ends.
    """
    run = config.get_run(run_id)
    view = extension.view_for(run)
    if not run.live and not run.done:
        run.check_resumable()  # (its agent defined, its values readable: said now, not at the answer)
        if run.status == "waiting" and run.waits:
            # Its questions are in the store: answered here, the answer resumes it. Resuming now would execute
            # the run up to its question again for nothing, and a StateGraph node that asked runs again from
            # its start on resume (as in LangGraph): once more than a restart needs.
            notice = "Reattached from the store: answer below to resume it (completed steps are replayed)."
            extension.show(view, notice, until_end=True)
            return
        view.set_notice("Resumed from the store: completed steps are replayed, not executed again.")
        run.resume()  # on_run shows the widget in this cell
        return
    if run.done:
        extension.show(view, f"Run {run.id} already finished ({words(run.status)}): there is nothing to resume.")
    else:
        notice = f"Run {run.id} is already executing in this kernel: this is its live widget."
        extension.show(view, notice, until_end=True)


class RunsTable(ipywidgets.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """The ``%aether runs`` table. A text-only front end (a terminal, ``make demo``) gets the rows as text, nbconvert
    or GitHub as an HTML table, and a notebook reopened without its kernel the same table (a :class:`SavedView`
    child saves it into the notebook under this widget's model id)."""

    def __init__(self, children: list[Any], lines: list[str], table: str) -> None:
        drawn = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        saved = SavedView(
            snapshot=table,
            note=f"Saved view of %aether runs: the runs as they were at {drawn}; no kernel is attached to it. Run "
            "%aether runs again (with the notebook's kernel) to resume or show a run.",
        )
        super().__init__([*children, saved])
        saved.saves_view_of = str(self.model_id)
        self._lines = lines
        self._table = table

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle: Any = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/plain"] = "\n".join(self._lines)
            data["text/html"] = self._table
        return bundle


RUNS_HEADER = ("run", "agent", "status", "started", "open questions")


def runs_html(rows: list[list[str]]) -> str:
    """The runs as a static HTML table (every cell escaped): what a saved notebook shows without its kernel."""
    if not rows:
        return "<div class='aether-runs-table'><i>no runs in this notebook's store yet</i></div>"
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in RUNS_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table class='aether-runs-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def runs_table(extension: Extension) -> ipywidgets.VBox:
    """A table of the notebook's runs; unfinished ones get a Resume button (a click is a custom message).

    An unfinished run's row follows the run once it executes here, whoever made it go on: its Resume button, or
    another cell (the agent's cell run again, ``%aether resume``, an answer). A row said "cut off … Resume goes on
    from its last completed step" beside a run resumed elsewhere and finished, and its Resume did nothing else."""
    loop = asyncio.get_event_loop()
    thread = threading.get_ident()
    out = ipywidgets.Output()
    rows: list[Any] = [ipywidgets.HTML("<b>" + " · ".join(RUNS_HEADER) + "</b>")]
    lines = [" · ".join(RUNS_HEADER)]
    cells: list[list[str]] = []
    listed, older = listed_runs(config.runs())
    acted: set[str] = set()  # the runs shown in ``out``: once each, however often their button is clicked
    rests: dict[str, Any] = {}  # run id -> its row's follow(run), for the unfinished runs it does not follow yet
    for run in listed:
        fields, prompts = _row(run)
        cells.append([*fields[:4], prompts])
        lines.append(" · ".join(fields))  # no dangling separator when nothing is asked
        label = ipywidgets.HTML(html.escape(lines[-1]))
        # Finished runs can only be shown; a run that finishes after the table was drawn says so when clicked.
        # (wide enough for "Resumed": 80px cut it to "Resum…")
        layout = ipywidgets.Layout(width="auto", min_width=BUTTON_WIDTH, flex="0 0 auto")
        button = ipywidgets.Button(description="Show" if run.done else "Resume", layout=layout)
        follow = _row_follower(label, button)
        if run.live and (run.id in getattr(extension, "views", ()) or run.status != "waiting"):
            follow(run)  # (its widget follows it already: a parked run it keeps in memory anyway)
        elif not run.done:
            rests[run.id] = follow

        def act(run_id: str = run.id, button: Any = button, follow: Any = follow) -> None:
            if run_id in acted:
                # its widget is in this table's output already (a double click drew two live widgets); the button
                # says so (a click sent before it was disabled did nothing and said nothing)
                with out:
                    print(f"Run {run_id} is shown below already: its widget there follows it.")
                return
            later = rests.pop(run_id, None)  # (this click resumes it: not "another cell" to its row)
            with out:
                try:
                    was_live = config.get_run(run_id).live
                    resume(extension, run_id)
                except UsageError as exc:
                    print(exc.message)  # (not shown: a click once the cause is fixed tries again)
                    if later is not None:
                        rests[run_id] = later
                    return
            acted.add(run_id)
            shown = config.get_run(run_id)
            # What the click did, on the button, which has nothing left to do: a "Resume" beside a row that said
            # "running" and a live widget below was clicked again, and did nothing.
            button.description = "Resumed" if shown.live and not was_live else "Shown"
            button.disabled = True
            button.tooltip = f"Run {run_id}'s widget is shown below this table"
            follow(shown, answered=not was_live)

        def clicked(_: Any, act: Any = act) -> None:
            if threading.get_ident() == thread:
                act()
            else:  # a comm subshell thread: hand off to the kernel's loop
                loop.call_soon_threadsafe(act)

        button.on_click(clicked)
        rows.append(ipywidgets.HBox([button, label]))
    if rests:
        _follow_when_executed(rests)
    if len(rows) == 1:
        rows.append(ipywidgets.HTML("<i>no runs in this notebook's store yet</i>"))
    if older:
        more = f"… and {older} older finished run{'s' if older > 1 else ''}: ag.runs() returns every run"
        rows.append(ipywidgets.HTML(f"<i>{html.escape(more)}</i>"))
        lines.append(more)
        cells.append([more, "", "", "", ""])
    return RunsTable([*rows, out], lines, runs_html(cells))


BUTTON_WIDTH = "96px"
"""The least width of a row's button: its longest word ("Resumed") fits, and the rows' labels line up."""


def _row_follower(label: Any, button: Any) -> Any:
    """What makes a row follow its run (its label says the run's status as it changes, until it ends)."""
    following: list[Any] = []

    def follow(run: Any, *, answered: bool = False, elsewhere: bool = False) -> None:
        """``answered``: the run was shown by the button while nothing executed it, so an answer given in its
        widget resumes it (the button then says "Resumed"). ``elsewhere``: another cell made it go on, so there is
        nothing left to resume (the button shows its widget below the table)."""
        label.value = html.escape(" · ".join(_row(run)[0]))
        if (elsewhere or run.done) and button.description == "Resume":
            button.description = "Show"  # (nothing is left to resume: a click shows its widget below the table)
        if following or run.done:
            return

        def update(_: Any) -> None:
            label.value = html.escape(" · ".join(_row(run)[0]))
            if answered and run.live and button.description == "Shown":
                button.description = "Resumed"  # (answered in its widget: the answer resumed it)
            if run.done:
                following.pop()()
                if button.description == "Resume":
                    button.description = "Show"

        following.append(run.subscribe(update))

    return follow


def _follow_when_executed(rests: dict[str, Any]) -> None:
    """Rows of unfinished runs nothing executes follow their run once it executes in this session (the session's
    run observers hear of every start and resume). Not before: following a run keeps it in memory (a run parked
    on its question may leave memory only while nothing follows it), and a table lists every unfinished run."""
    session = config.session()

    def started(run: Any) -> None:
        follow = rests.pop(run.id, None)
        if follow is not None:
            follow(run, elsewhere=True)
        if not rests and started in session.run_observers:
            session.run_observers.remove(started)

    session.run_observers.append(started)


def _row(run: Any) -> tuple[list[str], str]:
    """A run's row of ``%aether runs`` (the fields shown) and its open questions (as plain text: a question's
    markdown is shown as the words it marks up).

    A live run's questions are the ones its agent asked, as it asked them: a question built from a key holds the key
    (the store and the widget hold ``[REDACTED]``). Each is redacted as it was asked, before its lines are joined
    (a ``KEY=value`` line is recognised on its own line)."""
    started = dt.datetime.fromtimestamp(run.record.created_at).strftime("%Y-%m-%d %H:%M:%S")
    asked = [redact_text(w.prompt or w.kind) for w in run.waits]
    prompts = ", ".join(" ".join(text.replace("**", "").replace("`", "").split()) for text in asked)
    status = words(run.status)
    if cut_off(run.status, run.live):
        status = f"{CUT_OFF}: Resume goes on from its last completed step"
    return [run.id, redact_text(run.graph_name), status, started] + ([prompts] if prompts else []), prompts


MAX_FINISHED_LISTED = 100
"""Finished runs ``%aether runs`` lists (the newest); unfinished ones are always all listed."""


def listed_runs(runs: list[Any]) -> tuple[list[Any], int]:
    """The runs ``%aether runs`` shows (newest first: every unfinished one, the newest
    :data:`MAX_FINISHED_LISTED` finished ones) and how many older finished ones it leaves out. A store of thousands
    of runs made thousands of rows of widgets (a button and a label each): seconds to draw, megabytes saved."""
    shown: list[Any] = []
    finished = older = 0
    for run in runs:
        if run.done:
            finished += 1
            if finished > MAX_FINISHED_LISTED:
                older += 1
                continue
        shown.append(run)
    return shown, older
