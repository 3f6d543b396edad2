"""A server's question taken by another call in flight on the same connection, and that call answered first.

A 2025-era elicitation names no call, so aether_nb hands it to the oldest call in flight. When that call gets its
own answer while the question is still open, the question may well be another call's (here ``book``'s): it stays
open until the person answers, and the call that asked gets the answer. (A clean-clone CI run once met this as a
race: the question was cut when the wrong call ended, and ``book`` failed with "the run stopped before the question
was answered".)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.notebook.chat_fold import ChatFold
from aether_nb.runtime.events import WaitClosed
from aether_nb.runtime.session import Session
from aether_nb.testing import mcp_server
from tests.conftest import arun

SERVERS = Path(__file__).parent / "servers"


@ag.graph_fn(outputs=["crunched", "booked"])
async def crunch_and_book(*, context: ag.NodeContext) -> dict[str, Any]:
    k = context.mcp("kitchen")
    crunching = asyncio.ensure_future(k.tools["crunch"](steps=4))  # in flight first: it is handed the question
    while not any(e.get("tool") == "crunch" for e in mcp_server.read_calls(CALLS[0])):
        await asyncio.sleep(0.01)  # the server has begun crunch before book asks
    booked = await k.tools["book"](flight="GH4")
    return {"crunched": (await crunching)["result"], "booked": booked["result"]}


CALLS: list[Path] = []


def test_a_question_outlives_the_call_that_was_handed_it_when_that_call_is_answered_first(
    session: Session, calls: Path
) -> None:
    CALLS[:] = [calls]
    ag.configure(mcp={"kitchen": {"command": [sys.executable, str(SERVERS / "kitchen.py"), "--calls", str(calls)]}})

    closed: list[tuple[str, str]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, WaitClosed):
            closed.append((event.node_id, event.reason))

    async def main() -> tuple[str, dict[str, Any], str]:
        run = crunch_and_book.start()
        run.subscribe(on_event)
        await run.wait_for("waiting", timeout=30)  # book's first question, handed to crunch's call
        crunch = run.graph.node("kitchen.crunch_1")
        for _ in range(3000):  # crunch's answer comes while the question waits (or the run ends: the defect)
            if crunch.status == "DONE" or run.status != "waiting":
                break
            await asyncio.sleep(0.01)
        status_when_crunched = run.status
        for _ in range(3000):  # the question moves to book's call: asked again under its node
            if any(w.node_id.startswith("kitchen.book_1/") for w in run.waits) or run.done:
                break
            await asyncio.sleep(0.01)
        await run.answer("2")
        await run.wait_for("waiting", "succeeded", "failed", timeout=30)
        if run.status == "waiting":
            await run.answer("Yes")
        out: dict[str, Any] = await run
        await ag.mcp.close_all()
        statuses.update({n.id: n.status for n in run.graph.nodes})
        bubbles.extend(m["content"].get("text", "") for m in ChatFold(run).messages([]) if m["role"] == "assistant")
        return status_when_crunched, out, crunch.status

    statuses: dict[str, str] = {}
    bubbles: list[str] = []
    status, out, crunch_status = arun(main(), timeout=90)
    assert crunch_status == "DONE" and status in ("waiting", "running")  # (not failed: the question goes on)
    assert out == {"crunched": "crunched 4", "booked": "booked 2 seat(s) on GH4 by the window"}
    # The question moved from crunch's call to book's: its wait under crunch was skipped, not stopped (a succeeded
    # run said "1 stopped" and the chat showed the question twice), and closed as moved.
    assert statuses["kitchen.crunch_1/ask_text_1"] == "SKIPPED" and "CANCELLED" not in statuses.values()
    assert closed == [("kitchen.crunch_1/ask_text_1", "moved")]
    # and the widget's chat shows the moved question once (its first bubble was left beside the second)
    assert bubbles.count("kitchen asks: How many seats on GH4?\nHow many seats") == 1, bubbles
