"""A notebook user caps the session to spare a rate-limited API: ``ag.configure(max_concurrency=2)``, then runs a
``@graph_fn`` agent that gathers sync tool calls, an LLM that asks for five calls at once (``run_tools``), a state
graph fanning out with ``Send``, and a static graph beside a graph_fn. The tool bodies count how many of them run at
once. The cap used to hold for the static graph only (5 and 6 bodies ran at once in the others).
"""

from __future__ import annotations

import pytest

from aether_nb.testing import FakeOpenAI
from tests.kernel_client import Kernel, kernel

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]

SETUP = """
import asyncio, operator, threading, time
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import END, START, Send, StateGraph

ag.configure(max_concurrency=2, llm={"model": "gpt-4o-mini", "base_url": "BASE"})
lock = threading.Lock()
now = {"running": 0, "peak": 0}

def body():
    with lock:
        now["running"] += 1
        now["peak"] = max(now["peak"], now["running"])
    time.sleep(0.15)  # (the others pile up meanwhile: without the cap 5 or 6 ran at once)
    with lock:
        now["running"] -= 1

@ag.tool(outputs=["v"])
def lookup(i: int) -> dict:
    body()
    return {"v": i}

@ag.graph_fn(outputs=["total"])
async def gather_five():
    done = await asyncio.gather(*(lookup(i) for i in range(5)))
    return {"total": sum(d["v"] for d in done)}

@ag.graph_fn(outputs=["text"])
async def llm_agent(*, context):
    res = await context.llm().run_tools([{"role": "user", "content": "look up five"}], tools=[lookup])
    return {"text": res.text}

@ag.graphify(outputs=["vs"])
def static_four():
    return {"vs": [lookup(i=i).v for i in range(4)]}

class Fan(TypedDict):
    items: list
    out: Annotated[list, operator.add]

def work(arg):
    body()
    return {"out": [arg["i"]]}

sg = StateGraph(Fan)
sg.add_node("work", work)
sg.add_conditional_edges(START, lambda s: [Send("work", {"i": i}) for i in s["items"]])
sg.add_edge("work", END)
app = sg.compile(checkpointer="memory")

def peak():
    p, now["peak"] = now["peak"], 0
    return p
"""


def test_the_session_cap_holds_for_every_kind_of_agent(kernel: Kernel) -> None:
    script = [{"tool_calls": [{"name": "lookup", "arguments": {"i": i}} for i in range(5)]}, "five looked up"]
    with FakeOpenAI(script=script) as fake:
        kernel.ok("%load_ext aether_nb")
        kernel.ok(SETUP.replace("BASE", fake.base_url), timeout=60)
        cases = {
            "gather": "await gather_five()",
            "run_tools": "await llm_agent()",
            "send": 'await app.ainvoke({"items": list(range(6)), "out": []}, {"configurable": {"thread_id": "t"}})',
            "together": "await asyncio.gather(static_four(), gather_five())",
        }
        for name, code in cases.items():
            res = kernel.ok(f"_ = {code}\nprint('PEAK', peak())", timeout=90)
            peak = int(res.stdout.split("PEAK")[1].split()[0])
            assert 1 <= peak <= 2, (name, res.stdout)
