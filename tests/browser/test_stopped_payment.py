"""Stop pressed while a payment's sync body runs in its thread: Python cannot stop that thread, so the payment may
still happen. The DAG must not leave the person believing it did not: the node says stopped, and its box says the
body still runs in its thread; once the body returns, the box says so (the effect happened, once). Screenshots land
in test-artifacts/ (stopped_payment_*.png) and were looked at.

What it guards (the thirty-sixth session): before, the DAG said only "stopped" and the truth was in the node's
inspector. The kernel side (``GraphNode.body``, read back from the store too) is covered in
``tests/runtime/test_abandoned_bodies.py``.
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

NAME = "stopped_payment.ipynb"
SETUP = """\
%load_ext aether_nb
import threading
from pathlib import Path
import aether_nb as ag

ag.configure(store="stopped_payment.duckdb")
EFFECTS = Path("stopped_payment_effects.txt")
EFFECTS.write_text("")
bank_answers = threading.Event()  # the bank's slow answer, released by a cell below

@ag.tool(outputs=["total"])
async def price(items: list) -> dict:
    return {"total": sum(items)}

@ag.tool(outputs=["receipt"])
def charge(total: int) -> dict:  # a sync SDK call: it runs in a thread
    assert bank_answers.wait(120), "the test never let the bank answer"
    with EFFECTS.open("a") as f:
        f.write(f"charged {total}\\n")
    return {"receipt": f"R-{total}"}

@ag.graph_fn(outputs=["receipt"])
async def checkout(items: list):
    p = await price(items=items)
    return await charge(total=p["total"])
"""
START = "run = checkout.start(items=[30, 12])"
RELEASE = "bank_answers.set()"
REPORT = "print('STATUS', run.status)\nprint('EFFECTS', EFFECTS.read_text().splitlines())"
CELLS = [SETUP, START, RELEASE, REPORT]

CHARGE = "g[data-node-id='charge_1']"


def _charge_is(body: str) -> str:
    return f"""(root) => {{
  const g = root.querySelector("{CHARGE}");
  return root.dataset.runStatus === 'cancelled' && g && g.getAttribute('data-status') === 'CANCELLED'
    && g.getAttribute('data-body') === '{body}';
}}"""


def test_stop_during_a_sync_payment_says_the_body_runs_on_and_then_that_it_returned(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    for leftover in ("stopped_payment.duckdb", "stopped_payment_effects.txt"):
        (lab_server.root_dir / leftover).unlink(missing_ok=True)
    lab = open_page(lab_server, NAME, CELLS)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.wait_in_output(1, f"{CHARGE}[data-status='RUNNING']")
    lab.click_in_widget(1, "[data-action='stop']")
    lab.wait_in_widget(1, _charge_is("running"), timeout=30)
    widget = lab.widget(1)
    assert widget.locator(".aether-badge").first.inner_text() == "stopped"
    assert widget.locator(f"{CHARGE} .aether-node-meta").text_content() == "⟳ body still running"
    shot(widget, "stopped_payment_01_body_runs_on")

    lab.run_cell(2)  # the bank answers: the body the run gave up on returns, and its effect happens
    lab.wait_in_widget(1, _charge_is("returned"), timeout=30)
    assert widget.locator(f"{CHARGE} .aether-node-meta").text_content() == "↳ body returned later"
    shot(widget, "stopped_payment_02_body_returned")

    lab.run_cell(3)
    printed = lab.output_text(3)
    assert "STATUS cancelled" in printed, printed
    assert "EFFECTS ['charged 42']" in printed, printed
