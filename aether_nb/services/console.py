"""The console channel adapter: for scripts and terminals.

It prints messages. It reads an answer from stdin only when stdin is an interactive terminal; otherwise (a
kernel, CI, a pipe) it prints how to answer (``await run.answer(...)``) and leaves the wait open, so nothing ever
blocks on a stdin that cannot answer.

A StateGraph's pause (``interrupt()``, ``interrupt_before``/``after``) is not presented at all: as in LangGraph,
``invoke`` returns it to its caller (``res["__interrupt__"]``), who answers with ``Command(resume=...)``. Reading
stdin for it would race the script's own ``input()`` for the user's line (and keep ``invoke`` from returning until
one is typed), and a printed question would mix into a stdout the script may use for data.
"""

from __future__ import annotations

import asyncio
import functools
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from aether_nb.errors import InvalidAnswer, UsageError
from aether_nb.runtime.checks import utf8_safe
from aether_nb.runtime.waits import Wait
from aether_nb.services.channel import Message, Respond

_CLOSED = ("wait_closed", "wait_expired", "bad_token")
"""Codes of the error an answer to a wait that is no longer open gets (it moved, was answered elsewhere, expired)."""

_POLL_S = 0.2
"""How often a reader waiting for a typed line looks whether a question it reads for is still open."""


@dataclass(eq=False)
class _Ask:
    """A question shown on the console and read from stdin: ``open`` says whether it still takes answers (None:
    unknown here, its ``respond`` says so when tried)."""

    wait: Wait
    respond: Respond
    open: Callable[[], bool] | None


class ConsoleChannel:
    """Prints to ``out`` (default stdout); asks on ``inp`` (default stdin) only when it is a TTY.

    One reader reads stdin for every question shown, and hands each line to the oldest question still open: a
    question that moved to another call, or was answered elsewhere (``run.answer``, the widget), never takes a line,
    and a line is never lost to it. Each question used to have a reader of its own, which went on reading after its
    question closed: two readers raced for the person's next line, and the stale one threw it away (its answer
    refused). The reader stops when no question it reads for is open (on a terminal it looks between lines, without
    reading one, so a line typed afterwards stays for the script's own ``input()``).
    """

    def __init__(self, out: IO[str] | None = None, inp: IO[str] | None = None) -> None:
        self._out = out
        self._inp = inp
        self._asks: list[_Ask] = []
        self._held: list[str] = []  # lines read when no question was open to take them: for the next one shown
        self._reader: asyncio.Task[None] | None = None

    @property
    def out(self) -> IO[str]:
        return self._out or sys.stdout

    @property
    def inp(self) -> IO[str]:
        return self._inp or sys.stdin

    def deliver(self, message: Message) -> None:
        c = message.content
        if message.type in ("text", "markdown") or (message.type == "stream" and message.final):
            line = c.get("text", "")
        elif message.type in ("image", "file"):
            line = f"[{message.type}: {c.get('name')} ({c.get('mime')}) {c.get('artifact_uri')}]"
        elif message.type == "progress" and message.final:
            line = f"[{c.get('title')}: done]"
        else:
            return
        print(utf8_safe(f"{message.role}: {line}"), file=self.out, flush=True)

    async def present(self, wait: Wait, respond: Respond) -> None:
        if is_state_graph_pause(wait):
            return  # its caller answers it (see the module's docstring)
        options = f" {wait.options}" if wait.options else ""
        message = isinstance(wait.meta, dict) and bool(wait.meta.get("message"))
        prompt = wait.prompt or ("(write a message to the agent)" if message else wait.kind)
        print(utf8_safe(f"? {prompt}{options}"), file=self.out, flush=True)
        if not _is_tty(self.inp):
            print(
                f"  (waiting: answer with `await run.answer(...)` — run {wait.run_id}, wait {wait.node_id})",
                file=self.out,
                flush=True,
            )
            return
        self._asks.append(_Ask(wait, respond, _open_check(wait)))
        while self._held and self._asks:
            self._hand(self._held.pop(0))
        loop = asyncio.get_running_loop()
        if self._asks and (self._reader is None or self._reader.done() or self._reader.get_loop() is not loop):
            self._reader = loop.create_task(self._read())

    async def _read(self) -> None:
        inp = self.inp
        fd = _pollable(inp)
        while self._still_asked():
            line = await asyncio.to_thread(inp.readline if fd is None else functools.partial(_poll_line, inp, fd))
            if line is None:
                continue  # nothing typed yet: a question may have closed meanwhile
            if not line:
                return  # end of input
            self._hand(line)

    def _still_asked(self) -> bool:
        """Whether a question read for is open (the closed ones are forgotten)."""
        self._asks = [a for a in self._asks if a.open is None or a.open()]
        return bool(self._asks)

    def _hand(self, line: str) -> None:
        """Give a typed line to the oldest question still open; held for the next question when none is."""
        for ask in list(self._asks):
            try:
                ask.respond(_answer(ask.wait, line))
            except InvalidAnswer as exc:
                print(f"  {exc.message}; try again", file=self.out, flush=True)
                return
            except UsageError as exc:
                if exc.code not in _CLOSED:
                    print(f"  {exc.message}", file=self.out, flush=True)
                    return
                self._asks.remove(ask)  # it moved, or was answered elsewhere: the line is for the next one
                continue
            self._asks.remove(ask)
            return
        self._held.append(line)


def _answer(wait: Wait, line: str) -> Any:
    """A typed line as the answer to ``wait`` (y/n for an approval, a number for a choice's index)."""
    answer: Any = line.rstrip("\n")
    if wait.kind == "approval" and answer.strip().lower() in ("y", "yes"):
        return True
    if wait.kind == "approval" and answer.strip().lower() in ("n", "no"):
        return False
    if wait.kind == "choice" and answer.strip().isdigit():
        return int(answer.strip())
    return answer


def _open_check(wait: Wait) -> Callable[[], bool] | None:
    """How to tell whether ``wait`` still takes answers, from the session of the run that shows it (None outside a
    run's code: its ``respond`` tells)."""
    from aether_nb.runtime.execution import current_scope

    scope = current_scope()
    if scope is None:
        return None
    session = scope.run.session

    def still_open() -> bool:
        rec = session.find_wait(wait.token)
        return rec is not None and rec.status == "open"

    return still_open


def _pollable(stream: IO[str]) -> int | None:
    """The file descriptor of ``stream`` when a line can be waited for on it without reading (POSIX), else None."""
    if os.name != "posix":
        return None
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _poll_line(stream: IO[str], fd: int) -> str | None:
    """The next line of ``stream`` if one is typed within :data:`_POLL_S`, else None (nothing read). A terminal
    hands over one line per read, so nothing typed after it waits in the stream's buffer."""
    try:
        ready, _, _ = select.select([fd], [], [], _POLL_S)
    except (OSError, ValueError):
        ready = [fd]
    return stream.readline() if ready else None


def is_state_graph_pause(wait: Wait) -> bool:
    """Whether ``wait`` is a StateGraph's pause (an ``interrupt()`` or a breakpoint), which ``ainvoke`` returns to
    its caller instead of a channel asking for it."""
    return isinstance(wait.meta, dict) and "flow" in wait.meta


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
