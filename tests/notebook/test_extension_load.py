"""``%load_ext aether_nb`` when the notebook's store cannot be opened, or a run already lives in memory: the extension
loads all the same (runs kept in memory, and the cell says why and what to do), and a load that fails leaves
nothing behind, so the next ``%load_ext`` tries again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

ASK = """
import aether_nb as ag

@ag.graph_fn(name="hi", outputs=["n"])
async def hi(*, context):
    return {"n": await context.channel().ask_text("Name?")}
"""


@pytest.fixture
def notebook_kernel(tmp_path: Path) -> Iterator[Kernel]:
    """A kernel for ``nb.ipynb`` in ``tmp_path`` (as Jupyter starts it: ``JPY_SESSION_NAME``)."""
    env = {k: v for k, v in os.environ.items() if k != "AETHER_NB_STORE"}
    env["JPY_SESSION_NAME"] = str(tmp_path / "nb.ipynb")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        yield Kernel(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_damaged_store_file_is_said_and_the_notebook_goes_on_in_memory(
    notebook_kernel: Kernel, tmp_path: Path
) -> None:
    damaged = tmp_path / "nb.aether.duckdb"
    damaged.write_text("not a database\n")
    res = notebook_kernel.run("%load_ext aether_nb")
    assert res.error is None, res.error
    assert "could not be opened" in res.stdout and "not a valid DuckDB database file" in res.stdout
    assert "keeps its runs in memory" in res.stdout
    assert "`%aether store nb.aether.duckdb`" in res.stdout  # what to do once the file is moved aside
    assert damaged.read_text() == "not a database\n"  # left as it was
    assert "aether_nb store: :memory:" in notebook_kernel.ok("%aether store").stdout
    notebook_kernel.ok("import os; os.rename('nb.aether.duckdb', 'broken.bak')")
    res = notebook_kernel.ok("%aether store nb.aether.duckdb")
    assert "aether_nb store: nb.aether.duckdb" in res.stdout


def test_a_run_waiting_in_memory_before_load_ext_keeps_the_store_in_memory(notebook_kernel: Kernel) -> None:
    """The run would be left behind by a switch to the notebook's file: ``%load_ext`` refused with a message about
    "switching to another store", left the extension half-installed, and every later ``%load_ext`` did nothing."""
    notebook_kernel.ok(ASK + "r = hi.start()\nawait r.wait_for('waiting', timeout=20)")
    res = notebook_kernel.run("%load_ext aether_nb")
    assert res.error is None, res.error
    assert "live in this kernel's memory" in res.stdout and "switching to another store" not in res.stdout
    assert "`%aether store nb.aether.duckdb`" in res.stdout
    res = notebook_kernel.ok("%aether runs")
    assert "waiting for you" in res.text and "Name?" in res.text
    res = notebook_kernel.run("%reload_ext aether_nb")  # (the same again: unload, then load)
    assert res.error is None, res.error
    assert "aether_nb store: :memory:" in notebook_kernel.ok("%aether store").stdout
    notebook_kernel.ok("await r.answer('Ada'); await r")
    res = notebook_kernel.ok("%aether store nb.aether.duckdb")  # once it ended, the notebook's file
    assert "nb.aether.duckdb" in res.stdout


def test_a_load_that_failed_leaves_nothing_and_the_next_one_loads(kernel: Kernel) -> None:
    res = kernel.run(
        "import aether_nb.notebook.extension as extension\n"
        "said = extension.Extension.report_store\n"
        "def broken(self, *a, **k):\n"
        "    raise RuntimeError('report failed')\n"
        "extension.Extension.report_store = broken\n"
        "%load_ext aether_nb"
    )
    assert res.error is not None and "report failed" in res.error["evalue"]
    failed = res.stdout
    assert "`%aether` not found" in kernel.run("%aether store").stdout  # nothing left behind by the failed load
    kernel.ok("extension.Extension.report_store = said")
    res = kernel.ok("%load_ext aether_nb")  # (it did nothing: the failed extension counted as loaded)
    assert "runs are stored in" in res.stdout
    assert "aether_nb store:" in kernel.ok("%aether store").stdout
    assert "run `%load_ext aether_nb` again" in failed  # the failed load said what to do


def test_reload_ext_after_the_store_was_closed_reloads(notebook_kernel: Kernel) -> None:
    """A store the user closed (``ag.store().close()``): ``%reload_ext`` raised "this store is closed" half way
    through unloading (``%aether`` gone, the extension still listed as loaded, ``%load_ext`` saying so)."""
    assert notebook_kernel.run("%load_ext aether_nb").error is None
    assert notebook_kernel.run("import aether_nb as ag\nag.store().close()").error is None
    res = notebook_kernel.run("%reload_ext aether_nb")
    assert res.error is None, res.error
    runs = notebook_kernel.run("%aether runs")
    assert runs.error is None, runs.error


def test_a_failed_mcp_connect_without_the_extension_gets_its_error_reply(notebook_kernel: Kernel) -> None:
    """The SDK's failure is an exception group: as an MCPError's context it left ipykernel 7.4 without a reply to the
    cell (``'ZMQInteractiveShell' object has no attribute '_last_traceback'``): the cell ran "forever"."""
    res = notebook_kernel.run(
        "import aether_nb as ag\n"
        "await ag.mcp.connect('calc', command=['python', '-c', 'import sys; sys.exit(3)'], timeout_s=20)"
    )
    assert res.error is not None and "MCPError" in str(res.error) and "could not connect" in str(res.error)
