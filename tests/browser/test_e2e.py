"""End to end: real runs in a real JupyterLab (and Notebook 7), answered, restarted and stopped from the widget.

Every wait is on DOM or kernel state under a timeout; none sleeps for a fixed time (FACTS.md).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from labdriver import UIS, LabServer, OpenNotebook, trace

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# True once the widget shows a finished run whose every node (visible in the DAG) is DONE.
_JS_ALL_DONE = """(root) => root.dataset.runStatus === 'succeeded'
  && [...root.querySelectorAll('.aether-node[data-node-id]')].length > 0
  && [...root.querySelectorAll('.aether-node[data-node-id]')].every((n) => n.dataset.status === 'DONE')"""


_ROOTS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea .aether-run"


def _status_is(status: str) -> str:
    return f"(root) => root.dataset.runStatus === {status!r}"


@pytest.mark.parametrize("ui", UIS)
def test_quickstart_runs_unattended(ui: str, scripted_lab_server: LabServer, open_page: OpenNotebook) -> None:
    """Every cell of the quickstart runs; each run widget ends succeeded with all its nodes DONE."""
    name = f"quickstart_{ui}.ipynb"  # one store per copy: a kernel holds its DuckDB file's lock
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", scripted_lab_server.root_dir / name)
    lab = open_page(scripted_lab_server, name, ui=ui)
    lab.run_all(timeout=80)
    trace("all cells ran")

    lab.check_no_errors()
    page = lab.page
    roots = page.locator(_ROOTS)
    assert roots.count() >= 4, "demo, fan_out and two onboarding runs each show a widget"
    for i in range(roots.count()):  # each root found again on every poll: a finished run's output renders again
        page.wait_for_function(
            f"(i) => {{ const r = document.querySelectorAll({_ROOTS!r})[i]; return !!r && ({_JS_ALL_DONE})(r); }}",
            arg=i,
            timeout=30_000,
        )
    trace("every widget done")

    # The fan-out DAG: five tool calls under the (automatically expanded) lone root.
    fan_out = lab.widget(4)
    assert fan_out.locator(".aether-node[data-node-id]").count() >= 5
    # The scripted answers went through the run (AETHER_NB_SCRIPTED reached the kernel).
    assert "(scripted answer: 'Ada')" in lab.output_text(6)
    assert "refused:" in lab.output_text(7)

    # The inspector fetches a real node's details from RunView (`inspect`): the first double() call's inputs.
    first = fan_out.locator(".aether-node[data-node-id]:not(.aether-group)").first
    first.locator(".aether-node-box").click()
    inspector = fan_out.locator(".aether-inspector[data-details='loaded']")
    inspector.wait_for(timeout=15_000)
    assert '"x": 1' in inspector.locator("[data-section='inputs']").inner_text()
    assert '"y": 2' in inspector.locator("[data-section='outputs']").inner_text()

    lab.screenshot(f"e2e_quickstart_{ui}")


ASK_TWICE = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(outputs=["name", "account", "email"])
async def signup(*, context: ag.NodeContext):
    ch = context.channel()
    name = await ch.ask_text("Your name?")
    account, _ = await ch.ask_approval(f"Create an account for {name}?", options=["Yes", "No"])
    email, _ = await ch.ask_approval(f"Send {name} a welcome email?", options=["Send", "Skip"])
    await ch.send_text(f"Welcome, {name}!")
    return {"name": name, "account": account, "email": email}

out = await signup()  # the cell stays busy while the answers come from the widget
print("OUT", out)
"""


def test_answers_typed_and_clicked_while_the_cell_awaits(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "e2e_answers.ipynb", [ASK_TWICE])
    lab.run_cell(0, wait=False)
    widget = lab.widget(0)

    text = lab.wait_in_output(0, "[data-wait-kind='text'] input[type='text']", timeout=60)
    assert lab.prompts()[0] == "[*]:"
    text.fill("Ada")
    text.press("Enter")

    account = widget.locator("[data-wait-kind='approval']", has_text="Create an account for Ada?")
    account.wait_for(timeout=30_000)
    account.locator("button.aether-primary").click()  # the first option approves
    email = widget.locator("[data-wait-kind='approval']", has_text="Send Ada a welcome email?")
    email.wait_for(timeout=30_000)
    assert lab.prompts()[0] == "[*]:", "both answers arrived while the cell was still awaiting the run"
    email.locator("button.aether-primary").click()

    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    lab.wait_for_cell(0, timeout=30)
    printed = lab.output_text(0)
    line = next(x for x in printed.splitlines() if x.startswith("OUT "))
    assert ast.literal_eval(line[4:]) == {"name": "Ada", "account": True, "email": True}
    assert widget.locator("[data-wait-kind]").count() == 0
    assert widget.locator(".aether-bubble", has_text="Welcome, Ada!").count() == 1


RESTART_SETUP = """\
%load_ext aether_nb
import aether_nb as ag
COUNTER = "restart_counter.txt"

@ag.tool(outputs=["y"])
def charge(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("charged\\n")
    return {"y": x * 2}

@ag.graph_fn(outputs=["name", "y"])
async def onboarding(x: int, *, context: ag.NodeContext):
    c = await charge(x)
    name = await context.channel().ask_text("Your name?")
    return {"name": name, "y": c["y"]}
"""
RESTART_START = """\
run = onboarding.start(x=21, run_id="restart-1")
print(await run.wait_for("waiting", timeout=30))
"""
RESTART_REATTACH = """\
assert "run" not in globals(), "the kernel was restarted"
run = ag.get_run("restart-1")
run
"""
RESTART_REPORT = """\
print("STATUS", run.status, run.outputs)
print("LINES", open(COUNTER).read().splitlines())
"""


def test_a_waiting_run_survives_a_kernel_restart(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "e2e_restart.ipynb", [RESTART_SETUP, RESTART_START, RESTART_REATTACH, RESTART_REPORT])
    lab.run_cell(0)
    lab.run_cell(1, timeout=60)
    assert "waiting" in lab.output_text(1)
    lab.wait_in_output(1, "[data-wait-kind='text']")

    lab.restart_kernel()
    lab.run_cell(0)
    lab.run_cell(2, timeout=60)
    widget = lab.widget(2)
    text = lab.wait_in_output(2, "[data-wait-kind='text'] input[type='text']", timeout=30)
    assert "Reattached from the store" in widget.locator(".aether-notice:not(.aether-inert-notice)").inner_text()
    text.fill("Grace")
    text.press("Enter")
    lab.wait_in_widget(2, _status_is("succeeded"), timeout=60)

    lab.run_cell(3)
    printed = lab.output_text(3)
    assert "STATUS succeeded {'name': 'Grace', 'y': 42}" in printed
    assert "LINES ['charged']" in printed, "the tool ran once: the resumed run replayed it from the journal"


STOP = """\
%load_ext aether_nb
import asyncio
import aether_nb as ag

@ag.tool(outputs=["done"])
async def wait_forever() -> dict:
    await asyncio.Event().wait()
    return {"done": True}

@ag.graph_fn(outputs=["done"])
async def stuck(*, context: ag.NodeContext):
    return await wait_forever()

run = stuck.start()
"""


def test_stop_button_cancels_a_running_agent(lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, "e2e_stop.ipynb", [STOP, "print('STATUS', run.status)"])
    lab.run_cell(0)
    widget = lab.widget(0)
    lab.wait_in_widget(0, "(root) => root.querySelector(\".aether-node[data-status='RUNNING']\") !== null", timeout=30)
    assert widget.get_attribute("data-run-status") == "running"
    widget.locator("[data-action='stop']").click()
    lab.wait_in_widget(0, _status_is("cancelled"), timeout=30)
    assert widget.locator("[data-action='stop']").is_hidden()
    assert widget.locator(".aether-node[data-status='RUNNING']").count() == 0
    lab.run_cell(1)
    assert lab.output_text(1).strip() == "STATUS cancelled"
