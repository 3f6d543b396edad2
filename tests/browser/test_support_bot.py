"""A LangGraph user's support bot in JupyterLab: ``MessagesState``, a model node (``context.llm().message``), a
``ToolNode`` whose refund tool asks a person (``interrupt``), ``tools_condition``; the kernel restarts while the
refund waits, and the answer is given with ``Command(resume=...)`` in a new cell. Asserted: the turn's widget asks the
refund question, the resumed turn ends with the model's final message, the model was asked twice in all, the refund
happened once. Screenshots land in test-artifacts/ (support_bot_*.png) and were looked at."""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext aether_nb
import aether_nb as ag
from aether_nb.flow import END, START, Command, MessagesState, StateGraph, ToolNode, interrupt, to_openai
from aether_nb.flow import tools_condition
from aether_nb.testing import FakeOpenAI

ASKED = []
def model(body):  # answers with what the tools said once they did
    ASKED.append(body["messages"][-1]["role"])
    last = body["messages"][-1]
    if last["role"] == "tool":
        return "Refund done: " + " | ".join(m["content"] for m in body["messages"] if m["role"] == "tool")
    calls = [{"name": "lookup_order", "arguments": {"order": "A-7"}},
             {"name": "refund", "arguments": {"order": "A-7", "eur": 30}}]
    return {"tool_calls": calls}

fake = FakeOpenAI(rules=model).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})
REFUNDS = []

@ag.tool(outputs=["status"])
def lookup_order(order: str) -> dict:
    \"\"\"Look an order up.\"\"\"
    return {"status": f"{order} delivered"}

@ag.tool(outputs=["refunded"])
def refund(order: str, eur: float) -> dict:
    \"\"\"Refund an order once a person approves.\"\"\"
    if interrupt(f"Refund **{eur} EUR** for {order}?") != "yes":
        return {"refunded": 0}
    REFUNDS.append(eur)
    return {"refunded": eur}

tools = ToolNode([lookup_order, refund])

async def agent(state, context):
    return {"messages": [await context.llm().message(to_openai(state["messages"]), tools=tools)]}

g = StateGraph(MessagesState, name="support")
g.add_node("agent", agent); g.add_node("tools", tools)
g.add_edge(START, "agent"); g.add_conditional_edges("agent", tools_condition); g.add_edge("tools", "agent")
app = g.compile()
cfg = {"configurable": {"thread_id": "ticket-7"}}
"""

START = 'res = await app.ainvoke({"messages": [("user", "Refund my order A-7")]}, cfg)\nres.status, ASKED'
RESUME = (
    'done = await app.ainvoke(Command(resume="yes"), cfg)\ndone.status, done["messages"][-1]["content"], ASKED, REFUNDS'
)


def test_a_support_bot_refunds_once_across_a_restart(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "support_bot.ipynb", [SETUP, START, RESUME])
    lab.run_cell(0)
    lab.run_cell(1, timeout=90)
    lab.wait_in_widget(1, "(root) => /Refund\\s*30 EUR\\s*for A-7\\?/.test(root.textContent)", timeout=60)
    assert "('interrupted', ['user'])" in lab.output_text(1), lab.output_text(1)
    shot(lab.output(1), "support_bot_01_asks")

    lab.restart_kernel()
    lab.run_cell(0)
    lab.run_cell(2, timeout=90)
    out = " ".join(lab.output_text(2).split())  # (the cell's value may print over several lines)
    said = 'Refund done: {"status": "A-7 delivered"} | {"refunded": 30}'
    assert f"('completed', '{said}', ['tool'], [30])" in out, out
    # the refund tool, paused at its interrupt(), re-ran by design: no warning that it was cut off by the restart
    assert "may have happened twice" not in lab.widget(2).inner_text()
    shot(lab.output(2), "support_bot_02_done")
