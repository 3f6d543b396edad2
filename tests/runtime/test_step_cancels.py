"""A step the run's code gives up on ends CANCELLED at once; a loop going away leaves it resumable.

``asyncio.wait_for`` around a tool call, ``asyncio.timeout``, or a ``TaskGroup`` whose other task failed cancel a
step while the run goes on: it used to stay RUNNING in ``run.graph`` and the store for the rest of the run (and a
sync body given up on that way got no ``abandoned_body`` warning). ``asyncio.run`` ending (a loop going away)
cancels the same tasks, and there the step must stay as it was, for the resumed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

_release = threading.Event()  # lets the sync body given up on end (set by each test that uses it)


@ag.tool(name="sc_hangs", outputs=["y"])
async def hangs(x: int) -> dict[str, int]:
    await asyncio.Event().wait()  # a hung API call
    return {"y": x}


@ag.tool(name="sc_blocks", outputs=["y"])
def blocks(x: int) -> dict[str, int]:
    _release.wait(10)  # a sync body in its thread: cannot be stopped
    return {"y": x}


@ag.tool(name="sc_fails_soon", outputs=["y"])
async def fails_soon() -> dict[str, int]:
    raise ValueError("down")


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


def _stored(session: Session, run_id: str) -> dict[str, str]:
    session.flush()
    return {n.node_id: n.status for n in session.store.list_nodes(run_id)}


def _statuses(run: ag.Run) -> dict[str, str]:
    return {n.id: n.status for n in run.graph.nodes}


def test_calls_given_up_with_wait_for_end_cancelled_while_the_run_goes_on(session: Session) -> None:
    _release.clear()
    go_on = asyncio.Event()

    @ag.graph_fn(name="sc_gives_up", outputs=["r"])
    async def gives_up() -> dict[str, Any]:
        for call in (hangs(1), blocks(2)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call, 0.05)
        await go_on.wait()  # the agent goes on (asks a person, calls an LLM...)
        return {"r": 1}

    async def main() -> tuple[dict[str, str], dict[str, str], str, list[str], list[str]]:
        run = gives_up.start()
        await _until(lambda: _statuses(run) == {"sc_hangs_1": "CANCELLED", "sc_blocks_1": "CANCELLED"})
        mid, stored, status = _statuses(run), _stored(session, run.id), run.status
        said = [e.code for e in run.history if e.kind == "warning"]
        _release.set()
        await _until(lambda: any(e.code == "abandoned_body_ended" for e in run.history if e.kind == "warning"))
        go_on.set()
        await run
        return mid, stored, status, said, [e.code for e in run.history if e.kind == "warning"]

    mid, stored, status, said, warned = arun(main())
    assert mid == stored == {"sc_hangs_1": "CANCELLED", "sc_blocks_1": "CANCELLED"}
    assert status == "running"
    assert said == ["abandoned_body"]
    assert warned == ["abandoned_body", "abandoned_body_ended"]


def test_a_task_group_sibling_cancelled_by_a_failure_ends_cancelled_while_the_run_goes_on(session: Session) -> None:
    go_on = asyncio.Event()

    @ag.graph_fn(name="sc_grouped", outputs=["r"])
    async def grouped() -> dict[str, Any]:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(fails_soon())
                tg.create_task(hangs(1))
        except* ValueError:
            pass
        await go_on.wait()
        return {"r": 1}

    async def main() -> tuple[dict[str, str], dict[str, str]]:
        run = grouped.start()
        await _until(lambda: _statuses(run).get("sc_hangs_1") not in (None, "RUNNING", "PENDING"))
        mid, stored = _statuses(run), _stored(session, run.id)
        go_on.set()
        await run
        return mid, stored

    mid, stored = arun(main())
    assert mid == stored == {"sc_fails_soon_1": "FAILED", "sc_hangs_1": "CANCELLED"}


def test_a_step_timed_out_in_the_runs_own_task_and_a_question_given_up_on_end_cancelled(session: Session) -> None:
    go_on = asyncio.Event()

    @ag.graph_fn(name="sc_times_out", outputs=["r"])
    async def times_out(*, context: ag.NodeContext) -> dict[str, Any]:
        try:
            async with asyncio.timeout(0.05):  # (cancels the run's own task, then takes the cancel back)
                await hangs(1)
        except TimeoutError:
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(context.channel().ask_text("still there?"), 0.05)
        await go_on.wait()
        return {"r": 1}

    async def main() -> tuple[dict[str, str], str, list[Any], list[str]]:
        run = times_out.start()
        await _until(lambda: _statuses(run).get("ask_text_1") == "CANCELLED")
        mid, status, waits = _statuses(run), run.status, run.waits
        go_on.set()
        await run
        return mid, status, waits, [w.status for w in session.store.list_waits(run.id, status=None)]

    mid, status, waits, stored = arun(main())
    assert mid == {"sc_hangs_1": "CANCELLED", "ask_text_1": "CANCELLED"}
    assert (status, waits, stored) == ("running", [], ["cancelled"])


@ag.graph_fn(name="sc_cut_off", outputs=["r"])
async def cut_off(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.channel().ask_text("first?")
    return await hangs(1)


def test_a_loop_going_away_leaves_the_running_step_and_the_wait_resumable(tmp_path: Path) -> None:
    """``asyncio.run`` ending while a run works (the kernel shutting down): its step and its question stay as they
    were, so the run is resumed from there; neither is CANCELLED (which the calls given up on above are)."""
    path = str(tmp_path / "cut.duckdb")
    store = DuckDBStore(path)
    with default_session(store) as first:

        async def start() -> None:
            run = cut_off.start(run_id="cut")
            await run.wait_for("waiting", timeout=5)
            await run.answer("yes")
            await _until(lambda: _statuses(run).get("sc_hangs_1") == "RUNNING")

        arun(start())  # returns with the run mid-step: asyncio.run cancels every task left
        live = _statuses(first.get_run("cut"))
        stored = _stored(first, "cut")
        record = first.store.get_run("cut")
    store.close()
    assert live == stored == {"ask_text_1": "DONE", "sc_hangs_1": "RUNNING"}
    assert record is not None and record.status == "running"

    @ag.graph_fn(name="sc_grouped_wait", outputs=["r"])
    async def grouped_wait(*, context: ag.NodeContext) -> dict[str, Any]:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(context.channel().ask_text("a?"))
            tg.create_task(hangs(2))
        return {"r": 1}

    store = DuckDBStore(str(tmp_path / "waiting.duckdb"))
    with default_session(store) as second:

        async def start_waiting() -> None:
            run = grouped_wait.start(run_id="w")
            await _until(lambda: run.status == "waiting" and _statuses(run).get("sc_hangs_1") == "RUNNING")

        arun(start_waiting())
        assert _stored(second, "w") == {"ask_text_1": "WAITING_HUMAN", "sc_hangs_1": "RUNNING"}
        assert [w.status for w in second.store.list_waits("w", status=None)] == ["open"]
    store.close()
