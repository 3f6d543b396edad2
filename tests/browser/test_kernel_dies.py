"""A kernel that dies under a waiting run, as a person meets it in JupyterLab: the agent asked for an approval, a
cell crashes the kernel (``os._exit``, as a segfaulting extension or the OOM killer would), JupyterLab restarts it
on its own and says so, and the person runs the definitions again and resumes the run from the store's history log
(which the dead kernel never applied to its tables). Everything the agent did before the crash happened once:
tools, the LLM calls, the memory note. Screenshots land in test-artifacts/ (died_*.png) and were looked at.
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext aether_nb
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

def rules(body):
    if body["messages"][-1]["role"] == "user":
        return {"tool_calls": [{"name": "stock", "arguments": {"sku": "T-7"}},
                               {"name": "reserve", "arguments": {"sku": "T-7"}}]}
    return "T-7 is in stock (4 left); the reservation system is down, so I could not hold one."

fake = FakeOpenAI(rules=rules).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})

def effect(line):
    with open("kernel_dies_effects.txt", "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["left"])
def stock(sku: str) -> dict:
    \"\"\"How many are in stock.\"\"\"
    effect(f"stock {sku}")
    return {"left": 4}

@ag.tool(outputs=["held"])
def reserve(sku: str) -> dict:
    \"\"\"Hold one for the customer.\"\"\"
    effect(f"reserve {sku}")
    raise ConnectionError("reservation service unreachable")

@ag.graph_fn(name="restock", outputs=["ordered"])
async def restock(sku: str, *, context: ag.NodeContext):
    ch = context.channel()
    res = await context.llm().run_tools([{"role": "user", "content": f"check {sku}"}], tools=[stock, reserve])
    await context.memory().record("check", {"text": res.text})
    ok, _ = await ch.ask_approval(f"{res.text}\\n\\nOrder 20 more {sku}?", options=["Order", "Skip"])
    if ok:
        effect(f"order {sku}")
    await ch.send_markdown("**Ordered.**" if ok else "_Skipped._")
    return {"ordered": ok}
"""

START = """\
run = restock.start(sku="T-7", run_id="restock-1")
await run.wait_for("waiting", timeout=60)
print("LLM", len(fake.chat_requests))
run
"""
CRASH = "import os\nos._exit(1)  # the kernel dies"
RESUME = 'run = ag.get_run("restock-1")\nrun'
CHECK = """\
print("EFFECTS", sorted(open("kernel_dies_effects.txt").read().splitlines()))
print("LLM", len(fake.chat_requests))
print("NOTES", ag.store().sql("select count(*) from memory where kind = 'check'").rows[0][0])
"""

_DIALOG = ".jp-Dialog"


def test_a_kernel_that_dies_under_a_waiting_run(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "kernel_dies.ipynb"
    lab = open_page(lab_server, name, [SETUP, START, CRASH, RESUME, CHECK])
    lab.run_cell(0)
    lab.run_cell(1, timeout=90)
    widget = lab.widget(1)
    widget.locator("[data-wait-kind='approval'] button[data-option='Order']").wait_for(timeout=60_000)
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'waiting'", timeout=30)
    assert "LLM 2" in lab.output_text(1)  # the model asked for the tools, then answered
    shot(widget, "died_01_waiting")

    # The crash: JupyterLab notices the dead kernel, restarts it and says so in a dialog the person dismisses.
    lab.run_cell(2, wait=False)
    dialog = lab.page.locator(_DIALOG, has_text="restart")
    dialog.wait_for(timeout=90_000)
    shot(dialog, "died_02_dialog")
    assert "died" in dialog.inner_text().lower() or "restart" in dialog.inner_text().lower()
    dialog.locator("button", has_text="Ok").click()
    lab.after_kernel_restart()
    # The old widget cannot act for the dead kernel any more, and says how to go on.
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=60)
    assert "restock-1" in lab.widget(1).locator(".aether-inert-notice").inner_text()

    # Definitions again, then the run from the store: still waiting for the same question.
    lab.run_cell(0)
    lab.run_cell(3, timeout=60)
    live = lab.widget(3)
    live.locator("[data-wait-kind='approval'] button[data-option='Order']").wait_for(timeout=60_000)
    assert live.locator(".aether-bubble[data-turn='question']", has_text="Order 20 more T-7").count() == 1
    shot(live, "died_03_resumed_waiting")
    live.locator("[data-wait-kind='approval'] button[data-option='Order']").click(timeout=30_000)
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    assert live.locator(".aether-bubble", has_text="Ordered.").count() >= 1
    shot(lab.widget(3), "died_04_done")

    lab.run_cell(4, timeout=60)
    out = lab.output_text(4)
    effects = out.split("EFFECTS ", 1)[1].splitlines()[0]
    assert effects == "['order T-7', 'reserve T-7', 'stock T-7']", out  # each tool once, across the crash
    assert "LLM 0" in out, out  # this kernel's fake model was never asked: both answers came from the journal
    assert "NOTES 1" in out, out
