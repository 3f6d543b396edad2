"""In a real kernel: a second cell points to a run's widget only when a view of it is drawn on that cell's own page,
and a run's displays carry where it rests (waiting at its question) even while a page draws its widget.

A page is one browser tab's connection to the kernel; the kernel tells pages apart by the client session every
message carries (``header.session``). These tests play a page's widget views by sending the comm messages its front
end sends (``view``/``unview``, js/lib/presence.ts), from this client's session (the page that executes the cells)
or from another one (a page reloaded since, or a second tab).
"""

from __future__ import annotations

import pytest

from tests.kernel_client import CellResult, Kernel

pytestmark = pytest.mark.kernel

EXT = "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"

AGENTS = """
import asyncio
import aether_nb as ag

@ag.graph_fn(name="asker", outputs=["name"])
async def asker(*, context: ag.NodeContext):
    return {"name": await context.channel().ask_text("Your name?")}

gate = asyncio.Event()  # (a test lets the run go on once the page draws its widget)

@ag.graph_fn(name="twice", outputs=["both"])
async def twice(*, context: ag.NodeContext):
    await gate.wait()
    first = await context.channel().ask_text("First name?")
    last = await context.channel().ask_text("Last name?")
    return {"both": first + " " + last}
"""


def _front_end(kernel: Kernel, run_id: str, kind: str, key: str, page: str | None = None) -> None:
    """Send what a widget view of ``run_id`` sends when it is drawn (``view``) or goes (``unview``), as the page
    ``page`` (None: this client's page, the one executing the cells)."""
    comm_id = kernel.ok(EXT + f"print(ext.views[{run_id!r}].widget.model_id)").stdout.strip()
    content = {"type": kind, "id": f"{kind}-{key}", "key": key}
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
    if page is not None:
        msg["header"]["session"] = page
    kernel.kc.shell_channel.send(msg)


def _execute_as(kernel: Kernel, code: str, page: str, cell_id: str) -> CellResult:
    """Execute ``code`` as a cell of another page (a second tab on the same kernel)."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    msg = kernel.kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
    msg["header"]["session"] = page
    kernel.kc.shell_channel.send(msg)
    return kernel.collect(msg["header"]["msg_id"], code)


def _pointer(text: str, run_id: str) -> bool:
    return f"↑ run {run_id} (asker): see its widget under cell" in text


def test_a_pointer_only_to_a_widget_drawn_on_the_page_of_the_cell(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = asker.start(run_id='pg-1')\nawait run.wait_for('waiting', timeout=20)", cell_id="cell-A")

    # Its widget is drawn on another page (the page before a reload, or a second tab): this page has no widget of
    # the run, so the cell draws one, with its question, rather than point at a cell that shows nothing here.
    _front_end(kernel, "pg-1", "view", "v-old", page="page-before-reload")
    res = kernel.ok("%aether resume pg-1", cell_id="cell-B")
    assert not _pointer(res.text, "pg-1"), res.text
    assert res.displayed, "the widget is drawn under the cell"
    assert any("Your name?" in b.get("text/plain", "") for b in res.bundles), res.bundles

    # Drawn on this page (the view of cell B): the next cell points to it.
    _front_end(kernel, "pg-1", "view", "v-here")
    res = kernel.ok("%aether resume pg-1", cell_id="cell-C")
    assert _pointer(res.text, "pg-1"), res.text
    assert not res.displayed

    # That view went (its output was cleared, or the page unloaded): no pointer to it any more.
    _front_end(kernel, "pg-1", "unview", "v-here")
    res = kernel.ok("%aether resume pg-1", cell_id="cell-D")
    assert not _pointer(res.text, "pg-1"), res.text
    assert res.displayed


def test_a_watched_waiting_run_s_displays_carry_its_question(kernel: Kernel) -> None:
    """JupyterLab saves the display data its page received: the fallback follows the run to each rest while a page
    draws the widget too (it said "starting" beside a run that waited), once per rest, not per step."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = twice.start(run_id='pg-2')\nrun", cell_id="cell-A")
    _front_end(kernel, "pg-2", "view", "v1")  # this page draws it
    res = kernel.ok("gate.set()\nprint(await run.wait_for('waiting', timeout=20))", cell_id="cell-B")
    assert res.updated, "the display is updated once the run waits, though a page draws the widget"
    last = res.bundles[-1]
    assert last["text/plain"].splitlines()[0].startswith("run twice (pg-2): waiting for you"), last["text/plain"]
    assert "First name?" in last["text/plain"] and "First name?" in last["text/html"]
    assert len(res.updated) <= 2, res.updated

    # Answered, it waits at its next question: "waiting" again, and the saved copy shows that question now.
    res = kernel.ok(
        "await run.answer('Ada')\n"
        "while not any(w.prompt == 'Last name?' for w in run.waits):\n    await asyncio.sleep(0.01)\n"
        "await asyncio.sleep(0.3)",
        cell_id="cell-C",
    )
    assert res.updated, "the display follows the run to its next question"
    last = res.bundles[-1]
    assert "? Last name?" in last["text/plain"] and "Ada" in last["text/plain"], last["text/plain"]
    assert len(res.updated) <= 2, res.updated


def test_two_tabs_each_draw_the_run_and_a_cell_run_again_points_to_no_cleared_widget(kernel: Kernel) -> None:
    """Tab A shows the run under cell A; tab B shows it with ``%aether resume`` (tab B has no widget of it: it draws
    one). Tab A runs cell A again: the page clears that cell's output as it sends it, so its view says it went only
    after the cell started; the cell draws the widget again, not a pointer to tab B's cell."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    start = "run = asker.start(run_id='pg-3')\nrun"
    kernel.ok(start, cell_id="cell-A")
    _front_end(kernel, "pg-3", "view", "v-a")  # tab A draws it under cell A
    res = _execute_as(kernel, "%aether resume pg-3", "tab-B", "cell-B")
    assert not _pointer(res.text, "pg-3") and res.displayed, res.text  # tab B has no widget of the run: drawn
    _front_end(kernel, "pg-3", "view", "v-b", page="tab-B")
    res = kernel.ok("%aether resume pg-3", cell_id="cell-C")
    assert _pointer(res.text, "pg-3"), res.text  # tab A has its widget under cell A
    res = kernel.ok(start, cell_id="cell-A")  # (v-a has not said it went yet)
    assert not _pointer(res.text, "pg-3") and res.displayed, res.text
