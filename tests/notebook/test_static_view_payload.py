"""The saved copy of a StateGraph ``interrupt(value)`` shows the value under the question, as the live widget does
(a tester's finding, the thirty-first session): the widget showed "Ship it?" with the JSON of ``{"draft": ...,
"question": ...}`` under it, the saved HTML and a reopened notebook only "Ship it?", so whoever read the saved
notebook could not tell what had been approved."""

from __future__ import annotations

from typing import Any, TypedDict

import aether_nb as ag
from aether_nb.flow import END, START, Command, StateGraph, interrupt
from aether_nb.notebook.static_view import transcript
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from tests.conftest import arun


class Ticket(TypedDict, total=False):
    draft: str
    verdict: str


def review(state: Ticket) -> dict[str, Any]:
    return {"verdict": interrupt({"draft": "Refund <b>42.50</b> to Ada", "question": "Ship it?"})}


def _app() -> Any:
    g = StateGraph(Ticket, name="ticket_payload")
    g.add_node("review", review)
    g.add_edge(START, "review")
    g.add_edge("review", END)
    return g.compile()


def test_the_saved_view_of_an_interrupt_shows_its_payload_waiting_and_answered(session: Session) -> None:
    app = _app()
    config = {"configurable": {"thread_id": "p1"}}

    async def main() -> tuple[str, str, str]:
        await app.ainvoke({"draft": "d"}, config)
        (run,) = ag.runs(graph="ticket_payload")
        view = RunView(run)
        view.flush()
        waiting = view.widget.static_fallback
        view.close()
        await app.ainvoke(Command(resume="ship"), config)
        print("runs after the answer:", ag.runs(graph="ticket_payload"))
        answered = RunView(run)  # (what a reopened notebook's saved output of that cell was made from)
        answered.flush()
        out = answered.widget.static_fallback, transcript(answered.widget.messages), waiting
        answered.close()
        return out

    answered, text, waiting = arun(main())
    for page in (waiting, answered):
        assert "Ship it?" in page
        assert "&quot;draft&quot;: &quot;Refund &lt;b&gt;42.50&lt;/b&gt; to Ada&quot;" in page, page[-1200:]
        assert "<b>42.50</b>" not in page, "the payload is escaped"
    assert '"draft": "Refund <b>42.50</b> to Ada"' in text, text
