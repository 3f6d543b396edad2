"""A run the kernel was executing when it stopped (a restart mid-tool): nothing executes it now and nothing of it
is lost. It stood in `%aether runs` as "running", and `%load_ext` said nothing about it; now both say it was cut
off and how to go on (`%aether resume` replays its completed steps and goes on from there)."""

from __future__ import annotations

import json

import pytest

from tests.kernel_client import Kernel, kernel

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]

DEFS = """
%load_ext aether_nb
import asyncio, aether_nb as ag

@ag.tool(outputs=["n"])
async def quick() -> dict:
    return {"n": 1}

exporting = asyncio.Event()

@ag.tool(outputs=["ok"])
async def slow_export(n: int) -> dict:
    exporting.set()
    await asyncio.Event().wait()   # still going when the kernel stops
    return {"ok": True}

@ag.graph_fn(name="long_job", outputs=["ok"])
async def long_job():
    n = (await quick())["n"]
    return await slow_export(n)
"""


def test_a_run_cut_off_by_a_restart_is_said_and_listed_as_such(kernel: Kernel) -> None:
    kernel.ok(DEFS)
    kernel.ok(
        "run = long_job.start(run_id='cut-1')\n"
        "await asyncio.wait_for(exporting.wait(), 30)\n"
        "await ag.session().store.barrier()\n"
        "print(run.status)"
    )
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    loaded = kernel.ok("%load_ext aether_nb")
    assert "1 run was cut off while running (cut-1): `%aether resume cut-1`" in loaded.stdout, loaded.stdout
    listed = kernel.ok("%aether runs")
    assert "cut off (the kernel stopped while it ran)" in json.dumps(listed.bundles)


def test_a_notebook_that_picks_its_own_store_hears_about_the_runs_waiting_there(kernel: Kernel, tmp_path) -> None:
    """``%load_ext aether_nb`` then ``ag.configure(store="bookings.duckdb")`` in one cell: after a restart the
    cell said "runs are stored in <notebook>.aether.duckdb" (the file the extension opened before the cell chose
    its own) and nothing of the run waiting in bookings.duckdb, the only hint left once outputs are cleared."""
    setup = f"%load_ext aether_nb\nimport aether_nb as ag\nag.configure(store={str(tmp_path / 'bookings.duckdb')!r})"
    asks = (
        "@ag.graph_fn(name='booking', outputs=['ok'])\n"
        "async def booking(*, context):\n"
        "    ok, _ = await context.channel().ask_approval('Book it?', options=['Book', 'No'])\n"
        "    return {'ok': ok}\n"
    )
    kernel.ok(setup)
    kernel.ok(asks)
    kernel.ok("run = booking.start(run_id='book-1')\nawait run.wait_for('waiting', timeout=30)")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    loaded = kernel.ok(setup)
    assert f"runs are now stored in {tmp_path / 'bookings.duckdb'}" in loaded.stdout, loaded.stdout
    assert "1 run of this store waits for an answer" in loaded.stdout, loaded.stdout
