"""Stop pressed at the worst moment: nothing runs after it, and what ran shows as run.

Found while testing static graphs under eviction (the nineteenth session): a node task the scheduler launched a loop
turn before the cancel reached it still ran its tool, and was then shown stopped; a step stopped while its result
was being made durable (``durability="sync"``) had done its effect but was shown stopped too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import RunCancelled
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.run import Run
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

RAN: list[int] = []
RUNS: list[Run] = []


class HiccupStore(MemoryStore):
    """A store whose next write fails once when told to (a disk hiccup): the batch stays pending and is retried."""

    fail_next = False

    def write_history(self, batch: Any, *, durable: bool = True) -> Any:
        if HiccupStore.fail_next:
            HiccupStore.fail_next = False
            raise ag.StorageError("disk hiccup", code="io")
        return super().write_history(batch, durable=durable)


@pytest.fixture(autouse=True)
def _session() -> Iterator[None]:
    RAN.clear()
    RUNS.clear()
    HiccupStore.fail_next = False
    s, _ = make_session(HiccupStore())
    s.store.durability = "sync"
    previous = session_mod.set_default_session(s)
    yield
    session_mod.set_default_session(previous)


@ag.tool(outputs=["v"])
async def sr_first(i: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"v": i}


@ag.tool(outputs=["v"])
async def sr_next(i: int) -> dict[str, int]:
    RAN.append(i)
    return {"v": i}


@ag.graphify(name="sr_fan", inputs=["x"], outputs=["out"])
def sr_fan(x: Any) -> dict[str, Any]:
    first = sr_first(i=x)
    nexts = [sr_next(i=first.v), sr_next(i=10, _after=[first]), sr_next(i=20, _after=[first])]
    return {"out": [n.v for n in nexts]}


def test_no_node_runs_after_stop_even_one_launched_just_before() -> None:
    async def main() -> Run:
        run = sr_fan.start(x=1)

        def stop_when_first_ends(event: Any) -> None:  # Stop as the first node ends and the next ones are launched
            if event.kind in ("node_finished", "node_ran") and getattr(event, "node_id", None) == "sr_first_1":
                asyncio.get_running_loop().call_soon(run.cancel)

        run.subscribe(stop_when_first_ends)
        with pytest.raises(RunCancelled):
            await run
        return run

    run = arun(main())
    assert run.status == "cancelled"
    assert RAN == []  # on the old code all three ran, and were shown stopped
    assert [n.status for n in run.graph.nodes if n.name == "sr_next"] in ([], ["CANCELLED"] * 3)


@ag.tool(outputs=["v"])
async def sr_pay(amount: int) -> dict[str, int]:
    RAN.append(amount)
    # Stop, while the payment's result is being written: in "sync" durability a step's record is written before
    # its step returns, so the write fails once and the step waits for its retry (store.barrier) when Stop comes
    HiccupStore.fail_next = True
    asyncio.get_running_loop().call_soon(RUNS[0].cancel)
    return {"v": amount}


@ag.graph_fn(outputs=["v"])
async def sr_agent(*, context: ag.NodeContext) -> dict[str, int]:
    paid = (await sr_pay(5))["v"]
    await context.channel().send_text("paid")
    return {"v": paid}


def test_a_step_stopped_after_its_effect_shows_done() -> None:
    async def main() -> Run:
        run = sr_agent.start()
        RUNS.append(run)
        with pytest.raises(RunCancelled):
            await run
        return run

    run = arun(main())
    assert RAN == [5]
    assert run.status == "cancelled"
    assert run.graph.node("sr_pay_1").status == "DONE"  # it did pay (on the old code: shown stopped)


@ag.tool(outputs=["v"])
async def sr_boom() -> dict[str, int]:
    await asyncio.sleep(0)
    raise ValueError("boom")


@ag.tool(outputs=["v"])
async def sr_act(tag: str) -> dict[str, str]:
    RAN.append(len(tag))
    return {"v": tag}


@ag.graph_fn(outputs=["out"])
async def sr_groups(*, context: ag.NodeContext) -> dict[str, Any]:
    out = []
    unwound = asyncio.Event()

    async def slow_to_unwind() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            RUNS[0].cancel()  # Stop comes while the group unwinds (its failing child made it cancel this one)
            unwound.set()
            await asyncio.sleep(0)
            raise

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(slow_to_unwind())
            tg.create_task(sr_boom())
    except* ValueError:
        out.append("caught")
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sr_act("second"))
    except* ValueError:
        pass
    out.append("after")
    return {"out": out}


def test_a_run_stopped_while_a_task_group_swallowed_the_cancel_ends_cancelled() -> None:
    """Python's TaskGroup turns a cancel into its children's ExceptionGroup when one of them failed, and the body's
    ``except*`` swallowed it; the steps after it were refused, the body returned, and the run ended "succeeded"
    with a partial result though ``run.cancel()`` had said it would stop it (a scratch tester's hypothesis run)."""

    async def main() -> Run:
        run = sr_groups.start()
        RUNS.append(run)
        with pytest.raises(RunCancelled):
            await run
        return run

    run = arun(main())
    assert run.status == "cancelled"
    assert RAN == []  # the step after the stop never ran


def test_a_run_stopped_before_its_first_step_is_cancelled_for_every_caller() -> None:
    """``run.cancel()`` right after ``start()``: another task awaiting ``run.result()`` got a bare CancelledError
    (the run's task ended cancelled a loop turn before the run recorded it), not RunCancelled."""

    async def main() -> list[str]:
        caught = []
        for how in ("wait_for", "task"):
            run = sr_agent.start()
            RUNS[:] = [run]
            run.cancel()
            try:
                if how == "wait_for":
                    await asyncio.wait_for(run.result(), 5)
                else:
                    await asyncio.create_task(run.result())
            except RunCancelled:
                caught.append(how)
            assert run.status == "cancelled"
        return caught

    assert arun(main()) == ["wait_for", "task"]
    assert RAN == []
