"""The evening of ``tests/scenarios/evening.py`` in a real JupyterLab, answered in the widgets as a person does: an
agent with MCP tools asks a question, is promoted and run again; an MCP tool fails and one asks back; artifacts
and SQL; a graphify node waits across a kernel restart and is approved in the rebuilt widget; the notebook is saved
and reopened without a kernel. Screenshots land in test-artifacts/ (evening_*.png) and were looked at.

What is asserted is what the person reads (texts, statuses, counts) and that the API key is on no page. Every wait
is on DOM or kernel state under a timeout.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from labdriver import LabServer, OpenNotebook, shot
from playwright.sync_api import Locator, expect

from tests.scenarios import evening as ev

pytestmark = pytest.mark.browser

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = [*ev.CELLS, ev.SETUP, ev.REATTACH, ev.RESUME, ev.TRIP_RESULT]
AT = {source: i for i, source in reversed(list(enumerate(CELLS)))}  # the first index of each cell
RESETUP = len(ev.CELLS)  # SETUP again, after the restart


def _shot(locator: Locator, label: str) -> None:
    shot(locator, f"evening_{label}")


def _status(value: str) -> str:
    return f"(root) => root.dataset.runStatus === '{value}'"


def _printed(text: str, head: str) -> object:
    return json.loads(next(x for x in text.splitlines() if x.startswith(head + " "))[len(head) + 1 :])


def test_an_evening_answered_in_the_widgets(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "evening.ipynb"
    lab = open_page(lab_server, name, CELLS)
    for i in range(AT[ev.AGENT] + 1):
        lab.run_cell(i, timeout=90)
    assert "['rate', 'reserve']" in lab.output_text(AT[ev.AGENT])

    # The agent asks; the person answers in the widget.
    lab.run_cell(AT[ev.START], timeout=90)
    widget = lab.widget(AT[ev.START])
    box = widget.locator("[data-wait-kind='text'] input[type='text']")
    box.wait_for(timeout=60_000)
    assert widget.locator(".aether-bubble[data-turn='question']", has_text="Oslo: 12 C, drizzle").count() == 1
    assert widget.locator(".aether-node[data-node-id='rates.rate_1'][data-shown='DONE']").count() == 1
    assert "waiting for you" in widget.locator(".aether-badge").first.inner_text()
    _shot(widget, "01_agent_asks")
    box.fill("slow")
    box.press("Enter")
    lab.wait_in_widget(AT[ev.START], _status("succeeded"), timeout=60)
    assert widget.locator(".aether-bubble", has_text="a slow day in Oslo").count() >= 1
    _shot(widget, "02_agent_done")
    lab.run_cell(AT[ev.RESULT], timeout=60)
    assert _printed(lab.output_text(AT[ev.RESULT]), "RESULT") == {
        "plan": "a slow day in Oslo (Oslo: 12 C, drizzle), 184.0 EUR to spend",
        "budget": 184.0,
    }

    # Promotion: the source the person reads holds no key, and the promoted graph gives the run's outputs.
    lab.run_cell(AT[ev.PROMOTE], timeout=60)
    source = lab.output_text(AT[ev.PROMOTE])
    assert ev.KEY not in source and "read_env(name='WEATHER_API_KEY')" in source
    assert "redefined" not in source
    _shot(lab.output(AT[ev.PROMOTE]), "03_promoted_source")
    lab.run_cell(AT[ev.PROMOTED], timeout=60)
    promoted = lab.widget(AT[ev.PROMOTED])
    lab.wait_in_widget(AT[ev.PROMOTED], _status("succeeded"), timeout=60)
    assert promoted.locator(".aether-node[data-node-id='read_env_1'][data-shown='DONE']").count() == 1
    _shot(promoted, "04_promoted_run")
    lab.run_cell(AT[ev.REDEFINE], timeout=60)
    assert "forecast was redefined after run oslo-day" in lab.output_text(AT[ev.REDEFINE])

    # An MCP tool that fails: the widget says why, in the server's words.
    lab.run_cell(AT[ev.FAILING], timeout=60)
    lab.wait_in_widget(AT[ev.FAILING], _status("failed"), timeout=60)
    reason = lab.widget(AT[ev.FAILING]).locator(".aether-reason")
    reason.wait_for(timeout=15_000)
    assert "no rate for USD/JPY" in reason.inner_text()
    # The failed node is selected; its inspector says the server's words, without a traceback of aether_nb's frames.
    inspector = lab.widget(AT[ev.FAILING]).locator(
        ".aether-inspector[data-node-id='rates.rate_1'][data-details='loaded']"
    )
    inspector.wait_for(timeout=15_000)
    assert "no rate for USD/JPY" in inspector.inner_text()
    assert inspector.locator("[data-section='traceback']").count() == 0
    _shot(lab.widget(AT[ev.FAILING]), "05_mcp_failure")

    # An MCP tool that asks back: the server's question in the run's chat, answered there.
    lab.run_cell(AT[ev.DINNER], timeout=90)
    dinner = lab.widget(AT[ev.DINNER])
    people = dinner.locator("[data-wait-kind='text'] input[type='text']")
    people.wait_for(timeout=60_000)
    assert dinner.locator(".aether-bubble[data-turn='question']", has_text="How many people at Maaemo?").count() == 1
    _shot(dinner, "06_mcp_asks")
    people.fill("4")
    people.press("Enter")
    lab.wait_in_widget(AT[ev.DINNER], _status("succeeded"), timeout=60)
    lab.run_cell(AT[ev.DINNER_RESULT], timeout=60)
    assert _printed(lab.output_text(AT[ev.DINNER_RESULT]), "DINNER") == {"table": "table for 4 at Maaemo"}

    lab.run_cell(AT[ev.KEEPER], timeout=60)
    keeper = lab.widget(AT[ev.KEEPER])
    lab.wait_in_widget(AT[ev.KEEPER], _status("succeeded"), timeout=60)
    assert keeper.locator(".aether-bubble img").count() == 1
    assert keeper.locator(".aether-main").is_hidden(), "an agent that only used services has no empty DAG frame"
    assert "11 service calls of the agent itself" in keeper.inner_text()
    _shot(keeper, "07_artifacts")
    lab.run_cell(AT[ev.SQL], timeout=60)
    sql = lab.output_text(AT[ev.SQL])
    assert _printed(sql, "LEAKS") == [] and "chart.png" in sql
    _shot(lab.output(AT[ev.SQL]), "08_sql")

    # A graphify node waits; the kernel restarts; a new cell re-attaches the run and the person approves there.
    lab.run_cell(AT[ev.TRIP], timeout=60)
    trip = lab.widget(AT[ev.TRIP])
    trip.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    assert trip.locator(".aether-node[data-node-id='forecast_1'][data-shown='DONE']").count() == 1
    # the static graph's whole plan shows: the booking, still to come, is on the DAG before it starts
    assert trip.locator(".aether-node[data-node-id='book_1'][data-shown='PENDING']").count() == 1
    assert trip.locator(".aether-node[data-node-id='book_1'] .aether-node-meta").text_content() == "not started yet"
    _shot(trip, "09_graph_waits")
    lab.restart_kernel()
    lab.wait_in_widget(AT[ev.TRIP], "(root) => root.dataset.inert === 'true'", timeout=30)
    assert "%aether resume trip-bergen" in trip.locator(".aether-inert-notice").inner_text()
    _shot(trip, "10_after_restart")
    for i in (RESETUP, AT[ev.REATTACH]):
        lab.run_cell(i, timeout=90)
    assert "waiting for you" in lab.output_text(AT[ev.REATTACH])
    lab.run_cell(AT[ev.RESUME], timeout=60)
    live = lab.widget(AT[ev.RESUME])
    live.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    assert live.locator(".aether-node[data-node-id='book_1'][data-shown='PENDING']").count() == 1
    live.locator("[data-wait-kind='approval'] button.aether-primary").click(timeout=30_000)
    lab.wait_in_widget(AT[ev.RESUME], _status("succeeded"), timeout=60)
    assert live.locator(".aether-node[data-node-id='book_1'][data-shown='DONE']").count() == 1
    assert "city='Bergen'" in (
        live.locator(".aether-node[data-node-id='book_1'] .aether-node-meta").text_content() or ""
    )
    _shot(live, "11_approved_after_restart")
    lab.run_cell(AT[ev.TRIP_RESULT], timeout=60)
    printed = lab.output_text(AT[ev.TRIP_RESULT])
    assert _printed(printed, "TRIP") == {"booking": "booked Bergen (Bergen: 54 F, drizzle)", "approved": True}
    effects = _printed(printed, "EFFECTS")
    assert isinstance(effects, list) and effects.count("forecast-v2 Bergen") == 1 and effects.count("book Bergen") == 1

    # Saved and reopened without a kernel: the saved views, never "model not found", and nowhere the key.
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    lab.page.locator(f"{_ROOT} .aether-run-saved").first.wait_for(timeout=60_000)
    # Every run widget shows its saved view, and the %aether runs table its rows as they were (a plain ipywidgets
    # tree: it showed "Loading widget..." or "model not found" before its SavedView child saved it).
    for cell in (ev.START, ev.PROMOTED, ev.FAILING, ev.DINNER, ev.KEEPER, ev.TRIP, ev.RESUME):
        shown = lab.output(AT[cell]).text_content() or ""
        assert "model not found" not in shown and "Saved view" in shown, (cell[:40], shown[:300])
    saved = nbformat.read(lab_server.root_dir / name, as_version=4)
    for cell in saved.cells:
        cell.source = ""  # the person typed the key into the setup cell; nothing else may hold it
    assert ev.KEY not in json.dumps(saved)
    assert lab.page.locator(f"{_ROOT} .aether-run-saved").count() >= 6
    runs = lab.output(AT[ev.REATTACH])
    row = runs.locator(".aether-saved-view table.aether-runs-table tr", has_text="trip-bergen")
    expect(row).to_have_count(1, timeout=30_000)  # the output may be rendered again meanwhile (snapshot.ts)
    assert [c.strip() for c in row.locator("td").all_text_contents()[:3]] == ["trip-bergen", "trip", "waiting for you"]
    assert "model not found" not in (runs.text_content() or "")
    _shot(runs, "12_runs_table_reopened")
    reopened = lab.output(AT[ev.RESUME]).text_content() or ""
    assert "no kernel is attached" in reopened
    _shot(lab.output(AT[ev.RESUME]), "12_reopened_without_kernel")


SELECTED = """\
%load_ext aether_nb
import aether_nb as ag

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": 2 * x}

@ag.graph_fn(name="reading", outputs=["y"])
async def reading(x: int, *, context: ag.NodeContext):
    d = await double(x)
    await context.channel().ask_text("Shall I go on?")
    return {"y": d["y"]}

r = reading.start(x=2)
await r.wait_for("waiting", timeout=60)
r
"""


def test_the_node_a_person_reads_stays_open_when_the_run_finishes(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    """A finished run's display is updated (to carry its static view), which makes JupyterLab render the widget
    again: the inspector the person had open closed under their eyes. The new view takes the old one's state."""
    lab = open_page(lab_server, "reading.ipynb", [SELECTED])
    lab.run_cell(0, timeout=90)
    widget = lab.widget(0)
    box = widget.locator("[data-wait-kind='text'] input[type='text']")
    box.wait_for(timeout=60_000)
    widget.locator(".aether-node[data-node-id='double_1']").click()
    widget.locator(".aether-inspector[data-node-id='double_1']").wait_for(timeout=15_000)
    lab.page.evaluate(f"() => {{ window.__aetherRoots = [...document.querySelectorAll('{_ROOT} .aether-run')]; }}")
    box.fill("yes")
    box.press("Enter")
    lab.wait_in_widget(0, _status("succeeded"), timeout=60)
    # Wait until the finished run's display was updated with the drawn static view (the widget rendered again).
    lab.page.wait_for_function(
        f"() => {{ const r = document.querySelector('{_ROOT} .aether-run'); "
        "return r && !window.__aetherRoots.includes(r); }",
        timeout=30_000,
    )
    inspector = lab.widget(0).locator(".aether-inspector[data-node-id='double_1']")
    inspector.wait_for(timeout=15_000)
    assert "double" in inspector.inner_text()
    _shot(lab.widget(0), "13_inspector_kept")
