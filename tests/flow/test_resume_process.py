"""A thread paused at interrupt() resumes in a new process from the DuckDB store; completed steps replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.flow import START, AgentState, StateGraph, interrupt

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

def log(line):
    with open(COUNTER, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["receipt"])
def charge(amount: int) -> dict:
    log("charged")
    return {"receipt": f"r-{amount}"}

async def pay(state: AgentState):
    log("pay started")
    receipt = (await charge(42))["receipt"]
    answer = interrupt({"receipt": receipt}, message="Confirm?")
    return [{"role": "assistant", "content": f"{receipt} {answer}"}]

g = StateGraph(AgentState, name="payflow")
g.add_node("pay", pay)
g.add_edge(START, "pay")
app = g.compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"messages": ["pay please"]}, config=cfg)
        print("PAUSED", res.status, res.interrupts[0].value["receipt"], flush=True)
        os._exit(0)
    snap = await app.aget_state(cfg)
    print("STATE", snap.status, list(snap.next), flush=True)
    res = await app.ainvoke({"resume": MODE}, config=cfg)
    print("OUT", json.dumps([res.status, [m["content"] for m in res.messages], res.run_id]), flush=True)
    print("HISTORY", len(await app.aget_state_history(cfg)), flush=True)

asyncio.run(main())
"""


def test_a_thread_paused_at_interrupt_resumes_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "payflow.py"
    script.write_text(SCRIPT)
    db, counter = str(tmp_path / "flow.duckdb"), str(tmp_path / "count.txt")

    def run(mode: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), db, counter, mode], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "PAUSED interrupted r-42" in run("start")
    out = run("yes")
    assert "STATE interrupted ['pay']" in out
    status, messages, run_id = json.loads(out.split("OUT ", 1)[1].splitlines()[0])
    assert (status, messages, run_id) == ("completed", ["pay please", "r-42 yes"], "payflow-t1-1")
    assert "HISTORY 3" in out  # the turn's input checkpoint, START's, and the one after its only superstep
    # the node ran again in the new process, but the tool call before the interrupt was replayed
    assert Path(counter).read_text().splitlines() == ["pay started", "charged", "pay started"]
