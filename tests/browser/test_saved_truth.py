"""What a support-agent notebook says of its run in the page, in the saved ``.ipynb`` and reopened, after a restart
and ``%aether resume`` in a later cell (found by a tester, JupyterLab and Notebook 7):

* a message written to an agent that never calls ``receive()`` said "queued: the agent reads it at its next
  receive()" after the run was done: it says "not read: the run ended" (live, saved, reopened);
* the first cell's saved text (``text/html``, ``text/plain``: GitHub, nbconvert) said "waiting for you" with the
  question while the later cell said "done", nothing saying why (a resuming kernel cannot update an earlier
  kernel's displays): it says it is the run as it was then, and where to see what became of it;
* the saved text counted "1/2 nodes done" beside a header of "1 step · 1 done": it uses the header's counts;
* re-running a ``%aether promote RUN_ID`` cell inserted another identical cell each time: once only.

Every wait is on DOM or kernel state under a timeout; screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from labdriver import ARTIFACTS, LabPage, LabServer, OpenNotebook, shot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(name="refund", outputs=["ok"])
async def refund(*, context: ag.NodeContext):
    await context.channel().send_text("Order A-1 is late.")
    approved, _ = await context.channel().ask_approval("Refund 42.50?")  # (it never calls receive())
    return {"ok": approved}
"""
CELLS = [SETUP, 'run = refund.start(run_id="truth-1")\nrun', "%aether resume truth-1", "%aether promote truth-1"]
_SOURCES = "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map(c => c.getSource())"
NOTE = "This is run truth-1 as it was when this output was last written (waiting for you)."


def _save(lab: LabPage) -> None:
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)


def _display(cell: nbformat.NotebookNode) -> dict[str, str]:
    data = next(o for o in cell.outputs if o.output_type == "display_data").data
    return {mime: "".join(value) if isinstance(value, list) else value for mime, value in data.items()}


def test_resumed_run_with_an_unread_message_saved_and_promoted(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "saved_truth.ipynb"
    lab = open_page(lab_server, name, CELLS)
    lab.run_cell(0, timeout=90)
    lab.run_cell(1, timeout=60)
    lab.wait_in_output(1, "[data-wait-kind] button", timeout=60)
    lab.restart_kernel()
    lab.run_cell(0, timeout=90)
    lab.run_cell(2, timeout=60)
    widget = lab.widget(2)
    lab.wait_in_output(2, "[data-wait-kind] button", timeout=60)

    # Written to the agent while it is not in receive(): queued...
    widget.get_by_label("Message the agent").fill("Please hurry")
    widget.get_by_role("button", name="Send").last.click()
    expect(widget.locator(".aether-bubble[data-queued='true']", has_text="Please hurry")).to_have_count(1)
    widget.get_by_role("button", name="Approve").click()
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    # ...and once the run ended without reading it, not read (it said "queued" for good)
    unread = lab.widget(2).locator(".aether-bubble[data-unread='true']", has_text="Please hurry")
    expect(unread).to_have_count(1, timeout=15_000)
    assert "not read: the run ended" in unread.inner_text()
    assert lab.widget(2).locator(".aether-bubble[data-queued='true']").count() == 0
    shot(lab.output(2), "saved_truth_unread_after_done")
    header = lab.widget(2).locator(".aether-counts").inner_text()
    assert header == "1 step · 1 done", header
    # the old widget says the run went on in the newer one (before the save: its saved view says it too)
    lab.wait_in_widget(1, "(root) => root.textContent.includes('went on in a newer widget')", timeout=30)

    # %aether promote, twice: one cell below, not two
    lab.run_cell(3, timeout=60)
    expect(lab.output(3).locator(".aether-promoted[data-placed='inserted']")).to_have_count(1, timeout=15_000)
    sources = lab.page.evaluate(_SOURCES)
    assert len(sources) == 5 and sources[4].startswith("# Promoted from run truth-1 of refund."), sources
    lab.run_cell(3, timeout=60)
    expect(lab.output(3).locator(".aether-promoted[data-placed='already']")).to_have_count(1, timeout=15_000)
    assert "already holds the promoted source of run truth-1: not inserted again" in lab.output_text(3)
    assert lab.page.evaluate(_SOURCES) == sources
    shot(lab.output(3), "saved_truth_promoted_again")

    _save(lab)
    saved = nbformat.read(lab_server.root_dir / name, 4)
    before, after = _display(saved.cells[1]), _display(saved.cells[2])
    # the pre-restart display: the moment it shows, said as such, and where the run went on
    assert "refund · waiting for you · truth-1" in before["text/html"] and NOTE in before["text/html"]
    assert NOTE in before["text/plain"] and "`%aether resume truth-1` shows it live" in before["text/plain"]
    # the resumed display: done, the message not read, counted as the header counts
    assert "refund · done · truth-1" in after["text/html"] and "as it was when" not in after["text/html"]
    assert "not read: the run ended" in after["text/html"] and "queued" not in after["text/html"]
    assert after["text/plain"].splitlines()[0] == f"run refund (truth-1): done, {header}"
    assert "user: Please hurry (not read: the run ended)" in after["text/plain"].splitlines()
    state = json.dumps(saved.metadata["widgets"])
    assert "not read: the run ended" in state and "queued: the agent" not in state

    # Reopened without its kernel: the saved views say the same, the promote line is there (no "model not found")
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    expect(lab.output(2).locator(".aether-run-saved")).to_have_count(1, timeout=60_000)
    assert "not read: the run ended" in lab.output_text(2)
    expect(lab.output(3).locator(".aether-promoted")).to_have_count(1, timeout=30_000)
    assert "model not found" not in (lab.output(3).text_content() or "")
    assert "not inserted again" in lab.output_text(3)
    ARTIFACTS.mkdir(exist_ok=True)
    lab.screenshot("saved_truth_reopened")


def test_promote_twice_in_notebook_7_leaves_one_cell(lab_server: LabServer, open_page: OpenNotebook) -> None:
    cells = [
        "%load_ext aether_nb\nimport aether_nb as ag\n\n@ag.tool(outputs=['y'])\ndef double(x: int) -> dict:\n"
        "    return {'y': 2 * x}\n\n@ag.graph_fn(name='twice', outputs=['y'])\nasync def twice(x: int):\n"
        "    return {'y': (await double(x))['y']}\n\nawait twice.start(x=2, run_id='promo-7')",
        "%aether promote promo-7",
    ]
    lab = open_page(lab_server, "promote_nb7.ipynb", cells, ui="notebook")
    lab.run_cell(0, timeout=90)
    lab.run_cell(1, timeout=60)
    lab.page.wait_for_function(f"() => ({_SOURCES})().length === 3", timeout=15_000)
    assert lab.page.evaluate(_SOURCES)[2].startswith("# Promoted from run promo-7 of twice.")
    lab.run_cell(1, timeout=60)  # (Run All does the same): it added a second identical cell
    lab.page.wait_for_function(
        f"() => ({_SOURCES})().length !== 3 || document.querySelector(\"[data-placed='already']\") !== null",
        timeout=15_000,
    )
    sources = lab.page.evaluate(_SOURCES)
    assert len(sources) == 3 and sources[2].startswith("# Promoted from run promo-7 of twice."), sources
    assert "already holds the promoted source of run promo-7: not inserted again" in lab.output_text(1)
