"""A graph_fn's call stopped while it waited for a slot never started: it has no start time, as in a static graph.

Found by a tester: under ``max_concurrency=1`` a graph_fn gathered three sync calls and was stopped while the first
ran; the two that waited for the slot got a start equal to their end, so the widget showed them "stopped · 0 ms"
as if they had run. A ``@graphify`` node that never started has no start time (the README calls its old "0 ms" a
fixed bug); a graph_fn's call now matches it, in memory and in the store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, default_session
from tests.runtime.test_sync_limits import Gate, until


def test_calls_stopped_while_waiting_for_the_only_slot_have_no_start_time() -> None:
    gate = Gate()

    @ag.tool(outputs=["r"])
    def capped_work(i: int) -> dict[str, int]:
        gate.body(f"work {i}", block=True)
        return {"r": i}

    @ag.graph_fn(name="never_started_fan")
    async def fan() -> dict[str, Any]:
        await asyncio.gather(*(capped_work(i) for i in range(3)))
        return {}

    @ag.graphify(name="never_started_static", outputs=[])
    def fan_static() -> Any:
        capped_work(i=0)
        capped_work(i=1)
        capped_work(i=2)
        return {}

    store = MemoryStore()
    with default_session(store) as s:
        ag.configure(max_concurrency=1)

        async def stopped(agent: Any) -> ag.Run:
            gate.release.clear()
            run = agent.start()
            await until(
                lambda: gate.running == 1 and sorted(n.status for n in run.graph.nodes)[:2] == ["PENDING"] * 2,
                runs=(run,),
                gate=gate,
            )
            run.cancel()
            with pytest.raises(ag.RunCancelled):
                await run
            gate.release.set()
            await until(lambda: gate.running == 0, gate=gate)
            await s.store.barrier()
            return run

        dynamic, static = arun(stopped(fan)), arun(stopped(fan_static))

    def shown(run: ag.Run) -> list[tuple[str, str, bool, bool]]:
        return [(n.id, n.status, n.started_at is not None, n.ended_at is not None) for n in run.graph.nodes]

    expected = [
        ("capped_work_1", "CANCELLED", True, True),  # it ran: stopped while its body ran
        ("capped_work_2", "CANCELLED", False, True),  # never started: no start, no duration ("0 ms" before)
        ("capped_work_3", "CANCELLED", False, True),
    ]
    assert shown(dynamic) == expected
    assert [(i, st, s) for i, st, s, _ in shown(static)] == [(i, st, s) for i, st, s, _ in expected]
    with default_session(store):  # as the store holds it
        assert shown(ag.get_run(dynamic.id)) == expected
