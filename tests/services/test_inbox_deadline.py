"""A message written to ``receive(timeout_s=...)`` as its deadline passes is queued, never refused.

``post_message`` looks whether the agent's ``receive()`` is still before its deadline, then answers it; when the
deadline passed between the two, the answer was refused ("passed its deadline 0 s ago ... start a new run") and
the message lost, though a moment later it would have been queued for the agent's next ``receive()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.services.channel import post_message
from aether_nb.testing import ManualClock
from tests.conftest import arun, make_session


class _PassingClock(ManualClock):
    """Once armed, the next look at the time is the last one before ``deadline``: time is there right after."""

    def __init__(self) -> None:
        super().__init__()
        self.deadline: float | None = None

    def now(self) -> float:
        t = super().now()
        if self.deadline is not None and t < self.deadline:
            self.advance(self.deadline - t)
            self.deadline = None
        return t


@ag.graph_fn(name="ib_listens_a_while", outputs=["heard"])
async def listens_a_while(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    try:
        return {"heard": ["in time", await ch.receive(timeout_s=30)]}
    except ag.WaitTimeout:
        return {"heard": ["after the timeout", await ch.receive()]}


def test_a_message_written_as_the_receive_deadline_passes_is_queued_for_the_next_receive() -> None:
    clock = _PassingClock()
    s, _ = make_session(clock=clock)

    async def main() -> tuple[str, Any]:
        run = listens_a_while.start()
        await run.wait_for("waiting", timeout=5)
        (wait,) = run.waits
        assert wait.deadline is not None
        clock.deadline = wait.deadline  # it passes between post_message's look and the answer
        said = await post_message(run, "hello")
        return said, await asyncio.wait_for(run.result(), 5)

    previous = session_mod.set_default_session(s)
    try:
        said, out = arun(main())
    finally:
        session_mod.set_default_session(previous)
    assert (said, out) == ("queued", {"heard": ["after the timeout", "hello"]})
