"""A Dask-run tool body that raises ``SystemExit`` (argparse on bad input) or ``KeyboardInterrupt``: only its node
fails, with a ``RunError`` (``body_exit``) whose cause is the body's own exception and remote traceback, as in the
kernel's threads; the worker survives, and so does the body running beside it.

Dask lets both through to end the worker process, which failed every body on it as ``KilledWorker``. Bodies and the
test meet through Dask ``Event``s on the scheduler: the test waits on state, never on the clock.
"""

from __future__ import annotations

import asyncio
import os
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest

import aether_nb as ag
from aether_nb.executors.dask import DaskExecutor
from aether_nb.runtime.session import Session
from tests.dask.conftest import KernelLoop, cell

TOOLS = '''
import os
import aether_nb as ag


@ag.tool(outputs=["pid"])
def beside(gate: str):
    """Runs on the same worker while the other body exits; returns once the test has seen that node fail."""
    from distributed import Event

    Event(f"{gate}-beside-started").set()
    assert Event(f"{gate}-go").wait(60), "the test never opened the gate"
    return {"pid": os.getpid()}


@ag.tool(outputs=["v"])
def exits(gate: str, how: str):
    from distributed import Event

    assert Event(f"{gate}-beside-started").wait(60), "the other body never started"
    if how == "interrupt":
        raise KeyboardInterrupt("stop")
    import argparse

    argparse.ArgumentParser(prog="cli").parse_args(["--no-such-flag"])  # sys.exit(2)
    return {"v": 1}
'''


@pytest.fixture(scope="module")
def one_worker(kernel: KernelLoop) -> Iterator[DaskExecutor]:
    """One worker process with two threads: both bodies of a test run in the same process."""
    ex = DaskExecutor(n_workers=1, threads_per_worker=2, dashboard_address=":0")
    kernel.run(ex.start(), timeout=110)
    yield ex
    kernel.run(ex.close())


async def worker_pids(ex: DaskExecutor) -> dict[str, int]:
    pids: dict[str, int] = await ex.client.run(os.getpid)
    return pids


async def node_finished(run: ag.Run, node_id: str) -> None:
    """Wait until ``node_id`` has finished, re-checking at each event of the run (under the cell's timeout)."""
    changed = asyncio.Event()
    unsubscribe = run.subscribe(lambda _: changed.set())
    try:
        while not any(e.kind == "node_finished" and e.node_id == node_id for e in run.history):
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


@pytest.mark.parametrize(("how", "raised"), [("exit", SystemExit), ("interrupt", KeyboardInterrupt)])
def test_a_body_that_exits_fails_only_its_node_and_the_worker_survives(
    kernel: KernelLoop,
    one_worker: DaskExecutor,
    session: Session,
    tmp_path: Path,
    how: str,
    raised: type[BaseException],
) -> None:
    tools = cell(TOOLS, tmp_path)
    beside, exits = tools["beside"], tools["exits"]

    @ag.graphify(name=f"exits_{how}", inputs=["gate", "how"], outputs=["a", "b"])
    def pair(gate, how):  # type: ignore[no-untyped-def]
        return {"a": beside(gate=gate).pid, "b": exits(gate=gate, how=how).v}

    gate = f"gate-{uuid.uuid4().hex}"

    async def main() -> tuple[ag.Run, BaseException, dict[str, int], dict[str, int]]:
        before = await worker_pids(one_worker)
        run = pair.start(gate=gate, how=how, executor=one_worker, stop_on_first_error=False)
        await node_finished(run, "exits_1")  # while beside_1 still runs on the same worker
        await distributed.Event(f"{gate}-go", client=one_worker.client).set()
        with pytest.raises(ag.RunFailed) as caught:
            await run
        return run, caught.value, before, await worker_pids(one_worker)

    run, error, before, after = kernel.run(main(), timeout=90)
    assert after == before  # the same worker process, never restarted
    statuses = {n.id: n.status for n in run.graph.nodes}
    assert statuses == {"beside_1": "DONE", "exits_1": "FAILED"}
    assert run.graph.node("beside_1").where in before
    cause = error.__cause__
    assert isinstance(cause, ag.RunError) and cause.code == "body_exit", repr(cause)
    assert f"tool exits: its body raised {raised.__name__}" in str(cause) and "on Dask worker tcp://" in str(cause)
    original = cause.__cause__
    assert isinstance(original, raised)
    if raised is SystemExit:
        assert isinstance(original, SystemExit) and original.code == 2
    assert original.__traceback__ is not None  # the remote traceback, showing the cell's lines
    assert any(str(tmp_path) in frame.filename for frame in traceback.extract_tb(original.__traceback__))
