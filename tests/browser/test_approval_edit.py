"""A person's order approval in JupyterLab, as a state graph: the order is paid and waits at ``interrupt()``; the
person edits the order's note while it waits, the kernel restarts, and the person approves in the rebuilt
widget. The order ships once, with the note. Screenshots land in test-artifacts/ (approval_*.png) and were
looked at.

What it guards (the eleventh session): after an answer, the superstep merges the node's writes onto the state the
node read after its wait (journaled) instead of reading it once more; a run resumed in a new kernel must still see
the edit made while it waited, and do nothing twice. Found by it: an ``interrupt()`` answered in the widget rebuilt
after the restart never showed the answer under its question (the resumed run did not say it was answered).
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

from tests.scenarios.orders import DEFINITIONS, PAY_7, REATTACH_7, REPORT_7, printed

pytestmark = pytest.mark.browser

EDIT = """\
await app.aupdate_state(cfg(7), {"note": "gift wrap"})
print("NOTE", (await app.aget_state(cfg(7))).values["note"])
"""


def _seconds(text: str) -> float:
    """A widget's elapsed time (``"114 ms"``, ``"2.7 s"``) in seconds."""
    value, unit = text.split()[:2]
    return float(value) / 1000 if unit == "ms" else float(value)


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_an_order_edited_while_it_waits_ships_once_with_the_edit(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    setup = DEFINITIONS.replace("EFFECTS_FILE", f"approval_effects_{ui}.txt")
    lab = open_page(lab_server, f"approval_edit_{ui}.ipynb", [setup, PAY_7, EDIT, REATTACH_7, REPORT_7], ui=ui)
    lab.run_cell(0)
    lab.run_cell(1, timeout=90)
    assert "PAUSED interrupted orders-order-7-1" in lab.output_text(1)
    waiting = lab.widget(1)
    lab.wait_in_output(1, "[data-wait-kind='human']", timeout=30)
    assert waiting.get_attribute("data-run-status") == "waiting"
    question = waiting.locator(".aether-bubble[data-turn='question']", has_text="Ship order 7 (r7)? Note: none")
    assert question.count() == 1
    shot(waiting, f"approval_{ui}_01_waiting")

    lab.run_cell(2, timeout=60)
    assert "NOTE gift wrap" in lab.output_text(2)

    before = _seconds(waiting.locator(".aether-elapsed").inner_text())
    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    # its clock stops where it was when the kernel stopped (it read the pay node's 2 ms once inert, before)
    assert _seconds(lab.widget(1).locator(".aether-elapsed").inner_text()) >= before > 0
    shot(lab.widget(1), f"approval_{ui}_02_after_restart")

    lab.run_cell(0)  # (the definitions again, as after any restart)
    lab.run_cell(3, timeout=60)
    live = lab.answer_in_widget(3, "yes")
    # the answer shows under its question, as for a run answered in the kernel that asked (it was not, before)
    assert live.locator(".aether-bubble[data-turn='answer']", has_text="yes").count() == 1
    shot(live, f"approval_{ui}_03_approved_after_restart")

    lab.run_cell(4, timeout=60)
    report = lab.output_text(4)
    assert printed(report, "TRAIL") == ["paid", "yes gift wrap", "shipped"]
    assert printed(report, "EFFECTS") == ["charge 7", "ship 7 gift wrap"]  # paid once, shipped once, with the edit
    lab.check_no_errors()
