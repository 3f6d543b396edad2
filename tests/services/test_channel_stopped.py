"""A chat bubble that streams, or a progress bar, whose block ends with an exception (the run fails, or is stopped
by the interrupt button or Stop): the bubble ends where its text did and says it stopped, instead of keeping a live
cursor (or a moving bar) beside a run that is over. Their normal ends are unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import RunFailed
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI, ScriptedChannel
from tests.conftest import arun


def _last(channel: ScriptedChannel, kind: str) -> Any:
    return [m for m in channel.messages if m.type == kind][-1]


def test_a_stream_whose_body_fails_ends_stopped_with_its_text(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(outputs=["n"])
    async def writer(*, context: ag.NodeContext) -> dict[str, int]:
        async with context.channel().stream() as s:
            await s.delta("Dear Ada, ")
            await s.delta("your order")
            raise RuntimeError("the printer jammed")

    with pytest.raises(RunFailed, match="the printer jammed"):
        arun(writer())
    last = _last(channel, "stream")
    assert (last.final, last.content) == (True, {"text": "Dear Ada, your order", "stopped": True})
    assert [m.final for m in channel.messages if m.type == "stream"][:-1] == [False, False, False]


def test_a_progress_bar_whose_block_is_cancelled_ends_stopped_where_it_was(
    session: Session, channel: ScriptedChannel
) -> None:
    async def main() -> ag.Run:
        halfway = asyncio.Event()

        @ag.graph_fn(outputs=["n"])
        async def indexer(*, context: ag.NodeContext) -> dict[str, int]:
            async with context.channel().progress("Indexing", total=10) as p:
                await p.update(inc=4)
                halfway.set()
                await asyncio.Event().wait()  # until stopped
            return {"n": 10}

        run = indexer.start()
        await halfway.wait()
        run.cancel()
        await asyncio.gather(run.result(), return_exceptions=True)
        return run

    run = arun(main())
    assert run.status == "cancelled"
    last = _last(channel, "progress")
    assert last.final and last.content["stopped"] is True and last.content["current"] == 4.0
    assert last.content["done"] is False


def test_normal_ends_are_unchanged(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(outputs=["n"])
    async def fine(*, context: ag.NodeContext) -> dict[str, int]:
        async with context.channel().stream() as s:
            await s.delta("all ")
            await s.delta("good")
        async with context.channel().progress("Work", total=2) as p:
            await p.update(inc=2)
        return {"n": 1}

    assert arun(fine()) == {"n": 1}
    assert _last(channel, "stream").content == {"text": "all good"}
    assert _last(channel, "progress").content == {
        "title": "Work",
        "current": 2.0,
        "total": 2,
        "subtitle": None,
        "done": True,
    }


def test_an_llm_stream_cut_by_a_stop_ends_stopped(session: Session, channel: ScriptedChannel) -> None:
    with FakeOpenAI(rules=lambda body: " ".join(f"w{i}" for i in range(400)), chunk_delay_s=0.01) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "m", "max_retries": 0})

        async def main() -> ag.Run:
            @ag.graph_fn(outputs=["text"])
            async def talker(*, context: ag.NodeContext) -> dict[str, Any]:
                text, _ = await context.llm().chat("talk", stream_to=context.channel())
                return {"text": text}

            run = talker.start()
            while not any("delta" in m.content for m in channel.messages):  # (state: the first token came)
                await asyncio.sleep(0.01)
            run.cancel()
            await asyncio.gather(run.result(), return_exceptions=True)
            return run

        run = arun(main())
    last = _last(channel, "stream")
    assert run.status == "cancelled" and run.graph.node("llm_1").status == "CANCELLED"
    assert last.final and last.content["stopped"] is True and last.content["text"].startswith("w0 ")
