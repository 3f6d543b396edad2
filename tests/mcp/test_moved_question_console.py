"""A server's question that moves from one MCP call in flight to another (the call that was handed it got its own
answer first) in a script or terminal, where the console channel prints questions: the question is printed once,
and the move says it is the same question, still open, with the wait to answer now. (It was printed twice, as if
the server had asked a second question.)"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.services.console import ConsoleChannel
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import mcp_server
from tests.conftest import arun

SERVERS = Path(__file__).parent / "servers"
CALLS: list[Path] = []


@ag.graph_fn(outputs=["crunched", "booked"])
async def crunch_and_book(*, context: ag.NodeContext) -> dict[str, Any]:
    k = context.mcp("kitchen")
    crunching = asyncio.ensure_future(k.tools["crunch"](steps=4))  # in flight first: it is handed the question
    while not any(e.get("tool") == "crunch" for e in mcp_server.read_calls(CALLS[0])):
        await asyncio.sleep(0.01)  # the server has begun crunch before book asks
    booked = await k.tools["book"](flight="GH4")
    return {"crunched": (await crunching)["result"], "booked": booked["result"]}


class Printed(io.StringIO):
    """The console's output, with a condition to wait on (what it printed so far)."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: asyncio.Event | None = None

    def write(self, text: str) -> int:
        if self.changed is not None:
            self.changed.set()
        return super().write(text)

    async def shows(self, text: str, timeout: float = 30.0) -> None:
        async def wait() -> None:
            while text not in self.getvalue():
                self.changed = asyncio.Event()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


def test_a_question_moved_to_another_call_is_printed_once_and_said_to_be_still_open(calls: Path) -> None:
    CALLS[:] = [calls]
    printed = Printed()
    session = Session(MemoryStore())
    install_builtin_services(session, channel=ConsoleChannel(out=printed))  # stdin is no TTY here: it prints
    previous = session_mod.set_default_session(session)

    async def main() -> tuple[dict[str, Any], str]:
        ag.configure(mcp={"kitchen": {"command": [sys.executable, str(SERVERS / "kitchen.py"), "--calls", str(calls)]}})
        run = crunch_and_book.start()
        # asked under crunch's call, then moved to book's when crunch got its answer
        await printed.shows("wait kitchen.book_1/ask_text_1)")
        await run.answer("2")
        await printed.shows("wait kitchen.book_1/ask_choices_1)")
        await run.answer("No")
        out: dict[str, Any] = await run
        await ag.mcp.close_all()
        return out, run.id

    try:
        out, run_id = arun(main(), timeout=90)
    finally:
        session_mod.set_default_session(previous)
    assert out == {"crunched": "crunched 4", "booked": "booked 2 seat(s) on GH4"}
    text = printed.getvalue()
    asked = "kitchen asks: How many seats on GH4?\nHow many seats\n"
    assert text.count(f"assistant: {asked}") == 1, text
    assert text.count(f"? {asked}") == 1, text
    assert text.count(f"? (the same question as above, still open) {asked}") == 1, text
    moved = text.index("(the same question as above, still open)")
    assert "wait kitchen.crunch_1/ask_text_1)" in text[:moved]
    assert f"run {run_id}, wait kitchen.book_1/ask_text_1)" in text[moved:]
    # the next question is a new one, printed as such
    assert text.count("? kitchen asks: How many seats on GH4?\nA window seat? ['Yes', 'No', '(leave out)']") == 1
