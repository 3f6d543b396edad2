"""Agents on the kernel's own event loop (ipykernel >= 7.4): top-level await, background runs, answers from cells."""

from __future__ import annotations

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
import asyncio
import aether_nb as ag

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": x * 2}

@ag.graph_fn(name="demo", outputs=["answer"])
async def demo(x: int, *, context: ag.NodeContext):
    d = await double(x)
    await context.channel().send_text(f"Answer: {d['y']}")
    return {"answer": d["y"]}

@ag.graph_fn(outputs=["name"])
async def ask(*, context):
    return {"name": await context.channel().ask_text("Your name?")}
"""


def test_top_level_await_runs_on_the_kernel_loop(kernel: Kernel) -> None:
    kernel.ok(SETUP)
    res = kernel.ok("await demo(x=21)")
    assert "assistant: Answer: 42" in res.stdout
    assert res.results == ["{'answer': 42}"]


def test_sync_in_a_kernel_says_to_await(kernel: Kernel) -> None:
    kernel.ok(SETUP)
    res = kernel.run("demo.sync(x=21)")
    assert res.error is not None and res.error["ename"] == "UsageError"
    assert "await demo" in res.error["evalue"]


def test_background_run_is_awaited_in_a_later_cell(kernel: Kernel) -> None:
    kernel.ok(SETUP)
    kernel.ok("run = demo.start(x=5)")
    res = kernel.ok("out = await run\nprint(out, run.status)")
    assert "{'answer': 10} succeeded" in res.stdout


def test_a_waiting_background_run_is_answered_from_another_cell(kernel: Kernel) -> None:
    kernel.ok(SETUP)
    res = kernel.ok("run = ask.start()\nawait run.wait_for('waiting', timeout=20)")
    assert "? Your name?" in res.stdout and "run.answer" in res.stdout  # the console says how to answer
    kernel.ok("print(run.status, [w.prompt for w in run.waits])")
    kernel.ok("await run.answer('Ada')")
    res = kernel.ok("print(await run)")
    assert "{'name': 'Ada'}" in res.stdout
