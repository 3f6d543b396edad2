"""A turn cut off by a kill, then new input or a state edit on the thread: merged, and the pending nodes run on it.

Found by an exactly-once tester: a process SIGKILLed while a node ran; in a new process ``ainvoke(new input)``,
``astream(new input)``, ``ainvoke(Command(update=...))`` or ``aupdate_state`` then ``ainvoke(None)`` on the same
thread. README ("Stopping", the differences row "New input at the thread's head ... merged, then the pending tasks
continue") promises the edit is merged and the pending node runs again on it, as after an in-process stop. The
dead turn's run went on from its journal's state instead: the node ran again on the old input, the call returned the
old turn's result and the superstep's checkpoint wrote the old values back over the edit. The node that finished
before the kill still must not run again, and a call the killed node completed replays.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import after, run_script

SCRIPT = """
import asyncio, json, operator, os, signal, sys
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import END, START, Command, Send, StateGraph, interrupt

DB, LOG, DUR, MODE = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ag.configure(store=DB, durability=DUR)

def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")

class S(TypedDict, total=False):
    n: int
    items: list
    seen: Annotated[list, operator.add]

@ag.tool(outputs=["receipt"])
def charge(amount: int) -> dict:
    log(f"charge {amount}")
    return {"receipt": f"r{amount}"}

async def finished(run_id, node):
    # the kill comes once the sibling's step is in the store: it finished before the kill
    for _ in range(3000):
        ag.session().flush()
        if any(e.name == node and e.kind == "state_node" for e in ag.session().store.load_journal(run_id)):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{node} never finished")

async def die(config, sibling):
    await finished(config["run_id"], sibling)
    ag.session().flush()
    os.kill(os.getpid(), signal.SIGKILL)  # the kernel dies while this node runs

async def a(state: S):
    log(f"a n={state['n']}")
    return {"seen": [f"a{state['n']}"]}

async def b(state: S, config):
    log(f"b n={state['n']}")
    receipt = (await charge(5))["receipt"]  # completed before the kill: replays, never charged twice
    if MODE == "start":
        await die(config, "a")
    return {"seen": [f"b{state['n']} {receipt}"]}

async def w(arg: dict, config):
    log(f"w {arg['item']} n={arg['n']}")
    if MODE == "fan start" and arg["item"] == "y":
        await die(config, "w")
    return {"seen": [f"w{arg['item']}"]}

def ask(state: S):
    answer = interrupt("ok?")
    log(f"ask n={state['n']} {answer}")
    return {"seen": [f"ask{state['n']} {answer}"]}

pair = StateGraph(S, name="pair")
pair.add_node("a", a).add_node("b", b)
pair.add_edge(START, "a").add_edge(START, "b").add_edge("a", END).add_edge("b", END)
pair = pair.compile()

fan = StateGraph(S, name="fan")
fan.add_node("w", w).add_node("ask", ask)
fan.add_conditional_edges(START, lambda s: [Send("w", {"item": i, "n": s["n"]}) for i in s["items"]])
fan.add_edge("w", "ask").add_edge("ask", END)
fan = fan.compile()

cfg = {"configurable": {"thread_id": "t"}}

async def main():
    app = fan if MODE.startswith("fan") else pair
    if MODE == "start":
        await pair.ainvoke({"n": 1}, cfg)
    elif MODE == "fan start":
        await fan.ainvoke({"n": 1, "items": ["x", "y"]}, cfg)
    elif MODE in ("input", "fan input"):
        res = await app.ainvoke({"n": 2}, cfg)
    elif MODE == "stream":
        chunks = [c async for c in app.astream({"n": 2}, cfg, stream_mode="values")]
        res = chunks[-1]
    elif MODE == "update":
        res = await app.ainvoke(Command(update={"n": 2}), cfg)
    elif MODE == "update_state":
        await app.aupdate_state(cfg, {"n": 2})
        res = await app.ainvoke(None, cfg)
    if MODE == "fan input":
        print("PAUSED", json.dumps(sorted(res["seen"])), flush=True)
        res = await app.ainvoke(Command(resume="yes"), cfg)
    snap = await app.aget_state(cfg)
    print("OUT", json.dumps({"result": {"n": res["n"], "seen": sorted(res["seen"])},
                            "state": {"n": snap.values["n"], "seen": sorted(snap.values["seen"])}}), flush=True)

asyncio.run(main())
"""


def _killed(script: Path, db: Path, log: Path, durability: str, mode: str) -> None:
    """Run the script's first turn, which SIGKILLs its own process inside a node."""
    res = subprocess.run(
        [sys.executable, str(script), str(db), str(log), durability, mode], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == -9, res.stderr[-3000:]


@pytest.mark.parametrize(
    ("durability", "mode"),
    [("sync", "input"), ("sync", "stream"), ("sync", "update"), ("sync", "update_state"), ("async", "input")],
)
def test_new_input_or_an_edit_after_a_kill_is_merged_and_the_killed_node_runs_on_it(
    tmp_path: Path, durability: str, mode: str
) -> None:
    """``a`` finished, ``b`` (after its charge) was killed. The next call's ``n=2`` is in the state the call
    returns and the thread keeps, ``b`` ran again on it, ``a`` did not run again, and ``b``'s charge replayed."""
    script, db, log = tmp_path / "flow.py", tmp_path / "flow.duckdb", tmp_path / "log.txt"
    script.write_text(SCRIPT)
    _killed(script, db, log, durability, "start")
    assert sorted(log.read_text().splitlines()) == ["a n=1", "b n=1", "charge 5"]

    out = after(run_script(script, str(db), str(log), durability, mode), "OUT")

    expected = {"n": 2, "seen": ["a1", "b2 r5"]}
    assert out == {"result": expected, "state": expected}
    assert sorted(log.read_text().splitlines()) == ["a n=1", "b n=1", "b n=2", "charge 5"]


def test_new_input_after_a_kill_in_a_send_fan_out_is_kept_through_the_next_pause(tmp_path: Path) -> None:
    """Two Sends: ``w x`` finished, ``w y`` was killed. New input: only ``w y`` runs again, the superstep's
    checkpoint keeps ``n=2`` (it went back to ``n=1``), so ``ask`` pauses on it and, answered, records it."""
    script, db, log = tmp_path / "fan.py", tmp_path / "fan.duckdb", tmp_path / "log.txt"
    script.write_text(SCRIPT)
    _killed(script, db, log, "sync", "fan start")
    assert sorted(log.read_text().splitlines()) == ["w x n=1", "w y n=1"]

    printed = run_script(script, str(db), str(log), "sync", "fan input")

    assert after(printed, "PAUSED") == ["wx", "wy"]
    expected = {"n": 2, "seen": ["ask2 yes", "wx", "wy"]}
    assert after(printed, "OUT") == {"result": expected, "state": expected}
    assert sorted(log.read_text().splitlines()) == ["ask n=2 yes", "w x n=1", "w y n=1", "w y n=1"]
