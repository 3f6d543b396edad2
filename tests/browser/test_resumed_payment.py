"""A payment agent, as a person runs it: an LLM asks for two tools at once (a price, and an approval that waits for
the user: a ``DualStageTool`` named ``approve_payment``), the kernel restarts while it waits, the run is resumed and
the approval clicked in the widget; then a chart (SVG) and a failing bank call the agent catches.

What a person saw before the fix: the DAG drew the two tool calls side by side under the model call while the run
waited, then, resumed, as a chain (``llm -> price -> approve_payment``), the next model call under the approval
only: the resumed widget contradicted the run. Asserted: the edges the widget draws (its paths' ``data-from`` /
``data-to``) are the same before and after the restart, the run ends done, the chart draws. Screenshots land in
test-artifacts/ (resumed_payment_*.png) and were looked at."""

from __future__ import annotations

import pytest
from labdriver import LabPage, LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext aether_nb
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

def model(body):  # answers once the tools did (a script would start over in the restarted kernel)
    if body["messages"][-1]["role"] == "tool":
        return "Paid **12 EUR** for A-1."
    calls = [{"name": "price", "arguments": {"sku": "A-1"}}, {"name": "approve_payment", "arguments": {"amount": 12}}]
    return {"tool_calls": calls}

fake = FakeOpenAI(rules=model).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})

@ag.tool(outputs=["eur"])
def price(sku: str) -> dict:
    \"\"\"Price of a product.\"\"\"
    return {"eur": 12}

class ApprovePayment(ag.DualStageTool, outputs=["ok"], name="approve_payment"):
    \"\"\"Ask the user to approve a payment.\"\"\"
    async def setup(self, amount: float):
        return ag.WaitSpec(kind="approval", prompt=f"Pay **{amount} EUR**?", options=["Pay", "Cancel"])
    async def on_resume(self, payload):
        return {"ok": payload["approved"]}

@ag.tool(outputs=["ok"])
def notify_bank(ref: str) -> dict:
    raise ConnectionError("bank API down")

def chart(values):
    bars = "".join(
        f'<rect x="{10 + 30 * i}" y="{110 - 20 * v}" width="20" height="{20 * v}" fill="#43a047"/>'
        for i, v in enumerate(values)
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120">{bars}</svg>'.encode()

@ag.graph_fn(name="payer", outputs=["text"])
async def payer(item: str, *, context: ag.NodeContext):
    tools = [price, ApprovePayment]
    res = await context.llm().run_tools([{"role": "user", "content": f"pay for {item}"}], tools=tools)
    await context.memory().record("payment", {"text": res.text})
    await context.channel().send_markdown(res.text)
    await context.channel().send_image(chart([1, 4, 2, 5]), alt="spend this week")
    try:
        await notify_bank("A-1")
    except ConnectionError as exc:
        await context.channel().send_text(f"Bank not told: {exc}")
    return {"text": res.text}
"""

START = 'run = payer.start(item="A-1", run_id="pay-1")\nawait run.wait_for("waiting", timeout=60)'
RESUME = 'run = ag.get_run("pay-1")\nrun'

_EDGES = """(root) => [...root.querySelectorAll("path.aether-edge")]
  .map((p) => `${p.dataset.from} -> ${p.dataset.to}`).sort()"""
_T = "run_tools_1/"


def _edges(lab: LabPage, index: int) -> list[str]:
    return list(lab.widget(index).evaluate(_EDGES))


def test_a_payment_resumed_after_a_restart_keeps_its_dag(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "resumed_payment.ipynb", [SETUP, START, RESUME])
    lab.run_cell(0)
    lab.run_cell(1, timeout=90)
    waiting = lab.widget(1)
    waiting.locator("[data-wait-kind='approval'] button[data-option='Pay']").wait_for(timeout=60_000)
    lab.wait_in_widget(1, "(root) => root.querySelectorAll('path.aether-edge').length === 2", timeout=30)
    before = _edges(lab, 1)
    assert before == [f"{_T}llm_1 -> {_T}approve_payment_1", f"{_T}llm_1 -> {_T}price_1"], before
    shot(waiting, "resumed_payment_01_waiting")

    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    lab.run_cell(0)
    lab.run_cell(2, timeout=60)
    live = lab.widget(2)
    live.locator("[data-wait-kind='approval'] button[data-option='Pay']").wait_for(timeout=60_000)
    lab.wait_in_widget(2, "(root) => root.querySelectorAll('path.aether-edge').length === 2", timeout=30)
    assert _edges(lab, 2) == before, "the resumed widget draws the edges the run had"
    shot(live, "resumed_payment_02_resumed")

    live.locator("[data-wait-kind='approval'] button[data-option='Pay']").click(timeout=30_000)
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    lab.wait_in_widget(
        2, "(root) => [...root.querySelectorAll('img')].some((i) => i.complete && i.naturalWidth === 160)", timeout=30
    )
    after = _edges(lab, 2)
    for edge in (
        *before,
        f"{_T}price_1 -> {_T}llm_2",
        f"{_T}approve_payment_1 -> {_T}llm_2",
    ):
        assert edge in after, (edge, after)
    assert f"{_T}price_1 -> {_T}approve_payment_1" not in after, after
    text = live.inner_text()
    assert "Bank not told: bank API down" in text and "Paid 12 EUR for A-1." in text, text
    shot(live, "resumed_payment_03_done")
