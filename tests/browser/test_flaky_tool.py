"""A support agent in JupyterLab whose model saw a tool fail, then asked for a refund that needs an approval; the
kernel restarts while the approval is open, and the person approves in the rebuilt widget. The failed tool is not
called again (it would succeed now), the model is called once per turn, the refund happens once, and the widget
shows the failed call as it was (marked replayed) beside a run that succeeds. Screenshots land in test-artifacts/
(flaky_*.png) and were looked at.

What it guards (the nineteenth session): a failure the body handled was executed again on resume; when it
succeeded the model's next request differed from the journaled one and the run failed with ``ReplayMismatch``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labdriver import LabServer, OpenNotebook, shot

from aether_nb.testing import FakeOpenAI
from tests.kernel.test_restart_exactly_once import SUPPORT

pytestmark = pytest.mark.browser

START = """\
run = support.start(q="Refund order A, the lamp was broken", run_id="support")
run
"""

REATTACH = """\
run = ag.get_run("support")
run
"""

REPORT = """\
print("OUT", json.dumps(await run))
print("EFFECTS", json.dumps(open(EFFECTS).read().splitlines()))
"""

SCRIPT = [
    {"tool_calls": [{"name": "stock", "arguments": {"item": "lamp"}}]},
    {"tool_calls": [{"name": "refund", "arguments": {"order": "A"}}]},
    "Order A is refunded.",
]


def _printed(text: str, label: str) -> object:
    line = next(line for line in text.splitlines() if line.startswith(label + " "))
    return json.loads(line.split(" ", 1)[1])


def test_a_failed_tool_the_model_saw_is_not_called_again_after_a_restart(
    lab_server: LabServer, open_page: OpenNotebook, tmp_path: Path
) -> None:
    effects = tmp_path / "flaky_effects.txt"
    with FakeOpenAI(script=SCRIPT) as fake:
        setup = SUPPORT.replace("BASE_URL", fake.base_url).replace("EFFECTS_FILE", str(effects))
        lab = open_page(lab_server, "flaky_tool.ipynb", [setup, START, REATTACH, REPORT])
        lab.run_cell(0)
        lab.run_cell(1, timeout=60)
        lab.wait_in_widget(1, "(root) => root.querySelectorAll('.aether-wait').length === 1", timeout=30)
        asking = lab.widget(1)
        assert asking.locator(".aether-node[data-status='FAILED']").count() >= 1  # the timed-out stock call
        # the loop that handled it waits with its refund: not "failed" beside "waiting for you"
        loop = ".aether-node[data-node-id='run_tools_1']"
        assert asking.locator(f"{loop}[data-shown='WAITING_HUMAN']").count() == 1
        shot(asking, "flaky_01_approval_after_a_failed_tool")
        assert effects.read_text().splitlines() == ["stock lamp"]

        lab.restart_kernel()
        lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
        lab.run_cell(0)
        lab.run_cell(2, timeout=60)
        lab.wait_in_widget(2, "(root) => root.querySelectorAll('.aether-wait').length === 1", timeout=30)
        rebuilt = lab.widget(2)
        shot(rebuilt, "flaky_02_rebuilt_after_restart")
        wait = rebuilt.locator(".aether-wait", has_text="Refund A?")
        wait.locator("button[data-option='Approve']").click(timeout=30_000)
        lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
        done = lab.widget(2)
        assert done.locator(".aether-wait").count() == 0
        assert done.locator(".aether-node[data-status^='WAITING']").count() == 0
        assert done.locator(".aether-node[data-status='FAILED']").count() >= 1  # shown as it was, not re-run
        assert done.locator(f"{loop}[data-shown='DONE']").count() == 1  # the loop recovered: done beside "done"
        shot(done, "flaky_03_done")

        lab.run_cell(3, timeout=60)
        report = lab.output_text(3)
        assert _printed(report, "OUT") == {"reply": "Order A is refunded."}
        assert _printed(report, "EFFECTS") == ["stock lamp", "refund A True"]  # nothing twice
        assert len(fake.chat_requests) == 3  # each model turn once
        lab.check_no_errors()
