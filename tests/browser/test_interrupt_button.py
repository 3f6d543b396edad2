"""A person stops an agent with the notebook's interrupt button while it waits for their approval, in JupyterLab and
Notebook 7. Screenshots land in test-artifacts/ (interrupt_*.png) and were looked at.

What it guards (the thirteenth session): on ipykernel 7.4 the interrupt button did nothing to a cell awaiting a run
that waits for an answer (nothing woke the kernel's event loop for it; upstream ipykernel#881), so the cell stayed
``[*]`` with its approval buttons live. Now the cell stops at once, says in one line that the run was stopped, the
widget shows the run stopped with no control left, and the next order runs as usual: the stopped order paid once and
never shipped.
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot

from aether_nb.testing import FakeOpenAI
from tests.scenarios.orders import AGENT_DEFINITIONS, printed

pytestmark = pytest.mark.browser


FIRST = 'out = await order(1)\nprint("SHIPPED", out)'
SECOND = 'out = await order(2)\nprint("SHIPPED", out)'
REPORT = 'print("EFFECTS", open(EFFECTS).read().splitlines())'


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_the_interrupt_button_stops_an_agent_waiting_for_approval(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    setup = AGENT_DEFINITIONS.replace("EFFECTS_FILE", f"interrupt_effects_{ui}.txt")
    lab = open_page(lab_server, f"interrupt_{ui}.ipynb", [setup, FIRST, SECOND, REPORT], ui=ui)
    lab.run_cell(0)
    lab.run_cell(1, wait=False)
    widget = lab.widget(1)
    widget.locator("[data-wait-kind='approval'] button[data-option='Ship']").wait_for(timeout=60_000)
    assert lab.prompts()[1] == "[*]:"
    shot(widget, f"interrupt_{ui}_01_waiting")

    lab.interrupt_kernel()
    lab.wait_for_cell(1, timeout=20)  # at once: it never ended before
    text = lab.output_text(1)
    assert "■ Interrupted: run " in text and "(order) was stopped with the code that awaited it." in text
    assert "SHIPPED" not in text
    lab.check_no_errors(1)  # one line, no traceback
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'cancelled'", timeout=30)
    assert widget.locator("[data-wait-kind='approval'] button").count() == 0  # no control left to press
    shot(lab.output(1), f"interrupt_{ui}_02_stopped")

    lab.run_cell(2, wait=False)
    lab.click_in_widget(2, "[data-wait-kind='approval'] button[data-option='Ship']", timeout=60)
    lab.wait_for_cell(2, timeout=60)
    assert "SHIPPED {'shipped': True}" in lab.output_text(2)
    shot(lab.output(2), f"interrupt_{ui}_03_next_order")

    lab.run_cell(3)
    assert printed(lab.output_text(3), "EFFECTS") == ["charge 1", "charge 2", "ship 2"]
    lab.check_no_errors()


WRITER = r"""
%load_ext aether_nb
import asyncio, aether_nb as ag
ag.configure(llm={"base_url": "BASE_URL", "model": "fake", "api_key": "not-a-key"})

@ag.graph_fn(name="writer", outputs=["text"])
async def writer(topic: str, *, context):
    ch = context.channel()
    async with ch.progress("Drafting", total=None) as p:
        await p.update(inc=1, subtitle="outline")
        text, _ = await context.llm().chat(f"write about {topic}", stream_to=ch)
    return {"text": text}
"""


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_an_interrupted_stream_and_progress_bar_stop_in_the_widget(
    lab_server: LabServer, open_page: OpenNotebook, ui: str
) -> None:
    """The model streams slowly; the person interrupts mid-sentence. The bubble keeps the text that came and says it
    stopped (no cursor), the progress bar stops moving and says so: the widget agrees with the stopped run."""
    words = " ".join(f"word{i}" for i in range(300))
    with FakeOpenAI(rules=lambda body: words, chunk_delay_s=0.05) as fake:
        setup = WRITER.replace("BASE_URL", fake.base_url)
        lab = open_page(lab_server, f"interrupt_stream_{ui}.ipynb", [setup, 'await writer("tea")'], ui=ui)
        lab.run_cell(0)
        lab.run_cell(1, wait=False)
        widget = lab.widget(1)
        widget.locator(".aether-msg-stream .aether-cursor").wait_for(timeout=60_000)
        lab.wait_in_widget(1, "(root) => (root.querySelector('.aether-msg-stream')?.textContent || '').length > 40")
        shot(widget, f"interrupt_stream_{ui}_01_streaming")
        lab.interrupt_kernel()
        lab.wait_for_cell(1, timeout=20)
    lab.check_no_errors(1)
    assert "■ Interrupted: run " in lab.output_text(1)
    lab.wait_in_widget(1, "(root) => root.dataset.runStatus === 'cancelled'", timeout=30)
    bubble = widget.locator(".aether-msg-stream").first
    lab.wait_in_widget(1, "(root) => root.querySelector('.aether-msg-stream')?.dataset.stopped === 'true'")
    assert bubble.locator(".aether-cursor").count() == 0
    assert bubble.inner_text().startswith("word0 word1") and bubble.inner_text().endswith("… (stopped)")
    bar = widget.locator(".aether-msg-progress").first
    assert bar.get_attribute("data-stopped") == "true"
    assert bar.locator(".aether-indeterminate").count() == 0 and "stopped" in bar.inner_text()
    shot(widget, f"interrupt_stream_{ui}_02_stopped")
