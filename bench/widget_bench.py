"""Widget benchmark (issue 8, W7): a 1,000-node run in real JupyterLab + Chromium.

    python bench/widget_bench.py [--json bench/results/widget.json] [--runs N] [--scroll top|bottom]
                                 [--bundle run_widget.js] [--trace DIR] [--nodes 1000] [--shape chains|gathers]

A ``RunWidget`` graph grows to 1,000 nodes (ten interleaved chains, 990 edges) at 10 updates a second, the kernel's
cap, sent slim as ``RunView`` sends them. The page records, with a ``PerformanceObserver``, every long task
(> 50 ms) while the run grows, the ``graph`` changes the widget received (``data-graph-updates`` on its root), and
the wall-clock time at which the final DAG (1,000 node elements, 990 edges, run succeeded) is first on screen.

Reported: the page's longest task, the number of tasks over 50 ms, the time from the kernel's last update to the
final DAG, graph messages per second received by the page, the widget's slowest layout and frame slice, and the
load average (1 min) at the start and end of each run. Targets: longest task <= 200 ms, final DAG within 1 s of
the last update. It reports; it never asserts (exit code 0).

``--scroll top`` (the default) leaves the DAG scrolled to its top while the run grows below; ``--scroll bottom``
keeps it scrolled to its newest rows (10 times a second), as a user following the run would: the rows that change
are then on screen. ``--bundle`` measures another build of the front end (e.g. one saved before a change) in the
same session, for before/after comparisons under the same load.

With ``--trace DIR``, each run is also recorded as a Chrome trace (``DIR/widget_trace_<run>.json``, open it in
chrome://tracing or Perfetto) and the page's tasks over 50 ms are broken down by the trace events they spent their
time in (self time: script, style, layout, pre-paint, paint, GC, ...), with their thread (CPU) time: on a loaded
machine a task's wall time includes the time its thread waited for a CPU. Tracing slows the page down: compare
traced runs with traced runs only.

``--nodes`` sets the run's size (1,000 by default; W7 is also measured at 5,000), still in 100 updates. ``--shape
gathers`` grows rounds of 20 calls of one tool, each depending on every call of the round before (what ten
``asyncio.gather`` of twenty produce): the widget groups each round into one box ("step ×20"), so the final DAG
has ``nodes / 20`` boxes and one edge between consecutive rounds, while the trait still carries every node and
edge (400 per round pair).

Reuses the browser tier's driver (``tests/browser/labdriver.py``): needs ``/usr/bin/chromium`` and JupyterLab.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

from labdriver import CHROMIUM, CHROMIUM_ARGS, LabPage, open_notebook, start_lab
from playwright.sync_api import sync_playwright

NODES = 1000
UPDATES = 100

SETUP = """\
import asyncio, pathlib, time
from aether_nb.notebook import protocol as proto
from aether_nb.notebook.widget import RunWidget
BUNDLE = None
if BUNDLE:  # --bundle: another build of the front end (anywidget reads _esm when the subclass is made)
    RunWidget = type("RunWidget", (RunWidget,), {"_esm": pathlib.Path(BUNDLE)})
w = RunWidget(graph={"run_id": "perf", "name": "perf", "status": "running", "nodes": [], "edges": []})
w
"""
# 100 updates, 10 a second (the kernel's cap), PER new nodes each: ten interleaved chains (or rounds of a gather)
# with realistic payloads, sent slim as RunView sends them (per node only what the DAG draws; the inspector
# fetches details on demand).
GROW_TEMPLATE = """\
PER, SHAPE = {per}, {shape!r}
nodes, edges = [], []
first_update = time.time()
for step in range(100):
    now = time.time()
    for node in nodes[-PER:]:
        node.update(status="DONE", ended_at=now, outputs={{"value": node["id"], "rows": list(range(5))}})
    for j in range(PER):
        i = step * PER + j
        name = f"step_{{i}}" if SHAPE == "chains" else "step"
        nodes.append({{"id": f"n{{i}}", "name": name, "kind": "tool", "status": "RUNNING", "parent": None,
                      "started_at": now, "ended_at": None, "inputs": {{"i": i, "text": "x" * 40}}, "outputs": None,
                      "error": None, "replayed": False, "usage": None, "logs": [], "warnings": []}})
        if SHAPE == "chains" and i >= 10:
            edges.append([f"n{{i - 10}}", f"n{{i}}"])
        elif SHAPE == "gathers" and i >= 20:
            r = i // 20
            edges.extend([f"n{{k}}", f"n{{i}}"] for k in range((r - 1) * 20, r * 20))
    last = step == 99
    if last:
        for node in nodes[-PER:]:
            node.update(status="DONE", ended_at=now)
    w.graph = proto.slim_graph({{"run_id": "perf", "name": "perf", "status": "succeeded" if last else "running",
                                "nodes": nodes, "edges": [list(e) for e in edges]}})
    if last:
        last_update = time.time()
    await asyncio.sleep(0.1)
print(f"FIRST_UPDATE={{first_update!r}} LAST_UPDATE={{last_update!r}}")
"""


def grow_cell(nodes: int, shape: str) -> str:
    if nodes % 100 or (shape == "gathers" and nodes % 20):
        raise SystemExit(f"--nodes must be a multiple of 100 (and of 20 for gathers), got {nodes}")
    return GROW_TEMPLATE.format(per=nodes // 100, shape=shape)


def expected(nodes: int, shape: str) -> tuple[int, int]:
    """Boxes and edges of the final DAG: every node for chains; one group per round of 20 for gathers."""
    return (nodes, nodes - 10) if shape == "chains" else (nodes // 20, nodes // 20 - 1)


# Installed before the run starts. Long tasks; graph changes the widget received (its root's data-graph-updates,
# bumped on every change:graph); the wall-clock time the final DAG is first on screen; the widget's slowest
# layout (data-layout-ms on the DAG) and slowest frame slice (data-flush-ms on the root: the flush of dirty parts,
# which applies the first slice of a DAG update; data-slice-ms on the DAG: a later slice).
_JS_OBSERVE = """(follow) => {
  const perf = { longtasks: [], updates: [], finalAt: null, maxLayoutMs: 0, maxFlushMs: 0, engine: null, frames: 0 };
  window.__aetherPerf = perf;
  // --scroll bottom: a user following the run, the DAG kept scrolled to its newest rows (10 times a second).
  const follower = follow ? setInterval(() => {
    const dag = document.querySelector(".aether-run[data-run-id='perf'] .aether-dag");
    if (dag) dag.scrollTop = dag.scrollHeight;
  }, 100) : 0;
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
    if (root.dataset.runStatus === 'succeeded' && root.querySelectorAll('.aether-node[data-node-id]').length === NODES
        && root.querySelectorAll('.aether-edge').length === EDGES) {
      perf.finalAt = Date.now() / 1000;
      clearInterval(follower);
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def observe_js(nodes: int, shape: str) -> str:
    boxes, edges = expected(nodes, shape)
    return _JS_OBSERVE.replace("NODES", str(boxes)).replace("EDGES", str(edges))


TRACE_CATEGORIES = [
    "toplevel",
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "v8.execute",
    "blink.user_timing",
]
# The renderer's top-level task events (one per task of the main thread's run loop).
TASK_EVENTS = {"ThreadControllerImpl::RunTask", "RunTask"}


class Tracer:
    """A Chrome trace of one page, over the DevTools protocol (``Tracing.start`` ... ``Tracing.end``)."""

    def __init__(self, lab: LabPage) -> None:
        self.lab = lab
        self.session = lab.page.context.new_cdp_session(lab.page)

    def start(self) -> None:
        config = {"includedCategories": TRACE_CATEGORIES, "recordMode": "recordContinuously"}
        self.session.send("Tracing.start", {"transferMode": "ReturnAsStream", "traceConfig": config})

    def stop(self, path: Path) -> dict[str, Any]:
        done: dict[str, Any] = {}
        self.session.on("Tracing.tracingComplete", lambda params: done.update(params))
        self.session.send("Tracing.end")
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            self.lab.page.wait_for_timeout(100)  # lets Playwright dispatch the event
        if not done:
            raise TimeoutError("Tracing.tracingComplete did not arrive within 60 s")
        chunks = []
        while True:
            read = self.session.send("IO.read", {"handle": done["stream"], "size": 1 << 22})
            data = read["data"]
            chunks.append(base64.b64decode(data).decode() if read.get("base64Encoded") else data)
            if read.get("eof"):
                break
        self.session.send("IO.close", {"handle": done["stream"]})
        text = "".join(chunks)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        trace: dict[str, Any] = json.loads(text)
        return trace


def long_task_breakdown(trace: dict[str, Any] | list[Any], min_ms: float = 50.0) -> dict[str, Any]:
    """Self time per trace event name inside the renderer main thread's tasks longer than ``min_ms``.

    Returns the number of such tasks, their total and longest duration (wall clock), their thread time (``tdur``:
    the time the thread was on a CPU; on a loaded machine the rest is time it waited to be scheduled), and self
    times (ms, wall clock) summed over all of them (``all``) and for the longest one (``longest``), largest first.
    Time in a task not covered by any nested event is counted under the task's own name.
    """
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    spans: dict[tuple[int, int], list[tuple[float, float, str]]] = {key: [] for key in main}
    cpu: dict[tuple[int, int, float], float] = {}  # a task's thread time (tdur): wall time minus descheduled time
    open_: dict[tuple[int, int], list[dict[str, Any]]] = {key: [] for key in main}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key not in spans:
            continue
        ph = e.get("ph")
        if ph == "X" and "dur" in e:
            spans[key].append((e["ts"], e["ts"] + e["dur"], e["name"]))
            if e["name"] in TASK_EVENTS and "tdur" in e:
                cpu[(*key, e["ts"])] = e["tdur"] / 1000
        elif ph == "B":
            open_[key].append(e)
        elif ph == "E" and open_[key]:
            begin = open_[key].pop()
            spans[key].append((begin["ts"], e["ts"], begin["name"]))
    total: Counter[str] = Counter()
    longest_cpu = 0.0
    longest: tuple[float, Counter[str]] = (0.0, Counter())
    durations: list[float] = []
    cpu_times: list[float] = []
    for key, items in spans.items():
        items.sort(key=lambda s: (s[0], -s[1]))
        starts = [s[0] for s in items]
        task_end = -1.0
        for start, end, name in items:
            if name not in TASK_EVENTS or start < task_end:
                continue  # not a task, or a task nested in one already counted
            task_end = end
            if end - start < min_ms * 1000:
                continue
            self_times: Counter[str] = Counter()
            stack: list[list[Any]] = []  # [end, name, self time]
            for s_start, s_end, s_name in items[bisect.bisect_left(starts, start) : bisect.bisect_right(starts, end)]:
                s_end = min(s_end, end)
                while stack and stack[-1][0] <= s_start:
                    _, done_name, done_self = stack.pop()
                    self_times[done_name] += done_self
                if stack:
                    stack[-1][2] -= max(0.0, min(s_end, stack[-1][0]) - s_start)
                stack.append([s_end, s_name, s_end - s_start])
            for _, done_name, done_self in stack:
                self_times[done_name] += done_self
            ms = Counter({k: v / 1000 for k, v in self_times.items()})
            durations.append((end - start) / 1000)
            cpu_times.append(cpu.get((*key, start), float("nan")))
            total.update(ms)
            if (end - start) / 1000 > longest[0]:
                longest = ((end - start) / 1000, ms)
                longest_cpu = cpu_times[-1]
    return {
        "tasks": len(durations),
        "total_ms": sum(durations),
        "longest_ms": longest[0],
        "longest_cpu_ms": longest_cpu if durations else 0.0,
        "max_cpu_ms": max(cpu_times, default=0.0),
        "cpu_ms": sum(cpu_times),
        "all": dict(total.most_common()),
        "longest": dict(longest[1].most_common()),
    }


def print_breakdown(run: int, breakdown: dict[str, Any], top: int = 12) -> None:
    print(
        f"trace, run {run}: {breakdown['tasks']} tasks > 50 ms, {breakdown['total_ms']:.0f} ms in all "
        f"({breakdown['cpu_ms']:.0f} ms on the CPU), longest {breakdown['longest_ms']:.0f} ms "
        f"({breakdown['longest_cpu_ms']:.0f} ms on the CPU); the most CPU time in one: {breakdown['max_cpu_ms']:.0f} ms"
    )
    for label, key in (("all long tasks", "all"), ("the longest task", "longest")):
        items = list(breakdown[key].items())[:top]
        print(f"  self time in {label}: " + ", ".join(f"{name} {ms:.0f}" for name, ms in items))


def measure(
    lab: LabPage, trace: Path | None = None, follow: bool = False, nodes: int = NODES, shape: str = "chains"
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    lab.run_cell(0)
    lab.wait_in_output(0, ".aether-run[data-run-id='perf']")
    lab.page.wait_for_timeout(500)  # let the first render's work finish before measuring
    lab.page.evaluate(observe_js(nodes, shape), follow)
    tracer = Tracer(lab) if trace else None
    if tracer:
        tracer.start()
    lab.run_cell(1, timeout=120)
    try:
        lab.page.wait_for_function("() => window.__aetherPerf.finalAt !== null", timeout=60_000)
    except Exception as exc:
        seen = lab.page.evaluate(
            """() => { const r = document.querySelector(".aether-run[data-run-id='perf']");
              return [r.dataset.runStatus, r.querySelectorAll('.aether-node[data-node-id]').length,
                      r.querySelectorAll('.aether-edge').length, r.dataset.graphUpdates]; }"""
        )
        raise RuntimeError(f"the final DAG never showed (status, boxes, edges, updates): {seen}") from exc
    perf = lab.page.evaluate("() => window.__aetherPerf")
    breakdown = long_task_breakdown(tracer.stop(trace)) if tracer and trace else None
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
        "load_avg_1m": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
        "trace": breakdown,
    }


def run(
    runs: int,
    trace_dir: Path | None = None,
    bundle: Path | None = None,
    follow: bool = False,
    nodes: int = NODES,
    shape: str = "chains",
) -> list[dict[str, Any]]:
    setup = SETUP.replace("BUNDLE = None", f"BUNDLE = {str(bundle.resolve())!r}") if bundle else SETUP
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
                    lab = open_notebook(server, context, name, [setup, grow_cell(nodes, shape)])
                    try:
                        trace = trace_dir / f"widget_trace_{i + 1}.json" if trace_dir else None
                        results.append(measure(lab, trace, follow, nodes, shape))
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
    ("load average (1 min), start-end", "load_avg_1m", "", "2 cores"),
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
    for i, result in enumerate(results):
        if result["trace"]:
            print_breakdown(i + 1, result["trace"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--runs", type=int, default=1, help="repeat the run N times in one page session")
    parser.add_argument("--trace", type=Path, metavar="DIR", help="record a Chrome trace of each run into DIR")
    parser.add_argument(
        "--scroll",
        choices=["top", "bottom"],
        default="top",
        help="where the DAG is scrolled while the run grows: top (left alone), bottom (following the new rows)",
    )
    parser.add_argument("--bundle", type=Path, help="measure this build of run_widget.js instead of the installed one")
    parser.add_argument("--nodes", type=int, default=NODES, help="nodes of the run (a multiple of 100)")
    parser.add_argument("--shape", choices=["chains", "gathers"], default="chains", help="see the module docstring")
    args = parser.parse_args()
    grow_cell(args.nodes, args.shape)  # fails early on a bad size
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is missing (apt-get install chromium)")
        return 0
    results = run(args.runs, args.trace, args.bundle, args.scroll == "bottom", args.nodes, args.shape)
    print_table(results)
    if args.json:
        keys = [key for _, key, _, _ in ROWS]
        summary = {
            key: statistics.median([r[key] for r in results if r[key] is not None] or [0])
            for key in keys
            if key != "load_avg_1m"
        }
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
                    "workload": {
                        "scroll": args.scroll,
                        "bundle": str(args.bundle or ""),
                        "nodes": args.nodes,
                        "shape": args.shape,
                        "boxes_and_edges_drawn": expected(args.nodes, args.shape),
                        "updates": UPDATES,
                        "updates_per_s_cap": 10,
                    },
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
