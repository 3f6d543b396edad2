"""In a real kernel: the copy of a running run that a notebook saves (its display's ``text/plain`` and ``text/html``,
what nbconvert and GitHub show) follows the run's steps while a page draws its widget, a few seconds behind, and not
once per step.

A tester saved a JupyterLab notebook while ``run = agent.start(...)`` was one step in and the next step ran: the saved
copy said "starting" with no DAG (made when the run was displayed; only a rest, its end, or a cell's end with no page
drawing the widget brought it up to date).
"""

from __future__ import annotations

import pytest

from aether_nb.notebook.protocol import SAVED_COPY_INTERVAL_S
from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
import asyncio, time
import aether_nb as ag
from aether_nb.notebook.page_views import current_page
ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))
gate = asyncio.Event()

@ag.tool(outputs=["y"])
async def quick(i: int) -> dict:
    return {"y": i}

@ag.tool(outputs=["y"])
async def held(x: int) -> dict:
    await gate.wait()
    return {"y": x}

@ag.graph_fn(name="loader", outputs=["y"])
async def loader(n: int, *, context: ag.NodeContext):
    for i in range(n):
        await quick(i)
    return await held(x=n)
"""

# The cell starts the run, says a page draws its widget (as JupyterLab's view does), and waits (on state, under a
# deadline) until the last step runs and then until the widget's saved copy shows it.
CELL = """
run = loader.start(n=20, run_id='copy-1')
view = ext.views['copy-1']
view.pages.report(current_page(), 'v1')
t0 = time.monotonic()
while not ('held_1' in run.graph and str(run.graph.node('held_1').status).lower().endswith('running')):
    await asyncio.sleep(0.01)
while 'held' not in view.widget.static_fallback and time.monotonic() - t0 < 25:
    await asyncio.sleep(0.05)
print('ELAPSED', time.monotonic() - t0)
"""


def test_a_running_run_s_saved_copy_follows_its_steps_while_a_page_draws_it(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(SETUP)
    res = kernel.ok(CELL, timeout=90)
    elapsed = float(res.stdout.split("ELAPSED", 1)[1].split()[0])
    assert res.displayed, "the run's widget is displayed under the cell"
    assert res.updated, (
        f"the display of a running run was never updated (its saved copy said 'starting'): {res.bundles}"
    )
    last = res.bundles[-1]
    assert last["text/plain"].splitlines()[0] == "run loader (copy-1): running, 21 steps · 1 running · 20 done"
    assert "loader · running · copy-1" in last["text/html"] and "held" in last["text/html"]
    assert "as it was when this output was last written (running)" in last["text/plain"]
    # a few seconds behind the run, never one update per step (each update draws the widget again in the page)
    assert len(res.updated) <= elapsed / SAVED_COPY_INTERVAL_S + 2, (len(res.updated), elapsed)
    done = kernel.ok("gate.set()\nprint(await run)")
    assert "{'y': 20}" in done.stdout
