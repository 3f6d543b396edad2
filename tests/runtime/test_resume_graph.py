"""A resumed run draws the DAG the uninterrupted run draws: the edges from gathered calls into the step after them.

Found by a tester: an agent gathered three tool calls, then asked for approval; the kernel restarted while it waited.
Before the restart (and right after re-attaching) the approval depended on all three calls; once answered, only on
the last one, and that DAG was written to the store. A resumed body replays its journaled steps at once, so the
gathered calls replayed one after the other, each seeing the one before it completed, and the step after them
was given the last one only. The run that never restarted kept all three edges.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, default_session

GATHERED = [("fan_step_1", "ask_approval_1"), ("fan_step_2", "ask_approval_1"), ("fan_step_3", "ask_approval_1")]
EXPECTED = sorted([*GATHERED, ("ask_approval_1", "fan_step_4")])


@ag.tool(outputs=["r"])
def fan_step(i: int) -> dict[str, int]:
    return {"r": i}


@ag.graph_fn(name="resume_graph_fan_ask", outputs=["ok", "last"])
async def fan_ask(x: int = 0, *, context: ag.NodeContext) -> dict[str, Any]:
    await asyncio.gather(*(fan_step(i) for i in range(3)))
    ok, _ = await context.channel().ask_approval("Go?", options=["Yes", "No"])
    last = await fan_step(9)
    return {"ok": ok, "last": last["r"]}


def uninterrupted_edges() -> list[tuple[str, str]]:
    """The edges of a run that never stopped, answered the same way."""
    with default_session(MemoryStore()):

        async def main() -> list[tuple[str, str]]:
            run = fan_ask.start()
            await run.wait_for("waiting", timeout=10)
            await run.answer("Yes")
            await run
            return sorted(run.graph.edges)

        return arun(main())


def test_the_uninterrupted_run_has_an_edge_from_each_gathered_call() -> None:
    assert uninterrupted_edges() == EXPECTED


def test_a_run_resumed_after_a_restart_keeps_the_gathered_edges_in_memory_and_in_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "nb.aether.duckdb")
    store = DuckDBStore(path)
    with default_session(store) as first:

        async def start() -> list[tuple[str, str]]:
            run = fan_ask.start(run_id="fa")
            await run.wait_for("waiting", timeout=10)
            return sorted(run.graph.edges)

        assert arun(start()) == GATHERED
        first.flush()
    store.close()  # the kernel stopped while the run waited

    store = DuckDBStore(path)
    with default_session(store) as second:

        async def resume() -> tuple[list[tuple[str, str]], list[tuple[str, str]], Any]:
            run = ag.get_run("fa")
            reattached = sorted(run.graph.edges)
            await run.answer("Yes")
            out = await run
            return reattached, sorted(run.graph.edges), out

        reattached, resumed, out = arun(resume())
        second.flush()
    store.close()
    assert out == {"ok": True, "last": 9}
    assert reattached == GATHERED
    assert resumed == EXPECTED == uninterrupted_edges()  # it was [step_3 -> ask_approval_1, ask_approval_1 -> step_4]

    store = DuckDBStore(path, read_only=True)  # what a new process reads
    with default_session(store):
        stored = ag.get_run("fa")
        assert stored.status == "succeeded"
        assert sorted(stored.graph.edges) == EXPECTED
    store.close()


def test_a_run_that_left_memory_while_it_waited_keeps_the_gathered_edges() -> None:
    """The same replay, in this process: beyond ``max_live_waiting`` parked runs the oldest leave memory, and an
    answer resumes them from the journal without reading their history back."""
    store = MemoryStore()
    with default_session(store) as s:
        s.max_live_waiting = 1

        async def main() -> list[list[tuple[str, str]]]:
            runs = [fan_ask.start(x=i) for i in range(2)]
            for run in runs:
                await run.wait_for("waiting", timeout=10)
            assert not runs[0].live and runs[0].status == "waiting"  # it left memory
            edges = []
            for run in runs:
                await run.answer("Yes")
                await run
                edges.append(sorted(run.graph.edges))
            await s.store.barrier()
            return edges

        assert arun(main()) == [EXPECTED, EXPECTED]
    with default_session(store):  # read back from the store
        assert [sorted(r.graph.edges) for r in ag.runs()] == [EXPECTED, EXPECTED]
