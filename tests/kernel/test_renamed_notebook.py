"""A notebook renamed while its run waits, as JupyterLab does it: "Untitled.ipynb" becomes "orders.ipynb" and the
kernel restarts. Jupyter tells the new kernel the notebook's new name (``JPY_SESSION_NAME``, checked against
jupyter_server: a restart after a rename launches the kernel with the new path), so ``%load_ext`` looks for
``orders.aether.duckdb``. The run waiting in ``Untitled.aether.duckdb`` must not seem gone: the store follows the
notebook (it knows the notebook's cells), the person is told, and the run is answered and does everything once.
A new notebook beside a store whose notebook was deleted is only told where that store is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from tests.kernel_client import Kernel
from tests.notebook_files import notebook_with_cells

pytestmark = pytest.mark.kernel

DEFINITIONS = r"""
import aether_nb as ag
EFFECTS = "EFFECTS_FILE"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\n")

@ag.tool
def pay(item: str) -> str:
    effect(f"pay {item}")
    return f"paid {item}"

@ag.tool
def ship(item: str) -> str:
    effect(f"ship {item}")
    return f"shipped {item}"

@ag.graph_fn(outputs=["paid", "shipped"])
async def order(item: str, *, context):
    paid = await pay(item)
    ok, _ = await context.channel().ask_approval(f"Ship the {item}?")
    return {"paid": paid, "shipped": await ship(item) if ok else "held"}
"""


def _kernel(folder: Path, notebook: Path) -> Kernel:
    env = {k: v for k, v in os.environ.items() if k != "AETHER_NB_STORE"}
    env["JPY_SESSION_NAME"] = str(notebook)  # what jupyter_server sets: the notebook's path
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(folder), env=env)
    return Kernel(km, kc)


@pytest.fixture
def kernels() -> Iterator[list[Kernel]]:
    started: list[Kernel] = []
    yield started
    for k in started:
        k.kc.stop_channels()
        k.km.shutdown_kernel(now=True)


def test_a_renamed_notebook_keeps_its_waiting_run(kernels: list[Kernel], tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    defs = DEFINITIONS.replace("EFFECTS_FILE", str(effects))
    untitled = tmp_path / "Untitled.ipynb"
    notebook_with_cells(untitled, ["load", "defs", "go"])

    first = _kernel(tmp_path, untitled)
    kernels.append(first)
    loaded = first.ok("%load_ext aether_nb", cell_id="load")
    assert f"runs are stored in {tmp_path / 'Untitled.aether.duckdb'}" in loaded.stdout
    first.ok(defs, cell_id="defs")
    start = "run = order.start(item='lamp', run_id='order-1')\nawait run.wait_for('waiting', timeout=60)"
    first.ok(start, cell_id="go")
    assert effects.read_text().splitlines() == ["pay lamp"]
    first.km.shutdown_kernel(now=True)  # JupyterLab's restart; killed, so the store is not even closed

    renamed = tmp_path / "orders.ipynb"
    untitled.rename(renamed)  # JupyterLab's "Rename Notebook..."
    second = _kernel(tmp_path, renamed)
    kernels.append(second)
    loaded = second.ok("%load_ext aether_nb", cell_id="load")
    assert "this notebook's store was Untitled.aether.duckdb (the notebook was renamed)" in loaded.stdout
    assert f"runs are stored in {tmp_path / 'orders.aether.duckdb'}" in loaded.stdout
    assert "1 run of this store waits for an answer" in loaded.stdout
    assert not (tmp_path / "Untitled.aether.duckdb").exists()

    second.ok(defs, cell_id="defs")
    done = second.ok(
        "run = ag.get_run('order-1')\nprint('WAITS', [w.prompt for w in run.waits])\nawait run.answer(True)\n"
        "print('OUT', await run)",
        cell_id="go",
    )
    assert "WAITS ['Ship the lamp?']" in done.stdout
    assert "OUT {'paid': {'result': 'paid lamp'}, 'shipped': {'result': 'shipped lamp'}}" in done.stdout
    assert effects.read_text().splitlines() == ["pay lamp", "ship lamp"]  # paid once, shipped once


def test_a_new_notebook_beside_a_deleted_one_is_told_where_its_store_is(kernels: list[Kernel], tmp_path: Path) -> None:
    old = tmp_path / "draft.ipynb"
    notebook_with_cells(old, ["a1"])
    first = _kernel(tmp_path, old)
    kernels.append(first)
    first.ok("%load_ext aether_nb\nimport aether_nb as ag\nag.store().kv_set('notebook', 'x', 1, None)", cell_id="a1")
    first.km.shutdown_kernel(now=False)
    old.unlink()  # the person deleted the notebook; its store stays

    fresh = tmp_path / "report.ipynb"
    notebook_with_cells(fresh, ["b1"])
    second = _kernel(tmp_path, fresh)
    kernels.append(second)
    loaded = second.ok("%load_ext aether_nb", cell_id="b1")
    assert f"runs are stored in {tmp_path / 'report.aether.duckdb'}" in loaded.stdout
    assert "draft.aether.duckdb beside this notebook belongs to no notebook here" in loaded.stdout
    assert "`%aether store draft.aether.duckdb` opens it" in loaded.stdout
    assert (tmp_path / "draft.aether.duckdb").exists()  # not taken: it knew none of this notebook's cells


def test_a_copy_of_a_renamed_notebook_does_not_take_its_store(kernels: list[Kernel], tmp_path: Path) -> None:
    """``nb.ipynb`` copied to ``nb-Copy1.ipynb`` (same cell ids), then renamed to ``orders.ipynb``; the copy opened
    first took over ``nb.aether.duckdb`` and the original's waiting run. It is told instead, and the renamed
    original takes its store over when it loads."""
    original = notebook_with_cells(tmp_path / "nb.ipynb", ["load", "go"])
    first = _kernel(tmp_path, original)
    kernels.append(first)
    first.ok("%load_ext aether_nb\nimport aether_nb as ag\nag.store().kv_set('notebook', 'x', 1, None)", cell_id="load")
    first.km.shutdown_kernel(now=False)
    copy = tmp_path / "nb-Copy1.ipynb"
    copy.write_bytes(original.read_bytes())  # File > Duplicate
    renamed = tmp_path / "orders.ipynb"
    original.rename(renamed)

    second = _kernel(tmp_path, copy)
    kernels.append(second)
    loaded = second.ok("%load_ext aether_nb", cell_id="load")
    assert f"runs are stored in {tmp_path / 'nb-Copy1.aether.duckdb'}" in loaded.stdout
    assert "nb.aether.duckdb belongs to no notebook here" in loaded.stdout and "orders.ipynb" in loaded.stdout
    assert "`%aether store nb.aether.duckdb` opens it" in loaded.stdout
    assert (tmp_path / "nb.aether.duckdb").exists()
    second.km.shutdown_kernel(now=False)

    third = _kernel(tmp_path, renamed)
    kernels.append(third)
    code = "%load_ext aether_nb\nimport aether_nb as ag\nprint(ag.store().kv_get('notebook', 'x'))"
    loaded = third.ok(code, cell_id="load")
    assert "this notebook's store was nb.aether.duckdb (the notebook was renamed)" in loaded.stdout
    assert "(1, None)" in loaded.stdout
