"""In a real kernel: what a run's widget says stays true after what it promised is over, and what a notebook saved
headless keeps of a run is where the run is.

* A notice that says what to do with an unfinished run ("answer below to resume it", "this is its live widget") goes
  when the run ends: it stood beside "stopped" and "done".
* ``%aether resume`` of a run whose live widget is in another cell prints a pointer, and leaves that widget's notice
  alone (it wrote "already executing in this kernel: this is its live widget" into it, for good).
* A run cut off by a dead kernel and shown again is not told to be answered: it has nothing to answer.
* A notebook executed headless kept the fallback (``text/plain``, ``text/html``) made when the run was displayed,
  and saved a run that waited at its question as "starting": each display follows the run to where it rests.
"""

from __future__ import annotations

import pytest

from aether_nb.runtime import status
from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

EXT = (
    "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
    "from aether_nb.notebook.page_views import current_page\n"
)

AGENTS = """
import asyncio, os
import aether_nb as ag

@ag.tool(outputs=["y"])
def prep(x: int) -> dict:
    return {"y": x + 1}

@ag.tool(outputs=["y"])
async def slow_step(x: int) -> dict:
    await asyncio.sleep(float(os.environ.get("SLOW_STEP_S", "0")))
    return {"y": x}

@ag.graph_fn(name="asker", outputs=["name"])
async def asker(*, context: ag.NodeContext):
    await prep(x=1)
    return {"name": await context.channel().ask_text("Your name?")}

@ag.graph_fn(name="slowpoke", outputs=["y"])
async def slowpoke(*, context: ag.NodeContext):
    a = await prep(x=1)
    return await slow_step(x=a["y"])
"""


def _restart(kernel: Kernel) -> None:
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)


def test_a_reattached_waiting_run_stopped_no_longer_says_to_answer_it(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = asker.start(run_id='stale-1')\nawait run.wait_for('waiting', timeout=20)")
    _restart(kernel)
    kernel.ok("run = ag.get_run('stale-1')\nrun")
    before = kernel.ok(EXT + "view = ext.views['stale-1']\nprint(view.widget.notice)").stdout.strip()
    assert before.startswith("Reattached from the store: answer below")
    after = kernel.ok(
        "run.cancel()\nawait run.wait_for('cancelled', timeout=20)\nview.flush()\n"
        "print(view.widget.graph['status'], len(view.widget.waits), repr(view.widget.notice))"
    ).stdout.strip()
    assert after == "cancelled 0 ''"


def test_a_run_cut_off_by_a_restart_is_shown_without_a_notice_to_answer_it(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok("import os; os.environ['SLOW_STEP_S'] = '60'\n" + AGENTS)
    kernel.ok(
        "run = slowpoke.start(run_id='cut-2')\n"
        "while 'slow_step_1' not in run.graph:\n    await asyncio.sleep(0.01)\n"
        "ag.session().flush()"
    )
    _restart(kernel)
    res = kernel.ok("run = ag.get_run('cut-2')\nrun")
    text = next(b["text/plain"] for b in res.bundles if "text/plain" in b)
    assert text.splitlines()[0] == f"run slowpoke (cut-2): {status.CUT_OFF}, 2 steps · 1 stopped · 1 done"
    shown = kernel.ok(
        EXT + "w = ext.views['cut-2'].widget\nprint(repr(w.notice), bool(w.graph.get('cut_off')), w.graph['status'])"
    ).stdout.strip()
    assert shown == "'' True running"
    done = kernel.ok("print(await run)\nprint(bool(w.graph.get('cut_off')), repr(w.notice))").stdout
    assert "{'y': 2}" in done and "False 'Resumed from the store" in done


def test_resume_of_a_run_live_in_another_cell_leaves_that_widget_alone(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = asker.start(run_id='r-notice')\nawait run.wait_for('waiting', timeout=20)", cell_id="cell-A")
    kernel.ok(EXT + "view = ext.views['r-notice']\nview.pages.report(current_page(), 'v1')", cell_id="cell-B")  # drawn
    res = kernel.ok("%aether resume r-notice", cell_id="cell-C")
    assert "see its widget" in "".join(res.results) or "↑ run r-notice" in "".join(res.results), res.results
    assert kernel.ok("print(repr(view.widget.notice))", cell_id="cell-D").stdout.strip() == "''"
    # Shown here (its widget's output was cleared: no page shows it), the notice is said, until the run ends.
    kernel.ok("view.pages.gone(current_page(), 'v1')", cell_id="cell-E")
    kernel.ok("%aether resume r-notice", cell_id="cell-F")
    said = kernel.ok("print(view.widget.notice)", cell_id="cell-G").stdout.strip()
    assert said == "Run r-notice is already executing in this kernel: this is its live widget."
    after = kernel.ok(
        "await run.answer('Ada'); await run\nview.flush()\n"
        "print(view.widget.graph['status'], repr(view.widget.notice))",
        cell_id="cell-H",
    ).stdout.strip()
    assert after == "succeeded ''"


def test_a_waiting_run_s_displays_follow_it_to_its_question(kernel: Kernel) -> None:
    """What nbconvert --execute (no widget state) saves: the display's last text/plain and text/html."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.ok("run = asker.start(run_id='w-1')\nprint(await run.wait_for('waiting', timeout=20))")
    assert res.displayed, "the run's widget is displayed under the cell"
    assert res.displayed[0] in res.updated, "its display is updated once it waits"
    last = res.bundles[-1]
    assert last["text/plain"].splitlines()[0] == "run asker (w-1): waiting for you, 2 steps · 1 waiting · 1 done"
    assert "Your name?" in last["text/plain"]
    assert "asker · waiting for you · w-1" in last["text/html"] and "Your name?" in last["text/html"]
    # one update for the status change, not one per event
    assert len(res.updated) <= 2, res.updated

    # A page that draws the widget saves the display data it received: the display follows the run to its
    # question all the same (test_widget_pages), and to its end.
    res = kernel.ok(
        EXT + "run = asker.start(run_id='w-2')\next.views['w-2'].pages.report(current_page(), 'v1')\n"
        "print(await run.wait_for('waiting', timeout=20))"
    )
    assert res.displayed and res.updated, res.updated
    assert "Your name?" in res.bundles[-1]["text/plain"]
    res = kernel.ok("await run.answer('Ada'); await run")
    assert res.updated, "its end updates every display"
