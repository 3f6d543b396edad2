"""A message written to a run whose agent never read it: "queued" while the run goes on, "not read" once it ended.

The widget kept saying "queued: the agent reads it at its next receive()" after the run was done (the agent never
called ``receive()``), in the page and in the saved notebook: a promise nothing would keep."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.notebook.static_view import transcript
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from aether_nb.services.channel import post_message
from tests.conftest import arun


@ag.graph_fn(name="refund", outputs=["ok"])
async def refund(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.channel().send_text("Order A-1 is late.")
    ok, _ = await context.channel().ask_approval("Refund 42.50?")  # (it never calls receive())
    return {"ok": ok}


def _inbox_bubbles(view: RunView) -> list[dict[str, Any]]:
    return [m for m in view.widget.messages if m["content"].get("turn") == "message"]


def test_a_message_the_agent_never_read_says_so_once_the_run_ended(session: Session) -> None:
    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, str, str, list[dict[str, Any]]]:
        run = refund.start(run_id="inbox-1")
        live = RunView(run)
        await run.wait_for("waiting")
        assert await post_message(run, "Please hurry") == "queued"
        waiting_view = RunView(run)  # (a view made now reads the inbox as it is)
        while_waiting = [m["content"] for m in _inbox_bubbles(waiting_view)]
        waiting_view.close()
        await run.answer({"choice": "Approve", "index": 0})
        await run
        live.flush()
        after = [m["content"] for m in _inbox_bubbles(live)]
        summary = live.widget.text_summary()
        fallback = live.widget.static_fallback
        live.close()
        shown_later = RunView(run)  # the finished run shown again (`%aether resume`, Show in `%aether runs`)
        later = [m["content"] for m in _inbox_bubbles(shown_later)]
        static = transcript(shown_later.widget.messages)
        shown_later.close()
        return while_waiting, after, summary, fallback, static, later

    while_waiting, after, summary, fallback, static, later = arun(main())
    assert while_waiting == [{"text": "Please hurry", "turn": "message", "queued": True, "unread": False}]
    assert after == [{"text": "Please hurry", "turn": "message", "queued": False, "unread": True}]
    assert later == after
    assert "user: Please hurry (not read: the run ended)" in summary.splitlines()
    assert "user: Please hurry (not read: the run ended)" in static.splitlines()
    assert "not read: the run ended" in fallback and "queued" not in fallback


def test_an_unfinished_runs_saved_copy_says_it_is_that_moments(session: Session) -> None:
    """After a restart and `%aether resume` in a later cell, the first cell's saved text (no widget state: GitHub,
    nbconvert) still said "waiting for you" with the question, the later cell "done", and nothing said why: the
    resuming kernel cannot update an earlier kernel's displays. The copy of an unfinished run now says it is the run
    as it was then, and where to see what became of it; a finished run's copy says nothing of the kind."""

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        run = refund.start(run_id="moment-1")
        view = RunView(run)
        await run.wait_for("waiting")
        view.flush()
        waiting = dict(view.mimebundle())
        await run.answer({"choice": "Approve", "index": 0})
        await run
        view.flush()
        done = dict(view.mimebundle())
        view.close()
        return waiting, done

    waiting, done = arun(main())
    note = "This is run moment-1 as it was when this output was last written (waiting for you). If it went on after"
    assert note in waiting["text/html"] and "`%aether resume moment-1` shows it live" in waiting["text/html"]
    assert note in waiting["text/plain"], waiting["text/plain"]
    assert "refund · waiting for you · moment-1" in waiting["text/html"]  # (the moment itself is kept)
    assert "as it was when" not in done["text/html"] and "as it was when" not in done["text/plain"]
