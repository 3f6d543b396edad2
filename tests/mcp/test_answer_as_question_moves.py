"""An answer to an MCP server's question that lands in the loop turn where the call holding the question gets its
own reply reaches the server, once.

A 2025-era question names no call: it is handed to the oldest call in flight (``hold`` here), and moves to another
call that may own it (``ask``'s) when the holder's reply comes first. An answer given in that same loop turn (a
scripted channel's, a person's in the widget) was accepted by the holder's wait, then cut with it: the question was
asked again under ``ask``'s call, and the answer never reached the server (the call waited for its timeout: the
90 s timeout of ``test_foreign_servers`` under load). (``tests/mcp/servers/holding.py`` is the server.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import mcp
import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.waits import Wait
from aether_nb.services import install_builtin_services
from aether_nb.services.channel import Message, Respond
from aether_nb.testing import mcp_server
from tests.conftest import arun

SERVER = Path(__file__).parent / "servers" / "holding.py"


class Holder:
    """The chat: it shows the questions (each one's ``respond`` kept, answered by the test) and says when."""

    def __init__(self) -> None:
        self.asked: list[tuple[Wait, Respond]] = []
        self.waiters: set[asyncio.Event] = set()
        self.hold_sent = asyncio.Event()

    def deliver(self, message: Message) -> None:
        pass

    async def present(self, wait: Wait, respond: Respond) -> None:
        self.asked.append((wait, respond))
        self.changed()

    def changed(self) -> None:
        for waiter in self.waiters:
            waiter.set()

    async def until(self, check: Any) -> None:
        while not check():
            waiter = asyncio.Event()
            self.waiters.add(waiter)
            try:
                await waiter.wait()
            finally:
                self.waiters.discard(waiter)


HOLDER: list[Holder] = []


@ag.graph_fn(outputs=["held", "asked"])
async def hold_and_ask(*, context: ag.NodeContext) -> dict[str, Any]:
    chat = HOLDER[0]
    h = context.mcp("h")
    holding = asyncio.ensure_future(h.tools["hold"]())  # in flight first: it is handed the question
    await chat.hold_sent.wait()
    asking = asyncio.ensure_future(h.tools["ask"](tag="B"))
    await chat.until(lambda: chat.asked)  # the question, under hold's call
    await h.tools["release"]()  # hold's reply comes now (the answer lands with it: see the test)
    return {"held": (await holding)["result"], "asked": (await asking)["result"]}


def hops(loop: asyncio.AbstractEventLoop, n: int, fn: Any) -> None:
    if n == 0:
        fn()
    else:
        loop.call_soon(hops, loop, n - 1, fn)


@pytest.mark.parametrize(
    "turns",
    [0, 1, 2],
    ids=["answered as the reply is delivered", "answered just before the cut", "answered just after the cut"],
)
def test_an_answer_given_as_the_holding_call_replies_reaches_the_server_once(
    session: Session, calls: Path, monkeypatch: pytest.MonkeyPatch, turns: int
) -> None:
    chat = Holder()
    HOLDER[:] = [chat]
    install_builtin_services(session, channel=chat)
    ag.configure(mcp={"h": {"command": [sys.executable, str(SERVER), "--calls", str(calls)], "call_timeout_s": 30}})
    given: list[str] = []
    call_tool = mcp.Client.call_tool

    async def replied(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        """The SDK's call; hold's reply is delivered in the loop turn after it returns (where its call ends and
        the question is cut, to move): the question is answered ``turns`` loop turns from its return."""
        if name == "hold":
            chat.hold_sent.set()
        result = await call_tool(self, name, *args, **kwargs)
        if name == "hold":
            (_, respond), *_ = chat.asked

            def answer() -> None:
                respond("v")
                given.append("v")

            hops(asyncio.get_running_loop(), turns, answer)
        return result

    monkeypatch.setattr(mcp.Client, "call_tool", replied)

    async def main() -> tuple[dict[str, Any] | None, int]:
        run = hold_and_ask.start()
        run.subscribe(lambda _: chat.changed())  # (its end)
        # the run ends, or the question is asked again under ask's call (the answer was dropped: the defect)
        await chat.until(lambda: len(chat.asked) > 1 or run.done)
        out = None if len(chat.asked) > 1 else await run
        await ag.mcp.close_all()
        return out, len(chat.asked)

    out, asked = arun(main(), timeout=60)
    assert given == ["v"]  # accepted (not refused as too late)
    assert asked == 1, "the answered question was asked again under another call"
    assert out == {"held": "held", "asked": "B=v"}
    answers = [e for e in mcp_server.read_calls(calls) if e["event"] == "answer"]
    assert answers == [{"event": "answer", "tool": "ask", "tag": "B", "value": "v"}]
