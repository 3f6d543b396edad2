"""A retried node across a real crash: its attempts count across processes, and node ids stay the graph's.

Found by a scratch tester: ``RetryPolicy(max_attempts=3)`` with the process killed during the backoff made four
attempts in all (the resumed execution replayed the journaled failure as an attempt, then started counting again),
and the resumed attempts were numbered as new nodes: a phantom ``charge_2`` not in the graph, the graph's own
``charge_2`` shifted to ``charge_3``, and the failed first attempt left FAILED in a run that succeeded.

A child process runs the graph on a DuckDB file and ends itself with ``os._exit`` during the backoff after its
second failed attempt (on a manual clock, once that failure is in the store); a second process resumes the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.testing import ManualClock

DB, ATTEMPTS, FAILS, STEP = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
clock = ManualClock()
ag.configure(store=DB, durability="sync", clock=clock)

def attempts():
    return open(ATTEMPTS).read().split() if os.path.exists(ATTEMPTS) else []

@ag.tool(outputs=["v"])
def rr_charge(amount: int) -> dict:
    with open(ATTEMPTS, "a") as f:
        f.write(f"{amount}\n")
    if amount == 10 and attempts().count("10") <= FAILS:
        raise ConnectionError("gateway down")
    return {"v": f"charged {amount}"}

@ag.graphify(name="rr_pay", inputs=["x"], outputs=["a", "b"])
def rr_pay(x):
    a = rr_charge(amount=10)
    b = rr_charge(amount=20, _after=[a])
    return {"a": a.v, "b": b.v}

async def until(ok):
    while not ok():
        await asyncio.sleep(0.005)

async def main():
    run = rr_pay.start(x=1, run_id="rr", retry=ag.RetryPolicy(max_attempts=3, backoff_s=60, jitter=0))
    if STEP == "first":  # two failed attempts, then the process dies in the backoff before the third
        await until(lambda: len(attempts()) == 1 and clock.sleepers == 1)
        clock.advance(3600)
        await until(lambda: len(attempts()) == 2 and clock.sleepers == 1)
        await ag.store().barrier()  # the second failure (and its attempt number) is in the store
        os._exit(9)
    try:
        out = await run
    except ag.RunFailed as exc:
        out = {"error": str(exc)}
    nodes = [[n.id, n.status, n.inputs] for n in run.graph.nodes]
    print("RESULT", json.dumps({"out": out, "nodes": nodes, "status": run.status}), flush=True)

asyncio.run(asyncio.wait_for(main(), 60))
"""


def _run(tmp_path: Path, fails: int, step: str) -> dict[str, object] | None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    args = [sys.executable, str(script), str(tmp_path / "s.duckdb"), str(tmp_path / "attempts"), str(fails), step]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=str(Path(__file__).parents[2]))
    if step == "first":
        assert proc.returncode == 9, proc.stderr[-2000:]
        return None
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return result


def _attempts(tmp_path: Path) -> list[str]:
    return (tmp_path / "attempts").read_text().split()


def test_max_attempts_counts_the_attempts_made_before_a_restart(tmp_path: Path) -> None:
    _run(tmp_path, fails=99, step="first")
    assert _attempts(tmp_path) == ["10", "10"]
    result = _run(tmp_path, fails=99, step="second")
    assert result is not None and result["status"] == "failed"
    assert _attempts(tmp_path) == ["10", "10", "10"]  # three in all (the old code made a fourth)
    assert result["nodes"] == [["rr_charge_1", "FAILED", {"amount": 10}], ["rr_charge_2", "SKIPPED", None]]


def test_a_node_retried_across_a_restart_keeps_its_id_and_ends_done(tmp_path: Path) -> None:
    _run(tmp_path, fails=2, step="first")
    result = _run(tmp_path, fails=2, step="second")
    assert result is not None and result["status"] == "succeeded"
    assert result["out"] == {"a": "charged 10", "b": "charged 20"}
    assert result["nodes"] == [  # the old graph: rr_charge_1 FAILED, a phantom rr_charge_2, the graph's as _3
        ["rr_charge_1", "DONE", {"amount": 10}],
        ["rr_charge_2", "DONE", {"amount": 20}],
    ]
    assert _attempts(tmp_path) == ["10", "10", "10", "20"]
