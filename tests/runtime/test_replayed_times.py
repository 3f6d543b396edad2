"""A step journaled before its process died, but whose end event died with it, keeps the times it really ran.

Found by a tester: a ``@graphify`` chain in ``durability="sync"`` killed ~20 ms after a node's effect, then resumed
in a new process. The node was replayed (not run twice), but its DAG node said it started and ended during the
resume, 0.6-1.2 s after the kill, in 0 ms. In ``"sync"`` durability a step's journal entry is written before its
caller goes on, its ``NodeFinished`` with the next batch: the store held the node's start (or nothing at all, for a
step that ended in the loop turn it started in) and its journal entry, and the replay stamped its own times on it.

Now a replayed node's times come from what the run really did: its start from the history (none when the history
never saw it start: no invented duration), its end from its journal entry (written when it ended). The same for a
``@graph_fn`` step (the same step engine), in the resumed process and in what a new process reads from the store.
Since then a step's end is written with its journal entry in ``"sync"`` durability (test_durability): the crash
tests below see every step's real times; the rule for an end the history lacks is checked on the DAG's fold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aether_nb.runtime.events import GraphPlanned, NodeFinished, NodeRan, NodeStarted
from aether_nb.runtime.graph import RunGraph
from tests.conftest import after, run_script

AGENT = """
import asyncio, json, os, sys, time
import aether_nb as ag

DB, EFFECTS, KIND, MODE, CHAIN = sys.argv[1:6]
VIA_QUICK = CHAIN == "slow-quick-last"  # else slow -> last
ag.configure(store=DB, durability="sync")

def effect(what):
    with open(EFFECTS, "a") as f:
        f.write(json.dumps([what, time.time()]) + "\\n")

@ag.tool(outputs=["y"])
def slow(i: int) -> dict:  # a sync body: a thread, so its start is announced (and stored) before it ends
    effect("slow_start")
    time.sleep(0.05)
    effect("slow_end")
    return {"y": i}

@ag.tool(outputs=["y"])
async def quick(i: int) -> dict:  # ends in the loop turn it started in: its start is never announced on its own
    effect("quick")
    return {"y": i}

@ag.tool(outputs=["y"])
async def last(y: int) -> dict:
    if MODE == "start":
        effect("died")
        os._exit(0)  # the previous step is journaled (sync durability); its end event is still in memory
    return {"y": y}

@ag.graphify(name="replayed_times_static", inputs=["n"], outputs=["y"])
def static(n):
    a = slow(i=n)
    b = quick(i=a.y) if VIA_QUICK else a
    return {"y": last(y=b.y).y}

@ag.graph_fn(name="replayed_times_dynamic", outputs=["y"])
async def dynamic(n: int, *, context):
    a = await slow(n)
    b = await quick(a["y"]) if VIA_QUICK else a
    return {"y": (await last(b["y"]))["y"]}

def nodes(run):
    return {n.id: [n.status, n.replayed, n.started_at, n.ended_at, list(n.parents)] for n in run.graph.nodes}

async def main():
    agent = static if KIND == "static" else dynamic
    if MODE == "start":
        await agent.start(run_id="rt", n=1)
        return
    if MODE == "resume":
        run = ag.get_run("rt")
        out = await run
        ag.session().flush()
        print("OUT", json.dumps({"out": out, "nodes": nodes(run)}), flush=True)
        return
    print("READ", json.dumps(nodes(ag.get_run("rt"))), flush=True)

asyncio.run(asyncio.wait_for(main(), 60))
"""


def crash_and_resume(tmp_path: Path, kind: str, die_after: str) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Run ``kind`` until the step after ``die_after`` kills the process, resume it in a new one, read it in a
    third; returns the resumed run's nodes, when the effects happened, and what the third process read."""
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    chain = "slow-quick-last" if die_after == "quick" else "slow-last"
    db, effects = tmp_path / "nb.aether.duckdb", tmp_path / "effects.jsonl"
    run_script(script, str(db), str(effects), kind, "start", chain)
    resumed = after(run_script(script, str(db), str(effects), kind, "resume", chain), "OUT")
    read = after(run_script(script, str(db), str(effects), kind, "read", chain), "READ")
    times = {what: ts for what, ts in map(json.loads, effects.read_text().splitlines())}
    return resumed, times, read


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_a_step_whose_end_event_died_with_its_process_keeps_when_it_ran(tmp_path: Path, kind: str) -> None:
    resumed, effect, read = crash_and_resume(tmp_path, kind, "slow")
    assert resumed["out"] == {"y": 1}
    status, replayed, started_at, ended_at, _ = resumed["nodes"]["slow_1"]
    assert (status, replayed) == ("DONE", True)  # replayed from its journal entry, not run twice
    # its start is the one stored when it began, its end its journal entry's: both in the process that died
    assert started_at <= effect["slow_start"] < effect["slow_end"] <= ended_at <= effect["died"]
    assert ended_at - started_at >= 0.05
    assert read == resumed["nodes"]  # what a new process reads from the store


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_a_step_that_ended_in_the_loop_turn_it_started_keeps_its_times_after_a_crash(tmp_path: Path, kind: str) -> None:
    resumed, effect, read = crash_and_resume(tmp_path, kind, "quick")
    assert resumed["out"] == {"y": 1}
    status, replayed, started_at, ended_at, parents = resumed["nodes"]["quick_1"]
    assert (status, replayed) == ("DONE", True)
    # its start and end were written with its journal entry: its own times, never the resume's (0 ms, after the kill)
    assert started_at is not None and started_at <= effect["quick"] <= ended_at <= effect["died"]
    assert parents == ["slow_1"]
    # slow_1's end was stored with quick's journal entry: it keeps its times (as every replayed step did)
    _, _, slow_start, slow_end, _ = resumed["nodes"]["slow_1"]
    assert slow_start <= effect["slow_start"] < effect["slow_end"] <= slow_end <= effect["quick"]
    assert read == resumed["nodes"]


# -- the rule, on the DAG folded from events -------------------------------------------------------------------------


def ran(seq: int, ts: float, started_at: float, node_id: str, parents: tuple[str, ...] = ()) -> NodeRan:
    return NodeRan(
        run_id="r", seq=seq, ts=ts, node_id=node_id, name=node_id, node_kind="tool", parent=None, parents=parents,
        inputs={}, status="DONE", started_at=started_at, replayed=True,
    )  # fmt: skip


def test_a_replayed_node_takes_its_start_from_the_history_and_its_end_from_the_event() -> None:
    graph = RunGraph("r")
    graph.apply(GraphPlanned(run_id="r", seq=1, ts=1.0, parent=None, node_ids=["a", "b", "c"], names=["t"] * 3,
                             edges=[0, 1, 1, 2]))  # fmt: skip
    graph.apply(NodeStarted(run_id="r", seq=2, ts=10.0, node_id="a", name="t", node_kind="tool", parent=None,
                            parents=(), inputs={}))  # fmt: skip
    graph.apply(NodeFinished(run_id="r", seq=3, ts=11.0, node_id="a", status="DONE"))
    graph.apply(NodeStarted(run_id="r", seq=4, ts=12.0, node_id="b", name="t", node_kind="tool", parent=None,
                            parents=("a",), inputs={}))  # fmt: skip
    # the process died; the resume (times 500...) replays a (its end stored), b (its start stored) and c (nothing)
    graph.apply(ran(5, 13.0, 500.0, "a", ("a0",)))
    graph.apply(ran(6, 14.0, 500.0, "b", ("x",)))
    graph.apply(ran(7, 15.0, 500.0, "c", ("b",)))
    times = {n.id: (n.started_at, n.ended_at, n.parents) for n in graph.nodes}
    assert times == {"a": (10.0, 11.0, ()), "b": (12.0, 14.0, ("a",)), "c": (None, 15.0, ("b",))}
