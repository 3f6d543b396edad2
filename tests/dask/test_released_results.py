"""A finished body's result is released on the cluster once it reached the kernel, so losing the worker that held it
runs nothing again (exactly once), whatever the garbage collector does.

Its own module (and so its own cluster): it kills a worker.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.executors.dask import DaskExecutor
from aether_nb.runtime.session import Session
from tests.dask.conftest import KernelLoop, cell

TOOLS = """
import os
import aether_nb as ag


@ag.tool(outputs=["y"])
def effect(tag: str, log: str):
    with open(log, "a") as f:
        f.write(f"{tag} {os.getpid()}\\n")
    return {"y": tag}
"""


def _effect_keys(dask_scheduler: Any = None) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("effect-")]


async def _until_forgotten(ex: DaskExecutor, seconds: float) -> list[str]:
    """The scheduler's ``effect`` keys, polled until there are none (or ``seconds`` have passed)."""
    client = ex.client
    keys: list[str] = await client.run_on_scheduler(_effect_keys)
    for _ in range(int(seconds / 0.05)):
        if not keys:
            break
        await asyncio.sleep(0.05)
        keys = await client.run_on_scheduler(_effect_keys)
    return keys


def test_a_finished_body_is_forgotten_by_the_cluster_and_never_runs_again_when_its_worker_dies(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    effect = cell(TOOLS, tmp_path)["effect"]
    log = tmp_path / "effects.txt"

    @ag.graphify(name="dask_once", inputs=["tag", "log"], outputs=["y"])
    def once(tag, log):  # type: ignore[no-untyped-def]
        return {"y": effect(tag=tag, log=log).y}

    def effects() -> list[str]:
        return log.read_text().splitlines()

    async def main() -> tuple[list[str], list[str], list[str]]:
        client = cluster.client
        assert await once(tag="A", log=str(log), executor=cluster) == {"y": "A"}
        left = await _until_forgotten(cluster, 10)
        ran_a = effects()
        victim = int(ran_a[0].split()[1])
        os.kill(victim, signal.SIGKILL)
        while victim in (await client.run(os.getpid, on_error="ignore")).values():
            await asyncio.sleep(0.05)
        await client.wait_for_workers(2)  # the nanny restarted it
        # Another body after the loss: a recomputed A would have been scheduled at the loss, before it.
        assert await once(tag="B", log=str(log), executor=cluster) == {"y": "B"}
        return left, ran_a, effects()

    # No collection may run: the result must be released by the executor itself, not when a cycle is collected.
    gc.disable()
    try:
        left, ran_a, after = kernel.run(main(), timeout=90)
    finally:
        gc.enable()
    assert left == []  # the scheduler forgot the finished task (no worker keeps its result)
    assert len(ran_a) == 1
    assert [line.split()[0] for line in after] == ["A", "B"]  # A ran once, before and after its worker died
