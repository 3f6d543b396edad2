"""A replayed service call is not written to the history again (as a replayed step is not).

Found by a tester: an agent's ``kv.set`` and ``memory.record`` were stored as events once more at each resume (after
two restarts, three ``service_call`` events each), so SQL over ``events`` and a rebuilt ``run.history`` counted calls
that were made once. Calls made by the run's own body and by a tool's code, after restarts and after the run left
memory while it waited.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, default_session


@ag.tool(outputs=["n"])
async def remember(x: int, *, context: ag.NodeContext) -> dict[str, int]:
    await context.kv().set(f"tool-{x}", x)
    return {"n": x}


@ag.graph_fn(name="replayed_calls_agent", outputs=["out"])
async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.kv().set("k", 1)
    await context.memory().record("note", {"text": "hello"})
    await remember(7)
    a = await context.channel().ask_text("Q1?")
    b = await context.channel().ask_text("Q2?")
    return {"out": a + b}


CALLS = Counter({(None, "kv.set_1"): 1, (None, "memory.record_1"): 1, ("remember_1", "remember_1/kv.set_1"): 1})


def stored_calls(store: Any, run_id: str) -> Counter[tuple[str | None, str]]:
    events = store.load_events(run_id)
    return Counter((e["node_id"], e["key"]) for e in events if e["kind"] == "service_call")


def test_calls_replayed_after_two_restarts_are_stored_once(tmp_path: Path) -> None:
    path = str(tmp_path / "nb.aether.duckdb")
    for step in ("start", "answer", "answer"):
        store = DuckDBStore(path)
        with default_session(store) as session:

            async def main(step: str = step) -> Any:
                if step == "start":
                    run = agent.start(run_id="r1")
                else:
                    run = ag.get_run("r1")
                    await run.answer("x")
                await run.wait_for("waiting", "succeeded", timeout=30)
                return run.outputs

            out = arun(main())
            session.flush()
        store.close()  # the kernel stops (the run waits, or has finished)
    assert out == {"out": "xx"}
    store = DuckDBStore(path, read_only=True)
    try:
        assert stored_calls(store, "r1") == CALLS  # each was stored three times
        rows = store.sql("select data from events where run_id = 'r1'").rows  # what a user's SQL counts
        assert sum(json.loads(d)["kind"] == "service_call" for (d,) in rows) == 3
        with default_session(store):
            history = ag.get_run("r1").history
            assert Counter((e.node_id, e.key) for e in history if e.kind == "service_call") == CALLS
    finally:
        store.close()


def test_calls_replayed_after_the_run_left_memory_are_stored_once() -> None:
    store = MemoryStore()
    with default_session(store) as session:
        session.max_live_waiting = 1

        async def main() -> None:
            runs = [agent.start(run_id=f"m{i}") for i in range(2)]
            for run in runs:
                await run.wait_for("waiting", timeout=10)
            assert not runs[0].live  # it left memory
            for run in runs:
                await run.answer("y")
            for run in runs:
                await run.wait_for("waiting", timeout=10)
                await run.answer("y")
            for run in runs:
                assert await run == {"out": "yy"}
            await session.store.barrier()

        arun(main())
        for run_id in ("m0", "m1"):
            assert stored_calls(store, run_id) == CALLS
