"""A step cut off while its code ran (the kernel died) runs again on resume: its node shows that run, and says so.

Found by a tester: a 3 s sync tool cut off by a process death ran again when the run resumed (expected: it never
finished), but its node kept the start time from the dead process, so it showed ~10 s (the time the kernel was down
counted), and nothing said that the step had run twice. Now the node's times are its new execution's and it carries
a warning (``ran_again``) saying so; a wait, or a step around steps of its own, still keeps its first start (the
resume goes on from where it was, and the replayed steps inside show when they really ran).
"""

from __future__ import annotations

from pathlib import Path

from aether_nb.runtime.events import NodeFinished, NodeStarted, NodeStatusChanged, RunWarning
from aether_nb.runtime.graph import RunGraph
from tests.conftest import after, run_script

AGENT = """
import asyncio, json, os, sys, threading, time
import aether_nb as ag

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)
started = threading.Event()
first_start = []

@ag.tool(outputs=["r"])
def slow(i: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("ran\\n")
    if MODE == "start":
        first_start.append(time.time())
        started.set()
        threading.Event().wait()  # cut off: the process dies while this body runs
    return {"r": i}

@ag.graph_fn(name="cut_off_job", outputs=["r"])
async def job(*, context):
    a = await slow(1)
    return {"r": a["r"]}

def node_json(run):
    node = run.graph.node("slow_1")
    return {"status": node.status, "started_at": node.started_at, "ended_at": node.ended_at,
            "warnings": node.warnings, "run_warnings": run.graph.warnings}

async def main():
    if MODE == "start":
        job.start(run_id="cut")
        await asyncio.wait_for(asyncio.to_thread(started.wait), 30)
        while ag.get_run("cut").graph.node("slow_1").status != "RUNNING":  # (announced at the end of a loop turn)
            await asyncio.sleep(0)
        ag.session().flush()
        print("FIRST", json.dumps(first_start[0]), flush=True)
        os._exit(0)   # die without any cleanup, the tool still running
    if MODE == "resume":
        resumed_at = time.time()
        run = ag.get_run("cut")
        out = await run
        ag.session().flush()
        print("OUT", json.dumps({"out": out, "resumed_at": resumed_at, "node": node_json(run)}), flush=True)
        return
    print("READ", json.dumps(node_json(ag.get_run("cut"))), flush=True)

asyncio.run(main())
"""


def test_a_sync_step_cut_off_by_a_restart_shows_its_new_run_and_says_it_ran_again(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    db, counter = tmp_path / "nb.aether.duckdb", tmp_path / "count.txt"

    first = after(run_script(script, str(db), str(counter), "start"), "FIRST")
    resumed = after(run_script(script, str(db), str(counter), "resume"), "OUT")
    read = after(run_script(script, str(db), str(counter), "read"), "READ")

    assert resumed["out"] == {"r": 1}
    assert counter.read_text().splitlines() == ["ran", "ran"]  # it never finished, so it ran again (by design)
    node = resumed["node"]
    assert node["status"] == "DONE"
    # its time is the new execution's: it started after the resume began, not in the process that died (its
    # duration then counted the time the kernel was down)
    assert first < resumed["resumed_at"] <= node["started_at"] <= node["ended_at"]
    (warning,) = node["warnings"]
    assert warning == (
        "step slow_1 was still running when the kernel stopped, so it was run again from the start when the run "
        "resumed; anything it did before the stop may have happened twice."
    )
    assert node["run_warnings"] == []  # about the step, shown with it (the node inspector's warnings)
    assert read == node  # what a new process reads from the store


# -- the rule, on the DAG folded from events -------------------------------------------------------------------------


def started(seq: int, ts: float, node_id: str, parent: str | None = None, kind: str = "tool") -> NodeStarted:
    return NodeStarted(
        run_id="r", seq=seq, ts=ts, node_id=node_id, name=node_id, node_kind=kind, parent=parent, parents=(), inputs={}
    )


def finished(seq: int, ts: float, node_id: str, status: str = "DONE") -> NodeFinished:
    return NodeFinished(run_id="r", seq=seq, ts=ts, node_id=node_id, status=status)


RESTARTED = ("tool_1", "nested_1", "ask_text_1", "queued_1")


def cut_off_graph() -> RunGraph:
    """A DAG as its first execution (times 100...) left it when the kernel stopped: a leaf tool running, a nested
    graph_fn around a done step, a wait, and a tool that waited for a slot of the session's cap."""
    graph = RunGraph("r")
    graph.apply(started(1, 100.0, "tool_1"))
    graph.apply(started(2, 100.0, "nested_1", kind="graph_fn"))
    graph.apply(started(3, 101.0, "nested_1/tool_1", parent="nested_1"))
    graph.apply(finished(4, 102.0, "nested_1/tool_1"))
    graph.apply(started(5, 100.0, "ask_text_1", kind="wait"))
    graph.apply(NodeStatusChanged(run_id="r", seq=6, ts=100.0, node_id="ask_text_1", status="WAITING_HUMAN"))
    graph.apply(started(7, 100.0, "queued_1"))
    graph.apply(NodeStatusChanged(run_id="r", seq=8, ts=100.0, node_id="queued_1", status="PENDING"))
    return graph


def test_only_a_step_cut_off_while_its_own_code_ran_runs_again() -> None:
    graph = cut_off_graph()
    assert [n for n in RESTARTED if graph.runs_again(n)] == ["tool_1"]


def test_which_steps_started_again_keep_their_first_start() -> None:
    graph = cut_off_graph()
    # the resumed execution (times 500...)
    for seq, node_id in enumerate(RESTARTED, start=9):
        graph.apply(started(seq, 500.0, node_id))
    graph.apply(RunWarning(run_id="r", seq=13, ts=500.0, node_id="tool_1", code="ran_again", message="again"))
    for seq, node_id in enumerate(RESTARTED, start=14):
        graph.apply(finished(seq, 503.0, node_id))
    times = {n.id: (n.started_at, n.ended_at) for n in graph.nodes}
    assert times == {
        "tool_1": (500.0, 503.0),  # ran again from the top: its new run's time (it kept 100.0: 403 s)
        "nested_1": (100.0, 503.0),  # went on from its journal
        "nested_1/tool_1": (101.0, 102.0),
        "ask_text_1": (100.0, 503.0),  # the same question, still open
        "queued_1": (500.0, 503.0),  # never had its slot before: it starts now
    }
    assert graph.node("tool_1").warnings == ["again"]
