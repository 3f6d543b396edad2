"""In a real kernel: the saved copy of a run stopped while a sync body ran on (what nbconvert and GitHub show) says
the body still runs, and once the body returns, after the run ended, it says that (it was drawn at the run's end,
and nothing of the run changes after that but this)."""

from __future__ import annotations

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
import asyncio, threading, time
import aether_nb as ag
ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))
bank = threading.Event()

@ag.tool(outputs=["receipt"])
def charge(total: int) -> dict:
    assert bank.wait(60)
    return {"receipt": f"R-{total}"}

@ag.graph_fn(name="checkout", outputs=["receipt"])
async def checkout(total: int):
    return await charge(total=total)

async def saved_copy_says(words):
    t0 = time.monotonic()
    view = ext.views['pay-1']
    while words not in view.widget.static_html and time.monotonic() - t0 < 30:
        await asyncio.sleep(0.05)
    return words in view.widget.static_html
"""

STOP = """
run = checkout.start(total=42, run_id='pay-1')
while not ('charge_1' in run.graph and run.graph.node('charge_1').status == 'RUNNING'):
    await asyncio.sleep(0.01)
run.cancel()
print('RUNNING', await saved_copy_says('body still running'), run.status)
"""

RELEASE = """
bank.set()
print('RETURNED', await saved_copy_says('body returned later'), run.graph.node('charge_1').status)
"""


def test_the_saved_copy_says_the_body_runs_on_then_that_it_returned(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(SETUP)
    stopped = kernel.ok(STOP, timeout=60)
    assert "RUNNING True cancelled" in stopped.stdout, stopped.stdout
    released = kernel.ok(RELEASE, timeout=60)
    assert "RETURNED True CANCELLED" in released.stdout, released.stdout
