"""A cell that starts a batch of runs (aether_nb.notebook.crowd): the first MAX_DRAWN get their live widget, the rest
one line counting them by status and naming the ones waiting for an answer, kept current; ``%aether runs`` lists
every unfinished run and the newest finished ones. In a real kernel."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from aether_nb.notebook.crowd import MAX_DRAWN
from aether_nb.notebook.magics import MAX_FINISHED_LISTED, listed_runs
from tests.kernel_client import Kernel

WIDGET = "application/vnd.jupyter.widget-view+json"

BATCH = r"""
%load_ext aether_nb
import asyncio, importlib, aether_nb as ag
importlib.import_module("aether_nb.notebook.crowd").UPDATE_S = 0.0  # (the line redraws on the next loop turn)
EFFECTS = "EFFECTS_FILE"

@ag.tool(outputs=["ok"])
async def label(doc: int):
    with open(EFFECTS, "a") as f:
        f.write(f"label {doc}\n")
    return {"ok": True}

@ag.graph_fn(name="tagger", outputs=["ok"])
async def tagger(doc: int, *, context):
    await label(doc)
    if doc % 10 == 9:  # some documents need a person
        await context.channel().ask_text(f"tag for doc {doc}?")
    return {"ok": True}
"""

START = """\
runs = [tagger.start(i) for i in range(30)]
await asyncio.gather(*(r.wait_for("waiting" if i % 10 == 9 else "succeeded") for i, r in enumerate(runs)))
for _ in range(3):
    await asyncio.sleep(0)  # (loop turns, not time: the line's redraw is scheduled on the next one)
"""


MANY = """\
done = [await tagger(i * 10) for i in range(110)]
waiting = tagger.start(9)
await waiting.wait_for("waiting")
"""


def _html(bundles: list[dict[str, str]]) -> list[str]:
    return [b["text/html"] for b in bundles if "aether-crowd" in b.get("text/html", "")]


@pytest.mark.kernel
def test_a_batch_draws_the_first_widgets_and_counts_the_rest(kernel: Kernel, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    kernel.ok(BATCH.replace("EFFECTS_FILE", str(effects)))
    res = kernel.ok(START)
    ids = json.loads(kernel.ok("import json; print(json.dumps([r.id for r in runs]))").stdout)
    crowd_waiting = [ids[i] for i in range(MAX_DRAWN, 30) if i % 10 == 9]
    drawn = {b[WIDGET]["model_id"] for b in res.bundles if WIDGET in b}  # (a widget's updates repeat its id)
    # the first MAX_DRAWN, and each run past them once it waits for you: only a widget can take its answer while
    # the cell awaits the batch (the line named it and said ag.get_run(), which the person could not run)
    assert len(drawn) == MAX_DRAWN + len(crowd_waiting)
    texts = [b.get("text/plain", "") for b in res.bundles if WIDGET in b]
    assert all(any(run_id in t for t in texts) for run_id in crowd_waiting), texts
    lines = _html(res.bundles)
    assert "+1 more run started by this cell" in lines[0]  # the line appears with the first run not drawn
    last = lines[-1]
    more = 30 - MAX_DRAWN - len(crowd_waiting)
    assert (
        f"+{more} more runs started by this cell, not drawn ({MAX_DRAWN + len(crowd_waiting)} are): {more} done."
        in last
    )
    assert "Waiting for you" not in last
    # the same line as text, for a reader without HTML (it was "<IPython.core.display.HTML object>")
    texts = [b["text/plain"] for b in res.bundles if "aether-crowd" in b.get("text/html", "")]
    assert texts and texts[-1].startswith(f"+{more} more runs started by this cell"), texts[-1:]
    # answered from code, each once; the batch ends with every label written once
    kernel.ok(
        "for r in runs:\n    if r.status == 'waiting':\n        await r.answer('ok')\nawait asyncio.gather(*runs)"
    )
    assert sorted(effects.read_text().splitlines()) == sorted(f"label {i}" for i in range(30))


@pytest.mark.kernel
def test_runs_lists_every_unfinished_run_and_the_newest_finished_ones(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok(BATCH.replace("EFFECTS_FILE", str(tmp_path / "effects.txt")))
    kernel.ok(MANY)
    res = kernel.ok("%aether runs")
    (text,) = [b["text/plain"] for b in res.bundles if WIDGET in b]
    rows = text.splitlines()[1:]
    assert rows[-1] == "… and 10 older finished runs: ag.runs() returns every run"
    assert len(rows) == 1 + MAX_FINISHED_LISTED + 1  # the waiting run, the newest finished, the line
    assert any(r.startswith(kernel.ok("print(waiting.id)").stdout.strip()) and "tag for doc 9?" in r for r in rows)


def test_listed_runs_keeps_unfinished_ones_wherever_they_are() -> None:
    runs = [SimpleNamespace(id=str(i), done=i % 50 != 7) for i in range(300)]  # newest first
    shown, older = listed_runs(runs)
    unfinished = [r.id for r in runs if not r.done]
    assert [r.id for r in shown if not r.done] == unfinished  # all six, the oldest included
    assert sum(r.done for r in shown) == MAX_FINISHED_LISTED and older == 300 - 6 - MAX_FINISHED_LISTED
    assert [r.id for r in shown] == sorted((r.id for r in shown), key=int)  # still newest first


@pytest.mark.kernel
def test_how_many_widgets_a_cell_draws_is_a_setting(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok(BATCH.replace("EFFECTS_FILE", str(tmp_path / "effects.txt")))
    kernel.ok("ag.configure(widgets_per_cell=3)")
    res = kernel.ok(
        "runs = [tagger.start(i * 10) for i in range(5)]\nawait asyncio.gather(*runs)\nawait asyncio.sleep(0)"
    )
    assert len({b[WIDGET]["model_id"] for b in res.bundles if WIDGET in b}) == 3
    assert "+2 more runs started by this cell, not drawn (3 are): 2 done." in _html(res.bundles)[-1]
    bad = kernel.run("ag.configure(widgets_per_cell=0)")
    assert bad.error is not None and bad.error["ename"] == "UsageError"
    assert "widgets_per_cell must be an int >= 1, got 0" in bad.error["evalue"]


@pytest.mark.kernel
def test_a_batch_a_task_starts_counts_against_its_own_cell(kernel: Kernel, tmp_path: Path) -> None:
    """A cell hands a batch to a task (``asyncio.create_task``) that starts its runs while the person runs the next
    cell, which starts one agent: that cell draws it. The batch's widgets land in the first cell's output (the
    task keeps that cell's request) but were counted against the cell executing meanwhile, so the person's agent
    went into a crowd line drawn in the first cell and its own cell showed nothing."""
    kernel.ok(BATCH.replace("EFFECTS_FILE", str(tmp_path / "effects.txt")))
    kernel.ok(
        "go = asyncio.Event()\n"
        "background = []\n"
        "async def slow_batch():\n"
        "    await go.wait()\n"
        f"    for i in range({MAX_DRAWN + 8}):\n"
        "        background.append(tagger.start(i * 10 + 9))\n"
        "        await asyncio.sleep(0)\n",
    )
    kernel.ok("task = asyncio.create_task(slow_batch())")
    res = kernel.ok(
        "go.set()\nawait task\nsolo = tagger.start(9)\nawait solo.wait_for('waiting')\n"
        "await asyncio.gather(*(r.wait_for('waiting') for r in background))\nawait asyncio.sleep(0)"
    )
    solo = kernel.ok("print(solo.id)").stdout.strip()
    drawn = [b for b in res.bundles if WIDGET in b]
    assert any(solo in b.get("text/plain", "") for b in drawn), [b.get("text/plain") for b in res.bundles]


@pytest.mark.kernel
def test_runs_past_the_drawn_ones_that_wait_are_drawn_a_few_at_a_time(kernel: Kernel, tmp_path: Path) -> None:
    """A batch whose runs all ask: the line's waiting runs get their widget (only a widget can take an answer while
    the cell awaits the batch), as many at once as the cell's first widgets; one answered makes room for the next."""
    kernel.ok(BATCH.replace("EFFECTS_FILE", str(tmp_path / "effects.txt")))
    kernel.ok("ag.configure(widgets_per_cell=2)")
    res = kernel.ok(
        "runs = [tagger.start(i * 10 + 9) for i in range(8)]\n"
        "await asyncio.gather(*(r.wait_for('waiting') for r in runs))\n"
        "for _ in range(3):\n    await asyncio.sleep(0)"
    )
    drawn = {b[WIDGET]["model_id"] for b in res.bundles if WIDGET in b}
    assert len(drawn) == 4  # the first 2, and 2 of the line's waiting runs
    last = _html(res.bundles)[-1]
    assert "+4 more runs started by this cell, not drawn (4 are): 4 waiting for you." in last, last
    assert "each is drawn above as you answer the ones drawn" in last
    ids = kernel.ok("print(' '.join(r.id for r in runs))").stdout.split()
    res = kernel.ok(
        f"await ag.get_run('{ids[2]}').answer('ok')\nfor _ in range(5):\n    await asyncio.sleep(0)\n"
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "print(sorted(ext.views))"
    )
    assert ids[4] in res.stdout and ids[5] not in res.stdout, res.stdout  # the next waiting run, drawn now
    # under the batch's cell, not the cell that answered (the line is updated in place there, too)
    assert not [b for b in res.bundles if WIDGET in b and ids[4] in b.get("text/plain", "")], res.bundles
    assert "+3 more runs started by this cell, not drawn (5 are): 3 waiting for you." in _html(res.bundles)[-1]
