"""The run widget never contradicts the run, in JupyterLab and in Notebook 7.

Restart (the old widget turns inert, a re-attached one finishes the run), reopen without a kernel (the saved view,
never "model not found"), a failure shown inline, a big run grouped and followed, a message reaching the agent
through the message box, a StateGraph interrupt answered in the widget and then resumed from a cell, a second
awaiter's one-line pointer, and Stop's one-line notice. Every wait is on DOM or kernel state under a timeout.
"""

from __future__ import annotations

import json

import pytest
from labdriver import UIS, LabServer, OpenNotebook

pytestmark = pytest.mark.browser

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _status_is(status: str) -> str:
    return f"(root) => root.dataset.runStatus === {status!r}"


ASK = """\
%load_ext aether_nb
import aether_nb as ag
COUNTER = "{name}.calls"

@ag.tool(outputs=["y"])
def charge(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("charged\\n")
    return {{"y": x * 2}}

@ag.graph_fn(outputs=["name", "y"])
async def signup(x: int, *, context: ag.NodeContext):
    c = await charge(x)
    name = await context.channel().ask_text("Your **name**?")
    return {{"name": name, "y": c["y"]}}
"""


@pytest.mark.parametrize("ui", UIS)
def test_restart_turns_the_old_widget_inert_and_resume_finishes(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    name = f"truth_restart_{ui}"
    cells = [
        ASK.format(name=name),
        'run = signup.start(x=21, run_id="' + name + '")\nprint(await run.wait_for("waiting", timeout=30))',
        f"%aether resume {name}",
        f'run = ag.get_run("{name}")\nprint("STATUS", run.status, run.outputs, open(COUNTER).read().count("charged"))',
    ]
    lab = open_page(lab_server, f"{name}.ipynb", cells, ui=ui)
    lab.run_cell(0)
    lab.run_cell(1, timeout=60)
    lab.wait_in_output(1, "[data-wait-kind='text']")
    # The question shows once, as markdown, with its control right under it.
    widget = lab.widget(1)
    assert widget.locator(".aether-bubble[data-turn='question'] strong", has_text="name").count() == 1
    assert widget.locator(".aether-wait.aether-under-question").count() == 1

    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    assert f"%aether resume {name}" in widget.locator(".aether-inert-notice").inner_text()
    assert widget.locator("[data-wait-kind='text'] input").is_disabled()
    assert widget.locator("[data-action='stop']").is_hidden()

    lab.run_cell(0)
    lab.run_cell(2, timeout=60)
    live = lab.widget(2)
    text = lab.wait_in_output(2, "[data-wait-kind='text'] input[type='text']", timeout=30)
    notice = live.locator(".aether-notice:not(.aether-inert-notice)")
    assert "Reattached from the store: answer below to resume it" in notice.inner_text()  # nothing executed yet
    assert live.get_attribute("data-inert") != "true"
    text.fill("Grace")
    text.press("Enter")
    lab.wait_in_widget(2, _status_is("succeeded"), timeout=60)
    assert "Resumed from the store: completed steps were replayed" in notice.inner_text()  # the answer resumed it
    assert live.locator("[data-wait-kind]").count() == 0
    assert live.locator(".aether-bubble[data-turn='answer']", has_text="Grace").count() == 1
    lab.run_cell(3)
    assert "STATUS succeeded {'name': 'Grace', 'y': 42} 1" in lab.output_text(3), "charged once, across the restart"


QUICK = """\
%load_ext aether_nb
import aether_nb as ag

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": x * 2}

@ag.graph_fn(outputs=["y"])
async def quick(x: int, *, context: ag.NodeContext):
    d = await double(x)
    await context.channel().send_markdown(f"The answer is **{d['y']}**")
    return d

run = quick.start(x=21)
await run
"""


@pytest.mark.parametrize("ui", UIS)
def test_a_saved_notebook_reopened_without_kernel_shows_the_run(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    name = f"truth_reopen_{ui}.ipynb"
    lab = open_page(lab_server, name, [QUICK], ui=ui)
    lab.run_cell(0, timeout=60)
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved_state = json.loads((lab_server.root_dir / name).read_text())["metadata"].get("widgets", {})
    assert "aether-run-saved" in json.dumps(saved_state), "the save wrote the run's view into the notebook"
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    saved = lab.wait_in_output(0, ".aether-run-saved", timeout=60)
    text = lab.output(0).text_content() or ""
    assert "model not found" not in text
    assert "no kernel is attached" in text
    assert saved.locator("strong", has_text="42").count() == 1, "the chat's markdown is rendered"
    assert saved.locator("svg").count() >= 1, "the DAG is drawn"


FAIL = """\
%load_ext aether_nb
import aether_nb as ag

@ag.tool(outputs=["rows"])
def load(path: str) -> dict:
    return {"rows": 3}

@ag.tool(outputs=["mean"])
def average(rows: int) -> dict:
    return {"mean": 10 / (rows - 3)}

@ag.graph_fn(outputs=["mean"])
async def report(*, context: ag.NodeContext):
    d = await load("sales.csv")
    return await average(d["rows"])

run = report.start()
"""


@pytest.mark.parametrize("ui", UIS)
def test_a_failure_is_explained_under_the_header(ui: str, lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, f"truth_fail_{ui}.ipynb", [FAIL], ui=ui)
    lab.run_cell(0, timeout=60)
    lab.wait_in_widget(0, _status_is("failed"), timeout=30)
    widget = lab.widget(0)
    reason = widget.locator(".aether-reason")
    reason.wait_for(timeout=15_000)
    assert "Failed at average(rows=3): ZeroDivisionError: division by zero" in reason.inner_text()
    assert widget.locator(".aether-badge").first.inner_text() == "failed"
    inspector = widget.locator(".aether-inspector[data-node-id='average_1'][data-details='loaded']")
    inspector.wait_for(timeout=15_000)
    assert "ZeroDivisionError" in inspector.locator("[data-section='traceback']").inner_text()
    assert widget.locator(".aether-node.aether-selected[data-node-id='average_1']").count() == 1
    assert widget.locator("[data-wait-kind], .aether-message-box:visible, [data-action='stop']:visible").count() == 0


BIG = """\
%load_ext aether_nb
import asyncio
import aether_nb as ag

@ag.tool(outputs=["y"])
async def step(i: int, round: int) -> dict:
    await asyncio.sleep(0.02)  # the twenty of a round run together: each of the next round depends on all of them
    return {"y": i}

@ag.tool(outputs=["y"])
def tick(i: int) -> dict:
    return {"y": i}

@ag.tool(outputs=["y"])
def tock(i: int) -> dict:
    return {"y": i}

@ag.graph_fn
async def big(*, context: ag.NodeContext):
    for r in range(10):
        await asyncio.gather(*(step(i, r) for i in range(20)))
    for i in range(15):   # a long chain of alternating calls: not grouped, taller than the DAG's view
        await tick(i)
        await tock(i)
    await context.channel().ask_text("Seen the end?")
    return {}

run = big.start()
await run.wait_for("waiting", timeout=60)
"""


@pytest.mark.parametrize("ui", UIS)
def test_a_big_run_is_grouped_labelled_and_followed(ui: str, lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, f"truth_big_{ui}.ipynb", [BIG], ui=ui)
    lab.run_cell(0, timeout=90)
    widget = lab.widget(0)
    lab.wait_in_widget(
        0, "(root) => root.querySelectorAll(\".aether-node[data-kind='group']\").length === 10", timeout=30
    )
    groups = widget.locator(".aether-node[data-kind='group']")
    assert all("step ×20" in (groups.nth(i).text_content() or "") for i in range(10))
    # 10 groups in a chain: nine edges between groups, not 3,600 between calls.
    lab.wait_in_widget(0, "(root) => !root.querySelector('.aether-dag[data-pending]')", timeout=30)
    edges = widget.locator(".aether-edge").count()
    assert edges < 60, f"{edges} edges drawn"
    # The view followed the run to its waiting node, at the bottom of a DAG taller than its viewport.
    lab.wait_in_widget(
        0,
        """(root) => {
          const dag = root.querySelector('.aether-dag');
          const node = root.querySelector(".aether-node[data-node-id='ask_text_1']");
          if (!dag || !node || dag.scrollHeight <= dag.clientHeight) return false;
          const a = dag.getBoundingClientRect(), b = node.getBoundingClientRect();
          return b.top >= a.top && b.bottom <= a.bottom;
        }""",
        timeout=30,
    )
    # A group expands on click; its members tell themselves apart by their arguments.
    groups.first.locator(".aether-node-box").click()
    # (waits for the labels too: a group's members are drawn first and labelled as the view lays them out)
    lab.wait_in_widget(
        0,
        """(root) => new Set([...root.querySelectorAll(".aether-node[data-kind='tool'] .aether-node-meta")]
          .map((m) => (m.textContent || '').split(' · ')[0]).filter((t) => t.startsWith('i='))).size >= 20""",
        timeout=30,
    )
    labels = widget.locator(".aether-node[data-kind='tool'] .aether-node-meta").all_text_contents()
    previews = {label.split(" · ")[0] for label in labels if label.startswith("i=")}
    assert len(previews) >= 20, previews


INBOX = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(outputs=["first", "second"])
async def listener(*, context: ag.NodeContext):
    ch = context.channel()
    ok, _ = await ch.ask_approval("Ready?")
    first = await ch.receive()            # written before the agent listened: waited in the inbox
    await ch.send_text(f"got {first}")
    second = await ch.receive()           # written while it listens
    await ch.send_text(f"got {second}")
    return {"first": first, "second": second}

run = listener.start()
await run.wait_for("waiting", timeout=30)
"""


@pytest.mark.parametrize("ui", UIS)
def test_messages_reach_the_agent_through_the_message_box(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, f"truth_inbox_{ui}.ipynb", [INBOX, "print('OUT', await run)"], ui=ui)
    lab.run_cell(0, timeout=60)
    widget = lab.widget(0)
    box = widget.locator(".aether-message-box input")
    box.wait_for(timeout=30_000)
    box.fill("use the blue folder")
    box.press("Enter")
    queued = widget.locator(".aether-bubble[data-queued='true']", has_text="use the blue folder")
    queued.wait_for(timeout=30_000)
    widget.locator("[data-wait-kind='approval'] button.aether-primary").click()
    widget.locator(".aether-bubble", has_text="got use the blue folder").wait_for(timeout=30_000)
    assert widget.locator(".aether-bubble[data-queued='true']").count() == 0
    lab.wait_in_widget(0, "(root) => root.querySelector(\".aether-message-box[data-listening='true']\") !== null")
    box.fill("and hurry")
    box.press("Enter")
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    lab.run_cell(1)
    assert "OUT {'first': 'use the blue folder', 'second': 'and hurry'}" in lab.output_text(1)


FLOW = """\
%load_ext aether_nb
import uuid
from aether_nb.flow import END, START, AgentState, StateGraph, interrupt

async def draft(state):
    answer = interrupt({"draft": "Dear team, ...", "words": 3}, message="Approve the **draft**?")
    return {"messages": [{"role": "user", "content": f"draft: {answer}"}]}

async def send(state):
    answer = interrupt({"to": "team@example.org"}, message="Send it now?")
    return {"messages": [{"role": "user", "content": f"send: {answer}"}]}

g = StateGraph(AgentState, name="mail_flow")
g.add_node("draft", draft)
g.add_node("send", send)
g.add_edge(START, "draft")
g.add_edge("draft", "send")
g.add_edge("send", END)
app = g.compile()
config = {"thread_id": f"mail-{uuid.uuid4().hex[:6]}"}
res = await app.ainvoke({"messages": []}, config=config)
print(res.status)
"""
FLOW_RESUME = """\
res = await app.ainvoke({"resume": "yes"}, config=config)
print("DONE", res.status, [m["content"] for m in res.messages])
"""


@pytest.mark.parametrize("ui", UIS)
def test_an_interrupt_answered_in_the_widget_then_resumed_from_a_cell(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, f"truth_flow_{ui}.ipynb", [FLOW, FLOW_RESUME], ui=ui)
    lab.run_cell(0, timeout=60)
    assert "interrupted" in lab.output_text(0)
    widget = lab.widget(0)
    control = lab.wait_in_output(0, "[data-wait-kind='human']", timeout=30)
    # The interrupt's question and payload are shown; its status is waiting, never "running".
    question = widget.locator(".aether-bubble[data-turn='question']", has_text="Approve the draft?")
    question.wait_for(timeout=15_000)
    assert "Dear team" in question.locator("[data-section='payload']").inner_text()
    assert widget.locator("[data-section='payload']:visible").count() == 1, "the payload shows once"
    assert "waiting for you" in widget.locator(".aether-badge").first.inner_text()
    assert "running" not in widget.locator(".aether-counts").inner_text()
    control.locator("input").fill("ok")
    control.locator("input").press("Enter")
    # The answered question stays with its answer; the run moves on to the second interrupt.
    widget.locator(".aether-bubble[data-turn='question']", has_text="Send it now?").wait_for(timeout=30_000)
    assert widget.locator(".aether-bubble[data-turn='answer']", has_text="ok").count() == 1
    lab.run_cell(1, timeout=60)
    assert "DONE completed ['draft: ok', 'send: yes']" in lab.output_text(1)
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)


SECOND = """\
%load_ext aether_nb
import asyncio
import aether_nb as ag

@ag.graph_fn
async def slow(*, context: ag.NodeContext):
    return {"name": await context.channel().ask_text("Name?")}

run = slow.start()
await run.wait_for("waiting", timeout=30)
"""


@pytest.mark.parametrize("ui", UIS)
def test_a_second_cell_points_to_the_live_widget_and_stop_prints_one_line(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, f"truth_second_{ui}.ipynb", [SECOND, "run", "await run"], ui=ui)
    lab.run_cell(0, timeout=60)
    lab.wait_in_output(0, "[data-wait-kind='text']")
    lab.run_cell(1)
    pointer = lab.wait_in_output(1, ".aether-run-pointer")
    assert ": see its widget under cell [1]" in pointer.inner_text()
    assert lab.output(1).locator(".aether-run").count() == 0, "no second copy of the widget"
    lab.run_cell(2, wait=False)
    lab.click_in_widget(0, "[data-action='stop']")
    lab.wait_for_cell(2, timeout=30)
    out = lab.output_text(2)
    assert "Stopped: run" in out and "Traceback" not in out
    lab.wait_in_widget(0, _status_is("cancelled"), timeout=30)
    assert lab.widget(0).locator(".aether-badge").first.inner_text() == "stopped"


UPLOAD = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(outputs=["names"])
async def intake(*, context: ag.NodeContext):
    files = await context.channel().ask_files("Upload the **sales** file", accept=[".csv"])
    return {"names": [f.name for f in files]}

run = intake.start()
await run.wait_for("waiting", timeout=30)
"""


@pytest.mark.parametrize("ui", UIS)
def test_an_uploaded_file_shows_as_a_chip(ui: str, lab_server: LabServer, open_page: OpenNotebook) -> None:
    lab = open_page(lab_server, f"truth_upload_{ui}.ipynb", [UPLOAD], ui=ui)
    lab.run_cell(0, timeout=60)
    widget = lab.widget(0)
    control = lab.wait_in_output(0, "[data-wait-kind='files']")
    control.locator("input[type='file']").set_input_files(
        files=[{"name": "sales.csv", "mimeType": "text/csv", "buffer": b"region,total\n"}]
    )
    control.locator("[data-action='upload']").click()
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    chip = widget.locator(".aether-bubble.aether-user .aether-file-chip")
    assert chip.inner_text() == "sales.csv · 13 B"
    assert "{" not in widget.locator(".aether-bubble.aether-user").inner_text(), "no Python repr of the files"
    assert widget.locator(".aether-bubble[data-turn='question'] strong", has_text="sales").count() == 1


def test_the_pointer_line_under_a_widget_says_when_its_kernel_stopped(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    """``run = agent.start(); run`` shows the widget and, as the cell's value, "↑ run ...: see its widget
    above". After a restart the widget turned inert and said so; the line under it still said "shown live"."""
    name = "truth_pointer"
    cells = [ASK.format(name=name), f'run = signup.start(x=2, run_id="{name}")\nrun']
    lab = open_page(lab_server, f"{name}.ipynb", cells, ui="lab")
    lab.run_cell(0)
    lab.run_cell(1, timeout=60)
    pointer = lab.wait_in_output(1, ".aether-run-pointer")
    assert ": see its widget above" in pointer.inner_text()
    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    # (this cell's own pointer: other notebooks of the session, still open in hidden tabs, have theirs)
    lab.page.wait_for_function("(el) => el.dataset.inert === 'true'", arg=pointer.element_handle(), timeout=10_000)
    assert "the kernel has stopped" in pointer.inner_text() and "shown live" not in pointer.inner_text()


def test_the_widget_of_a_finished_run_says_so_when_its_kernel_stops(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    """After a restart, the widget of a run that had finished said "To pick the run up again, ... %aether resume":
    doing that answered that the run had finished and there was nothing to resume."""
    # (its own run id: notebooks of other tests, still open in hidden tabs, show runs of QUICK)
    cell = QUICK.replace("quick.start(x=21)", 'quick.start(x=21, run_id="truth-ended-inert")')
    assert cell != QUICK
    lab = open_page(lab_server, "truth_ended_inert.ipynb", [cell], ui="lab")
    lab.run_cell(0, timeout=60)
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    lab.restart_kernel()
    lab.wait_in_widget(0, "(root) => root.dataset.inert === 'true'", timeout=30)
    notice = lab.widget(0).locator(".aether-inert-notice").inner_text()
    assert "the run had ended (done)" in notice and "To see it live again" in notice, notice
    assert "pick the run up again" not in notice


def test_a_second_view_of_the_same_widget_is_not_a_newer_widget(lab_server: LabServer, open_page: OpenNotebook) -> None:
    """A person who opened the cell's output in its own panel (JupyterLab's "Create New View for Cell Output") and
    restarted the kernel: one of the two views said "the run went on in a newer widget of this notebook" (it took the
    other view of the same widget, not yet told of the restart, for a newer one) instead of how the run had ended."""
    cell = QUICK.replace("quick.start(x=21)", 'quick.start(x=21, run_id="truth-two-views")')
    assert cell != QUICK
    lab = open_page(lab_server, "truth_two_views.ipynb", [cell], ui="lab")
    lab.run_cell(0, timeout=60)
    lab.wait_in_widget(0, _status_is("succeeded"), timeout=30)
    views = lab.page.locator(".aether-run[data-run-id='truth-two-views']")
    lab.page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          const notebook = app.shell.currentWidget;
          notebook.content.activeCellIndex = 0;
          await app.commands.execute('notebook:create-output-view');
          app.shell.activateById(notebook.id);
        }"""
    )
    lab.page.wait_for_function(
        "() => [...document.querySelectorAll(\".aether-run[data-run-id='truth-two-views']\")]"
        ".filter((el) => el.dataset.runStatus === 'succeeded').length === 2",
        timeout=30_000,
    )
    try:
        lab.restart_kernel()
        lab.page.wait_for_function(
            "() => [...document.querySelectorAll(\".aether-run[data-run-id='truth-two-views']\")]"
            ".filter((el) => el.dataset.inert === 'true').length === 2",
            timeout=30_000,
        )
        for i in range(2):
            notice = views.nth(i).locator(".aether-inert-notice").inner_text()
            assert "the run had ended (done)" in notice, notice
            assert "newer widget" not in notice, notice
    finally:
        # JupyterLab saves its layout on the server: a split left open would greet the next tests' pages
        lab.page.evaluate(
            """() => {
              for (const w of [...window.jupyterapp.shell.widgets('main')]) {
                if (w.node.classList.contains('jp-LinkedOutputView') || w.node.querySelector('.jp-LinkedOutputView')) {
                  w.close();
                }
              }
            }"""
        )
        lab.page.wait_for_function("() => !document.querySelector('.jp-LinkedOutputView')", timeout=30_000)


SECRET_INPUT = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(outputs=["city"])
async def forecast(city: str, api_key: str, *, context: ag.NodeContext):
    return {"city": await context.channel().ask_text(f"Weather in {city}?")}

run = forecast.start(city="Oslo", api_key="sk-proj-" + "Q7w" * 14, run_id="truth_secret_input")
run
"""


def test_a_run_with_a_secret_input_is_not_offered_a_resume_it_would_refuse(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    """After a restart its widget said "To pick the run up again ... %aether resume RUN_ID", and the saved
    notebook said the same: the line raises (a secret among its inputs is never stored, so nothing can start it
    again). They now say so. The pointer line under it keeps words true in the saved file (it said "shown live"
    above a saved view)."""
    name = "truth_secret_input.ipynb"
    lab = open_page(lab_server, name, [SECRET_INPUT])
    lab.run_cell(0, timeout=60)
    lab.wait_in_widget(0, _status_is("waiting"), timeout=30)
    lab.restart_kernel()
    lab.wait_in_widget(0, "(root) => root.dataset.inert === 'true'", timeout=30)
    notice = lab.widget(0).locator(".aether-inert-notice").inner_text()
    assert "cannot be resumed in a new process; start a new run" in notice and "%aether resume" not in notice
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    lab.wait_in_output(0, ".aether-run-saved", timeout=60)
    text = lab.output(0).text_content() or ""
    assert "cannot be resumed in a new process" in text and "%aether resume" not in text, text[-1500:]
    assert "see its widget above" in text and "shown live" not in text
    saved = (lab_server.root_dir / name).read_text()
    assert "Q7w" * 3 not in saved.replace('"sk-proj-" + "Q7w" * 14', ""), "the key is only in the cell's source"
