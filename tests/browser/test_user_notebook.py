"""A person's afternoon with aether_nb, in a real JupyterLab: a realistic agent, a restart in the middle, a failure,
a save and a reopen without a kernel. Screenshots land in test-artifacts/ (user_*.png) and were looked at.

The agent plans a trip: an LLM (``FakeOpenAI`` with rules) calls three tools, one of which fails and the model
recovers; twenty ratings run under one ``gather``; a chart goes to the chat; memory records the plan; the user
approves in the widget and then writes a note the agent reads with ``receive()``. Every tool appends to a file,
so "exactly once" is checked on the effects, not on the widget.
"""

from __future__ import annotations

import ast

import pytest
from labdriver import LabServer, OpenNotebook, shot
from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

SETUP = """\
%load_ext aether_nb
import asyncio, struct, zlib
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

def rules(body):
    if body["messages"][-1]["role"] == "user":
        return {"tool_calls": [
            {"name": "search", "arguments": {"query": "Oslo museums"}},
            {"name": "search", "arguments": {"query": "Oslo food"}},
            {"name": "weather", "arguments": {"city": "Oslo"}},
            {"name": "book_table", "arguments": {"restaurant": "Maaemo"}},
        ]}
    return "Plan: **Munch museum** in the morning, lunch at *Mathallen*, a fjord walk if it stays dry."

fake = FakeOpenAI(rules=rules).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})
"""

AGENT = """\
EFFECTS = "effects.txt"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["hits"])
def search(query: str) -> dict:
    \"\"\"Search the travel guide.

    Args:
        query: what to look for
    \"\"\"
    effect(f"search {query}")
    return {"hits": [f"{query} #{i}" for i in range(3)]}

@ag.tool(outputs=["forecast"])
def weather(city: str) -> dict:
    \"\"\"Tomorrow's weather.\"\"\"
    effect(f"weather {city}")
    return {"forecast": f"{city}: 14 C, showers"}

@ag.tool(outputs=["booking"])
def book_table(restaurant: str) -> dict:
    \"\"\"Book a table.\"\"\"
    effect(f"book {restaurant}")
    raise RuntimeError(f"{restaurant} is fully booked tonight")

@ag.tool(outputs=["score"])
async def rate(place: str) -> dict:
    effect(f"rate {place}")
    return {"score": len(place) % 5}

def bar_chart(values, w=120, h=60):
    rows = []
    for y in range(h):
        row = bytearray([0])
        for x in range(w):
            v = values[x * len(values) // w]
            on = (h - y) <= v * h // 5
            row += bytes((30, 136, 229) if on else (255, 255, 255))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\\x89PNG\\r\\n\\x1a\\n" + head + chunk(b"IDAT", raw) + chunk(b"IEND", b"")

@ag.graph_fn(name="trip_planner", outputs=["plan", "note"])
async def trip_planner(city: str, *, context: ag.NodeContext):
    ch = context.channel()
    await ch.send_markdown(f"Planning a day in **{city}**…")
    result = await context.llm().run_tools(
        [{"role": "user", "content": f"Plan a day in {city}"}], tools=[search, weather, book_table]
    )
    scores = await asyncio.gather(*(rate(f"place {i}") for i in range(20)))
    await context.memory().record("plan", {"city": city, "text": result.text})
    await ch.send_image(bar_chart([s["score"] for s in scores]), alt="ratings", name="ratings.png")
    ok, _ = await ch.ask_approval(f"Book this plan?\\n\\n{result.text}", options=["Book it", "Not now"])
    await ch.send_text("Anything I should know before I book? Write it below.")
    note = await ch.receive()
    await ch.send_markdown(f"Booked, noting: *{note}*" if ok else "Not booked.")
    return {"plan": result.text if ok else "", "note": note}
"""

START = """\
run = trip_planner.start(city="Oslo", run_id="trip-oslo")
print(await run.wait_for("waiting", timeout=60))
"""

REATTACH = """\
run = ag.get_run("trip-oslo")
run
"""

FAILING = """\
@ag.graph_fn(name="dinner")
async def dinner(*, context: ag.NodeContext):
    await weather("Bergen")
    await book_table("Bare")
    return {}

bad = dinner.start()
"""

REPORT = """\
print("RESULT", await run)
print("EFFECTS", sorted(open(EFFECTS).read().splitlines()))
"""

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _shot(locator: Locator, label: str) -> None:
    shot(locator, label)


def test_a_trip_planner_afternoon(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "user_trip.ipynb"
    lab = open_page(lab_server, name, [SETUP, AGENT, START, REATTACH, FAILING, REPORT])
    lab.run_cell(0)
    lab.run_cell(1)
    assert "runs are stored in" in lab.output_text(0), "%load_ext says which store it opened"
    lab.run_cell(2, timeout=90)
    widget = lab.widget(2)
    # The approval sits under its question, once: the prompt is not repeated in the control.
    widget.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    question = widget.locator(".aether-bubble[data-turn='question']")
    assert question.count() == 1
    assert question.locator("strong", has_text="Munch museum").count() == 1, "the question renders its markdown"
    assert widget.locator(".aether-wait-prompt:visible").count() == 0
    # Twenty ratings under one gather are one group node, not twenty boxes.
    group = widget.locator(".aether-node[data-kind='group']", has_text="rate ×20")
    group.wait_for(timeout=30_000)
    assert "20 calls" in (group.text_content() or "")
    # The tool that failed inside run_tools is counted failed; the loop that recovered from it shows done, not
    # "failed" beside a run that waits for you.
    assert widget.locator(".aether-node[data-node-id='run_tools_1'][data-shown='DONE']").count() == 1
    assert "1 failed" in widget.locator(".aether-counts").inner_text()
    assert widget.get_attribute("data-run-status") == "waiting"
    assert "waiting for you" in widget.locator(".aether-badge").first.inner_text()
    _shot(widget, "user_01_waiting_for_approval")

    lab.restart_kernel()
    old = lab.widget(2)
    lab.wait_in_widget(2, "(root) => root.dataset.inert === 'true'", timeout=30)
    assert "kernel has stopped" in old.locator(".aether-inert-notice").inner_text()
    assert old.locator("[data-action='stop']").is_hidden()
    assert old.locator("[data-wait-kind='approval'] button").first.is_disabled()
    _shot(old, "user_02_after_restart")

    lab.run_cell(0)
    lab.run_cell(1)
    lab.run_cell(3, timeout=60)
    live = lab.widget(3)
    live.locator("[data-wait-kind='approval'] button[data-option='Book it']").click(timeout=30_000)
    lab.wait_in_widget(
        3, "(root) => root.querySelector(\".aether-message-box[data-listening='true']\") !== null", timeout=30
    )
    box = live.locator(".aether-message-box input")
    box.fill("Window table, please")
    box.press("Enter")
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    assert live.locator(".aether-bubble[data-turn='message']", has_text="Window table, please").count() == 1
    assert live.locator(".aether-bubble[data-turn='answer']", has_text="Book it").count() == 1
    assert live.locator(".aether-message-box").is_hidden(), "a finished run takes no more messages"
    _shot(live, "user_03_answered_after_restart")

    lab.run_cell(4, timeout=60)
    failed = lab.widget(4)
    lab.wait_in_widget(4, "(root) => root.dataset.runStatus === 'failed'", timeout=60)
    reason = failed.locator(".aether-reason")
    reason.wait_for(timeout=15_000)
    assert "fully booked" in reason.inner_text()
    inspector = failed.locator(".aether-inspector[data-node-id='book_table_1'][data-details='loaded']")
    inspector.wait_for(timeout=15_000)
    assert "RuntimeError" in inspector.inner_text()
    _shot(failed, "user_04_failure_inline")

    # Every widget's arrowhead has its own id: hiding one DAG never takes another's arrows with it.
    markers = lab.page.evaluate("() => [...document.querySelectorAll('.aether-run marker')].map((m) => m.id)")
    assert len(markers) >= 3 and len(set(markers)) == len(markers), markers

    lab.run_cell(5, timeout=60)
    printed = lab.output_text(5)
    result = ast.literal_eval(next(x for x in printed.splitlines() if x.startswith("RESULT "))[7:])
    assert result["note"] == "Window table, please" and "Munch" in result["plan"]
    effects = ast.literal_eval(next(x for x in printed.splitlines() if x.startswith("EFFECTS "))[8:])
    rated = [e for e in effects if e.startswith("rate ")]
    assert len(rated) == 20 and len(set(rated)) == 20, "each rating ran once, across the restart"
    assert effects.count("search Oslo museums") == 1 and effects.count("book Maaemo") == 1

    # Save, stop the kernel, reopen: the saved views, never "model not found".
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    lab.page.locator(f"{_ROOT} .aether-run-saved").first.wait_for(timeout=60_000)
    text = lab.page.locator(_ROOT).text_content() or ""
    assert "model not found" not in text
    saved = lab.page.locator(f"{_ROOT} .aether-run-saved")
    # the saved views render one by one after the reopen: wait on the count, not on the first one only
    lab.page.wait_for_function(
        f"() => document.querySelectorAll('{_ROOT} .aether-run-saved').length >= 3", timeout=60_000
    )
    assert saved.count() >= 3
    reopened = lab.output(3).text_content() or ""
    assert "Window table, please" in reopened and "no kernel is attached" in reopened
    _shot(lab.output(3), "user_05_reopened_without_kernel")
