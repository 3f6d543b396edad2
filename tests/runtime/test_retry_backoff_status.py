"""A static graph's node between two attempts of its retry policy is pending, not failed.

Found by a scratch tester: during a retry's backoff the node showed FAILED (its failed attempt) while the run was
still running, so the widget said "failed" for a node that was about to be tried again, and then succeeded. The DAG
must never contradict the run: the node is PENDING until its next attempt starts, keeping its attempt's error and a
note (``retrying``) saying when the next one comes; the same in the store, for a process that reads the run after
this one died during the backoff.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import status as status_words
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ManualClock
from tests.conftest import arun, default_session

FAILS: dict[str, int] = {}


@ag.tool(outputs=["v"])
async def rb_flaky(x: int) -> dict[str, int]:
    FAILS["left"] -= 1
    if FAILS["left"] >= 0:
        raise ConnectionError("the service is down")
    return {"v": x}


@ag.tool(outputs=["v"])
def rb_after(v: int) -> dict[str, int]:
    return {"v": v + 1}


@ag.graphify(name="rb_retried", inputs=["x"], outputs=["v"])
def rb_retried(x: Any) -> Any:
    return {"v": rb_after(v=rb_flaky(x=x).v).v}


def test_a_node_between_two_attempts_is_pending_while_the_run_goes_on() -> None:
    FAILS["left"] = 1
    clock = ManualClock()
    seen: list[tuple[str, str]] = []  # (run status, the node's status) at each loop turn: what the widget draws

    async def main() -> tuple[ag.Run, Any, dict[str, Any]]:
        run = rb_retried.start(x=1, retry=ag.RetryPolicy(max_attempts=3, backoff_s=5, jitter=0.0))
        while not clock.sleepers:
            await asyncio.sleep(0)
            if "rb_flaky_1" in run.graph:
                seen.append((run.status, run.graph.node("rb_flaky_1").status))
        backoff = run.graph.node("rb_flaky_1")
        shown = status_words.shown_statuses(run.graph.to_dict()["nodes"], run.status)  # type: ignore[arg-type]
        clock.advance(5)
        while not run.done:
            await asyncio.sleep(0)
            seen.append((run.status, run.graph.node("rb_flaky_1").status))
        return run, backoff, shown

    with default_session(MemoryStore()) as session:
        session.clock = clock
        run, backoff, shown = arun(main())
        assert run.status == "succeeded" and run.outputs == {"v": 2}
        # between the attempts: pending, its failed attempt's error and times kept, the next attempt announced
        assert backoff.status == "PENDING" and shown["rb_flaky_1"] == "PENDING"
        assert backoff.error["type"] == "builtins.ConnectionError"
        assert backoff.started_at is not None and backoff.ended_at is not None
        assert backoff.warnings == ["attempt 1 of 3 failed (ConnectionError); the next attempt starts in 5 s"]
        assert ("running", "FAILED") not in seen and ("running", "PENDING") in seen
        node = run.graph.node("rb_flaky_1")
        assert (node.status, node.error, node.warnings) == ("DONE", None, [])  # its second attempt's node
        session.flush()
        assert {n.node_id: n.status for n in session.store.list_nodes(run.id)} == {
            "rb_flaky_1": "DONE",
            "rb_after_1": "DONE",
        }


def test_a_node_stopped_during_its_backoff_by_a_failed_sibling_ends_stopped() -> None:
    """Under stop_on_first_error, a sibling failing while the node waits for its next attempt stops it: it ends
    CANCELLED (it will not be tried again), never left pending in a finished run nor shown failed for it."""
    FAILS["left"] = 99
    clock = ManualClock()
    gate = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def rb_breaks(x: int) -> dict[str, int]:
        await gate.wait()
        raise ValueError("broken")

    @ag.graphify(name="rb_siblings", inputs=["x"], outputs=["a", "b"])
    def rb_siblings(x: Any) -> Any:
        return {"a": rb_flaky(x=x).v, "b": rb_breaks(x=x).v}

    async def main() -> ag.Run:
        policy = ag.RetryPolicy(max_attempts=3, backoff_s=5, jitter=0.0, retry_on=(ConnectionError,))
        run = rb_siblings.start(x=1, retry=policy)
        while not clock.sleepers:
            await asyncio.sleep(0)
        assert run.graph.node("rb_flaky_1").status == "PENDING"
        gate.set()
        with pytest.raises(ag.RunFailed):
            await run
        return run

    with default_session(MemoryStore()) as session:
        session.clock = clock
        run = arun(main())
    statuses = {n.id: n.status for n in run.graph.nodes}
    assert statuses == {"rb_flaky_1": "CANCELLED", "rb_breaks_1": "FAILED"}
    assert run.graph.node("rb_flaky_1").started_at is not None  # its first attempt ran


CHILD = r"""
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.testing import ManualClock

DB, MODE = sys.argv[1], sys.argv[2]
clock = ManualClock()
ag.configure(store=DB, durability="sync", clock=clock)

@ag.tool(outputs=["v"])
async def rbc_charge(amount: int) -> dict:
    if MODE == "first":
        raise ConnectionError("gateway down")
    return {"v": amount}

@ag.graphify(name="rbc_pay", inputs=["x"], outputs=["v"])
def rbc_pay(x):
    return {"v": rbc_charge(amount=x).v}

def nodes(run):
    return [[n.id, n.status, (n.error or {}).get("type"), n.warnings] for n in run.graph.nodes]

async def main():
    if MODE == "first":  # the first attempt fails; the process dies in the backoff, nothing flushed on purpose
        rbc_pay.start(x=10, run_id="rbc", retry=ag.RetryPolicy(max_attempts=3, backoff_s=20, jitter=0))
        while not clock.sleepers:
            await asyncio.sleep(0.001)
        os._exit(9)
    run = ag.get_run("rbc")
    if MODE == "read":
        print("RESULT", json.dumps({"status": run.status, "nodes": nodes(run)}), flush=True)
        return
    out = await run
    print("RESULT", json.dumps({"status": run.status, "out": out, "nodes": nodes(run)}), flush=True)

asyncio.run(asyncio.wait_for(main(), 60))
"""


def _child(tmp_path: Path, mode: str) -> Any:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    args = [sys.executable, str(script), str(tmp_path / "s.duckdb"), mode]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == (9 if mode == "first" else 0), proc.stderr[-2000:]
    if mode == "first":
        return None
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_a_process_that_died_during_a_backoff_leaves_the_node_pending_in_the_store(tmp_path: Path) -> None:
    _child(tmp_path, "first")
    read = _child(tmp_path, "read")
    note = "attempt 1 of 3 failed (ConnectionError); the next attempt starts in 20 s"
    assert read == {"status": "running", "nodes": [["rbc_charge_1", "PENDING", "builtins.ConnectionError", [note]]]}
    resumed = _child(tmp_path, "resume")
    assert resumed == {"status": "succeeded", "out": {"v": 10}, "nodes": [["rbc_charge_1", "DONE", None, []]]}
