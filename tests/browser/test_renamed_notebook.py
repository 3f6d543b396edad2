"""A person renames "Untitled" while an order waits for approval, restarts the kernel, and finds the order still
waiting. JupyterLab gives the restarted kernel the notebook's new name, so without more the notebook's store would
be a new, empty file and the waiting run would seem gone. The store follows the notebook: ``%load_ext`` says it
took over the old file, the order is approved in the rebuilt widget, and it is paid once and shipped once.
In JupyterLab and Notebook 7. Screenshots land in test-artifacts/ (rename_*.png) and were looked at.
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

from tests.scenarios.orders import DEFINITIONS, PAY_7, REATTACH_7, REPORT_7, printed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_renamed_notebook_finds_its_waiting_order_after_a_restart(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    old, new = f"Untitled_{ui}.ipynb", f"orders_{ui}.ipynb"
    setup = DEFINITIONS.replace("EFFECTS_FILE", f"rename_effects_{ui}.txt")
    lab = open_page(lab_server, old, [setup, PAY_7, REATTACH_7, REPORT_7], ui=ui)
    lab.run_cell(0)
    assert "runs are stored in" in lab.output_text(0) and f"Untitled_{ui}.aether.duckdb" in lab.output_text(0)
    lab.run_cell(1, timeout=90)
    assert "PAUSED interrupted orders-order-7-1" in lab.output_text(1)
    lab.wait_in_output(1, "[data-wait-kind='human']", timeout=30)
    shot(lab.widget(1), f"rename_{ui}_01_waiting")

    lab.rename(new)
    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)

    lab.run_cell(0)
    said = lab.output_text(0)
    assert (
        f"this notebook's store was Untitled_{ui}.aether.duckdb (the notebook was renamed): it is "
        f"orders_{ui}.aether.duckdb now" in said
    )
    assert f"orders_{ui}.aether.duckdb" in said.split("runs are stored in", 1)[1]
    assert "1 run of this store waits for an answer" in said
    shot(lab.output(0), f"rename_{ui}_02_loaded_after_rename")
    assert not (lab_server.root_dir / f"Untitled_{ui}.aether.duckdb").exists()

    lab.run_cell(2, timeout=60)
    live = lab.answer_in_widget(2, "yes")
    assert live.locator(".aether-bubble[data-turn='question']", has_text="Ship order 7 (r7)?").count() == 1
    shot(live, f"rename_{ui}_03_approved")

    lab.run_cell(3, timeout=60)
    report = lab.output_text(3)
    assert printed(report, "TRAIL") == ["paid", "yes -", "shipped"]
    assert printed(report, "EFFECTS") == ["charge 7", "ship 7 -"]  # paid once, shipped once
    lab.check_no_errors()
