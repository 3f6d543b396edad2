"""The widget decides what a run's warning means from its code and detail, never from its wording (issue: the
history notice parsed the message text), and says when a resumed run reused a step made by a tool's old code."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.notebook.widget import RESUMED_NOTICE, RunView
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.events import RunWarning
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session


@ag.graph_fn(name="asker", outputs=["name"])
async def asker(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"name": await context.channel().ask_text("Name?")}


def _notice_after(*warnings: dict[str, Any]) -> str:
    async def main() -> str:
        run = asker.start()
        view = RunView(run)
        await run.wait_for("waiting", timeout=10)
        for fields in warnings:
            run.emit(RunWarning, **fields)
        view.flush()
        notice = view.widget.notice
        view.close()
        run.cancel()
        return str(notice)

    return arun(main())


def test_a_secret_step_is_told_by_its_detail_whatever_the_message_says(session: Session) -> None:
    notice = _notice_after(
        {
            "node_id": "fetch_1",
            "code": "not_durable",
            "message": "(reworded)",
            "detail": {"reason": "secret", "step": "fetch_1"},
        }
    )
    assert notice.startswith("The result of step fetch_1 holds a secret (an API key or credential)"), notice


def test_a_store_error_that_quotes_secret_wording_is_still_a_store_failure(session: Session) -> None:
    error = "IO Error: the result of step 'x_1' contains a secret: no, the disk is full"
    notice = _notice_after(
        {
            "node_id": "x_1",
            "code": "not_durable",
            "message": f"history could not be stored: {error}",
            "detail": {"error": error},
        }
    )
    assert notice.startswith("Part of this run's history could not be stored (IO Error: the result of step"), notice
    assert "holds a secret" not in notice


def test_a_warning_without_detail_shows_its_message(session: Session) -> None:
    notice = _notice_after({"node_id": None, "code": "not_durable", "message": "disk: full"})
    assert notice.startswith("Part of this run's history could not be stored (disk: full)"), notice


def test_an_answer_the_store_refused_is_said_in_the_widget(session: Session) -> None:
    """The run warns ``answer_not_written`` when an answer's write fails and its question opens again: the widget
    only showed it as a node warning, and the person saw the question back with no word of why."""
    notice = _notice_after(
        {"node_id": "ask_text_1", "code": "answer_not_written", "message": "(m)", "detail": {"error": "disk full"}}
    )
    assert notice.startswith("An answer could not be written to the notebook's store (disk full)"), notice
    assert "answer it again" in notice


CELL = 'def shifty(x: int) -> dict:\n    return {"y": %s}\nshifty = ag.tool(outputs=["y"])(shifty)\n'


def test_a_resume_that_reuses_a_redefined_tools_result_says_so_in_the_widget() -> None:
    store = MemoryStore()
    namespace: dict[str, Any] = {"ag": ag}
    exec(CELL % "x", namespace)

    @ag.graph_fn(name="shifting", outputs=["y", "name"])
    async def shifting(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        y = await namespace["shifty"](x=x)
        return {"y": y["y"], "name": await context.channel().ask_text("Name?")}

    previous = session_mod.set_default_session(make_session(store)[0])
    try:

        async def first() -> None:
            await shifting.start(x=3, run_id="r1").wait_for("waiting", timeout=10)

        arun(first())  # the loop ends while the run waits (a kernel restart)
        exec(CELL % "-x", namespace)  # the tool's cell is edited and run again
        session_mod.set_default_session(make_session(store)[0])

        async def resumed() -> tuple[str, Any]:
            run = ag.get_run("r1")
            view = RunView(run)
            await run.answer("Ada")
            out = await run
            view.flush()
            notice = str(view.widget.notice)
            node = next(n for n in view.widget.graph["nodes"] if n["id"] == "shifty_1")
            view.close()
            return notice, (out, node)

        notice, (out, node) = arun(resumed())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"y": 3, "name": "Ada"}
    assert notice == (
        f"{RESUMED_NOTICE} Tool shifty changed since step shifty_1 ran: its recorded result was reused, not re-run "
        "(a new run uses the new code)."
    )
    assert node["status"] == "DONE" and node["replayed"]
