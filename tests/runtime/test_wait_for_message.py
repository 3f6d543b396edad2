"""``run.wait_for(...)`` that gives up says why: it raised a bare ``TimeoutError()`` (an empty message), so a notebook
showed ``TimeoutError:`` beside a run that was, say, waiting for an answer nobody had given. It stays a
``TimeoutError`` (``except TimeoutError`` keeps working); its message names the status awaited, the run's status and,
for a waiting run, the questions open and how to answer them."""

from __future__ import annotations

import asyncio

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.graph_fn(outputs=["name"])
async def greet(*, context: ag.NodeContext) -> dict[str, str]:
    return {"name": await context.channel().ask_text("Your name?")}


@ag.tool(outputs=["y"])
async def stuck(gate: str) -> dict[str, int]:
    await asyncio.Event().wait()
    return {"y": 1}


@ag.graph_fn(outputs=["y"])
async def slow() -> dict[str, int]:
    return dict(await stuck("g"))


def test_a_waiting_run_that_times_out_names_its_question(session: Session) -> None:
    async def main() -> None:
        run = greet.start()
        await run.wait_for("waiting", timeout=10)
        with pytest.raises(TimeoutError) as caught:
            await run.wait_for(timeout=0.05)
        text = str(caught.value)
        assert text.startswith(f"run {run.id} did not become 'cancelled' or 'failed' or 'succeeded' within 0.05 s")
        assert "it is waiting for an answer to ask_text_1: answer it with `await run.answer(...)`" in text
        await run.answer("Ada")
        assert await run == {"name": "Ada"}

    arun(main())


def test_a_running_run_that_times_out_says_it_runs(session: Session) -> None:
    async def main() -> None:
        run = slow.start()
        await run.wait_for("running", timeout=10)
        with pytest.raises(TimeoutError, match=r"did not become 'waiting' within 0\.01 s: it is running; wait longer"):
            await run.wait_for("waiting", timeout=0.01)
        run.cancel()
        await run.wait_for("cancelled", timeout=10)

    arun(main())
