"""In a real kernel: what ``%aether`` lines say of themselves (found by a tester in JupyterLab).

* ``%aether promote``'s ``PromotionWarning`` named aether_nb's own line (``.../notebook/magics.py:92`` and
  ``source = run.promote(...)``): it names the user's cell, as ``run.promote()`` called in a cell does.
* In the ``%aether runs`` table, a clicked Resume showed the live widget below and the row said "running", but the
  button still said "Resume", and a second click did nothing and said nothing: the button says what the click did
  and has nothing left to do (disabled), and a click it cannot act on says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

NOTER = """
import aether_nb as ag
ag.configure(store=":memory:")

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": 2 * x}

@ag.graph_fn(name="noter", outputs=["y"])
async def noter(x: int, *, context: ag.NodeContext):
    await context.kv().set("last", x)
    d = await double(x)
    return {"y": d["y"]}

await noter(x=2)
run_id = ag.runs(graph="noter")[0].id
"""


def test_promote_s_warning_names_the_users_cell_not_aether_nb(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(NOTER)
    said = kernel.ok("%aether promote $run_id").stdout  # (stderr too)
    assert "PromotionWarning: the graph promoted from run" in said and "kv.set_1" in said, said
    assert "aether_nb" not in said.split("PromotionWarning")[0], said  # no file of the package named
    assert "run.promote(" not in said and "magics.py" not in said, said
    assert "run_line_magic('aether', 'promote $run_id')" in said, said  # the cell's line


LOADER = """
import asyncio
import aether_nb as ag

@ag.tool(outputs=["rows"])
async def slow_load(n: int) -> dict:
    await asyncio.sleep(n)
    return {"rows": n}

@ag.graph_fn(name="loader", outputs=["rows"])
async def loader(n: int, *, context: ag.NodeContext):
    a = await slow_load(0)
    b = await slow_load(n)
    return {"rows": a["rows"] + b["rows"]}
"""

TABLE = (
    "from aether_nb.notebook.magics import runs_table\n"
    "ext = next(iter(__import__('aether_nb.notebook.extension', fromlist=['x'])._extensions.values()))\n"
    "table = runs_table(ext)\n"
    "out = next(c for c in table.children if type(c).__name__ == 'Output')\n"
    "row = next(r for r in table.children if hasattr(r, 'children') and r.children"
    " and 'cut-tbl' in getattr(r.children[-1], 'value', ''))\n"
    "button, label = row.children\n"
)


def test_a_clicked_resume_button_says_resumed_and_a_click_it_cannot_act_on_says_why(
    kernel: Kernel, tmp_path: Path
) -> None:
    kernel.ok("%load_ext aether_nb")
    kernel.ok(LOADER)
    # cut off while its second step runs (the kernel restarted)
    kernel.ok(
        "run = loader.start(n=60, run_id='cut-tbl')\n"
        "while 'slow_load_2' not in run.graph:\n    await asyncio.sleep(0.01)\n"
        "ag.session().flush()"
    )
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok("%load_ext aether_nb")
    kernel.ok(LOADER.replace("await asyncio.sleep(n)", "await asyncio.sleep(0)"))
    before = kernel.ok(TABLE + "print('BEFORE', button.description, button.disabled, '|', label.value)").stdout
    assert "BEFORE Resume False | cut-tbl · loader · cut off" in before, before
    after = kernel.ok(
        "button.click()\nrun = ag.get_run('cut-tbl')\n"
        "print('AFTER', button.description, button.disabled, repr(button.tooltip))"
    ).stdout
    assert 'AFTER Resumed True "Run cut-tbl\'s widget is shown below this table"' in after, after
    # A click sent before the page had the button disabled (a double click) acts no more, and says why
    again = kernel.ok("button.click()\nprint('OUT', [o.get('text') for o in out.outputs][-1:])")
    assert again.displayed == [] and not any("widget-view" in str(b) for b in again.bundles), again.bundles
    assert "Run cut-tbl is shown below already: its widget there follows it." in again.stdout, again.stdout
    done = kernel.ok("print(await run)\nprint('DONE', button.description, button.disabled, '|', label.value)").stdout
    assert "{'rows': 60}" in done and "DONE Resumed True | cut-tbl · loader · done" in done, done
