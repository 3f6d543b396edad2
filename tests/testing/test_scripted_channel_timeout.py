"""``ScriptedChannel.wait_for`` (the public fake's) that gives up says what the channel holds: it raised an empty
``TimeoutError``, so a failing test said nothing about the prompts shown or the answers missing."""

from __future__ import annotations

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun


@ag.graph_fn(outputs=["name"])
async def greet(*, context: ag.NodeContext) -> dict[str, str]:
    return {"name": await context.channel().ask_text("Your name?")}


def test_the_scripted_channels_wait_for_says_what_it_holds(session: Session) -> None:
    channel = ScriptedChannel()  # no answers: the question stays unanswered
    ag.configure(channel=channel)

    async def main() -> None:
        run = greet.start()
        await channel.wait_for(lambda ch: ch.prompts, timeout=10)
        with pytest.raises(TimeoutError) as caught:
            await channel.wait_for(lambda ch: ch.messages and ch.messages[-1].text == "never", timeout=0.05)
        text = str(caught.value)
        assert "still false after 0.05 s" in text and "the prompts ['Your name?'] and 1 unanswered" in text, text
        run.cancel()

    arun(main())
