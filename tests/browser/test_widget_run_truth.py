"""The widget says what the run is, in a real JupyterLab: a run cut off by a dead kernel is not drawn running (no
Stop, no ticking clock, no message box; how to resume it under the header), and a run whose body raised after it
handled a tool's error says its body failed, selecting no step (it named the handled step and selected it)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from labdriver import LabPage

from aether_nb.runtime import status

pytestmark = pytest.mark.browser

# A cut-off run as RunView sends it (the kernel side is tests/notebook/test_widget_cut_off.py): its stored status
# says running, its second step was running when the kernel that ran it died.
CUT_OFF = """\
from aether_nb.notebook import protocol as proto
from aether_nb.notebook.widget import RunWidget
from aether_nb.runtime import status

def node(node_id, st, ended):
    return {"id": node_id, "name": node_id.split("_")[0], "kind": "tool", "status": st, "parent": None,
            "started_at": 100.0, "ended_at": ended, "inputs": {"x": 1}, "replayed": False}

FULL = {"run_id": "cut-1", "name": "cut_off_agent", "status": "running", "cut_off": status.cut_off_hint("cut-1"),
        "nodes": [node("quick_1", "DONE", 100.5), node("slow_1", "RUNNING", None)], "edges": [["quick_1", "slow_1"]]}
RunWidget(graph=proto.slim_graph(FULL), messages=[], waits=[])
"""

BODY_FAILS = """\
import aether_nb as ag

@ag.tool(outputs=["y"])
async def charge(amount: int) -> dict:
    raise ValueError("card declined")

@ag.graph_fn(name="checkout", outputs=["ok"])
async def checkout(amount: int, *, context: ag.NodeContext):
    try:
        await charge(amount=amount)
    except ValueError:
        await context.channel().send_text("declined, using the fallback")
    raise KeyError("no fallback configured")

run = checkout.start(amount=5)
run
"""


def test_a_cut_off_run_and_a_body_failure_are_said_as_they_are(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook([CUT_OFF, "%load_ext aether_nb\n" + BODY_FAILS])
    lab.run_all()

    lab.wait_in_output(0, ".aether-run[data-cut-off='true']")
    cut = lab.widget(0)
    assert cut.locator(".aether-badge").inner_text() == status.CUT_OFF
    assert cut.locator("[data-action='stop']").is_hidden()
    assert cut.locator(".aether-message-box").is_hidden()
    reason = cut.locator(".aether-reason")
    assert reason.get_attribute("data-cut-off") == "true"
    assert status.cut_off_hint("cut-1") in reason.inner_text()
    assert cut.locator(".aether-node[data-node-id='slow_1']").get_attribute("data-shown") == "CANCELLED"
    clock = cut.locator(".aether-elapsed").inner_text()
    time.sleep(2.2)  # (an active run's clock ticks once a second)
    assert cut.locator(".aether-elapsed").inner_text() == clock == "500 ms"

    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'failed'", timeout=60)
    failed = lab.widget(1)
    said = failed.locator(".aether-reason").inner_text()
    assert said == "Failed in the body of checkout (not in a step): KeyError: 'no fallback configured'", said
    assert "card declined" not in said
    assert failed.locator(".aether-inspector:not([hidden])").count() == 0, "no step is selected as the failure"
    # the handled failure stays red on its own step
    assert failed.locator(".aether-node[data-node-id='charge_1']").get_attribute("data-status") == "FAILED"
