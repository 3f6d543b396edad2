"""Orders approved by a person, as a state graph a user writes in a cell: each order pays (a tool with an effect),
waits for an approval at ``interrupt()``, and ships (an effect). Every effect is a line in ``EFFECTS_FILE``, so
"exactly once" is checked on the effects.

Run by ``tests/kernel/test_approvals_restart.py`` (eighty orders across a restart, answered from code) and by
``tests/browser/test_approval_edit.py`` (one order, answered in the widget after a restart). The tests replace
``EFFECTS_FILE`` and choose how the questions are answered.
"""

from __future__ import annotations

import ast

DEFINITIONS = r"""
%load_ext aether_nb
import asyncio, json, operator
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import START, Command, StateGraph, interrupt
EFFECTS = "EFFECTS_FILE"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\n")

@ag.tool(outputs=["receipt"])
def charge(order: int) -> dict:
    effect(f"charge {order}")
    return {"receipt": f"r{order}"}

class Order(TypedDict, total=False):
    order: int
    receipt: str
    note: str
    trail: Annotated[list, operator.add]

async def pay(s: Order):
    return {"receipt": (await charge(s["order"]))["receipt"], "trail": ["paid"]}

def approve(s: Order):
    decision = interrupt(f"Ship order {s['order']} ({s['receipt']})? Note: {s.get('note', 'none')}")
    return {"trail": [f"{decision} {s.get('note', '-')}"]}

def ship(s: Order):
    effect(f"ship {s['order']} {s.get('note', '-')}")
    return {"trail": ["shipped"]}

g = StateGraph(Order, name="orders")
g.add_node("pay", pay).add_node("approve", approve).add_node("ship", ship)
g.add_edge(START, "pay").add_edge("pay", "approve").add_edge("approve", "ship")
app = g.compile()
cfg = lambda i: {"configurable": {"thread_id": f"order-{i}"}}
"""

AGENT_DEFINITIONS = r"""
%load_ext aether_nb
import aether_nb as ag
EFFECTS = "EFFECTS_FILE"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\n")

@ag.tool(outputs=["receipt"])
async def charge(order: int):
    effect(f"charge {order}")
    return {"receipt": f"r{order}"}

@ag.tool(outputs=["ok"])
async def ship(order: int):
    effect(f"ship {order}")
    return {"ok": True}

@ag.graph_fn(name="order", outputs=["shipped"])
async def order(order: int, *, context):
    receipt = (await charge(order))["receipt"]
    ok, _ = await context.channel().ask_approval(f"Ship order {order} ({receipt})?", options=["Ship", "Hold"])
    if ok:
        await ship(order)
    return {"shipped": ok}
"""
"""The same orders as an agent (``@graph_fn``) that asks for approval in its widget (Ship / Hold): a cell awaits
``await order(n)`` while the person answers, or stops it (tests/browser/test_interrupt_button.py,
test_cleared_outputs.py)."""

PAY_7 = """\
res = await app.ainvoke({"order": 7, "trail": []}, cfg(7))
print("PAUSED", res.status, res.run_id)
"""
"""A cell: order 7 pays and pauses at its approval (prints ``PAUSED interrupted orders-order-7-1``)."""

REATTACH_7 = """\
run = ag.get_run("orders-order-7-1")
run
"""
"""A cell: order 7's run, shown (after a restart its widget is rebuilt from the store, its question answerable)."""

REPORT_7 = """\
print("TRAIL", (await app.aget_state(cfg(7))).values["trail"])
print("EFFECTS", open(EFFECTS).read().splitlines())
"""
"""A cell: order 7's trail and the effects file's lines (read back with :func:`printed`)."""


def printed(text: str, label: str) -> object:
    """The Python value a cell printed after ``label`` (``TRAIL [...]``)."""
    line = next(x for x in text.splitlines() if x.startswith(label + " "))
    return ast.literal_eval(line[len(label) + 1 :])
