"""Widget benchmark (issue 8, W7): a 1,000-node run in real JupyterLab + Chromium.

    python bench/widget_bench.py [--json bench/results/widget.json] [--runs N]

A ``RunWidget`` graph grows to 1,000 nodes (ten interleaved chains, 990 edges) at 10 updates a second, the kernel's
cap, sent slim as ``RunView`` sends them. The page records, with a ``PerformanceObserver``, every long task
(> 50 ms) while the run grows, the ``graph`` changes the widget received (``data-graph-updates`` on its root), and
the wall-clock time at which the final DAG (1,000 node elements, 990 edges, run succeeded) is first on screen.

Reported: the page's longest task, the number of tasks over 50 ms, the time from the kernel's last update to the
final DAG, graph messages per second received by the page, and the widget's slowest layout and frame slice.
Targets: longest task <= 200 ms (each slice of a redraw stays ~12 ms; what remains is JupyterLab's and the
comm's own work), final DAG within 1 s of the last update. It reports; it never asserts (exit code 0).

Reuses the browser tier's driver (``tests/browser/labdriver.py``): needs ``/usr/bin/chromium`` and JupyterLab.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from labdriver import CHROMIUM, CHROMIUM_ARGS, LabPage, open_notebook, start_lab
from playwright.sync_api import sync_playwright

NODES = 1000
UPDATES = 100

SETUP = """\
import asyncio, time
from aether_nb.notebook import _protocol as proto
from aether_nb.notebook.widget import RunWidget
w = RunWidget(graph={"run_id": "perf", "name": "perf_1000", "status": "running", "nodes": [], "edges": []})
w
"""
# 100 updates, 10 a second (the kernel's cap), 10 new nodes each: ten interleaved chains with realistic payloads,
# sent slim as RunView sends them (per node only what the DAG draws; the inspector fetches details on demand).
GROW = """\
nodes, edges = [], []
first_update = time.time()
for step in range(100):
    now = time.time()
    for node in nodes[-10:]:
        node.update(status="DONE", ended_at=now, outputs={"value": node["id"], "rows": list(range(5))})
    for j in range(10):
        i = step * 10 + j
        nodes.append({"id": f"n{i}", "name": f"step_{i}", "kind": "tool", "status": "RUNNING", "parent": None,
                      "started_at": now, "ended_at": None, "inputs": {"i": i, "text": "x" * 40}, "outputs": None,
                      "error": None, "replayed": False, "usage": None, "logs": [], "warnings": []})
        if i >= 10:
            edges.append([f"n{i - 10}", f"n{i}"])
    last = step == 99
    if last:
        for node in nodes[-10:]:
            node.update(status="DONE", ended_at=now)
    w.graph = proto.slim_graph({"run_id": "perf", "name": "perf_1000", "status": "succeeded" if last else "running",
                                "nodes": nodes, "edges": [list(e) for e in edges]})
    if last:
        last_update = time.time()
    await asyncio.sleep(0.1)
print(f"FIRST_UPDATE={first_update!r} LAST_UPDATE={last_update!r}")
"""

# Installed before the run starts. Long tasks; graph changes the widget received (its root's data-graph-updates,
# bumped on every change:graph); the wall-clock time the final DAG is first on screen; the widget's slowest
# layout (data-layout-ms on the DAG) and slowest frame slice (data-flush-ms on the root: the flush of dirty parts,
# which applies the first slice of a DAG update; data-slice-ms on the DAG: a later slice).
_JS_OBSERVE = """() => {
  const perf = { longtasks: [], updates: [], finalAt: null, maxLayoutMs: 0, maxFlushMs: 0, engine: null, frames: 0 };
  window.__aetherPerf = perf;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) perf.longtasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask' });
  const root = document.querySelector(".aether-run[data-run-id='perf']");
  let seen = Number(root.dataset.graphUpdates || 0);
  new MutationObserver(() => {
    const n = Number(root.dataset.graphUpdates || 0);
    for (; seen < n; seen++) perf.updates.push(Date.now() / 1000);
  }).observe(root, { attributes: true, attributeFilter: ['data-graph-updates'] });
  const tick = () => {
    perf.frames++;
    const dag = root.querySelector('.aether-dag');
    if (root.dataset.flushMs) perf.maxFlushMs = Math.max(perf.maxFlushMs, Number(root.dataset.flushMs));
    if (dag && dag.dataset.sliceMs) perf.maxFlushMs = Math.max(perf.maxFlushMs, Number(dag.dataset.sliceMs));
    if (dag && dag.dataset.layoutMs) {
      perf.maxLayoutMs = Math.max(perf.maxLayoutMs, Number(dag.dataset.layoutMs));
      perf.engine = dag.dataset.layoutEngine;
    }
    if (root.dataset.runStatus === 'succeeded' && root.querySelectorAll('.aether-node').length === NODES
        && root.querySelectorAll('.aether-edge').length === EDGES) {
      perf.finalAt = Date.now() / 1000;
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}""".replace("NODES", str(NODES)).replace("EDGES", str(NODES - 10))


def measure(lab: LabPage) -> dict[str, Any]:
    lab.run_cell(0)
    lab.wait_in_output(0, ".aether-run[data-run-id='perf']")
    lab.page.wait_for_timeout(500)  # let the first render's work finish before measuring
    lab.page.evaluate(_JS_OBSERVE)
    lab.run_cell(1, timeout=120)
    lab.page.wait_for_function("() => window.__aetherPerf.finalAt !== null", timeout=30_000)
    perf = lab.page.evaluate("() => window.__aetherPerf")
    match = re.search(r"FIRST_UPDATE=([\d.]+) LAST_UPDATE=([\d.]+)", lab.output_text(1))
    if not match:
        raise RuntimeError(f"the growing cell printed no timestamps: {lab.output_text(1)!r}")
    first_update, last_update = float(match.group(1)), float(match.group(2))
    durations = [t["duration"] for t in perf["longtasks"]]
    updates = perf["updates"]
    span = updates[-1] - updates[0] if len(updates) > 1 else 0.0
    return {
        "longest_task_ms": max(durations, default=0.0),
        "long_tasks_over_50ms": len(durations),
        "long_tasks_total_ms": sum(durations),
        "final_dag_after_last_update_ms": (perf["finalAt"] - last_update) * 1000,
        "graph_messages_received": len(updates),
        "graph_messages_per_s": (len(updates) - 1) / span if span > 0 else None,
        "graph_updates_sent": UPDATES,
        "graph_updates_sent_per_s": (UPDATES - 1) / (last_update - first_update),
        "max_layout_ms": perf["maxLayoutMs"],
        "max_slice_ms": perf["maxFlushMs"],
        "layout_engine": perf["engine"],
        "frames": perf["frames"],
    }


def run(runs: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="aether-widget-bench-") as tmp, sync_playwright() as playwright:
        work = Path(tmp)
        with start_lab(work / "lab", env={"AETHER_NB_SCRIPTED": None}) as server:
            context = playwright.chromium.launch_persistent_context(
                str(work / "chromium-profile"),
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 900},
            )
            try:
                for i in range(runs):
                    name = f"widget_bench_{i}.ipynb"
                    lab = open_notebook(server, context, name, [SETUP, GROW])
                    try:
                        results.append(measure(lab))
                    finally:
                        lab.page.close()
                        server.shutdown_kernel(name)
            finally:
                context.close()
    return results


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


ROWS = [
    ("longest task", "longest_task_ms", " ms", "<= 200 ms"),
    ("tasks > 50 ms", "long_tasks_over_50ms", "", ""),
    ("time in tasks > 50 ms", "long_tasks_total_ms", " ms", ""),
    ("final DAG after last update", "final_dag_after_last_update_ms", " ms", "< 1000 ms"),
    ("graph messages received", "graph_messages_received", "", f"{UPDATES} sent"),
    ("graph messages/s received by the page", "graph_messages_per_s", "", "10 (kernel cap)"),
    ("graph updates/s sent by the kernel", "graph_updates_sent_per_s", "", ""),
    ("widget: slowest layout", "max_layout_ms", " ms", ""),
    ("widget: slowest frame slice", "max_slice_ms", " ms", "~12 ms budget"),
]


def print_table(results: list[dict[str, Any]]) -> None:
    header = ["metric", *[f"run {i + 1}" for i in range(len(results))], "target"]
    lines = [header]
    for label, key, unit, target in ROWS:
        lines.append([label, *[_fmt(r[key], unit) for r in results], target])
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(line)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"layout engine: {results[0]['layout_engine']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--runs", type=int, default=1, help="repeat the run N times in one page session")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is missing (apt-get install chromium)")
        return 0
    results = run(args.runs)
    print_table(results)
    if args.json:
        keys = [key for _, key, _, _ in ROWS]
        summary = {key: statistics.median([r[key] for r in results if r[key] is not None] or [0]) for key in keys}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                        "load_avg_1m": os.getloadavg()[0],
                    },
                    "workload": {"nodes": NODES, "edges": NODES - 10, "updates": UPDATES, "updates_per_s_cap": 10},
                    "median": summary,
                    "runs": results,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
