"""A running run in JupyterLab, as a tester found it (``run = agent.start(...); run``, one step done, the next one
running):

* saved then, the notebook's copy of the run (``text/plain``, ``text/html``: what nbconvert and GitHub show) said
  "starting" with no DAG: it says "running" with its steps, a few seconds behind the run at most;
* after a kernel restart, ``%aether runs``'s Resume showed the live widget below, but the button still said
  "Resume", and a second click did nothing and said nothing: it says "Resumed" and is disabled.

Every wait is on DOM or file state under a timeout; screenshots land in test-artifacts/.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from labdriver import LabPage, LabServer, OpenNotebook, shot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DEFS = """\
%load_ext aether_nb
import asyncio
import aether_nb as ag

@ag.tool(outputs=["rows"])
async def slow_load(n: int) -> dict:
    await asyncio.sleep(n)
    return {"rows": n}

@ag.graph_fn(name="loader", outputs=["rows"])
async def loader(n: int, *, context: ag.NodeContext):
    a = await slow_load(0)
    b = await slow_load(n)
    return {"rows": a["rows"] + b["rows"]}
"""
SECOND_STEP_RUNS = (
    "(root) => root.dataset.runStatus === 'running' && "
    "(root.querySelector('.aether-counts') || {}).textContent === '2 steps · 1 running · 1 done'"
)


def _saved_text(lab: LabPage, cell: int) -> str:
    """Save the notebook and read cell ``cell``'s display's ``text/plain`` back from the file."""
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = nbformat.read(lab.server.root_dir / lab.name, 4)
    display = next(o for o in saved.cells[cell].outputs if o.output_type == "display_data")
    return str(display.data.get("text/plain", "")) + "\n" + str(display.data.get("text/html", ""))


def test_a_notebook_saved_while_its_run_runs_keeps_the_run_running(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, "saved_running.ipynb", [DEFS, "run = loader.start(n=120, run_id='saved-run')\nrun"])
    lab.run_cell(0, timeout=90)
    lab.run_cell(1, timeout=60)
    lab.wait_in_widget(1, SECOND_STEP_RUNS, timeout=60)
    # Saved now (or a few seconds on: the copy follows the run's steps, not each of them at once)
    deadline = time.monotonic() + 30
    text = _saved_text(lab, 1)
    while "running, 2 steps · 1 running · 1 done" not in text and time.monotonic() < deadline:
        lab.page.wait_for_timeout(500)
        text = _saved_text(lab, 1)
    assert text.startswith("run loader (saved-run): running, 2 steps · 1 running · 1 done"), text
    assert "loader · running · saved-run" in text and "slow_load" in text and "starting" not in text, text
    shot(lab.output(1), "saved_running_widget")


def test_a_clicked_resume_in_the_runs_table_says_resumed(lab_server: LabServer, open_page: OpenNotebook) -> None:
    cells = [DEFS, "run = loader.start(n=120, run_id='table-run')", "%aether runs"]
    lab = open_page(lab_server, "table_resumed.ipynb", cells)
    lab.run_cell(0, timeout=90)
    lab.run_cell(1, timeout=60)
    lab.wait_in_widget(1, SECOND_STEP_RUNS, timeout=60)
    lab.restart_kernel()
    lab.run_cell(0, timeout=90)
    lab.run_cell(2, timeout=60)
    resume = lab.output(2).get_by_role("button", name="Resume", exact=True)
    expect(resume).to_have_count(1, timeout=30_000)
    resume.click()
    lab.wait_in_output(2, ".aether-run", timeout=60)  # the live widget, below the table
    resumed = lab.output(2).get_by_role("button", name="Resumed", exact=True)
    expect(resumed).to_be_disabled(timeout=30_000)
    expect(lab.output(2).get_by_role("button", name="Resume", exact=True)).to_have_count(0)
    expect(lab.output(2).get_by_text("table-run · loader · running")).to_have_count(1, timeout=30_000)
    shot(lab.output(2), "runs_table_resumed")
