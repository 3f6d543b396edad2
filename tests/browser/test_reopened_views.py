"""What a person sees of a run that only used services, and of ``%aether runs`` in a notebook reopened without its
kernel: the header says what the run did (never "0 steps"), and the runs table is there as it was (it showed
"Loading widget..." / "model not found": a plain ipywidgets tree is not saved with the notebook).

Every wait is on DOM or kernel state under a timeout; a screenshot of each view lands in test-artifacts/.
"""

from __future__ import annotations

import pytest
from labdriver import ARTIFACTS, LabServer, OpenNotebook
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(name="counter", outputs=["visits"])
async def counter(*, context: ag.NodeContext):
    kv = context.kv()
    visits = await kv.get("visits", default=0) + 1
    await kv.set("visits", visits)
    return {"visits": visits}

await counter.start(run_id="count-visit")
""",
    "%aether runs",
]


def test_service_only_header_and_the_runs_table_reopened(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "reopened_views.ipynb"
    lab = open_page(lab_server, name, CELLS)
    lab.run_cell(0, timeout=90)
    lab.wait_in_widget(0, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    counts = lab.widget(0).locator(".aether-counts")
    assert counts.inner_text() == "2 service calls"  # what it did; it said "0 steps" beside its two calls
    assert "2 service calls of the agent itself" in lab.widget(0).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    lab.widget(0).screenshot(path=str(ARTIFACTS / "reopened_views_header.png"))

    lab.run_cell(1, timeout=60)
    live = lab.wait_in_output(1, ".widget-button", timeout=30)
    assert live.inner_text() == "Show"
    assert "count-visit · counter · done" in lab.output_text(1)

    # Saved, and reopened without its kernel: the table as it was, no "model not found".
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    table = lab.output(1).locator(".aether-saved-view table.aether-runs-table")
    # wait on the row itself: the output may be rendered once more when the saved entry's model is made (snapshot.ts)
    expect(table.locator("tbody tr")).to_have_count(1, timeout=60_000)
    shown = lab.output(1).text_content() or ""
    assert "model not found" not in shown and "Loading widget" not in shown, shown
    assert "Saved view of %aether runs: the runs as they were at " in shown and "no kernel is attached" in shown
    headers = [h.strip() for h in table.locator("th").all_text_contents()]
    assert headers == ["run", "agent", "status", "started", "open questions"]
    cells = [c.strip() for c in table.locator("tbody tr td").all_text_contents()]
    assert cells[:3] == ["count-visit", "counter", "done"]
    lab.output(1).screenshot(path=str(ARTIFACTS / "reopened_views_runs_table.png"))


_RERENDER_AND_SAVE = """(index) => {
  // What JupyterLab does when the kernel updates a displayed output (a finished run's static view arriving):
  // the output is set again, its widget view disposed and a new one rendered later. The save starts meanwhile.
  const panel = window.jupyterapp.shell.currentWidget;
  const outputs = panel.content.widgets[index].model.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const out = outputs.get(i);
    if (out.data["application/vnd.jupyter.widget-view+json"]) outputs.set(i, out.toJSON());
  }
  return window.jupyterapp.commands.execute("docmanager:save");
}"""


def test_a_save_while_the_output_renders_again_keeps_the_runs_saved_view(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    """A notebook saved while a run's output is being rendered again (the kernel updates it when the run's drawing
    is ready, and autosave can come at any time) still holds the run's saved view, three times over. (In this
    sequence the old view still answered the save before saveWith too: the test pins the behaviour, and the
    case it guards, a view disposed before the save starts, is the one saveWith's docstring describes.)"""
    import json

    name = "save_while_rendering.ipynb"
    lab = open_page(lab_server, name, CELLS[:1])
    lab.run_cell(0, timeout=90)
    lab.wait_in_widget(0, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    for _ in range(3):  # each time: saved in the gap between two renders of the output
        lab.page.evaluate(_RERENDER_AND_SAVE, 0)
        lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        saved = json.loads((lab_server.root_dir / name).read_text())
        shown = [
            out["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
            for out in saved["cells"][0]["outputs"]
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        ]
        state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert shown and all(i in state for i in shown), "the run's output has no saved entry"
        assert all("count-visit" in state[i]["state"]["snapshot"] for i in shown)
        lab.wait_in_widget(0, "(root) => root.dataset.runStatus === 'succeeded'", timeout=30)
