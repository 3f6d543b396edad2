"""An answer that lands in the same loop turn as a cancel that moves its question (``MOVED``) is never lost.

An MCP server's question is held by the oldest call in flight; when that call's own reply comes while it holds the
question, the question moves to another call (its wait closes ``"moved"``, see ``step_cancels.MOVED``). An answer
given in the same loop turn (a scripted channel's, a person's in the widget) was accepted, then cut with the wait:
the answer was stored on the first wait, the task never got it, and the question was asked again elsewhere, where
the call waited for its timeout. Whichever comes first, the answer is either taken by the wait (the cancel is
withdrawn) or refused to whoever gave it (the wait had already closed), never accepted and dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import UsageError
from aether_nb.runtime.session import Session
from aether_nb.runtime.step_cancels import MOVED, moved
from aether_nb.runtime.waits import Wait
from aether_nb.services import install_builtin_services
from aether_nb.services.channel import Message, Respond
from tests.conftest import arun


class Interleaving:
    """A chat adapter that answers the question and cuts its task with ``MOVED`` in a given order, each a number of
    loop turns (``call_soon`` hops) after the question is shown: ``("answer", 0)`` is answered in the presenting
    step itself."""

    def __init__(self, plan: list[tuple[str, int]]) -> None:
        self.plan = plan
        self.answered: bool | None = None  # whether the answer was accepted (None: not given yet)
        self.refusal: str | None = None

    def deliver(self, message: Message) -> None:
        pass

    async def present(self, wait: Wait, respond: Respond) -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def answer() -> None:
            try:
                respond("Ada")
            except UsageError as exc:
                self.answered, self.refusal = False, exc.code
            else:
                self.answered = True

        def cut() -> None:
            task.cancel(MOVED)

        for what, hops in self.plan:
            later(loop, hops, answer if what == "answer" else cut)


def later(loop: asyncio.AbstractEventLoop, hops: int, fn: Callable[[], None]) -> None:
    if hops == 0:
        fn()
    else:
        loop.call_soon(later, loop, hops - 1, fn)


@ag.graph_fn(outputs=["name"])
async def moved_asker(timeout_s: float | None = None, *, context: ag.NodeContext) -> dict[str, Any]:
    try:
        name = await context.channel().ask_text("Your name?", timeout_s=timeout_s)
    except asyncio.CancelledError as exc:
        if not moved(exc):
            raise
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()  # as the MCP layer does: the question goes on under another call
        return {"name": "(moved)"}
    return {"name": name}


PLANS = {
    "answer then cut, same turn": [("answer", 1), ("cut", 1)],
    "cut then answer, same turn": [("cut", 1), ("answer", 1)],
    "answered while presented, cut next turn": [("answer", 0), ("cut", 1)],
    "answered while presented, cut two turns on": [("answer", 0), ("cut", 2)],
    "answered while presented, cut three turns on": [("answer", 0), ("cut", 3)],
    "answer one turn after the cut": [("cut", 1), ("answer", 2)],
}


@pytest.mark.parametrize("timeout_s", [None, 60.0], ids=["no deadline", "deadline"])
@pytest.mark.parametrize("plan", list(PLANS.values()), ids=list(PLANS))
def test_an_answer_landing_with_a_moving_cancel_is_taken_or_refused_never_dropped(
    session: Session, plan: list[tuple[str, int]], timeout_s: float | None
) -> None:
    adapter = Interleaving(plan)
    install_builtin_services(session, channel=adapter)

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = moved_asker.start(timeout_s=timeout_s)
        out: dict[str, Any] = await run
        return out, run

    out, run = arun(main(), timeout=20)
    assert adapter.answered is not None
    session.flush()
    (wait,) = session.store.list_waits(run.id, status=None)
    if adapter.answered:  # accepted: the asking code got it, and the cancel was withdrawn
        assert out == {"name": "Ada"}
        assert wait.status == "answered"
        assert run.status == "succeeded"
    else:  # the question had moved on before the answer came: its giver was told
        assert adapter.refusal == "wait_closed"
        assert out == {"name": "(moved)"}
        assert wait.status == "cancelled"
