"""A process killed with SIGKILL loses nothing it acknowledged (issue 12 item 4, issue 16's guarantees).

A child process runs agents on a DuckDB store and prints what the runtime has acknowledged: in ``sync`` durability
each step once its call returned; in either mode each run once it says it is waiting. The parent kills it at a
random moment (SIGKILL: no exit hook, no close, a history log left unapplied), reopens the file and checks that
everything printed is there.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from aether_nb.store.duckdb import DuckDBStore
from tests.store.conftest import log_frames

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, sys.argv[4])
    import aether_nb as ag

    ag.configure(store=sys.argv[1], durability=sys.argv[2], channel=ag.ConsoleChannel(out=open(os.devnull, "w")))

    @ag.tool(outputs=["y"])
    async def inc(x: int) -> dict:
        return {"y": x + 1}

    @ag.graph_fn(name="crash_chain", outputs=["y"])
    async def chain(x: int):
        for i in range(1, 1_000_000):
            x = (await inc(x))["y"]
            print(f"step inc_{i}", flush=True)  # the call returned: in sync mode the step is in the store
        return {"y": x}

    @ag.graph_fn(name="crash_wait", outputs=["a"])
    async def asks(i: int, *, context):
        await inc(i)
        return {"a": await context.channel().ask_text(f"question {i}?")}

    async def main():
        if sys.argv[3] == "chain":
            await chain.start(x=0, run_id="chain-1")
            return
        i = 0
        while True:  # runs parking one after the other, with steps of other runs going on meanwhile
            run = asks.start(i=i, run_id=f"wait-{i}")
            await run.wait_for("waiting")
            print(f"waiting wait-{i}", flush=True)  # the run says it waits: its wait is in the store
            i += 1

    asyncio.run(main())
    """
)


class Child:
    def __init__(self, script: Path, db: Path, durability: str, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(db), durability, mode, str(REPO)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read(self, n: int, prefix: str, timeout: float = 60.0) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the child printed {len(out)} of {n} lines within {timeout} s") from None
            if line is None:
                self.proc.wait(timeout=10)
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the child exited ({self.proc.returncode}): {err[-3000:]}")
            if line.startswith(prefix):
                out.append(line.split(" ", 1)[1])
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        # whatever it printed after the lines we read may also have been acknowledged: drain it
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.late.append(line)

    late: list[str]

    def close(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[Child]]:
    children: list[Child] = []
    yield children
    for c in children:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait(timeout=30)
        c.close()


def _start(tmp_path: Path, spawn: list[Child], durability: str, mode: str) -> tuple[Child, Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db = tmp_path / "crash.duckdb"
    child = Child(script, db, durability, mode)
    child.late = []
    spawn.append(child)
    return child, db


@pytest.mark.parametrize("kill_after", [1, 37, 250])
def test_sync_steps_acknowledged_before_a_sigkill_are_in_the_store(
    tmp_path: Path, spawn: list[Child], kill_after: int
) -> None:
    child, db = _start(tmp_path, spawn, "sync", "chain")
    acknowledged = child.read(kill_after, "step ")
    child.kill()
    acknowledged += [line.split(" ", 1)[1] for line in child.late if line.startswith("step ")]
    assert child.proc.returncode == -signal.SIGKILL
    with DuckDBStore(db) as store:
        keys = [e.key for e in store.load_journal("chain-1")]
        # every acknowledged step is there, in order; at most the step in flight beyond them
        assert keys[: len(acknowledged)] == acknowledged
        assert len(keys) - len(acknowledged) <= 1
        assert keys == [f"inc_{i}" for i in range(1, len(keys) + 1)]
        run = store.get_run("chain-1")
        assert run is not None and run.status == "running"
        assert log_frames(db) == 0  # the log was applied at the open


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_a_run_that_said_it_waits_is_waiting_after_a_sigkill(
    tmp_path: Path, spawn: list[Child], durability: str
) -> None:
    child, db = _start(tmp_path, spawn, durability, "waits")
    said = child.read(12, "waiting ")
    child.kill()
    said += [line.split(" ", 1)[1] for line in child.late if line.startswith("waiting ")]
    with DuckDBStore(db) as store:
        for run_id in said:
            run = store.get_run(run_id)
            assert run is not None and run.status == "waiting", run_id
            (wait,) = store.list_waits(run_id)
            assert wait.prompt == f"question {run_id.split('-')[1]}?"
            assert [e.key for e in store.load_journal(run_id)][:1] == ["inc_1"]  # the step before the wait
