"""``%reload_ext aether_nb`` while a run waits for an answer: its widget stays on the page, live.

Found by a tester in JupyterLab: re-running the ``%load_ext`` cell makes IPython say "To reload it, use:
%reload_ext aether_nb"; doing so closed every run widget, so the waiting run's widget (its answer box) vanished
from its cell, which still said "see its widget above", and the saved notebook showed "model not found" there.
Only ``%aether resume`` brought one back. The widget is the same live one after the reload: it still takes the
answer, and ``%aether resume`` shows it again rather than a second widget.
"""

from __future__ import annotations

import queue

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

WIDGET = "application/vnd.jupyter.widget-view+json"

AGENT = """
import aether_nb as ag

@ag.graph_fn(name="asker", outputs=["a"])
async def asker(*, context: ag.NodeContext):
    return {"a": await context.channel().ask_text("Your name?")}
"""


def _closed_comms(kernel: Kernel, code: str) -> list[str]:
    """Execute ``code`` and return the comms the kernel closed meanwhile (a closed widget leaves its page)."""
    msg_id = kernel.submit(code, cell_id="cell-reload")
    closed: list[str] = []
    while True:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=60)
        except queue.Empty:
            raise TimeoutError(f"no reply from the kernel within 60 s for {code}") from None
        if msg["msg_type"] == "comm_close":
            closed.append(msg["content"]["comm_id"])
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return closed


def test_reload_ext_keeps_a_waiting_runs_widget_live(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb", cell_id="cell-load")
    kernel.ok(AGENT, cell_id="cell-agent")
    shown = kernel.ok("run = asker.start(run_id='r1')\nrun", cell_id="cell-start")
    (model,) = [b[WIDGET]["model_id"] for b in shown.bundles if WIDGET in b]
    token = kernel.ok("await run.wait_for('waiting', timeout=30)\nprint(run.waits[0].token)").stdout.strip()

    closed = _closed_comms(kernel, "%reload_ext aether_nb")
    assert model not in closed, "the waiting run's widget was closed: it left the page"

    # `%aether resume` shows that same widget (no second one), and the widget still takes the answer
    again = kernel.ok("%aether resume r1", cell_id="cell-resume")
    assert [b[WIDGET]["model_id"] for b in again.bundles if WIDGET in b] == [model], again.bundles
    answer = {"type": "answer", "id": "a-1", "token": token, "payload": "Ada"}
    kernel.kc.shell_channel.send(
        kernel.kc.session.msg("comm_msg", {"comm_id": model, "data": {"method": "custom", "content": answer}})
    )
    done = kernel.ok("print(await run.wait_for('succeeded', timeout=30), run.outputs)")
    assert "succeeded {'a': 'Ada'}" in done.stdout, done.stdout
