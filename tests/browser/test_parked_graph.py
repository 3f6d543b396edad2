"""A static checkout graph whose two questions (an approval, then a note) are asked by DualStageTools whose methods
take the context (``context: ag.NodeContext`` and a bare ``ctx``): approved in the run's widget, the kernel restarted
while the note is asked, the note answered in the widget drawn again from the store. The charge happens once, the
graph returns what was answered, and the widget's DAG ends with its four nodes DONE, none pending or drawn twice.
Screenshots land in test-artifacts/ (parked_graph_*.png) and were looked at.

What it guards (the thirty-fifth session): a DualStageTool's signature and context parameter are now found once per
class and method, not on every call; a graph whose history is in the store only plans again without reading it back
(the DAG folds the plan after the history; ``tests/runtime/test_graphify_waits.py`` covers runs that leave memory,
which a run followed by its cell's widget never does).
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

NAME = "parked_graph.ipynb"
SETUP = """\
%load_ext aether_nb
from pathlib import Path
import aether_nb as ag

ag.configure(store="parked_graph.duckdb")
EFFECTS = Path("parked_graph_effects.txt")
EFFECTS.touch()

@ag.tool(outputs=["total"])
async def price(items: list) -> dict:
    return {"total": sum(items)}

@ag.tool(outputs=["receipt"])
async def charge(total: int, decision: str) -> dict:
    if decision != "Approve":
        return {"receipt": "not charged"}
    with EFFECTS.open("a") as f:
        f.write(f"charged {total}\\n")
    return {"receipt": f"R-{total}"}

class Approve(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, total: int, context: ag.NodeContext):
        return ag.WaitSpec(kind="approval", prompt=f"Charge {total} EUR?", options=["Approve", "Reject"])

    async def on_resume(self, payload, context: ag.NodeContext):
        context.logger().info(f"decided {payload['choice']}")
        return {"decision": payload["choice"]}

class Note(ag.DualStageTool, outputs=["note"]):
    async def setup(self, receipt: str, ctx):
        return ag.WaitSpec(kind="text", prompt=f"A note for {receipt}?")

    async def on_resume(self, payload, ctx):
        return {"note": payload}

@ag.graphify(name="checkout", inputs=["items"], outputs=["receipt", "note"])
def checkout(items):
    p = price(items=items)
    a = Approve(total=p.total)
    c = charge(total=p.total, decision=a.decision)
    n = Note(receipt=c.receipt)
    return {"receipt": c.receipt, "note": n.note}
"""
START = "run = checkout.start(items=[30, 12], run_id='checkout-1')"
VIEW = "ag.get_run('checkout-1')"
REPORT = "print('OUT', await ag.get_run('checkout-1'))\nprint('EFFECTS', EFFECTS.read_text().splitlines())"
CELLS = [SETUP, START, VIEW, REPORT]

ALL_DONE = """(root) => {
  const nodes = Array.from(root.querySelectorAll('g[data-node-id]'));
  return root.dataset.runStatus === 'succeeded' && nodes.length === 4
    && nodes.every((g) => g.getAttribute('data-status') === 'DONE');
}"""


def test_a_graph_asking_twice_across_a_restart_charges_once_and_ends_with_its_dag_whole(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    for leftover in ("parked_graph.duckdb", "parked_graph_effects.txt"):
        (lab_server.root_dir / leftover).unlink(missing_ok=True)
    lab = open_page(lab_server, NAME, CELLS)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.wait_in_output(1, ".aether-wait button[data-option='Approve']")
    shot(lab.widget(1), "parked_graph_01_approval")
    lab.click_in_widget(1, ".aether-wait button[data-option='Approve']")
    lab.wait_in_output(1, "[data-wait-kind='text'] input")
    shot(lab.widget(1), "parked_graph_02_note_asked")

    lab.restart_kernel()
    lab.run_cell(0)
    lab.run_cell(2)  # rebuilt from the store
    box = lab.wait_in_output(2, "[data-wait-kind='text'] input")
    box.fill("leave it at the door")
    box.press("Enter")
    lab.wait_in_widget(2, ALL_DONE, timeout=60)
    shot(lab.widget(2), "parked_graph_03_done")
    chat = lab.widget(2).locator(".aether-bubble").all_inner_texts()
    assert chat == ["Charge 42 EUR?", "Approve", "A note for R-42?", "leave it at the door"], chat

    lab.run_cell(3)
    printed = lab.output_text(3)
    assert "OUT {'receipt': 'R-42', 'note': 'leave it at the door'}" in printed, printed
    assert "EFFECTS ['charged 42']" in printed, printed
    graph = lab.widget(2).evaluate(
        "(root) => Array.from(root.querySelectorAll('g[data-node-id]'), (g) => g.getAttribute('data-status'))"
    )
    assert graph == ["DONE"] * 4, graph
