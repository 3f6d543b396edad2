"""A second afternoon, as a person: a shop agent with an LLM that calls tools, memory and an approval; the tab
closed and opened again; dark theme; a restart; a saved notebook reopened; two runs at once, one stopped, a cell
run again while its run goes on; a failure's traceback; a long StateGraph answered in the widget and a fan-out of
200. Screenshots land in test-artifacts/ (afternoon_*.png) and were looked at.

What is asserted is what a person reads: texts, statuses, counts, contrast of text on its background, text that
stays inside its box. Every wait is on DOM or kernel state under a timeout.
"""

from __future__ import annotations

import time

import pytest
from labdriver import LabPage, LabServer, OpenNotebook, shot
from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

_ROOT = ".jp-NotebookPanel:not(.lm-mod-hidden)"

SETUP = """\
%load_ext aether_nb
import asyncio, operator
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import END, START, Send, StateGraph, interrupt
from aether_nb.testing import FakeOpenAI

fake = FakeOpenAI(script=[
    {"tool_calls": [{"name": "lookup", "arguments": {"sku": "A-1"}}, {"name": "price", "arguments": {"sku": "A-1"}}]},
    "Buy **A-1** at 12 EUR.",
]).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})

@ag.tool(outputs=["info"])
def lookup(sku: str) -> dict:
    \"\"\"Look a product up.\"\"\"
    return {"info": f"{sku}: blue mug"}

@ag.tool(outputs=["eur"])
async def price(sku: str) -> dict:
    \"\"\"Price of a product.\"\"\"
    return {"eur": 12}

@ag.tool(outputs=["ok"])
def flaky(n: int) -> dict:
    raise ConnectionError(f"warehouse {n} unreachable")

@ag.tool(outputs=["y"])
async def slow(x: int) -> dict:
    await asyncio.Event().wait()  # until stopped
    return {"y": x}

@ag.graph_fn(name="shopper", outputs=["bought"])
async def shopper(item: str, *, context: ag.NodeContext):
    ch = context.channel()
    res = await context.llm().run_tools([{"role": "user", "content": f"buy {item}"}], tools=[lookup, price])
    await context.memory().record("plan", {"text": res.text})
    await ch.send_markdown(f"Plan: {res.text}")
    question = f"{res.text}\\n\\nShall I order it from the usual supplier now?"
    ok, _ = await ch.ask_approval(question, options=["Buy", "Cancel"])
    await ch.send_markdown("**Bought.**" if ok else "_Cancelled._")
    return {"bought": ok}

@ag.graph_fn(name="sleeper", outputs=["y"])
async def sleeper(x: int, *, context: ag.NodeContext):
    return await slow(x)

@ag.graph_fn(name="broken", outputs=["y"])
async def broken(*, context: ag.NodeContext):
    await lookup("B-2")
    await flaky(3)
    return {"y": 1}
"""

START = 'run = shopper.start(item="mug", run_id="shop-1")\nawait run.wait_for("waiting", timeout=60)'
RESUME = 'run = ag.get_run("shop-1")\nrun'
SLEEP_A = "a = sleeper.start(x=1)\na"
SLEEP_B = "b = sleeper.start(x=2)\nawait b"
BROKEN = "await broken()"
CHAIN = """\
class S(TypedDict, total=False):
    x: int
    verdict: str

def make(i):
    async def step(state: S):
        return {"x": (await lookup(f"C-{state['x']}"))["info"].count("C") + state["x"]}
    step.__name__ = f"step_{i:02d}"
    return step

def review(state: S):
    return {"verdict": interrupt({"x": state["x"], "question": "Ship the batch?"})}

g = StateGraph(S, name="long_chain")
g.add_sequence([make(i) for i in range(34)] + [review])
g.add_edge(START, "step_00")
chain = g.compile()
cfg = {"configurable": {"thread_id": "chain-1"}, "recursion_limit": 100}
res = await chain.ainvoke({"x": 0}, cfg)
print("CHAIN", res.status)
"""
FAN = """\
class F(TypedDict, total=False):
    n: int
    out: Annotated[list[str], operator.add]

def spread(state: F):
    return [Send("work", {"n": i}) for i in range(state["n"])]

async def work(state: F):
    return {"out": [(await lookup(f"F-{state['n']}"))["info"]]}

f = StateGraph(F, name="fan200")
f.add_node("work", work)
f.add_conditional_edges(START, spread, ["work"])
f.add_edge("work", END)
r = await f.compile().ainvoke({"n": 200}, {"configurable": {"thread_id": "fan-1"}})
print("FAN", len(r["out"]))
"""

# WCAG contrast of an element's text on what is behind it: translucent backgrounds blended over the widget's own.
_JS_CONTRAST = """(el) => {
  // A widget redrawn between Playwright finding the element and this script running leaves it detached, and a
  // detached element has no computed style: say so, and the caller asks again for the element drawn now.
  if (!el.isConnected) return null;
  const rgba = (s) => {
    const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const chain = []; for (let e = el; e; e = e.parentElement) chain.push(e);
  let bg = [255, 255, 255, 1];
  for (const e of chain.reverse()) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) bg = over(c, bg);
  }
  const fg = over(rgba(getComputedStyle(el).color), bg);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""

# Nodes whose second line (argument preview or question, then the duration) runs past the right edge of their box.
_JS_OVERFLOWING = """(root) => [...root.querySelectorAll('.aether-node:not(.aether-group)')].filter((g) => {
  const meta = g.querySelector('.aether-node-meta'), box = g.querySelector('.aether-node-box');
  if (!meta || !box || meta.getAttribute('visibility') === 'hidden' || !meta.textContent) return false;
  const b = meta.getBBox();
  return b.x + b.width > Number(box.getAttribute('width')) - 2;
}).map((g) => g.dataset.nodeId + ': ' + g.querySelector('.aether-node-meta').textContent)"""


def _shot(locator: Locator, label: str) -> None:
    shot(locator, f"afternoon_{label}")


def _contrast(locator: Locator) -> float:
    """The text's contrast on its background, asked again while the widget redraws the element under us."""
    deadline = time.monotonic() + 15
    while True:
        value: float | None = locator.evaluate(_JS_CONTRAST)
        if value is not None:
            return value
        assert time.monotonic() < deadline, "the element was redrawn for 15 s: the widget keeps re-rendering"


def _dark(lab: LabPage, on: bool) -> None:
    theme = "JupyterLab Dark" if on else "JupyterLab Light"
    lab.page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    lab.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{str(not on).lower()}'", timeout=30_000)


def _save(lab: LabPage) -> None:
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)


def test_a_shop_agent_afternoon(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "afternoon_shop.ipynb"
    lab = open_page(lab_server, name, [SETUP, START, RESUME, SLEEP_A, SLEEP_B, BROKEN])
    lab.run_cell(0)
    lab.run_cell(1, timeout=90)
    widget = lab.widget(1)
    widget.locator("[data-wait-kind='approval'] button[data-option='Buy']").wait_for(timeout=60_000)
    # The LLM's tool calls sit under run_tools; the question shows once, as markdown, above its buttons.
    assert widget.locator(".aether-node[data-node-id='run_tools_1']").count() == 1
    assert widget.locator(".aether-bubble[data-turn='question'] strong", has_text="A-1").count() == 1
    assert "waiting for you" in widget.locator(".aether-badge").first.inner_text()
    # A long question in a box is cut short with an ellipsis: nothing runs past the box's edge.
    lab.wait_in_widget(1, "(root) => root.querySelector(\".aether-node[data-status^='WAITING']\") !== null")
    assert widget.evaluate(_JS_OVERFLOWING) == []
    _shot(widget, "01_waiting")

    # The tab closed and opened again, the kernel still running: the same live widget, nothing alarming.
    _save(lab)
    lab.page.evaluate("() => window.jupyterapp.shell.currentWidget.close()")
    lab.page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)')", timeout=30_000)
    lab.page.evaluate(f"() => window.jupyterapp.commands.execute('docmanager:open', {{path: '{name}'}})")
    lab.wait_for_kernel_idle()
    reopened = lab.widget(1)
    reopened.locator("[data-wait-kind='approval'] button[data-option='Buy']").wait_for(timeout=60_000)
    assert "model not found" not in (lab.page.locator(_ROOT).text_content() or "")
    assert reopened.get_attribute("data-inert") != "true"
    assert reopened.locator("button[data-option='Buy']").is_enabled()

    # Dark theme: every text the widget shows stays readable (the user's bubble, notices, the failure line).
    _dark(lab, True)
    assert _contrast(reopened.locator(".aether-bubble[data-turn='question']")) >= 4.5
    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    inert = lab.widget(1).locator(".aether-inert-notice")
    assert "%aether resume shop-1" in inert.inner_text()
    assert _contrast(inert) >= 4.5, "the restart notice is readable in dark theme"
    _shot(lab.widget(1), "02_dark_after_restart")

    lab.run_cell(0)
    lab.run_cell(2, timeout=60)
    live = lab.widget(2)
    assert _contrast(live.locator(".aether-notice:not(.aether-inert-notice)")) >= 4.5
    live.locator("[data-wait-kind='approval'] button[data-option='Buy']").click(timeout=30_000)
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    answer = live.locator(".aether-bubble.aether-user", has_text="Buy")
    assert answer.count() == 1 and _contrast(answer) >= 4.5, "the user's own answer is readable in dark theme"
    assert live.locator(".aether-bubble strong", has_text="Bought.").count() == 1
    assert live.evaluate(_JS_OVERFLOWING) == [], "with its duration added, the question still fits its box"
    # The old kernel's widget no longer offers to resume a run that went on and finished.
    old_notice = lab.widget(1).locator(".aether-inert-notice")
    lab.wait_in_widget(1, "(root) => /went on in a newer widget/.test(root.textContent)", timeout=15)
    assert "is done there" in old_notice.inner_text() and "%aether resume" not in old_notice.inner_text()
    _shot(live, "03_dark_answered")
    _shot(lab.widget(1), "03_dark_old_widget_moved_on")

    # Two runs at once; one stopped from its widget; the other goes on. Its cell's value does not contradict it.
    lab.run_cell(3, timeout=30)
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'running'", timeout=30)
    assert "status='pending'" not in lab.output_text(3)
    assert "see its widget above" in lab.output_text(3)
    lab.run_cell(4, wait=False)
    lab.wait_in_widget(4, "(root) => root.dataset.runStatus === 'running'", timeout=30)
    lab.click_in_widget(4, "[data-action='stop']")
    lab.wait_for_cell(4, timeout=30)
    lab.wait_in_widget(4, "(root) => root.dataset.runStatus === 'cancelled'", timeout=30)
    assert "■ Stopped: run" in lab.output_text(4) and not lab.errors(4)
    assert lab.widget(3).get_attribute("data-run-status") == "running", "stopping one run leaves the other alone"
    # The cell run again while its run goes on: the old run stops, the new widget says so.
    lab.run_cell(3, timeout=30)
    notice = lab.widget(3).locator(".aether-notice:not(.aether-inert-notice)")
    assert "was still going and has been cancelled" in notice.inner_text()
    lab.widget(3).locator("[data-action='stop']").click()
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'cancelled'", timeout=30)

    # A failure: the reason under the header, readable in dark; the cell's traceback holds the user's frames only.
    lab.run_cell(5, timeout=60, check=False)
    failed = lab.widget(5)
    lab.wait_in_widget(5, "(root) => root.dataset.runStatus === 'failed'", timeout=60)
    reason = failed.locator(".aether-reason")
    assert "flaky(n=3)" in reason.inner_text() and "warehouse 3 unreachable" in reason.inner_text()
    assert _contrast(reason) >= 4.5
    (traceback,) = lab.errors(5)
    assert "await flaky(3)" in traceback and 'raise ConnectionError(f"warehouse' in traceback
    for hidden in ("aether_nb/runtime", "concurrent/futures", "asyncio/"):
        assert hidden not in traceback, f"{hidden} frame in the traceback:\n{traceback}"
    _shot(failed, "04_dark_failed")

    # Saved and reopened without a kernel, in dark theme: the saved views, readable, no empty answer box.
    lab.restart_kernel()
    lab.run_cell(0)
    lab.run_cell(2, timeout=60)  # shop-1 is finished: shown as it is
    # saved once its widget shows (as a person would): a view not drawn yet has written no saved entry (CI flake)
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=30)
    _save(lab)
    lab_server.shutdown_kernel(name)
    lab.page.reload()
    lab.page.locator(f"{_ROOT} .aether-run-saved").first.wait_for(timeout=60_000)
    assert "model not found" not in (lab.page.locator(_ROOT).text_content() or "")
    saved = lab.output(2).locator(".aether-run-saved")
    assert "shows it live again" in saved.inner_text(), "a finished run's saved view does not offer to resume it"
    bubbles = saved.locator(".aether-static-msg, .aether-bubble").all()
    assert len(bubbles) >= 3
    for bubble in bubbles:
        assert _contrast(bubble) >= 4.5, bubble.inner_text()
    # The old kernel's widget (cell 1) saved as it last saw the run: its question, no empty answer box, and a line
    # saying the run went on (not an offer to resume a finished run).
    waiting = lab.output(1).locator(".aether-run-saved")
    assert "went on in a newer widget" in waiting.inner_text() and "To pick it up again" not in waiting.inner_text()
    assert waiting.locator(".aether-bubble[data-turn='question']").count() == 1
    assert waiting.locator(".aether-wait").count() == 0
    _shot(lab.output(2), "05_dark_reopened")
    _shot(lab.output(1), "05_dark_reopened_waiting")
    _dark(lab, False)


def test_a_long_state_graph_and_a_fan_out_read_well(lab_server: LabServer, open_page: OpenNotebook) -> None:
    # In Notebook 7 (the shop afternoon is in JupyterLab): the same widget, another page around it.
    lab = open_page(lab_server, "afternoon_flow.ipynb", [SETUP, CHAIN, FAN], ui="notebook")
    lab.run_cell(0)
    lab.run_cell(1, timeout=120)
    assert "CHAIN interrupted" in lab.output_text(1)
    chain = lab.widget(1)
    control = lab.wait_in_output(1, "[data-wait-kind='human']", timeout=30)
    # 35 supersteps: one box each (a lone call inside shows on expand), the interrupt's payload shown once.
    assert chain.locator(".aether-node[data-depth='0']").count() == 35
    assert "waiting for you" in chain.locator(".aether-badge").first.inner_text()
    assert chain.locator("[data-section='payload']:visible", has_text="Ship the batch?").count() == 1
    assert chain.evaluate(_JS_OVERFLOWING) == []
    _shot(chain, "06_chain_waiting")
    control.locator("input").fill("yes")
    control.locator("input").press("Enter")
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    assert chain.locator(".aether-bubble[data-turn='answer']", has_text="yes").count() == 1

    lab.run_cell(2, timeout=180)
    assert "FAN 200" in lab.output_text(2)
    fan = lab.widget(2)
    group = fan.locator(".aether-node[data-kind='group']", has_text="work ×200")
    group.wait_for(timeout=30_000)
    assert "200 calls" in (group.text_content() or "") and "200 done" in (group.text_content() or "")
    assert fan.locator(".aether-node[data-node-id]").count() < 10, "200 calls are one box until expanded"
    _shot(fan, "07_fan200")
