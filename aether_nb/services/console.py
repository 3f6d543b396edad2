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
import sys
from typing import IO, Any

from aether_nb.errors import InvalidAnswer
from aether_nb.runtime.checks import utf8_safe
from aether_nb.runtime.waits import Wait
from aether_nb.services.channel import Message, Respond


class ConsoleChannel:
    """Prints to ``out`` (default stdout); asks on ``inp`` (default stdin) only when it is a TTY."""

    def __init__(self, out: IO[str] | None = None, inp: IO[str] | None = None) -> None:
        self._out = out
        self._inp = inp

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
        asyncio.get_running_loop().create_task(self._read_answers(wait, respond))

    async def _read_answers(self, wait: Wait, respond: Respond) -> None:
        while True:
            line = await asyncio.to_thread(self.inp.readline)
            if not line:
                return
            answer: Any = line.rstrip("\n")
            if wait.kind == "approval" and answer.strip().lower() in ("y", "yes"):
                answer = True
            elif wait.kind == "approval" and answer.strip().lower() in ("n", "no"):
                answer = False
            elif wait.kind == "choice" and answer.strip().isdigit():
                answer = int(answer.strip())
            try:
                respond(answer)
                return
            except InvalidAnswer as exc:
                print(f"  {exc.message}; try again", file=self.out, flush=True)


def is_state_graph_pause(wait: Wait) -> bool:
    """Whether ``wait`` is a StateGraph's pause (an ``interrupt()`` or a breakpoint), which ``ainvoke`` returns to
    its caller instead of a channel asking for it."""
    return isinstance(wait.meta, dict) and "flow" in wait.meta


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
