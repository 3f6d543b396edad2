"""Bodies waiting in Dask's queue: they show pending and their timeout waits with them, a cancelled one never
starts, one lost with its worker before it started is sent again, and a script without a main guard is told why
its cluster does not start.

A real LocalCluster of 2 single-threaded worker processes (one for the module; the worker-kill test makes its own
one-worker cluster). Bodies and tests meet through Dask's ``Event``/``Variable`` and files: a test waits on state
(a body started, a node's status), never on the clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import distributed
import pytest

import aether_nb as ag
from aether_nb.executors.dask import DaskExecutor
from aether_nb.runtime.session import Session
from tests.dask.conftest import Counting, KernelLoop, cell

TOOLS = '''
import os
import aether_nb as ag


@ag.tool(outputs=["i"])
def spin(i: int, gate: str, log: str = ""):
    """Its first effect is a line in ``log``; then it says it started and spins until interrupted (or, with a
    gate event set, until the gate opens)."""
    import time
    from distributed import Event, Variable

    if log:
        with open(log, "a") as f:
            f.write(f"{i}\\n")
    Variable(f"{gate}-pid-{i}").set(os.getpid())
    Event(f"{gate}-started-{i}").set()
    go = Event(f"{gate}-go-{i}")
    while not go.is_set():
        time.sleep(0.01)
    return {"i": i}


@ag.tool(outputs=["i"])
def quick(i: int, log: str):
    with open(log, "a") as f:
        f.write(f"{i}\\n")
    return {"i": i}
'''


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, Any]:
    return cell(TOOLS, tmp_path)


def gate_name() -> str:
    return f"gate-{uuid.uuid4().hex}"


def event(ex: DaskExecutor, name: str) -> distributed.Event:
    return distributed.Event(name, client=ex.client)


async def until(run: ag.Run, predicate: Any) -> None:
    """Wait until ``predicate()`` holds, re-checking at each event of the run (under the cell timeout)."""
    changed = asyncio.Event()
    unsubscribe = run.subscribe(lambda _: changed.set())
    try:
        while not predicate():
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


async def ended(submission: Any) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    submission.add_done_callback(lambda: loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None)))
    await done


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_cancelled_node_waiting_in_dasks_queue_never_starts_its_body(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any], tmp_path: Path
) -> None:
    spin = tools["spin"]
    log = tmp_path / "starts.log"

    @ag.graph_fn(name="dask_queue_cancel", outputs=["n"])
    async def six(gate: str):  # type: ignore[no-untyped-def]
        await asyncio.gather(*(spin(i, gate, str(log)) for i in range(6)))
        return {"n": 6}

    gate = gate_name()
    counting = Counting(cluster)

    async def main() -> ag.Run:
        run = six.start(gate=gate, executor=counting)
        waits = {asyncio.ensure_future(event(cluster, f"{gate}-started-{i}").wait(60)) for i in range(6)}
        started = 0
        while started < 2:  # both worker threads run a body; four wait in Dask's queue
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            started += len(done)
        for waiter in waits:
            waiter.cancel()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        # Each body's end (or that it never started) is confirmed by the workers: a late start has happened by now.
        await asyncio.gather(*(ended(s) for _, s in counting.submitted))
        return run

    run = kernel.run(main(), timeout=60)
    assert [n.status for n in run.graph.nodes if n.name == "spin"] == ["CANCELLED"] * 6
    assert len(lines(log)) == 2, lines(log)  # only the two bodies that ran at cancel() ever started


def test_a_node_waiting_in_dasks_queue_shows_pending_and_its_timeout_starts_with_its_body(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any], tmp_path: Path
) -> None:
    spin, quick = tools["spin"], tools["quick"]
    log = tmp_path / "quick.log"

    @ag.graphify(name="dask_queue_timeout", inputs=["gate", "log"], outputs=["c"])
    def three(gate, log):  # type: ignore[no-untyped-def]
        spin(i=0, gate=gate, _timeout_s=1.5)  # spins until its timeout interrupts it
        spin(i=1, gate=gate)  # holds the other worker until the test opens its gate
        return {"c": quick(i=2, log=log, _timeout_s=1.0).i}  # waits in the queue longer than its timeout

    gate = gate_name()

    async def main() -> tuple[ag.Run, str, str]:
        run = three.start(gate=gate, log=str(log), executor=cluster, stop_on_first_error=False)
        await event(cluster, f"{gate}-started-0").wait(30)
        await event(cluster, f"{gate}-started-1").wait(30)
        await until(run, lambda: run.graph.node("quick_1").status == "PENDING")
        queued = run.graph.node("quick_1").status
        await until(run, lambda: run.graph.node("spin_1").status == "FAILED_TIMEOUT")
        while_queued = run.graph.node("quick_1").status  # its 1 s have passed while it waited
        await event(cluster, f"{gate}-go-1").set()
        with pytest.raises(ag.RunFailed):  # (spin_1's timeout)
            await run
        return run, queued, while_queued

    run, queued, while_queued = kernel.run(main(), timeout=60)
    assert queued == "PENDING"
    assert while_queued in ("PENDING", "RUNNING", "DONE")
    node = run.graph.node("quick_1")
    assert node.status == "DONE" and node.outputs == {"i": 2} and lines(log) == ["2"]
    assert node.duration is not None and node.duration < 1.0  # counted from its start, not its submission
    assert run.graph.node("spin_1").status == "FAILED_TIMEOUT"  # a node that started still times out
    assert run.graph.node("spin_2").status == "DONE"


def test_a_worker_killed_while_a_body_waits_behind_the_running_one_fails_only_the_running_node(
    kernel: KernelLoop, session: Session, tools: dict[str, Any], tmp_path: Path
) -> None:
    spin, quick = tools["spin"], tools["quick"]
    log = tmp_path / "quick.log"

    @ag.graphify(name="dask_queue_kill", inputs=["gate", "log"], outputs=["q"])
    def pair(gate, log):  # type: ignore[no-untyped-def]
        spin(i=0, gate=gate)
        return {"q": quick(i=1, log=log).i}  # queued behind spin on the only worker

    gate = gate_name()

    async def main() -> tuple[ag.Run, dict[str, Any] | None]:
        ex = DaskExecutor(n_workers=1, threads_per_worker=1, dashboard_address=":0")
        await ex.start()
        try:
            run = pair.start(gate=gate, log=str(log), executor=ex, stop_on_first_error=False)
            await event(ex, f"{gate}-started-0").wait(30)
            await until(run, lambda: run.graph.node("quick_1").status == "PENDING")
            victim = await distributed.Variable(f"{gate}-pid-0", client=ex.client).get()
            os.kill(victim, signal.SIGKILL)
            with pytest.raises(ag.RunFailed) as failed:
                await run
            return run, {"message": str(failed.value)}
        finally:
            await ex.close()

    run, failure = kernel.run(main(), timeout=60)
    spun = run.graph.node("spin_1")
    assert spun.status == "FAILED" and spun.error is not None and "KilledWorker" in spun.error["type"]
    queued = run.graph.node("quick_1")
    assert queued.status == "DONE" and queued.outputs == {"i": 1}
    assert lines(log) == ["1"]  # it ran once: on the restarted worker, its first run
    assert failure is not None and "failed at node spin_1" in failure["message"]


def test_a_script_without_a_main_guard_is_told_that_is_why_its_cluster_does_not_start(tmp_path: Path) -> None:
    script = tmp_path / "no_guard.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            import aether_nb as ag

            async def main():
                ex = ag.DaskExecutor(n_workers=1, threads_per_worker=1, dashboard_address=":0")
                try:
                    await ex.start()
                except Exception as exc:
                    print("ERRMSG:", exc, flush=True)
                finally:
                    await ex.close()

            asyncio.run(main())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERRMSG:")]
    assert errors, done.stdout + done.stderr
    assert all('missing `if __name__ == "__main__":` guard' in e and str(script) in e for e in errors), errors
