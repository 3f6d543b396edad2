"""On an interactive terminal, a line typed goes to the question open now, never to one that closed.

The console reads stdin for the questions it shows. A question may close without a line from it: answered elsewhere
(``run.answer``, the widget), or moved to another call (an MCP server's question, whose wait closes ``"moved"`` and
is asked again). Its reader went on reading: it took the person's next line, had it refused (the wait was closed)
and threw it away, while the reader of the question open now waited for another line. (A pseudo-terminal stands in
for stdin here.)
"""

from __future__ import annotations

import asyncio
import os
import termios
from collections.abc import Iterator
from typing import IO, Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.step_cancels import MOVED, moved
from aether_nb.runtime.waits import Wait
from aether_nb.services import ConsoleChannel
from aether_nb.services.channel import Message, Respond
from tests.conftest import arun, make_session


class Terminal:
    """A pseudo-terminal: ``inp`` is its stdin side (a TTY), ``type`` writes a line on it as a person would."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # (nothing reads the echo)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.master = master
        self.inp: IO[str] = os.fdopen(slave, "r", encoding="utf-8")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        self.inp.close()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    t = Terminal()
    try:
        yield t
    finally:
        t.close()


class Shown:
    """The console, with a condition on what it printed, and (``cut``) the question's task cut with ``MOVED``
    as soon as it is shown: the question moves, as an MCP server's does when the call holding it is answered."""

    def __init__(self, console: ConsoleChannel, out: Printed, cut: bool) -> None:
        self.console, self.printed, self.cut = console, out, cut

    def deliver(self, message: Message) -> None:
        self.console.deliver(message)

    async def present(self, wait: Wait, respond: Respond) -> None:
        await self.console.present(wait, respond)
        if self.cut and wait.prompt == "First?":
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().call_soon(task.cancel, MOVED)


class Printed:
    def __init__(self) -> None:
        self.text = ""
        self.waiters: set[asyncio.Event] = set()

    def write(self, text: str) -> int:
        self.text += text
        for w in self.waiters:
            w.set()
        return len(text)

    def flush(self) -> None:
        pass

    async def shows(self, text: str) -> None:
        while text not in self.text:
            w = asyncio.Event()
            self.waiters.add(w)
            try:
                await w.wait()
            finally:
                self.waiters.discard(w)


@ag.graph_fn(outputs=["first", "second"])
async def two_questions(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    try:
        first = await ch.ask_text("First?")
    except asyncio.CancelledError as exc:
        if not moved(exc):
            raise
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()  # the question goes on elsewhere (as an MCP server's does under another call)
        first = "(moved)"
    return {"first": first, "second": await ch.ask_text("Second?")}


@pytest.mark.parametrize("how", ["answered elsewhere", "moved"])
def test_a_line_typed_after_a_question_closed_answers_the_question_open_now(terminal: Terminal, how: str) -> None:
    printed = Printed()
    console = ConsoleChannel(out=printed, inp=terminal.inp)  # type: ignore[arg-type]
    session, _ = make_session()
    session.config["channel"] = Shown(console, printed, cut=how == "moved")
    previous = session_mod.set_default_session(session)

    async def main() -> tuple[dict[str, Any], str]:
        run = two_questions.start()
        await printed.shows("? First?")  # its reader reads the terminal now
        if how == "answered elsewhere":
            await run.answer("from code")
        await printed.shows("? Second?")
        terminal.type("typed")
        try:
            status = await run.wait_for("succeeded", "failed", timeout=10)
        except TimeoutError:
            terminal.type("spare")  # (a reader still blocked on the terminal ends: the test ends, failed)
            await run.wait_for("succeeded", "failed", timeout=10)
            status = "waiting"
        assert status == "succeeded", f"the typed line was lost: the run is {status}"
        out: dict[str, Any] = await run
        # nothing reads the terminal once no question is open: a line typed now is the script's own
        terminal.type("for input()")
        left = await asyncio.wait_for(asyncio.to_thread(terminal.inp.readline), 10)
        return out, left

    try:
        out, left = arun(main(), timeout=30)
    finally:
        session_mod.set_default_session(previous)
    first = "from code" if how == "answered elsewhere" else "(moved)"
    assert out == {"first": first, "second": "typed"}
    assert left == "for input()\n"
    assert "try again" not in printed.text
