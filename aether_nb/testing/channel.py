"""ScriptedChannel: a channel adapter that answers asks from a list — for tests, examples and notebooks in CI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.waits import Wait
from aether_nb.services.channel import Message, Respond
from aether_nb.testing.checks import check_items, check_number


class ScriptedChannel:
    """Answers each ask with the next scripted answer and records everything said.

    Args:
        answers: consumed in order; an item may be a callable ``f(wait) -> answer``. When the script runs out,
            asks stay open (answer them with ``run.answer``) and are listed in :attr:`unanswered`.

    Attributes:
        messages: every message delivered (final versions of streams/progress included).
        prompts: every wait presented.
        texts: the text of each final text/markdown/stream message, in order.
    """

    def __init__(self, answers: Iterable[Any] = ()) -> None:
        self._answers: list[Any] = check_items(answers, "ScriptedChannel(answers)", "ScriptedChannel(['Ada', 'yes'])")
        self.messages: list[Message] = []
        self.prompts: list[Wait] = []
        self.unanswered: list[Wait] = []
        self._changed: asyncio.Event | None = None

    def add_answers(self, *answers: Any) -> None:
        self._answers.extend(answers)

    @property
    def texts(self) -> list[str]:
        """What the agent said (final text, markdown and stream bubbles), without the questions and answers."""
        return [
            m.text
            for m in self.messages
            if m.type in ("text", "markdown", "stream") and m.final and "turn" not in m.content
        ]

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """Every final text bubble as ``(role, text)``, questions and answers included."""
        return [(m.role, m.text) for m in self.messages if m.type in ("text", "markdown", "stream") and m.final]

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        self._notify()

    async def present(self, wait: Wait, respond: Respond) -> None:
        self.prompts.append(wait)
        self._notify()
        if not self._answers:
            self.unanswered.append(wait)
            return
        answer = self._answers.pop(0)
        if callable(answer):
            answer = answer(wait)
        respond(answer)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_for(self, predicate: Callable[[ScriptedChannel], bool], timeout: float = 10.0) -> None:
        """Wait (on state, under a timeout) until ``predicate(self)`` holds — e.g. a prompt was shown.

        Raises:
            UsageError: ``predicate`` is not callable, or ``timeout`` is not a positive number of seconds.
            TimeoutError: ``predicate`` still false after ``timeout`` seconds (the message says what the channel
                holds).
        """
        if not callable(predicate):
            raise UsageError(
                f"wait_for(predicate) takes a function of the channel, e.g. `lambda ch: ch.prompts`; got "
                f"{shown(predicate, 80)}",
                code="bad_argument",
            )
        if check_number(timeout, "wait_for(timeout=...) (seconds)") <= 0:
            raise UsageError(f"wait_for(timeout=...) must be more than 0 seconds, got {shown(timeout)}")

        async def poll() -> None:
            while not predicate(self):
                self._changed = asyncio.Event()
                await self._changed.wait()

        try:
            await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            shown_prompts = [w.prompt for w in self.prompts]
            raise TimeoutError(
                f"ScriptedChannel.wait_for: {shown(predicate, 80)} still false after {timeout:g} s; the channel "
                f"has {len(self.messages)} message(s), the prompts {shown(shown_prompts, 200)} and "
                f"{len(self.unanswered)} unanswered (give answers with ScriptedChannel(answers=[...]))"
            ) from None
