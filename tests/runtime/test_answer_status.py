"""An answered run never reads as ``waiting`` with no open wait, whenever the process dies.

A tester re-attached a run after a restart, answered it, and the kernel died ~50 ms later (``"async"``
durability): the answer was in the store, the run's change from ``waiting`` was not (it went in a later batch).
The next process saw ``status == "waiting"``, ``run.waits == []``, ``ag.runs(status="waiting")`` listed it, and
answering it raised ``no_open_wait``. The answer's write now carries the run's status change.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, RejectedRecord
from tests.conftest import arun, default_session


class DiesAfterAnswer(MemoryStore):
    """A store whose process "dies" right after the write that holds an answer: nothing after it is written."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.dead = False

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        if self.dead:
            raise StorageError("the process is gone", code="io")
        written = super().write_history(batch)
        if self.armed and any(w.status == "answered" for w in batch.waits):
            self.dead = True
        return written


@ag.tool(outputs=["v"])
async def work(x: int) -> dict[str, int]:
    await asyncio.sleep(0.5)
    return {"v": x}


@ag.graph_fn(name="approve_then_work", outputs=["out"])
async def approve_then_work(*, context: ag.NodeContext) -> dict[str, bool]:
    ok, _ = await context.channel().ask_approval("Go?")
    await work(1)
    return {"out": ok}


@ag.graph_fn(name="approve_in_memory", outputs=["out"])
async def approve_in_memory(*, context: ag.NodeContext) -> dict[str, bool]:
    ok, _ = await context.channel().ask_approval("Go?")
    await work(1)
    return {"out": ok}


def _start(store: DiesAfterAnswer, agent: ag.GraphFn) -> str:
    """Process 1: the run asks and the process stops (the loop goes away; the run stays resumable)."""
    with default_session(store) as s:

        async def main() -> str:
            run = agent.start()
            await run.wait_for("waiting")
            return run.id

        run_id = arun(main())
        s.flush()
    return run_id


def _next_process(store: DiesAfterAnswer, run_id: str) -> None:
    """The next process: the run reads as it is, answerable or going on, and finishes."""
    store.armed = store.dead = False
    with default_session(store) as s:
        run = s.get_run(run_id)
        assert (run.status, run.waits) == ("running", [])
        assert s.runs(status="waiting") == []
        assert arun(run.result()) == {"out": True}


def test_a_reattached_run_answered_just_before_a_kill_is_stored_going_on() -> None:
    store = DiesAfterAnswer()
    run_id = _start(store, approve_then_work)
    with default_session(store) as s:

        async def answer() -> None:
            run = s.get_run(run_id)
            store.armed = True
            await run.answer(True)
            await asyncio.sleep(0.05)  # (the process dies here: nothing written after the answer's write)

        arun(answer())
    assert store.dead
    _next_process(store, run_id)


def test_a_live_run_answered_from_another_thread_just_before_a_kill_is_stored_going_on() -> None:
    """A widget's answer arrives on a kernel thread: written there and then, the run's status change came later."""
    store = DiesAfterAnswer()
    with default_session(store) as s:

        async def main() -> str:
            run = approve_in_memory.start()
            await run.wait_for("waiting")
            s.flush()
            store.armed = True
            (wait,) = run.waits
            answering = threading.Thread(target=s.answer, args=(wait.token, True))
            answering.start()
            await asyncio.to_thread(answering.join)
            await asyncio.sleep(0.05)
            return run.id

        run_id = arun(main())
    assert store.dead
    _next_process(store, run_id)


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_an_answered_run_that_resumes_reads_running_in_memory_and_in_the_store(durability: str) -> None:
    store = DiesAfterAnswer()
    run_id = _start(store, approve_then_work)
    with default_session(store) as s:
        s.store.durability = durability  # type: ignore[assignment]

        async def answer() -> tuple[str, str]:
            run = s.get_run(run_id)
            await run.answer(True)
            await asyncio.sleep(0.01)
            stored = store.get_run(run_id)
            assert stored is not None
            status = (run.status, stored.status)
            await run
            return status

        assert arun(answer()) == ("running", "running")
