"""A person starts a batch of orders in one cell (JupyterLab and Notebook 7): the first widgets are drawn, the rest
counted in one line until they wait for approval, when each gets its widget too (only a widget can take an answer
while a cell awaits a batch); the person approves the last one there. Screenshots land in test-artifacts/
(batch_*.png) and were looked at.

What it guards (the thirteenth session): every run a cell started drew its own live widget, so a batch of 500
drew 500 (seconds of the kernel, a page that hardly scrolled). And (the fourteenth): each start of the batch
cancelled the run started before it in the same cell, as if the cell had been run again; the drawn orders said
"cancelled".
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

from aether_nb.notebook.crowd import MAX_DRAWN
from tests.scenarios.orders import AGENT_DEFINITIONS, printed

pytestmark = pytest.mark.browser

N = MAX_DRAWN + 3
BATCH = f"runs = [order.start(i) for i in range({N})]"
SHOW_LAST = f"print(runs[{N - 1}].id)"
REPORT = f'print("EFFECTS", open(EFFECTS).read().splitlines().count("ship {N - 1}"), runs[{N - 1}].status)'


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_batch_draws_twelve_widgets_and_one_line_for_the_rest(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    setup = AGENT_DEFINITIONS.replace("EFFECTS_FILE", f"batch_effects_{ui}.txt")
    lab = open_page(lab_server, f"batch_{ui}.ipynb", [setup, BATCH, SHOW_LAST, REPORT], ui=ui)
    lab.run_cell(0)
    lab.run_cell(1)
    # every order waits for approval: the drawn ones, and the three past them, drawn as each starts waiting; none
    # was stopped by the next start of the same cell (the re-run rule, see reruns)
    lab.page.wait_for_function(
        f"() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        f'.aether-run[data-run-status="waiting"]\').length >= {N}',
        timeout=30_000,
    )
    assert lab.output(1).locator(".aether-run").count() == N
    assert (lab.output(1).locator(".aether-crowd").all_inner_texts() or [""]) == [""]  # no run left to count
    shot(lab.output(1), f"batch_{ui}_01_all_drawn")

    lab.run_cell(2)
    last = lab.output_text(2).strip()
    widget = lab.output(1).locator(f".aether-run[data-run-id='{last}']")
    widget.locator("[data-wait-kind='approval'] button[data-option='Ship']").first.click(timeout=60_000)
    lab.page.wait_for_function(
        f"() => document.querySelector(\".jp-NotebookPanel:not(.lm-mod-hidden) .aether-run[data-run-id='{last}']\")"
        "?.dataset.runStatus === 'succeeded'",
        timeout=60_000,
    )
    shot(widget, f"batch_{ui}_02_one_approved")
    lab.run_cell(3)
    assert printed(lab.output_text(3).rsplit(" ", 1)[0], "EFFECTS") == 1
    assert lab.output_text(3).strip().endswith("succeeded")
    lab.check_no_errors()
