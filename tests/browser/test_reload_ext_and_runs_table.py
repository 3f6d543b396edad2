"""In JupyterLab: ``%reload_ext aether_nb`` while a run waits keeps its widget (and answer box) in its cell, and the
``%aether runs`` table's buttons show their whole word and its rows follow the runs.

Found by a tester: the reload (what IPython says to type when the ``%load_ext`` cell runs again) removed the waiting
run's widget from the page, its cell still saying "see its widget above"; the table's "Resumed" read "Resum…"; a
row kept saying "waiting for you" beside a run answered in its own widget.

Every wait is on DOM state under a timeout; a screenshot lands in test-artifacts/.
"""

from __future__ import annotations

import pytest
from labdriver import ARTIFACTS, LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

CELLS = [
    """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(name="asker", outputs=["a"])
async def asker(*, context: ag.NodeContext):
    return {"a": await context.channel().ask_text("Your name?")}
""",
    "run = asker.start(run_id='r1')\nrun",
    "%reload_ext aether_nb",
    "%aether runs",
    """\
import ipywidgets
for box in _.children:  # the longest word a row's button says
    if isinstance(box, ipywidgets.HBox):
        box.children[0].description = "Resumed"
""",
]

_CUT_BUTTONS = """(out) => Array.from(out.querySelectorAll('.widget-button')).filter((b) => {
  // the text's own width, in the button's font, against the room the button gives it (an ellipsis is painted, so
  // the button's scrollWidth does not tell)
  const cs = getComputedStyle(b);
  const probe = document.createElement('span');
  for (const p of ['fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'letterSpacing']) probe.style[p] = cs[p];
  Object.assign(probe.style, { position: 'absolute', visibility: 'hidden', whiteSpace: 'nowrap' });
  probe.textContent = b.textContent;
  document.body.appendChild(probe);
  const need = probe.getBoundingClientRect().width;
  probe.remove();
  return need > b.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
}).map((b) => b.textContent)"""


def test_reload_ext_keeps_the_waiting_widget_and_the_table_follows(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, "reload_ext.ipynb", CELLS)
    lab.run_cell(0, timeout=90)
    lab.run_cell(1)
    lab.wait_in_output(1, "[data-wait-kind='text'] input[type='text']", timeout=60)

    lab.run_cell(2)
    lab.run_cell(3)  # (a cell after the reload: whatever the reload sent the page has arrived)
    lab.wait_in_output(3, ".widget-button", timeout=30)
    assert lab.output(1).locator(".aether-run").count() == 1, lab.output_text(1)[-1000:]
    assert lab.output(1).locator("[data-wait-kind='text'] input[type='text']").is_visible()

    lab.run_cell(4)
    lab.page.wait_for_function(
        "(out) => Array.from(out.querySelectorAll('.widget-button')).every((b) => b.textContent === 'Resumed')",
        arg=lab.output(3).element_handle(),
        timeout=30_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot(lab.output(3), "reload_ext_runs_table_buttons")
    assert lab.page.evaluate(_CUT_BUTTONS, lab.output(3).element_handle()) == []

    # the widget kept across the reload takes the answer, and the table's row follows the run to its end
    box = lab.output(1).locator("[data-wait-kind='text'] input[type='text']").first
    box.fill("Ada")
    box.press("Enter")
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    row = lab.output(3).locator(".widget-html", has_text="r1 · asker")
    row.filter(has_text="r1 · asker · done").wait_for(timeout=30_000)
