"""The ``%aether runs`` table's rows follow their runs however they go on, not only through the table's button.

Found by a tester in JupyterLab: after a restart the table said of a run "cut off (…): Resume goes on from its last
completed step"; the run was resumed by running its agent's cell again and finished, yet its row kept saying "cut
off", its Resume button stayed, and a click on it turned the button to "Shown" beside the same stale row.
"""

from __future__ import annotations

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

DEFS = """
%load_ext aether_nb
import asyncio, aether_nb as ag

exporting = asyncio.Event()
STOP_HERE = {stop}

@ag.tool(outputs=["n"])
async def quick() -> dict:
    return {{"n": 1}}

@ag.tool(outputs=["ok"])
async def slow_export(n: int) -> dict:
    exporting.set()
    if STOP_HERE:
        await asyncio.Event().wait()   # still going when the kernel stops
    return {{"ok": True}}

@ag.graph_fn(name="long_job", outputs=["ok"])
async def long_job():
    n = (await quick())["n"]
    return await slow_export(n)
"""

ROW = "row = table.children[1].children\nprint(row[0].description, '|', row[1].value)"


def test_a_row_follows_a_run_resumed_by_another_cell(kernel: Kernel) -> None:
    kernel.ok(DEFS.format(stop=True), cell_id="cell-defs")
    kernel.ok(
        "run = long_job.start(run_id='cut-1')\n"
        "await asyncio.wait_for(exporting.wait(), 30)\n"
        "await ag.session().store.barrier()",
        cell_id="cell-start",
    )
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(DEFS.format(stop=False), cell_id="cell-defs")
    kernel.ok("%aether runs", cell_id="cell-table")
    before = kernel.ok("table = _\n" + ROW).stdout
    assert before.startswith("Resume | cut-1 · long_job · cut off"), before

    # the agent's cell again, with the same run id: the run goes on from its last completed step, and finishes
    kernel.ok("run = long_job.start(run_id='cut-1')\nawait run", cell_id="cell-start")
    after = kernel.ok(ROW).stdout
    assert "cut off" not in after and after.startswith("Show | cut-1 · long_job · done"), after

    # a click shows its widget below the table: the row still says what the run is
    kernel.ok("row[0].click()")
    clicked = kernel.ok(ROW).stdout
    assert clicked.startswith("Shown | cut-1 · long_job · done"), clicked


def test_the_row_of_a_waiting_run_follows_its_answer(kernel: Kernel) -> None:
    """Answered in its own widget (or in code), a run the table listed as "waiting for you" ended: its row kept
    saying "waiting for you" and its open question."""
    kernel.ok(
        "%load_ext aether_nb\nimport aether_nb as ag\n"
        "@ag.graph_fn(name='asker', outputs=['a'])\n"
        "async def asker(*, context):\n"
        "    return {'a': await context.channel().ask_text('Your name?')}"
    )
    kernel.ok("run = asker.start(run_id='w-1')\nrun", cell_id="cell-start")
    kernel.ok("await run.wait_for('waiting', timeout=30)")
    kernel.ok("%aether runs", cell_id="cell-table")
    assert "waiting for you" in kernel.ok("table = _\n" + ROW).stdout
    kernel.ok("await run.answer('Ada')\nawait run")
    after = kernel.ok(ROW).stdout
    assert after.startswith("Show | w-1 · asker · done") and "Your name?" not in after, after
