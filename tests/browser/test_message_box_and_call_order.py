"""What a tester found in JupyterLab: the wide message box taken for the answer box, and tool calls drawn reversed.

A person typed the answer to an open question into the wide "Message the agent…" box at the bottom instead of the
question's own box: the bubble said "queued: the agent reads it at its next receive()" and the question kept
waiting, with nothing said (an agent that never calls ``receive()`` never reads it). The box now says to answer the
question first, the message's note says in plain words that the agent has not read it and that its question still
waits, and the question's answer box gets the focus. A model's tool calls ``first``, ``second``, ``third`` were
drawn right to left (``third`` leftmost); siblings now keep call order. Every wait is on DOM state under a timeout.
"""

from __future__ import annotations

import pytest
from labdriver import LabPage, LabServer, OpenNotebook

pytestmark = pytest.mark.browser

HOTEL = """\
%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(name="hotel")
async def hotel(*, context: ag.NodeContext):
    return {"note": await context.channel().ask_text("Any note for the hotel?")}

run = hotel.start(run_id="hotel-note")
run
"""


def _focused_in_question(lab: LabPage) -> bool:
    return bool(
        lab.page.evaluate(
            "() => { const el = document.activeElement;"
            " return !!el && el.matches(\"[data-wait-kind='text'] input.aether-text-input\"); }"
        )
    )


def test_a_message_typed_while_a_question_waits_points_to_the_question(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, "message_box_question.ipynb", [HOTEL, "print('OUT', run.status, await run)"])
    lab.run_cell(0, timeout=60)
    lab.wait_in_output(0, "[data-wait-kind='text'] input", timeout=60)
    widget = lab.widget(0)
    box = widget.locator(".aether-message-box input")
    lab.wait_in_widget(0, "(root) => root.querySelector(\".aether-message-box[data-asked='true']\") !== null")
    placeholder = box.get_attribute("placeholder") or ""
    assert placeholder.startswith("Answer the question above first"), placeholder

    box.fill("late check-in please")
    box.press("Enter")
    queued = widget.locator(".aether-bubble[data-queued='true']", has_text="late check-in please")
    queued.wait_for(timeout=30_000)
    note = queued.locator(".aether-queued-note").inner_text()
    assert note == (
        "not read yet: the agent reads messages only when it asks for one, "
        "and its question is still waiting for your answer"
    ), note
    assert "receive()" not in widget.inner_text()
    question = widget.locator("[data-wait-kind='text']")
    lab.wait_in_widget(0, "(root) => root.querySelector(\"[data-wait-kind='text'].aether-attention\") !== null")
    lab.page.wait_for_function(
        "() => document.activeElement?.matches(\"[data-wait-kind='text'] input.aether-text-input\") === true",
        timeout=15_000,
    )
    assert _focused_in_question(lab)

    # The person types on where the focus went: that answers the question.
    lab.page.keyboard.type("late check-in please")
    lab.page.keyboard.press("Enter")
    lab.wait_in_widget(0, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    assert question.count() == 0
    unread = widget.locator(".aether-bubble[data-unread='true']", has_text="late check-in please")
    assert unread.locator(".aether-queued-note").inner_text() == "not read: the run ended"
    lab.run_cell(1, timeout=60)
    assert "OUT succeeded {'note': 'late check-in please'}" in lab.output_text(1)


ORDERLY = """\
%load_ext aether_nb
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

@ag.tool(outputs=["r"])
def first(x: int) -> dict:
    return {"r": x}

@ag.tool(outputs=["r"])
def second(x: int) -> dict:
    return {"r": x}

@ag.tool(outputs=["r"])
def third(x: int) -> dict:
    return {"r": x}

def rules(body):
    if body["messages"][-1]["role"] == "user":
        return {"tool_calls": [{"name": n, "arguments": {"x": i}} for i, n in enumerate(["first", "second", "third"])]}
    return "ok"

fake = FakeOpenAI(rules=rules).start()
ag.configure(llm={"base_url": fake.base_url, "model": "m"})

@ag.graph_fn(name="orderly")
async def orderly(*, context: ag.NodeContext):
    res = await context.llm().run_tools([{"role": "user", "content": "go"}], tools=[first, second, third])
    return {"t": res.text}
"""


def test_tool_calls_of_one_model_turn_are_drawn_left_to_right_in_call_order(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    lab = open_page(lab_server, "call_order.ipynb", [ORDERLY, "await orderly()", "fake.close()"])
    lab.run_cell(0, timeout=60)
    lab.run_cell(1, timeout=90)
    # Read in one go, from the widget found again: a finished run's output is rendered again (a new widget).
    where = (
        "(i) => { const cell = document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')[i];"
        " const root = cell && cell.querySelector('.jp-Cell-outputArea .aether-run');"
        " if (!root || root.dataset.runStatus !== 'succeeded') return null;"
        " const xs = {};"
        " for (const n of ['first', 'second', 'third']) {"
        "  const el = root.querySelector(`.aether-node[data-node-id='run_tools_1/${n}_1']`);"
        "  const r = el ? el.getBoundingClientRect() : null;"
        "  if (!r || r.width === 0) return null;"
        "  xs[n] = r.x; }"
        " return xs; }"
    )
    xs = lab.page.wait_for_function(where, arg=1, timeout=30_000).json_value()
    assert xs["first"] < xs["second"] < xs["third"], xs
    lab.run_cell(2)
