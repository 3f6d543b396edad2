"""A static graph of 2,000 steps whose first step asks for approval, in a real JupyterLab: the whole plan is on its
DAG at once (one ``graph_planned`` event), which no other test draws this big (W7 grows 1,000 nodes in 100
updates). What a person sees is asserted: the approval while the chain is one group of 2,000 planned calls, which
opens to every call "not started yet" with its border alike in every band; after the approval, every call done, the
same edges, and the DAG still where the person scrolled it (the run's end draws the output again). Every wait is on
DOM state; the screenshots (big_plan_*.png) were looked at."""

from __future__ import annotations

import pytest
from labdriver import UIS, LabServer, OpenNotebook, shot
from playwright.sync_api import Locator

pytestmark = pytest.mark.browser

STEPS = 2000

CELLS = [
    """\
%load_ext aether_nb
import aether_nb as ag
from aether_nb.tools import ask_approval

@ag.tool(outputs=["y"])
async def inc(x: int) -> dict:
    return {"y": x + 1}
""",
    f"""\
@ag.graphify(name="long_plan", inputs=["x"], outputs=["y", "ok"])
def long_plan(x):
    ok = ask_approval(prompt="Run all {STEPS} steps?")
    h = inc(x=x, _condition={{"op": "eq", "left": ok.approved, "right": True}})
    for _ in range({STEPS} - 1):
        h = inc(x=h.y)
    return {{"y": h.y, "ok": ok.approved}}

run = long_plan.start(x=0)
run
""",
    "result = await run\nprint('RESULT', result)",
]


_EDGE_IN = "(root) => root.querySelector(\".aether-edge[data-from='ask_approval_1'][data-to='group:inc_1']\") !== null"


def _calls_shown(status: str) -> str:
    """A predicate on the widget root: every planned call of the chain is drawn, shown with ``status``."""
    selector = f".aether-node[data-node-id^='inc_'][data-shown='{status}']"
    return f'(root) => root.querySelectorAll("{selector}").length === {STEPS}'


def _edges_from(widget: Locator, node_id: str) -> list[str | None]:
    edges = widget.locator(f".aether-edge[data-from='{node_id}']")
    return [edges.nth(i).get_attribute("data-to") for i in range(edges.count())]


@pytest.mark.parametrize("ui", UIS)
def test_a_two_thousand_step_plan_is_drawn_at_once_and_runs_after_its_approval(
    ui: str, lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, f"big_plan_{ui}.ipynb", CELLS, ui=ui)
    lab.run_cell(0, timeout=90)
    lab.run_cell(1, timeout=90)
    widget = lab.widget(1)
    widget.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    # The planned chain is on the DAG before any step of it ran (the first step asks): one group of 2,000 calls.
    group = widget.locator(".aether-node[data-kind='group']")
    lab.wait_in_widget(1, "(root) => root.querySelector(\".aether-node[data-kind='group']\") !== null", timeout=60)
    lab.wait_in_widget(1, "(root) => !root.querySelector('.aether-dag[data-pending]')", timeout=60)
    shot(widget, f"big_plan_{ui}_01_waiting")
    # the approval gates the chain: one edge from it to the group, not one per call
    lab.wait_in_widget(1, _EDGE_IN, timeout=30)
    assert _edges_from(widget, "ask_approval_1") == ["group:inc_1"]
    assert group.count() == 1
    assert f"inc ×{STEPS}" in (group.text_content() or ""), group.text_content()
    assert group.get_attribute("data-shown") == "PENDING"
    assert "waiting for you" in widget.locator(".aether-badge").first.inner_text()
    # Opened while it waits: every planned call is drawn, none started.
    group.locator(".aether-node-box").click()
    lab.wait_in_widget(1, _calls_shown("PENDING"), timeout=60)
    # the opened group's box spans many bands, a copy in each: drawn alike (its border thinned after the first)
    widths = widget.evaluate(
        """(root) => [...root.querySelectorAll(
            "[data-node-id='group:inc_1'] > rect, [data-part-of='group:inc_1'] > rect"
          )].map((r) => getComputedStyle(r).strokeWidth)"""
    )
    assert len(widths) > 10 and set(widths) == {"2.5px"}, widths
    last = widget.locator(f".aether-node[data-node-id='inc_{STEPS}'] .aether-node-meta")
    assert last.text_content() == "not started yet"
    shot(widget, f"big_plan_{ui}_02_opened")
    # The person scrolls down the chain and approves: the run's end draws the widget again (its display carries
    # the static view for the saved notebook), and the DAG must stay where they were reading.
    widget.evaluate("(root) => { root.querySelector('.aether-dag').scrollTop = 5000; }")
    lab.wait_in_widget(1, "(root) => !root.querySelector(\"[data-action='follow']\").hidden", timeout=30)
    # "Follow the run" scrolls back to the question, and the person scrolls away in the same frame (a busy page):
    # one scroll event comes for both, and the person's scroll must win (it was taken for the follower's, so the
    # widget kept following and the end's redraw lost their place: a flaky CI run showed scrollTop 0).
    widget.evaluate(
        """(root) => {
          root.querySelector("[data-action='follow']").click();
          root.querySelector('.aether-dag').scrollTop = 5000;
        }"""
    )
    lab.wait_in_widget(1, "(root) => !root.querySelector(\"[data-action='follow']\").hidden", timeout=30)
    assert widget.evaluate("(root) => root.querySelector('.aether-dag').scrollTop") == 5000
    widget.locator("[data-wait-kind='approval'] button.aether-primary").click(timeout=30_000)
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'succeeded'", timeout=180)
    lab.wait_in_widget(1, _calls_shown("DONE"), timeout=60)
    lab.wait_in_widget(1, "(root) => !root.querySelector('.aether-dag[data-pending]')", timeout=60)
    lab.wait_in_widget(1, _EDGE_IN, timeout=30)
    assert _edges_from(widget, "ask_approval_1") == ["group:inc_1"]  # the plan's edge is the run's
    assert widget.evaluate("(root) => root.querySelector('.aether-dag').scrollTop") == 5000
    shot(widget, f"big_plan_{ui}_03_done")
    # scrolled to its end, the chain ends where the plan said
    widget.evaluate("(root) => { const d = root.querySelector('.aether-dag'); d.scrollTop = d.scrollHeight; }")
    end = widget.locator(f".aether-node[data-node-id='inc_{STEPS}']")
    end.wait_for(timeout=30_000)
    assert f"x={STEPS - 1}" in (end.locator(".aether-node-meta").text_content() or "")
    shot(widget, f"big_plan_{ui}_04_end")
    lab.run_cell(2, timeout=60)
    assert f"'y': {STEPS}" in lab.output_text(2) and "'ok': True" in lab.output_text(2)
