"""A person clears the notebook's outputs (Edit > Clear Outputs of All Cells) while an agent waits for their approval,
then shows the run again in a new cell and approves there. Screenshots land in test-artifacts/ (cleared_*.png).

What it guards: one live widget per run per page means a second cell showing a run whose widget is on the page gets
a one-line pointer to it. Once the outputs are cleared that widget is gone: the next cell must get a live widget
with the question, not a pointer to an empty cell.
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

from tests.scenarios.orders import AGENT_DEFINITIONS, printed

pytestmark = pytest.mark.browser

START = "run = order.start(1)\nrun"
SHOW = "run"
REPORT = 'print("EFFECTS", open(EFFECTS).read().splitlines(), run.status)'


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_run_shown_again_after_clearing_outputs_can_be_answered(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    setup = AGENT_DEFINITIONS.replace("EFFECTS_FILE", f"cleared_effects_{ui}.txt")
    lab = open_page(lab_server, f"cleared_{ui}.ipynb", [setup, START, SHOW, REPORT], ui=ui)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.widget(1).locator("[data-wait-kind='approval'] button[data-option='Ship']").wait_for(timeout=60_000)

    lab.page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    lab.page.wait_for_function(
        "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .aether-run').length === 0"
    )
    lab.run_cell(2)
    live = lab.widget(2)
    button = live.locator("[data-wait-kind='approval'] button[data-option='Ship']")
    button.wait_for(timeout=30_000)
    assert "see its widget under cell" not in lab.output_text(2)
    shot(lab.output(2), f"cleared_{ui}_01_shown_again")
    button.click()
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    lab.run_cell(3)
    assert printed(lab.output_text(3).rsplit(" ", 1)[0], "EFFECTS") == ["charge 1", "ship 1"]
    assert lab.output_text(3).strip().endswith("succeeded")
    lab.check_no_errors()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_running_the_start_cell_again_draws_the_waiting_run_again(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    """``run = order.start(1, run_id=...)`` run a second time while the run waits: the front end clears the cell's
    output (its widget with it), and the cell showed only "↑ run ...: see its widget under cell [N]",
    N being its own cleared execution: no widget left to approve in."""
    setup = AGENT_DEFINITIONS.replace("EFFECTS_FILE", f"rerun_start_effects_{ui}.txt")
    start = f'run = order.start(1, run_id="rerun-start-{ui}")\nrun'
    lab = open_page(lab_server, f"rerun_start_{ui}.ipynb", [setup, start, REPORT], ui=ui)
    lab.run_cell(0)
    lab.run_cell(1)
    ship = "[data-wait-kind='approval'] button[data-option='Ship']"
    lab.widget(1).locator(ship).wait_for(timeout=60_000)
    lab.run_cell(1)
    button = lab.widget(1).locator(ship)
    button.wait_for(timeout=30_000)
    assert "see its widget under cell" not in lab.output_text(1)
    shot(lab.output(1), f"rerun_start_{ui}_01_drawn_again")
    button.click()
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    lab.run_cell(2)
    assert printed(lab.output_text(2).rsplit(" ", 1)[0], "EFFECTS") == ["charge 1", "ship 1"]
    lab.check_no_errors()
