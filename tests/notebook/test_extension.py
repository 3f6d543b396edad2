"""%load_ext aether_nb in a real kernel: the notebook's store, run widgets, the re-run rule, %aether, unload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel
WIDGET = "application/vnd.jupyter.widget-view+json"

AGENTS = """
import asyncio
import aether_nb as ag

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": x * 2}

@ag.graph_fn(name="demo", outputs=["answer"])
async def demo(x: int, *, context: ag.NodeContext):
    d = await double(x)
    await context.channel().send_text(f"Answer: {d['y']}")
    return {"answer": d["y"]}

@ag.graph_fn(outputs=["name"])
async def ask(*, context):
    return {"name": await context.channel().ask_text("Your name?")}
"""


def test_load_ext_opens_the_notebook_store_and_shows_run_widgets(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.ok("import aether_nb as ag; print(ag.store().location)")
    assert res.stdout.strip() == str(tmp_path / "aether.duckdb")
    res = kernel.ok("await demo(x=21)")
    assert any(WIDGET in b for b in res.bundles), res.bundles
    assert "{'answer': 42}" in res.results
    assert "Answer: 42" not in res.stdout  # the chat is in the widget, not printed
    # the widget's state is what the run did
    res = kernel.ok(
        "ext = __import__('aether_nb.notebook.extension', fromlist=['x'])._extensions\n"
        "view = next(iter(ext.values())).views[ag.runs()[0].id]\n"
        "print(view.widget.graph['status'], [n['status'] for n in view.widget.graph['nodes']],"
        " [m['content']['text'] for m in view.widget.messages])"
    )
    assert "succeeded ['DONE'] ['Answer: 42']" in res.stdout
    # at the end, the static fallback is attached for saved notebooks: the transcript at once, the SVG once dot is done
    res = kernel.ok(
        "print('Answer: 42' in view.widget.static_fallback)\n"
        "async def svg_ready():\n"
        "    while '<svg' not in view.widget.static_fallback:\n"
        "        await asyncio.sleep(0.02)\n"
        "await asyncio.wait_for(svg_ready(), 20)\n"
        "print('Answer: 42' in view.widget.static_fallback, view.widget.static_html == view.widget.static_fallback)"
    )
    assert res.stdout.split() == ["True", "True", "True"]


def test_rerunning_a_cell_cancels_its_previous_run_and_says_so(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = ask.start()\nawait run.wait_for('waiting', timeout=20)", cell_id="cell-A")
    kernel.ok("first = run\nrun = ask.start()\nawait run.wait_for('waiting', timeout=20)", cell_id="cell-A")
    res = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "print(first.status, '|', ext.views[first.id].widget.notice, '|', ext.views[run.id].widget.notice)"
    )
    assert res.stdout.startswith("cancelled | Cancelled: the cell was run again")
    assert "has been cancelled" in res.stdout


def test_the_runs_one_execution_starts_never_stop_each_other(kernel: Kernel) -> None:
    """Two agents started one after the other in one cell, and a batch in a list: all go on (the second start
    cancelled the first one, as if the cell had been run again)."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.ok(
        "a = ask.start()\nawait a.wait_for('waiting', timeout=20)\nb = ask.start()\n"
        "await b.wait_for('waiting', timeout=20)\n"
        "batch = [ask.start() for _ in range(3)]\n"
        "await asyncio.gather(*(r.wait_for('waiting', timeout=20) for r in batch))\n"
        "print(a.status, b.status, *(r.status for r in batch))",
        cell_id="cell-A",
    )
    assert res.stdout.split() == ["waiting"] * 5
    res = kernel.ok("await a.answer('Ada')\nprint((await a)['name'], b.status)", cell_id="cell-Z")
    assert res.stdout.split() == ["Ada", "waiting"]


def test_rerunning_a_batch_cell_stops_the_batch_it_started_before(kernel: Kernel) -> None:
    """A cell starts five runs that wait (two drawn, the rest counted in one line), then runs again with a smaller
    batch: each new run stops the one it replaces, and the two no new run replaced stop when the cell ends. With
    fixed run ids the same batch is adopted again and nothing stops; a re-run that starts no run stops nothing."""
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag\nag.configure(widgets_per_cell=2)")
    kernel.ok(AGENTS)
    batch = (
        "runs = [ask.start() for _ in range({n})]\n"
        "await asyncio.gather(*(r.wait_for('waiting', timeout=20) for r in runs))"
    )
    kernel.ok(batch.format(n=5), cell_id="cell-B")
    kernel.ok("first = runs", cell_id="cell-Z")
    kernel.ok(batch.format(n=3), cell_id="cell-B")
    res = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "print(*(r.status for r in first), '|', *(r.status for r in runs))\n"
        "print(ext.views[first[0].id].widget.notice)\nprint(ext.views[runs[0].id].widget.notice)",
        cell_id="cell-Z",
    )
    statuses, first_notice, new_notice = res.stdout.splitlines()
    assert statuses.split() == ["cancelled"] * 5 + ["|"] + ["waiting"] * 3
    assert first_notice == f"Cancelled: the cell was run again and started run {_run_id(kernel, 'runs[0]')}."
    assert "was still going and has been cancelled" in new_notice
    kernel.ok("print(kept := [r.id for r in runs])", cell_id="cell-Z")
    kernel.ok("x = 1", cell_id="cell-B")  # the cell edited to start nothing: its runs go on
    res = kernel.ok("print(*(r.status for r in runs))", cell_id="cell-Z")
    assert res.stdout.split() == ["waiting"] * 3

    fixed = (
        "docs = [ask.start(run_id=f'doc-{i}') for i in range(3)]\n"
        "await asyncio.gather(*(r.wait_for('waiting', timeout=20) for r in docs))"
    )
    kernel.ok(fixed, cell_id="cell-C")
    kernel.ok("before = docs", cell_id="cell-Z")
    kernel.ok(fixed, cell_id="cell-C")
    res = kernel.ok("print(all(a is b for a, b in zip(before, docs)), *(r.status for r in docs))", cell_id="cell-Z")
    assert res.stdout.split() == ["True"] + ["waiting"] * 3


def test_a_cell_that_answers_runs_one_after_another_stops_none_of_them(kernel: Kernel) -> None:
    """After a restart, a person answers the runs that wait from one cell, editing the run id each time: each
    answer resumes its run (which then asks its second question). Answering the second stopped the first: the
    re-run rule took the resumed run for one the cell had started."""
    two = (
        "%load_ext aether_nb\nimport asyncio, aether_nb as ag\n"
        "@ag.graph_fn(name='two', outputs=['a', 'b'])\n"
        "async def two(i: int, *, context):\n"
        "    a = await context.channel().ask_text(f'first {i}?')\n"
        "    b = await context.channel().ask_text(f'second {i}?')\n"
        "    return {'a': a, 'b': b}\n"
    )
    kernel.ok(two)
    kernel.ok(
        "A, B = two.start(1, run_id='two-a'), two.start(2, run_id='two-b')\n"
        "await asyncio.gather(A.wait_for('waiting'), B.wait_for('waiting'))",
        cell_id="cell-S",
    )
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(two)
    answer = "run = ag.get_run('{rid}')\nawait run.answer('yes')\nawait run.wait_for('waiting', timeout=20)"
    kernel.ok(answer.format(rid="two-a"), cell_id="cell-answer")
    kernel.ok(answer.format(rid="two-b"), cell_id="cell-answer")
    res = kernel.ok(
        "print(*(ag.get_run(r).status for r in ('two-a', 'two-b')))\n"
        "print(*(w.prompt for r in ('two-a', 'two-b') for w in ag.get_run(r).waits))",
        cell_id="cell-Z",
    )
    assert res.stdout.splitlines() == ["waiting waiting", "second 1? second 2?"]


def test_an_agent_that_starts_another_in_its_body_is_not_stopped_by_it(kernel: Kernel) -> None:
    """An agent started in one cell starts a helper agent from its body while the person runs another cell: the
    helper's start named the first cell (ipykernel keeps the parent message in a context variable, which the
    agent's task inherited) under the other cell's execution count, so it looked like a re-run of the first cell
    and cancelled the agent that started it."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok(
        "helpers = []\n"
        "started = asyncio.Event()\n"
        "go = asyncio.Event()\n"
        "@ag.graph_fn(name='lead', outputs=['name'])\n"
        "async def lead(*, context):\n"
        "    await go.wait()\n"
        "    helpers.append(ask.start())\n"
        "    started.set()\n"
        "    return {'name': await context.channel().ask_text('Lead name?')}\n"
    )
    kernel.ok("boss = lead.start()", cell_id="cell-A")
    kernel.ok("go.set()\nawait asyncio.wait_for(started.wait(), 20)", cell_id="cell-B")
    res = kernel.ok(
        "await asyncio.gather(boss.wait_for('waiting', timeout=20), helpers[0].wait_for('waiting', timeout=20))\n"
        "print(boss.status, helpers[0].status)",
        cell_id="cell-Z",
    )
    assert res.stdout.split() == ["waiting", "waiting"]
    kernel.ok("again = lead.start()", cell_id="cell-A")  # the first cell run again: its agent is replaced
    res = kernel.ok("print(boss.status)", cell_id="cell-Z")
    assert res.stdout.split() == ["cancelled"]


def _run_id(kernel: Kernel, expression: str) -> str:
    return kernel.ok(f"print({expression}.id)", cell_id="cell-Z").stdout.strip()


def test_same_run_id_is_adopted(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = ask.start(run_id='onb')\nawait run.wait_for('waiting', timeout=20)", cell_id="cell-B")
    kernel.ok("again = ask.start(run_id='onb')", cell_id="cell-B")
    res = kernel.ok("print(again is run, run.status)")
    assert res.stdout.strip() == "True waiting"


def test_magics_and_unload(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("await demo(x=1)")
    res = kernel.ok("%aether runs")
    assert any(WIDGET in b for b in res.bundles)
    # where widgets cannot run (nbconvert, GitHub): the same rows as a table
    (table,) = [b["text/html"] for b in res.bundles if WIDGET in b]
    assert table.startswith("<table class='aether-runs-table'>") and "<td style='padding:2px 8px'>demo</td>" in table
    res = kernel.ok("%aether store")
    assert res.stdout == f"aether_nb store: {tmp_path / 'aether.duckdb'}\n" and not res.results
    for wrong in ("%aether frobnicate", "%aether runs --all", "%aether store a b"):
        res = kernel.run(wrong)
        assert res.error is not None and res.error["ename"] == "UsageError", wrong
    kernel.ok("%unload_ext aether_nb")
    res = kernel.ok("await demo(x=2)")
    assert "assistant: Answer: 4" in res.stdout  # back to the console channel
    assert not any(WIDGET in b for b in res.bundles)


RESUMABLE = """
import aether_nb as ag
COUNTER = "count.txt"

@ag.tool(outputs=["y"])
def charge(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("charged\\n")
    return {"y": x * 2}

@ag.graph_fn(outputs=["name", "y"])
async def onboarding(x: int, *, context):
    c = await charge(x)
    await context.channel().send_text(f"charged {c['y']}")
    name = await context.channel().ask_text("Your name?")
    return {"name": name, "y": c["y"]}
"""


def test_a_waiting_run_survives_a_kernel_restart(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE)
    kernel.ok("run = onboarding.start(x=21, run_id='onb-1')\nawait run.wait_for('waiting', timeout=20)")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE)
    res = kernel.ok("run = ag.get_run('onb-1')\nrun")
    assert any(WIDGET in b for b in res.bundles)
    res = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "w = ext.views['onb-1'].widget\n"
        "print(w.graph['status'], [x['prompt'] for x in w.waits], [m['content'].get('text') for m in w.messages])\n"
        "print(w.notice)"
    )
    assert "waiting ['Your name?'] ['charged 42', 'Your name?']" in res.stdout
    assert "Reattached from the store" in res.stdout
    res = kernel.ok("await run.answer('Ada')\nprint(await run)")
    assert "{'name': 'Ada', 'y': 42}" in res.stdout
    assert (tmp_path / "count.txt").read_text().splitlines() == ["charged"]  # not charged twice


def test_promote_magic_and_graph_display(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("run = demo.start(x=4)\nawait run")
    res = kernel.ok("%aether promote {run.id} demo_static")
    assert res.error is None
    res = kernel.ok(
        "src = run.promote('demo_static')\nexec(src)\nprint(await demo_static(x=4))\ng = demo_static.build()\ng"
    )
    assert "{'answer': 8}" in res.stdout
    assert any(WIDGET in b for b in res.bundles)


def test_the_graph_trait_is_slim_and_the_inspector_fetches_details(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    kernel.ok("await demo(x=21)")
    res = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "view = ext.views[ag.runs()[0].id]\n"
        "print(sorted(view.widget.graph['nodes'][0]))"
    )
    assert res.stdout.strip() == str(
        sorted(
            [
                "id",
                "name",
                "kind",
                "status",
                "shown",
                "label",
                "parent",
                "started_at",
                "ended_at",
                "replayed",
                "has_error",
            ]
        )
    )
    # An unchanged graph is not sent again.
    res = kernel.ok(
        "changes = []\n"
        "view.widget.observe(changes.append, names=['graph'])\n"
        "view.flush(); view.flush()\n"
        "print('CHANGES', len(changes))"
    )
    assert "CHANGES 0" in res.stdout
    # `inspect` replies with one node's details, from the run's graph; an unknown node gets an error reply.
    res = kernel.ok(
        "sent = []\n"
        "view.widget.send = sent.append\n"
        "node_id = view.widget.graph['nodes'][0]['id']\n"
        "view._handle_command({'type': 'inspect', 'id': 'r1', 'node_id': node_id})\n"
        "view._handle_command({'type': 'inspect', 'id': 'r2', 'node_id': 'nope'})\n"
        "while len(sent) < 2:\n"
        "    await asyncio.sleep(0.01)\n"
        "by_id = {m['id']: m for m in sent}\n"
        "print(sorted(by_id['r1']['node']), by_id['r1']['node']['inputs'], by_id['r1']['node']['outputs'])\n"
        "print(by_id['r2']['ok'], 'nope' in by_id['r2']['error'])"
    )
    lines = res.stdout.strip().splitlines()  # node 0: the double() call
    assert lines[0] == "['calls', 'error', 'inputs', 'logs', 'outputs', 'usage', 'warnings'] {'x': 21} {'y': 42}"
    assert lines[1] == "False True"


def test_first_hour_load_ext_says_where_and_configure_prints_nothing(kernel: Kernel, tmp_path: Path) -> None:
    res = kernel.ok("%load_ext aether_nb")
    assert res.stdout == f"aether_nb: runs are stored in {tmp_path / 'aether.duckdb'}\n", "one line, the store path"
    res = kernel.ok("import aether_nb as ag\nag.configure(max_concurrency=4)")
    assert res.results == [] and res.stdout == "", "configure() as a cell's last line shows nothing"
    res = kernel.run(AGENTS + "\nag.configure(nested_sync=True)\ndemo.sync(x=1)")
    assert res.error is not None and "Jupyter kernel" in "\n".join(res.error["traceback"])


def test_stopping_an_awaited_run_prints_one_line(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.run("run = ask.start()\nawait run.wait_for('waiting', timeout=20)\nrun.cancel()\nawait run")
    assert res.error is None, "no traceback for a stopped run"
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("■ Stopped: run ") and "was cancelled" in lines[0]


DUAL = """
import aether_nb as ag

class Pay(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, amount: float, *, context) -> ag.WaitSpec:
        return ag.WaitSpec(kind="approval", prompt=f"Pay **{amount}**?", options=["Pay", "Hold"])
    async def on_resume(self, payload, *, context) -> dict:
        return {"decision": payload["choice"]}

@ag.graph_fn(outputs=["decision", "file"])
async def billing(*, context):
    d = await Pay(amount=12.5)
    files = await context.channel().ask_files("The receipt?")
    return {"decision": d["decision"], "file": files[0].name}
"""


def test_the_chat_keeps_each_question_once_with_its_answer(kernel: Kernel, tmp_path: Path) -> None:
    """A wait no ask_* announced (a DualStageTool) gets its question and answer bubbles from the widget's fold;
    an uploaded file is a files message (name and size), not a Python repr; a finished run offers no control."""
    (tmp_path / "receipt.pdf").write_bytes(b"%PDF-1.4 " + b"x" * 1500)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(DUAL)
    kernel.ok("run = billing.start()\nawait run.wait_for('waiting', timeout=20)")
    kernel.ok("await run.answer('Pay')\nawait run.wait_for('waiting', timeout=20)")
    kernel.ok("await run.answer(['receipt.pdf'])\nprint(await run)")
    res = kernel.ok(
        "import json\n"
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "view = ext.views[run.id]\n"
        "view.flush()\n"
        "print(json.dumps([[m['role'], m['type'], m['content'].get('text'), m['content'].get('files')]"
        " for m in view.widget.messages]))\n"
        "print('WAITS', view.widget.waits)"
    )
    import json

    messages = json.loads(res.stdout.splitlines()[0])
    assert [m[:3] for m in messages] == [
        ["assistant", "text", "Pay **12.5**?"],
        ["user", "text", "Pay"],
        ["assistant", "text", "The receipt?"],
        ["user", "files", "receipt.pdf (1.5 kB)"],
    ]
    assert messages[3][3][0]["name"] == "receipt.pdf" and messages[3][3][0]["size"] == 1509
    assert res.stdout.splitlines()[1] == "WAITS []"


def test_a_timed_out_wait_is_the_reason_the_widget_gives(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(
        "import aether_nb as ag\n"
        "@ag.graph_fn\n"
        "async def hurry(*, context):\n"
        "    return {'a': await context.channel().ask_text('Quick?', timeout_s=0.2)}\n"
        "run = hurry.start()\n"
        "await run.wait_for('failed', timeout=20)"
    )
    res = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "view = ext.views[run.id]\n"
        "view.flush()\n"
        "g = view.widget.graph\n"
        "cause = next(n for n in g['nodes'] if n['id'] == g['failed_node'])\n"
        "print(g['status'], cause['id'], cause['status'], view.widget.waits)\n"
        "print(view.widget.text_summary().splitlines()[1])"
    )
    first, second = res.stdout.strip().splitlines()
    assert first == "failed ask_text_1 FAILED_TIMEOUT []", "the timed-out wait explains the run; no control stays"
    assert second.startswith("failed at ask_text (ask_text_1): WaitTimeout: nobody answered 'Quick?'")


BROKEN = """
import aether_nb as ag

@ag.tool(outputs=["ok"])
def flaky(n: int) -> dict:
    raise ConnectionError(f"warehouse {n} unreachable")

@ag.graph_fn(name="broken")
async def broken(*, context):
    await flaky(3)
    return {}
"""


def test_a_failed_run_shows_only_the_users_frames(kernel: Kernel) -> None:
    """The cell's traceback goes from the cell to the tool's line: no aether_nb, asyncio or worker-thread frame."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(BROKEN)
    res = kernel.run("await broken()")
    assert res.error is not None and res.error["ename"] == "RunFailed"
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(res.error["traceback"]))
    assert "warehouse 3 unreachable" in text and "await flaky(3)" in text and "raise ConnectionError" in text
    for hidden in ("aether_nb/runtime", "concurrent/futures", "asyncio/"):
        assert hidden not in text, f"{hidden} frame shown:\n{text}"


def test_a_run_shown_in_its_cell_does_not_repeat_a_stale_status(kernel: Kernel) -> None:
    """``run = agent.start(); run`` shows the live widget once; the cell's value points to it instead of a
    ``Run(..., status='pending')`` snapshot that the widget soon contradicts."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.ok("run = ask.start()\nrun")
    plain = res.results
    assert any(": see its widget above" in p for p in plain), plain
    assert not any("status='pending'" in p for p in plain), plain


def test_a_resume_after_a_tool_was_redefined_reuses_its_result_and_says_so(kernel: Kernel, tmp_path: Path) -> None:
    """The person edits the tool's cell while the run waits, restarts, and resumes: the step is not run again (every
    effect once), and the widget says that its recorded result was reused (it said nothing)."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE)
    kernel.ok("run = onboarding.start(x=21, run_id='onb-2')\nawait run.wait_for('waiting', timeout=20)")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE.replace("x * 2", "x * 3"))  # the tool's cell, edited and run again
    res = kernel.ok("%aether resume onb-2")
    assert any(WIDGET in b for b in res.bundles)
    res = kernel.ok(
        "run = ag.get_run('onb-2')\n"
        "await run.answer('Ada')\n"
        "print(await run)\n"
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "print(ext.views['onb-2'].widget.notice)\n"
        "print([(w.code, w.node_id) for w in run.history if w.kind == 'warning'])"
    )
    out, notice, warnings = res.stdout.strip().splitlines()
    assert out == "{'name': 'Ada', 'y': 42}"  # the recorded result (the new code would say 63)
    assert notice == (
        "Resumed from the store: completed steps were replayed, not executed again. Tool charge changed since step "
        "charge_1 ran: its recorded result was reused, not re-run (a new run uses the new code)."
    )
    assert warnings == "[('tool_changed', 'charge_1')]"
    assert (tmp_path / "count.txt").read_text() == "charged\n"  # charged once


def test_a_runs_table_row_follows_the_run_its_resume_button_reattached(kernel: Kernel, tmp_path: Path) -> None:
    """Resume clicked in `%aether runs`, the run answered in its widget: the row still said "waiting for you"
    right above a widget that said done. It follows the run now; its question reads as words, not markdown."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE.replace('"Your name?"', '"Your **name**?"'))
    kernel.ok("run = onboarding.start(x=21, run_id='onb-row')\nawait run.wait_for('waiting', timeout=20)")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE.replace('"Your name?"', '"Your **name**?"'))
    res = kernel.ok(
        "from aether_nb.notebook.magics import runs_table\n"
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "table = runs_table(ext)\n"
        "row = next(r for r in table.children if hasattr(r, 'children') and r.children"
        " and 'onb-row' in getattr(r.children[-1], 'value', ''))\n"
        "button, label = row.children\n"
        "print('BEFORE', label.value)\n"
        "button.click()\n"
        "run = ag.get_run('onb-row')\n"
        "await run.answer('Ada')\n"
        "await run\n"
        "print('AFTER', label.value, '|', button.description)"
    )
    before = next(x for x in res.stdout.splitlines() if x.startswith("BEFORE"))
    after = next(x for x in res.stdout.splitlines() if x.startswith("AFTER"))
    assert "waiting for you" in before and "Your name?" in before and "**" not in before, before
    # (the click showed it, the answer in its widget resumed it: the button says so, with nothing left to do)
    assert "waiting" not in after and "Your name?" not in after and after.endswith("| Resumed"), after


def test_a_double_click_on_resume_draws_one_live_widget(kernel: Kernel, tmp_path: Path) -> None:
    """Each click of a Resume button is its own comm message, so the second of a double click looked like another
    cell asking to show the run, and the page had not said yet that it drew the first widget: two live widgets of
    one run, each with its buttons, stacked in the table (a scratch tester in JupyterLab and Notebook 7)."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE)
    kernel.ok("run = onboarding.start(x=21, run_id='onb-dbl')\nawait run.wait_for('waiting', timeout=20)")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(RESUMABLE)
    kernel.ok(
        "from aether_nb.notebook.magics import runs_table\n"
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "table = runs_table(ext)\n"
        "out = next(c for c in table.children if type(c).__name__ == 'Output')\n"
        "row = next(r for r in table.children if hasattr(r, 'children') and r.children"
        " and 'onb-dbl' in getattr(r.children[-1], 'value', ''))\n"
        "row.children[0].click()"
    )
    second = kernel.ok("row.children[0].click()")  # the second click, from another message (as the front end sends)
    assert second.error is None
    assert second.displayed == [] and not any("widget-view" in str(b) for b in second.bundles), second.bundles


def test_a_finished_run_started_again_by_its_run_id_is_shown_and_says_it_ran_nothing(
    kernel: Kernel, tmp_path: Path
) -> None:
    """A notebook run again after a restart (Run All): ``r = demo.start(x=21, run_id="fixed-1"); await r`` returns
    the stored run and showed nothing at all, its old widget cleared (a scratch tester's afternoon)."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    cell = "r = demo.start(x=21, run_id='fixed-1')\nprint(await r)"
    kernel.ok(cell, cell_id="cell-F")
    kernel.ok("ag.session().flush()")  # (as a kernel shut down gracefully does: the run's end is in the store)
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    res = kernel.ok(cell, cell_id="cell-F")
    assert "{'answer': 42}" in res.stdout
    assert any(WIDGET in b for b in res.bundles), res.bundles
    notice = kernel.ok(
        "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
        "print(ext.views['fixed-1'].widget.notice)"
    ).stdout.strip()
    assert notice == (
        "Run fixed-1 had finished already (done): start() with its run_id returned it as it is, and nothing ran again."
    )


def test_a_cell_run_again_while_its_run_goes_on_adopts_it(kernel: Kernel) -> None:
    """Running ``run = ask.start(run_id="live-1")`` again while that run waits returns the same run: the cell shows
    it again and the re-run rule keeps it (the same run is adopted, never cancelled as a run left over)."""
    kernel.ok("%load_ext aether_nb")
    kernel.ok(AGENTS)
    cell = (
        "run = ask.start(run_id='live-1')\nother = ask.start()\n"
        "await asyncio.gather(run.wait_for('waiting', timeout=20), other.wait_for('waiting', timeout=20))"
    )
    kernel.ok(cell, cell_id="cell-L")
    kernel.ok("first_other = other")
    res = kernel.ok(cell, cell_id="cell-L")
    assert any(WIDGET in b for b in res.bundles), res.bundles
    # the fixed-id run keeps its place: the new unnamed run replaces the old unnamed one, not live-1
    res = kernel.ok(
        "await asyncio.sleep(0)\nprint(run.status, first_other.status)\n"
        "await run.answer('Ada')\nprint((await run)['name'])"
    )
    assert res.stdout.split() == ["waiting", "cancelled", "Ada"], res.stdout
