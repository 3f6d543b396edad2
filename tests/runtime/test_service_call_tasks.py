"""A service call (``context.kv().get(...)``, ``memory.record``...) goes into ``asyncio.create_task``, a
``TaskGroup`` and ``ensure_future`` as a tool call does, and is still done once: replayed after a restart.

Found by a tester: ``tg.create_task(context.kv().get("k", 0))`` failed the run with asyncio's own ``TypeError: a
coroutine was expected, got <service call kv.get(...)>`` (a tool call there worked).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session


@ag.graph_fn(name="service_call_tasks_agent", outputs=["v", "seen", "answer"])
async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
    kv, memory = context.kv(), context.memory()
    async with asyncio.TaskGroup() as tg:
        got = tg.create_task(kv.get("k", 0))
        tg.create_task(memory.record("note", {"text": "once"}))
    await asyncio.create_task(kv.set("k", got.result() + 1))
    seen = await asyncio.ensure_future(kv.get("k"))
    answer = await context.channel().ask_text("go on?")
    return {"v": got.result(), "seen": seen, "answer": answer}


def test_service_calls_go_into_tasks(session: Session) -> None:
    async def main() -> dict[str, Any]:
        run = agent.start()
        await run.wait_for("waiting", timeout=10)
        await run.answer("yes")
        return await run

    assert arun(main()) == {"v": 0, "seen": 1, "answer": "yes"}


def test_a_task_of_a_service_call_the_body_never_awaited_never_runs(session: Session) -> None:
    """As for a tool call: the run fails saying the call never ran, and the task, which starts after, does nothing."""

    @ag.graph_fn(outputs=["r"])
    async def leaves_it(*, context: ag.NodeContext) -> dict[str, str]:
        asyncio.create_task(context.kv().set("late", 1))  # noqa: RUF006 (the mistake under test)
        return {"r": "left"}

    @ag.graph_fn(outputs=["late"])
    async def reads(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"late": await context.kv().get("late", "unset")}

    async def main() -> Any:
        with pytest.raises(ag.RunFailed, match=r"kv\.set\(\.\.\.\) \[kv\.set_1\] was called inside a run but never"):
            await leaves_it()
        for _ in range(50):  # the task's turns come after the run's end
            await asyncio.sleep(0)
        return await reads()

    assert arun(main()) == {"late": "unset"}


def test_service_calls_in_tasks_are_done_once_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "nb.aether.duckdb")
    outs = []
    for step in ("start", "answer"):
        store = DuckDBStore(path)
        with default_session(store) as session:

            async def main(step: str = step) -> Any:
                if step == "start":
                    run = agent.start(run_id="t1")
                    await run.wait_for("waiting", timeout=30)
                    return run.status
                run = ag.get_run("t1")
                await run.answer("yes")
                return await run

            outs.append(arun(main(), timeout=60))
            session.flush()
        store.close()  # the kernel stops
    # replayed, not done again: the get still returns 0 (the store holds 1 now), the note is recorded once
    assert outs == ["waiting", {"v": 0, "seen": 1, "answer": "yes"}]
    store = DuckDBStore(path, read_only=True)
    try:
        notes = store.sql("select count(*) from memory where kind = 'note'").rows
        assert notes == [(1,)]
    finally:
        store.close()
