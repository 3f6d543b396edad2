"""Scale-out benchmark (issue 18): a fan-out of CPU-bound tools on the kernel's thread pool vs a 2-worker Dask
cluster, measured in the same run, and what remote dispatch costs per node.

    python bench/dask_bench.py [--nodes 64] [--ms 50] [--reps 3] [--json bench/results/dask.json]

Workloads (each a ``@graphify`` fan-out; the tools are defined in this script, i.e. in ``__main__``, so they travel
to the workers by value as a notebook's would):

* **fan-out**: ``--nodes`` nodes of ``--ms`` ms of pure-Python CPU each (the iteration count is calibrated once, so
  every node does the same work everywhere). Baselines: the same work called serially in this process (one core,
  no framework), and the same graph on the thread pool (the default executor: the GIL lets one body run at a time).
  Reported: the cluster's time as a ratio of the thread pool's (2 workers on 2 idle cores: ~0.5), and of the ideal
  (serial time / 2), and how many cores the bodies got (their threads' CPU time / the run's wall time: at most 1 on
  the thread pool, the GIL; at most 2 on the cluster). On a machine whose cores other processes take, the workers
  get less than 2 and the ratio shows that, not Dask.
* **dispatch overhead**: 200 no-op nodes, fanned out and in a chain of 50, on the cluster and on threads; and the
  same 200 no-op tasks through Dask's own client (``client.submit``), the baseline for what aether_nb adds per node
  on top of Dask.

Times are medians of ``--reps`` runs after one warm-up run each (the warm-up ships the code and imports to the
workers); the cases take turns, so a change in the machine's load hits all of them alike.
Cluster start-up is reported apart. It reports; it never asserts (see README.md, "Scale out (Dask)").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore


def spin(n: int) -> int:
    """Pure-Python CPU work: ``n`` iterations (holds the GIL throughout)."""
    x = 0
    for i in range(n):
        x += i * i % 7
    return x


@ag.tool(outputs=["x", "cpu", "wall"])
def burn(n: int) -> dict[str, float]:
    """The work, with the CPU time its thread got and the wall time it took (their ratio: its share of a core)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    x = spin(n)
    return {"x": x, "cpu": time.thread_time() - cpu, "wall": time.perf_counter() - wall}


def fan_out(count: int) -> ag.GraphifyFn:
    @ag.graphify(name=f"bench_fan_{count}", inputs=["n"], outputs=["cpu", "wall"])
    def fan(n):
        nodes = [burn(n=n) for _ in range(count)]
        return {"cpu": [b.cpu for b in nodes], "wall": [b.wall for b in nodes]}

    return fan


def chain(count: int) -> ag.GraphifyFn:
    @ag.graphify(name=f"bench_chain_{count}", inputs=["n"], outputs=["x"])
    def line(n):
        last = burn(n=n)
        for _ in range(count - 1):
            last = burn(n=n, _after=[last])
        return {"x": last.x}

    return line


def calibrate(ms: float) -> int:
    """Iterations of :func:`spin` that take ``ms`` milliseconds here (median of 5 probes)."""
    probe = 200_000
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        spin(probe)
        rates.append(probe / (time.perf_counter() - t0))
    return int(statistics.median(rates) * ms / 1000)


async def interleaved(
    cases: dict[str, Callable[[], Awaitable[Any]]], reps: int
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Median time of each case, and ``(time, returned)`` of each repetition; one warm-up each, then the cases take
    turns, so a change of the machine's load during the run hits every case alike (this machine is shared)."""
    for fn in cases.values():
        await fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    returned: dict[str, list[Any]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            returned[name].append(await fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}, {
        name: list(zip(times[name], returned[name], strict=True)) for name in cases
    }


def fresh_session() -> None:
    """Each measurement in a fresh in-memory session: history from earlier runs costs nothing later."""
    session_mod.set_default_session(install_builtin_services(Session(MemoryStore())))


async def measure(nodes: int, ms: float, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"nodes": nodes, "ms_per_node": ms, "reps": reps}
    n = calibrate(ms)
    out["iterations_per_node"] = n
    fan, noop_fan, noop_chain = fan_out(nodes), fan_out(200), chain(50)

    async def serial() -> None:
        for _ in range(nodes):
            spin(n)

    async def on(executor: Any, graph: ag.GraphifyFn, iterations: int) -> dict[str, Any]:
        fresh_session()
        outputs: dict[str, Any] = await graph.start(n=iterations, executor=executor)
        return outputs

    t0 = time.perf_counter()
    ex = ag.DaskExecutor(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    await ex.start()
    out["cluster_start_s"] = time.perf_counter() - t0
    client = ex.client

    async def raw_dask() -> None:
        await client.gather([client.submit(spin, 0, pure=False) for _ in range(200)])

    async def raw_dask_chain() -> None:
        for _ in range(50):
            await client.submit(spin, 0, pure=False)

    try:
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "serial_s": serial,
            "threads_s": lambda: on(None, fan, n),
            "dask_s": lambda: on(ex, fan, n),
            "threads_noop_fan_200_s": lambda: on(None, noop_fan, 0),
            "dask_noop_fan_200_s": lambda: on(ex, noop_fan, 0),
            "raw_dask_noop_200_s": raw_dask,
            "threads_noop_chain_50_s": lambda: on(None, noop_chain, 0),
            "dask_noop_chain_50_s": lambda: on(ex, noop_chain, 0),
            "raw_dask_noop_chain_50_s": raw_dask_chain,
        }
        medians, returned = await interleaved(cases, reps)
        out.update(medians)
    finally:
        await ex.close()
    for where in ("threads", "dask"):  # cores the bodies got: CPU time of all bodies / the run's wall time
        out[f"{where}_cores_used"] = statistics.median(sum(o["cpu"]) / t for t, o in returned[f"{where}_s"])

    out["ratio_dask_to_threads"] = out["dask_s"] / out["threads_s"]
    out["ratio_dask_to_ideal"] = out["dask_s"] / (out["serial_s"] / 2)
    out["overhead_per_node_fan_us"] = (out["dask_noop_fan_200_s"] - out["threads_noop_fan_200_s"]) / 200 * 1e6
    out["dask_per_node_fan_us"] = out["dask_noop_fan_200_s"] / 200 * 1e6
    out["raw_dask_per_task_fan_us"] = out["raw_dask_noop_200_s"] / 200 * 1e6
    out["dask_per_node_chain_ms"] = out["dask_noop_chain_50_s"] / 50 * 1e3
    out["raw_dask_per_task_chain_ms"] = out["raw_dask_noop_chain_50_s"] / 50 * 1e3
    out["threads_per_node_chain_ms"] = out["threads_noop_chain_50_s"] / 50 * 1e3
    return out


def report(r: dict[str, Any]) -> str:
    fan = f"fan-out {r['nodes']} x {r['ms_per_node']:.0f} ms of pure Python ({r['iterations_per_node']:,} iterations)"
    return "\n".join(
        [
            fan,
            f"  serial, no framework     {r['serial_s']:.2f} s",
            f"  thread pool              {r['threads_s']:.2f} s   (bodies got {r['threads_cores_used']:.2f} cores)",
            f"  Dask, 2 workers          {r['dask_s']:.2f} s   ratio to threads {r['ratio_dask_to_threads']:.2f}, "
            f"to ideal (serial / 2) {r['ratio_dask_to_ideal']:.2f}   (bodies got {r['dask_cores_used']:.2f} cores; "
            f"cluster start {r['cluster_start_s']:.1f} s)",
            "remote dispatch, no-op nodes",
            f"  fan-out 200: {r['dask_per_node_fan_us']:.0f} us per node on Dask "
            f"(+{r['overhead_per_node_fan_us']:.0f} us over threads; "
            f"raw client.submit {r['raw_dask_per_task_fan_us']:.0f} us per task)",
            f"  chain 50:    {r['dask_per_node_chain_ms']:.1f} ms per node on Dask (threads "
            f"{r['threads_per_node_chain_ms']:.2f} ms; raw client.submit round trip "
            f"{r['raw_dask_per_task_chain_ms']:.1f} ms)",
            f"load average {r['load_average']}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--ms", type=float, default=50.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "dask.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = asyncio.run(measure(args.nodes, args.ms, args.reps))
    result["load_average"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(report(result))


if __name__ == "__main__":  # worker processes are spawned: they import this file without running it
    main()
