"""A run's widget and the page it is drawn on, in JupyterLab: the pointer a second cell prints, and what the notebook
saves of a run that waits.

* The page is reloaded before JupyterLab autosaved (the widget's output is gone from it): ``%aether resume`` draws the
  run's widget with its question, not "↑ run ...: see its widget under cell [2]" above an empty cell.
* A notebook saved from JupyterLab keeps, as a waiting run's static view (``text/plain``, ``text/html``: what
  nbconvert and GitHub show), the run waiting at its question, not "starting". The display is updated when the run
  comes to rest, and JupyterLab draws the widget again: what one was typing stays, and so does the focus.
"""

from __future__ import annotations

import nbformat
import pytest
from labdriver import LabServer, OpenNotebook

pytestmark = pytest.mark.browser

EXT = "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"

AGENT = """%load_ext aether_nb
import asyncio
import aether_nb as ag

@ag.graph_fn(name="asker", outputs=["name"])
async def asker(delay: float, *, context: ag.NodeContext):
    await asyncio.sleep(delay)
    return {"name": await context.channel().ask_text("Your name?")}
"""


def test_after_a_reload_resume_draws_the_widget_the_page_lost(lab_server: LabServer, open_page: OpenNotebook) -> None:
    cells = [AGENT, "run = asker.start(delay=0, run_id='pages-1'); run", "%aether resume pages-1"]
    lab = open_page(lab_server, "pages_reload.ipynb", cells)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.wait_in_output(1, ".aether-wait input")
    # The display was drawn again when the run came to rest: the page counts one view of it, not the view it dropped
    # (which says so once it finds itself off the page: within a few seconds).
    count = (
        "import asyncio\nv = ext.views['pages-1']\nfor _ in range(100):\n    if v.pages.count() == 1: break\n"
        "    await asyncio.sleep(0.1)\nprint('views', v.pages.count())"
    )
    lab.page.evaluate(
        "(c) => window.jupyterapp.shell.currentWidget.content.model.sharedModel.getCell(2).setSource(c)", EXT + count
    )
    lab.run_cell(2)
    assert lab.output_text(2).strip() == "views 1"

    lab.page.reload()  # before any save: the reloaded page has no output under cell [2]
    lab.wait_for_kernel_idle()
    lab.run_cell(2)
    assert "see its widget" not in lab.output_text(2)
    answer = lab.wait_in_output(2, ".aether-wait input")
    answer.fill("Ada")
    answer.press("Enter")
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)


def test_a_notebook_saved_while_a_run_waits_keeps_its_question(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "pages_saved.ipynb", [AGENT, "run = asker.start(delay=4, run_id='pages-2'); run"])
    lab.run_cell(0)
    lab.run_cell(1)
    box = lab.wait_in_output(1, ".aether-message-box input")
    box.fill("a note I am writing")  # (focused) while the run goes on to its question
    lab.wait_in_output(1, ".aether-wait input", timeout=60)
    # (the run's display is updated as it comes to rest, and Lab draws the view again: wait for the view drawn now
    # to have taken the box's text and focus over, rather than for a fixed time)
    lab.page.wait_for_function(
        "() => { const box = document.querySelector('.aether-run .aether-message-box input');"
        " return box !== null && box.value !== '' && document.activeElement === box; }",
        timeout=45_000,  # (15 s timed out once in a loaded CI run; a state wait, so only a failure waits this long)
    )
    kept = lab.page.evaluate(
        "() => { const box = document.querySelector('.aether-run .aether-message-box input');"
        " return [document.querySelectorAll('.aether-run').length, box.value, document.activeElement === box]; }"
    )
    assert kept == [1, "a note I am writing", True]

    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = nbformat.read(lab_server.root_dir / "pages_saved.ipynb", 4)
    data = next(o for o in saved.cells[1].outputs if o.output_type == "display_data").data
    assert data["text/plain"].splitlines()[0] == "run asker (pages-2): waiting for you, 1 step · 1 waiting"
    assert "? Your name?" in data["text/plain"]
    assert "asker · waiting for you · pages-2" in data["text/html"] and "Your name?" in data["text/html"]
