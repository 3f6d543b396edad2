"""The notebook's interrupt button (a kernel interrupt) while a cell awaits an agent, in a real kernel.

What a person expects from the stop button: the cell stops now. On ipykernel 7.4 an awaiting cell was cancelled only
when the event loop next woke (upstream ipykernel#881): a cell awaiting a run that waits for an answer, with nothing
else scheduled, never stopped. With the extension loaded (``aether_nb.notebook.interrupts``) it stops at once, the run
it started is stopped with it (as the widget's Stop does) and the cell says so in one line; a cell that only awaited a
run started elsewhere stops waiting and the run goes on; a StateGraph turn is stopped and continues from its
checkpoint. Every effect the run completed happened once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aether_nb.notebook.crowd import MAX_DRAWN
from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

DEFINITIONS = r"""
%load_ext aether_nb
import asyncio, aether_nb as ag
from typing import TypedDict
from aether_nb.flow import StateGraph, START, END
LOG = "LOG_FILE"

def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")

def idle_soon(tag):
    # once the history's write-behind has run (0.2 s), nothing is scheduled: the loop sleeps until woken
    asyncio.get_running_loop().call_later(1.0, log, f"{tag} idle")

def observe(run, e):
    log(f"{run.id} {e.kind} {getattr(e, 'status', '')}".rstrip())
    if e.kind == "run_status" and e.status == "waiting":
        idle_soon(run.id)

ag.session().event_observers.append(observe)
never = asyncio.Event()  # a tool that waits on it runs until it is stopped

@ag.tool(outputs=["ok"])
async def pay(order: str):
    log(f"paid {order}")
    return {"ok": True}

@ag.tool(outputs=["ok"])
async def ship(order: str):
    log(f"shipped {order}")
    return {"ok": True}

@ag.tool(outputs=["ok"])
async def slow_check(order: str):
    log(f"checking {order}")
    idle_soon(order)
    await never.wait()
    return {"ok": True}

@ag.graph_fn(name="order", outputs=["shipped"])
async def order(order: str, check: bool = False, *, context):
    await pay(order)
    if check:
        await slow_check(order)
    approved = await context.channel().ask_approval(f"ship {order}?")
    if approved:
        await ship(order)
    return {"shipped": bool(approved)}

class S(TypedDict):
    order: str
    done: list

async def charge(state: S):
    log(f"charged {state['order']}")
    return {"done": state["done"] + ["charge"]}

async def wait_check(state: S):
    log(f"waiting on {state['order']}")
    idle_soon(state["order"])
    await never.wait()
    return {"done": state["done"] + ["check"]}

async def finish(state: S):
    log(f"finished {state['order']}")
    return {"done": state["done"] + ["finish"]}

g = StateGraph(S)
g.add_node("charge", charge)
g.add_node("check", wait_check)
g.add_node("finish", finish)
g.add_edge(START, "charge")
g.add_edge("charge", "check")
g.add_edge("check", "finish")
g.add_edge("finish", END)
app = g.compile()
"""


WAKEUP_FD = """
import signal
def wakeup_fd():
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_for(path: Path, end: str, timeout: float = 30.0, count: int = 1) -> str:
    """Until ``count`` lines ending with ``end`` are in the log the kernel writes (its state, not a delay); returns
    the first."""
    deadline = time.monotonic() + timeout
    while True:
        found = [x for x in _lines(path) if x.endswith(end)]
        if len(found) >= count:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{end!r} never came; the log holds {_lines(path)}")
        time.sleep(0.02)


def _interrupted(kernel: Kernel, code: str, log: Path, end: str, count: int = 1) -> tuple[str, str]:
    """Run ``code``, interrupt the kernel once a line ending with ``end`` is logged (``count`` of them); returns the
    first and what the cell printed. A cell the interrupt did not stop sends nothing more: the collect times out."""
    msg_id = kernel.submit(code)
    line = _wait_for(log, end, count=count)
    kernel.km.interrupt_kernel()
    res = kernel.collect(msg_id, code, timeout=30)
    assert res.error is None, "\n".join(res.error["traceback"])
    return line, res.stdout


def _setup(kernel: Kernel, tmp_path: Path) -> Path:
    log = tmp_path / "log.txt"
    kernel.ok(DEFINITIONS.replace("LOG_FILE", str(log)))
    return log


def test_an_agent_waiting_for_an_answer_is_stopped_with_its_cell(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    # the loop has nothing to do while the run waits: before the fix, nothing ever woke it for the interrupt
    line, printed = _interrupted(kernel, 'out = await order("A1")', log, " idle")
    run_id = line.split()[0]
    assert f"■ Interrupted: run {run_id} (order) was stopped with the code that awaited it." in printed
    assert "Traceback" not in printed
    status = kernel.ok(f'r = ag.get_run("{run_id}"); print(r.status, r.waits)').stdout
    assert status == "cancelled []\n", status
    assert "waiting" not in kernel.ok("%aether runs").text
    # the kernel goes on: the next order runs to its end; the stopped one paid once and never shipped
    cell = 'r2 = order.start("B2", run_id="b2")\nawait r2.wait_for("waiting")\nawait r2.answer(True)\nprint(await r2)'
    assert "{'shipped': True}" in kernel.ok(cell).stdout
    assert [x for x in _lines(log) if x.startswith(("paid", "shipped"))] == ["paid A1", "paid B2", "shipped B2"]


def test_agents_gathered_or_under_a_timeout_are_stopped_and_each_is_said(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    code = 'outs = await asyncio.gather(order("G1"), order("G2"))'
    msg_id = kernel.submit(code)
    _wait_for(log, " idle", count=2)
    kernel.km.interrupt_kernel()
    res = kernel.collect(msg_id, code, timeout=30)
    assert res.error is None, "\n".join(res.error["traceback"])
    ids = [x.split()[0] for x in _lines(log) if x.endswith("run_started")]
    said = [x for x in res.stdout.splitlines() if x.startswith("■ Interrupted: ")]
    assert len(said) == 2 and all(any(i in x for i in ids) for x in said), res.stdout
    statuses = kernel.ok(f"print([ag.get_run(i).status for i in {ids!r}])").stdout
    assert statuses.strip() == "['cancelled', 'cancelled']"
    # asyncio.wait_for cancels its own task: the note stays there, the run the cell showed is still said
    _, printed = _interrupted(kernel, 'await asyncio.wait_for(order("W3"), 600)', log, " idle", count=3)
    (run_id,) = [x.split()[0] for x in _lines(log) if x.endswith("run_started") and x.split()[0] not in ids]
    assert printed.strip() == f"■ Interrupted: run {run_id} (order) was stopped."


def test_a_batch_of_agents_is_stopped_and_the_ones_not_drawn_are_counted(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    # (busy in a tool, not waiting: a run of the line that waits for you is drawn, see test_crowd)
    code = f"outs = await asyncio.gather(*(order(f'H{{i}}', check=True) for i in range({MAX_DRAWN + 3})))"
    _, printed = _interrupted(kernel, code, log, " idle", count=MAX_DRAWN + 3)
    said = [x for x in printed.splitlines() if x.startswith("■ Interrupted: ")]
    assert len(said) == MAX_DRAWN + 1 and said[-1] == "■ Interrupted: 3 more runs of this cell were stopped.", printed
    statuses = kernel.ok("print(sorted({r.status for r in ag.runs()}))").stdout
    assert statuses.strip() == "['cancelled']"


def test_a_tool_in_flight_is_stopped_and_its_node_says_so(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    _, printed = _interrupted(kernel, 'await order("C3", check=True)', log, "C3 idle")
    run_id = next(x.split()[0] for x in _lines(log) if x.endswith("run_started"))
    assert f"■ Interrupted: run {run_id} (order) was stopped" in printed
    cell = f'r = ag.get_run("{run_id}"); print(r.status, {{n.name: n.status for n in r.graph.nodes}})'
    nodes = kernel.ok(cell).stdout
    assert nodes.startswith("cancelled"), nodes
    assert "'slow_check': 'CANCELLED'" in nodes and "'pay': 'DONE'" in nodes, nodes


def test_awaiting_a_run_started_elsewhere_stops_waiting_and_the_run_goes_on(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    kernel.ok('run = order.start("D4", run_id="d4")')
    _, printed = _interrupted(kernel, "await run", log, "d4 idle")
    assert "■ Interrupted: stopped waiting for run d4 (order), which goes on (`run.cancel()` stops it)." in printed
    assert kernel.ok("print(run.status)").stdout.strip() == "waiting"
    out = kernel.ok("await run.answer(True)\nprint(await run)").stdout
    assert "{'shipped': True}" in out
    assert [x for x in _lines(log) if x.startswith(("paid", "shipped"))] == ["paid D4", "shipped D4"]


def test_a_state_graph_turn_is_stopped_and_continues_from_its_checkpoint(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    code = 'cfg = {"configurable": {"thread_id": "t1"}}\nres = await app.ainvoke({"order": "E5", "done": []}, cfg)'
    _, printed = _interrupted(kernel, code, log, "E5 idle")
    assert "■ Interrupted: the turn of thread 't1'" in printed
    assert "`ainvoke(None, config)` continues it from its last checkpoint." in printed
    # the waiting node is released; the turn goes on from the checkpoint after "charge", which is not charged again
    res = kernel.ok("never.set()\nres = await app.ainvoke(None, cfg)\nprint(res.status, res['done'])").stdout
    assert res.split()[0] == "completed", res
    assert "['charge', 'check', 'finish']" in res
    assert [x for x in _lines(log) if x.startswith(("charged", "finished"))] == ["charged E5", "finished E5"]


def test_other_cells_keep_their_traceback_and_unload_gives_the_wakeup_back(kernel: Kernel, tmp_path: Path) -> None:
    log = _setup(kernel, tmp_path)
    kernel.ok(WAKEUP_FD)
    assert int(kernel.ok("print(wakeup_fd())").stdout) >= 0
    # a plain awaiting cell is stopped at once too (not after its hour), with asyncio's own error
    msg_id = kernel.submit(f"open({str(log)!r}, 'a').write('sleeping\\n')\nawait asyncio.sleep(3600)")
    _wait_for(log, "sleeping")
    kernel.km.interrupt_kernel()
    res = kernel.collect(msg_id, "await asyncio.sleep(3600)", timeout=30)
    assert res.error is not None and res.error["ename"] == "CancelledError"
    kernel.ok("%unload_ext aether_nb")
    assert int(kernel.ok("print(wakeup_fd())").stdout) == -1
