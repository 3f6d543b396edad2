"""A person renames "Untitled" while an order waits for approval, restarts the kernel, and finds the order still
waiting. JupyterLab gives the restarted kernel the notebook's new name, so without more the notebook's store would
be a new, empty file and the waiting run would seem gone. The store follows the notebook: ``%load_ext`` says it
took over the old file, the order is approved in the rebuilt widget, and it is paid once and shipped once.
In JupyterLab and Notebook 7. Screenshots land in test-artifacts/ (rename_*.png) and were looked at.
"""

from __future__ import annotations

import ast

import pytest
from labdriver import LabServer, OpenNotebook, shot

from tests.scenarios.orders import DEFINITIONS

pytestmark = pytest.mark.browser

PAY = """\
res = await app.ainvoke({"order": 7, "trail": []}, cfg(7))
print("PAUSED", res.status, res.run_id)
"""

REATTACH = """\
run = ag.get_run("orders-order-7-1")
run
"""

REPORT = """\
print("TRAIL", (await app.aget_state(cfg(7))).values["trail"])
print("EFFECTS", open(EFFECTS).read().splitlines())
"""


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_renamed_notebook_finds_its_waiting_order_after_a_restart(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    old, new = f"Untitled_{ui}.ipynb", f"orders_{ui}.ipynb"
    setup = DEFINITIONS.replace("EFFECTS_FILE", f"rename_effects_{ui}.txt")
    lab = open_page(lab_server, old, [setup, PAY, REATTACH, REPORT], ui=ui)
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
    live = lab.widget(2)
    control = lab.wait_in_output(2, "[data-wait-kind='human']", timeout=30)
    question = live.locator(".aether-bubble[data-turn='question']", has_text="Ship order 7 (r7)?")
    assert question.count() == 1
    control.locator("input").fill("yes")
    control.locator("input").press("Enter")
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    shot(live, f"rename_{ui}_03_approved")

    lab.run_cell(3, timeout=60)
    printed = lab.output_text(3)
    trail = ast.literal_eval(next(x for x in printed.splitlines() if x.startswith("TRAIL "))[6:])
    effects = ast.literal_eval(next(x for x in printed.splitlines() if x.startswith("EFFECTS "))[8:])
    assert trail == ["paid", "yes -", "shipped"]
    assert effects == ["charge 7", "ship 7 -"]  # paid once, shipped once
    lab.check_no_errors()
