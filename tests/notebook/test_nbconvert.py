"""A notebook exported with nbconvert shows each run: markdown rendered, images embedded.

Executed headless without storing widget state (``--ExecutePreprocessor.store_widget_state=False``), as a notebook
saved from a front end without widget state: nbconvert then uses each output's static HTML. (With widget state,
nbconvert renders widgets through ipywidgets' HTML manager from a CDN instead; README, "Saved notebooks".)
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

pytestmark = pytest.mark.kernel

CELLS = [
    "%load_ext aether_nb\nimport aether_nb as ag\n"
    "PNG = bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000100ff89993d1d0000000049454e44ae426082')\n"
    "@ag.graph_fn\n"
    "async def report(*, context):\n"
    "    await context.channel().send_markdown('Sales are **up** this week')\n"
    "    await context.channel().send_image(PNG, alt='sales chart', name='sales.png')\n"
    "    return {}\n",
    "await report()",
]


def test_nbconvert_html_embeds_the_runs_images_and_renders_their_markdown(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        timeout=120,
        store_widget_state=False,
    )
    client.execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "Sales are <strong>up</strong> this week" in html
    assert 'src="data:image/png;base64,' in html
    assert "[image:" not in html
    assert "report · done" in html


ANSWERED_LATER = [
    "%load_ext aether_nb\nimport aether_nb as ag\n"
    "@ag.graph_fn(name='greeter', outputs=['answer'])\n"
    "async def greeter(*, context):\n"
    "    name = await context.channel().ask_text('Your name?')\n"
    "    await context.channel().send_text(f'hi {name}')\n"
    "    return {'answer': name}\n",
    "run = greeter.start()\nawait run.wait_for('waiting')",
    "await run.answer('Ada')\nawait run",
]


@pytest.mark.parametrize("widget_state", [False, True])
def test_a_run_answered_in_a_later_cell_is_saved_as_it_ended(tmp_path: Path, widget_state: bool) -> None:
    """Executed headless, a run shown by one cell and answered in another: its updates went out under the showing
    cell's header, which a headless client drops, so the saved notebook showed "starting" with no static view
    and a widget state still asking. The end is sent again under the cell executing then."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in ANSWERED_LATER]
    client = NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}, timeout=120,
        store_widget_state=widget_state,
    )  # fmt: skip
    client.execute()
    shown = nb.cells[1].outputs[0]
    assert "done" in shown["data"]["text/plain"] and "hi Ada" in shown["data"]["text/plain"]
    assert "greeter · done" in shown["data"]["text/html"] and "hi Ada" in shown["data"]["text/html"]
    if widget_state:
        model = shown["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][model]["state"]
        assert state["graph"]["status"] == "succeeded" and state["waits"] == []
    else:
        html, _ = HTMLExporter().from_notebook_node(nb)
        assert "greeter · done" in html and "hi Ada" in html


def test_a_notebook_saved_with_widget_state_exports_its_static_views_with_the_readme_flags() -> None:
    """A notebook saved from JupyterLab holds each run widget's saved-view entry in its widget state, so nbconvert's
    HTML drew the run through a CDN script (nothing offline). The README's flags give the static views."""
    from traitlets.config import Config

    view = {"version_major": 2, "version_minor": 0, "model_id": "m1"}
    static = "<div class='aether-run-static' data-run-id='r1'>report · done · r1</div>"
    cell = nbformat.v4.new_code_cell("run", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": view, "text/html": static,
                              "text/plain": "run report (r1): done"})])  # fmt: skip
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "version_major": 2,
            "version_minor": 0,
            "state": {"m1": {"model_name": "AnyModel", "model_module": "anywidget", "state": {}}},
        }
    }
    as_saved, _ = HTMLExporter().from_notebook_node(nb)
    assert "aether-run-static" not in as_saved and "embed-amd.js" in as_saved  # (what the README warns about)
    config = Config()
    config.ClearMetadataPreprocessor.enabled = True
    config.ClearMetadataPreprocessor.clear_cell_metadata = False
    page, _ = HTMLExporter(config=config).from_notebook_node(nb)
    assert "aether-run-static" in page and "embed-amd.js" not in page
