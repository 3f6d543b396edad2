"""Browser -> kernel commands: custom messages with an id, one reply each, also while a cell keeps the kernel busy."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from labdriver import LabPage

pytestmark = pytest.mark.browser

GRAPH = {
    "run_id": "run-cmd",
    "name": "ask_the_user",
    "status": "waiting",
    "nodes": [
        {"id": "ask_1", "name": "ask", "kind": "wait", "status": "WAITING_HUMAN", "parent": None,
         "started_at": 100.0, "ended_at": None},
    ],
    "edges": [],
}  # fmt: skip
WAITS = [
    {"token": "t-text", "kind": "text", "prompt": "Your **name**?", "options": None, "node_id": "ask_1",
     "deadline": None, "meta": {}},
    {"token": "t-approve", "kind": "approval", "prompt": "Send the email?", "options": ["Approve", "Reject"],
     "node_id": "ask_1", "deadline": 4102444800.0, "meta": {}},
    {"token": "t-bad", "kind": "choice", "prompt": "Pick one", "options": ["boom", "fine"], "node_id": "ask_1",
     "deadline": None, "meta": {}},
]  # fmt: skip
MESSAGES = [
    {"id": "m1", "type": "file", "role": "assistant", "node_id": None, "final": True,
     "content": {"artifact_uri": "aether://run-cmd/report", "mime": "text/plain", "name": "report.txt", "size": 5}},
]  # fmt: skip

# The kernel side of the protocol, in the shape RunView uses: the callback may run on a comm subshell thread
# (FACTS.md), so it only hands the command to the loop; the loop replies and updates traits.
SETUP = f"""\
import asyncio, base64
from aether_nb.notebook.widget import RunWidget

seen = []
loop = asyncio.get_event_loop()
w = RunWidget(graph={GRAPH!r}, messages={MESSAGES!r}, waits={WAITS!r})

def handle(content):
    seen.append(content)
    kind, rid = content["type"], content["id"]
    if kind == "answer" and content["payload"] == "boom":
        w.send({{"type": "reply", "id": rid, "ok": False, "error": "no answer called boom"}})
    elif kind == "download":
        data = base64.b64encode(b"hello").decode()
        w.send({{"type": "reply", "id": rid, "ok": True, "name": "report.txt", "mime": "text/plain", "data_b64": data}})
    else:
        w.send({{"type": "reply", "id": rid, "ok": True}})
        if kind == "answer" and content["token"] == "t-text":
            w.waits = [x for x in w.waits if x["token"] != "t-text"]
        if kind == "stop":
            w.graph = dict(w.graph, status="cancelled")

w.on_msg(lambda _w, content, _buffers: loop.call_soon_threadsafe(handle, content))
w
"""
BUSY = "await asyncio.sleep(10)\nprint('slept')"
REPORT = "import json\nprint(json.dumps([{k: v for k, v in m.items() if k != 'id'} for m in seen]))"


def test_commands_round_trip_while_a_cell_awaits(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook([SETUP, BUSY, REPORT])
    lab.run_cell(0)
    widget = lab.widget(0)
    lab.wait_in_output(0, "[data-wait-token='t-text'][data-wait-kind='text']")
    approval = widget.locator("[data-wait-token='t-approve'][data-wait-kind='approval']")
    assert approval.locator(".aether-primary").inner_text() == "Approve"
    assert "answer by" in approval.inner_text()

    lab.run_cell(1, wait=False)  # keeps the kernel busy on its loop for 10 s

    # Text wait: type, press Enter; the ok reply arrives and the kernel drops the wait.
    text_input = widget.locator("[data-wait-token='t-text'] input[type='text']")
    text_input.fill("Ada")
    text_input.press("Enter")
    widget.locator("[data-wait-token='t-text']").wait_for(state="detached", timeout=10_000)

    # Approval: the first option; the ok reply disables the control (the kernel keeps the token open here).
    approval.locator("button", has_text="Approve").click()
    lab.page.wait_for_function(
        "(el) => el.dataset.state === 'answered' && [...el.querySelectorAll('button')].every((b) => b.disabled)",
        arg=approval.element_handle(),
        timeout=10_000,
    )

    # An error reply is shown under the control, which stays enabled for another try.
    bad = widget.locator("[data-wait-token='t-bad']")
    bad.locator("button", has_text="boom").click()
    error = bad.locator(".aether-control-error")
    error.wait_for(timeout=10_000)
    assert error.inner_text() == "no answer called boom"
    assert bad.locator("button", has_text="fine").is_enabled()

    # Download: the reply's bytes are offered as a browser download.
    with lab.page.expect_download(timeout=10_000) as download_info:
        widget.locator("[data-action='download']").click()
    download = download_info.value
    assert download.suggested_filename == "report.txt"
    assert download.path().read_bytes() == b"hello"

    # Stop: the kernel cancels; the Stop button disappears with the run's status.
    widget.locator("[data-action='stop']").click()
    lab.wait_in_widget(0, "(el) => el.dataset.runStatus === 'cancelled'", timeout=10)
    assert widget.locator("[data-action='stop']").is_hidden()

    assert lab.prompts()[1] == "[*]:", "every reply above arrived while the cell was still awaiting"
    lab.wait_for_cell(1, timeout=30)
    lab.run_cell(2)
    # view/unview (one live widget per run per page) and ping (is the kernel there?) are the widget's own.
    seen = [c for c in json.loads(lab.output_text(2).strip()) if c["type"] not in ("view", "unview", "ping")]
    assert seen == [
        {"type": "answer", "token": "t-text", "payload": "Ada"},
        {"type": "answer", "token": "t-approve", "payload": "Approve"},
        {"type": "answer", "token": "t-bad", "payload": "boom"},
        {"type": "download", "artifact_uri": "aether://run-cmd/report"},
        {"type": "stop"},
    ]
