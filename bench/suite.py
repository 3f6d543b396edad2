"""The benchmark suite of issue 8 (``make bench``): every workload, its baselines in the same run, one table.

    python bench/suite.py [--skip-widget] [--skip-store] [--quick] [--only W1,W3] [--table-only]

Runs, one after the other (never in parallel: they would time each other):

* ``bench/runtime_bench.py``: W1-W5, aether_nb (graph_fn, graphify, StateGraph; memory and DuckDB store) against
  raw asyncio and LangGraph, one fresh interpreter per case -> ``bench/results/runtime.json``;
* ``bench/import_bench.py``: W6, ``import aether_nb`` and ``%load_ext aether_nb`` -> ``import.json``;
* ``bench/store_bench.py``: the store's hot paths against raw DuckDB -> ``store.json``;
* ``bench/widget_bench.py``: W7, a 1,000-node run in JupyterLab + Chromium -> ``widget.json`` (``--skip-widget``
  where there is no Chromium).

Then prints one table (workload, system, store, median, unit, baseline, ratio, target, verdict) and writes
``bench/results/suite.json`` with the machine it ran on. Targets are ratios against baselines measured in the
same run, because absolute times on a shared 2-core machine say little on their own. Verdicts: ``met``,
``MISSED``, ``n-a`` (a baseline or informational row), ``error`` (the case failed; its traceback is printed
below the table). It reports; it never fails on a missed target (exit code 0 unless a part could not run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime_bench import AETHER_SYSTEMS, W1_SIZES

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"


@dataclass
class Row:
    """One line of the table; ``value`` None means the measurement failed or is missing."""

    workload: str
    system: str
    store: str
    value: float | str | None
    unit: str
    baseline: str = "-"
    ratio: float | None = None
    target: str = "-"
    verdict: str = "n-a"
    floor: float | None = None
    """The value as a multiple of the floor (one DuckDB INSERT of 6 rows, committed), for DuckDB rows."""


def _judge(value: float | None, op: str, bound: float) -> str:
    if value is None:
        return "n-a"
    ok = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
    return "met" if ok else "MISSED"


def _fmt(value: float | str | None) -> str:
    if value is None:
        return "ERROR"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


# ----------------------------------------------------------------------------------------------------------------
# Rows from each part's JSON
# ----------------------------------------------------------------------------------------------------------------
class Runtime:
    """Looks up W1-W5 medians by case, and turns them into rows with ratios against a baseline case."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.cases = {r["case"]: r for r in data.get("results", [])}
        self.errors = {k: r["error"] for k, r in self.cases.items() if "error" in r}

    def get(self, spec: str, metric: str) -> float | None:
        rec = self.cases.get(spec)
        if rec is None or "metrics" not in rec:
            return None
        value = rec["metrics"].get(metric)
        if isinstance(value, dict):
            return float(value["median"])
        return None if value is None else float(value)

    def present(self, spec: str) -> bool:
        return spec in self.cases

    def row(
        self,
        label: str,
        spec: str,
        metric: str,
        unit: str,
        base_spec: str | None,
        base_label: str,
        limit: float | None,
    ) -> Row:
        _, system, store, *_ = spec.split(":")
        value = self.get(spec, metric)
        row = Row(label, system, store, value, unit)
        if base_spec is None or base_spec == spec:
            row.baseline = "(baseline)" if base_spec == spec else "-"
            return row
        base = self.get(base_spec, metric)
        row.baseline = f"{base_label} {_fmt(base)}"
        if value is not None and base:
            row.ratio = value / base
        if limit is not None:
            row.target = f"<= {limit:g}x"
            row.verdict = _judge(row.ratio, "<=", limit)
        if value is None:
            row.verdict = "error"
        return row


_TO_MS = {"ms": 1.0, "µs": 1e-3}


def runtime_rows(data: dict[str, Any]) -> list[Row]:
    rt = Runtime(data)
    rows: list[Row] = []
    floor_ms = rt.get("FLOOR:duckdb:none", "floor_ms")
    if rt.present("FLOOR:duckdb:none"):
        for metric, label in (
            ("floor_ms", "FLOOR DuckDB INSERT of 6 rows, committed"),
            ("floor_one_row_ms", "FLOOR DuckDB INSERT of 1 row, committed"),
            ("sqlite_commit_ms", "FLOOR SQLite INSERT + commit (WAL, FULL)"),
        ):
            rows.append(
                Row(
                    label,
                    "duckdb" if "DuckDB" in label else "sqlite",
                    "-",
                    rt.get("FLOOR:duckdb:none", metric),
                    "ms",
                    "(floor)",
                )
            )

    def add(label: str, spec: str, *args: Any) -> None:
        if rt.present(spec):
            row = rt.row(label, spec, *args)
            if row.store == "duckdb" and floor_ms and isinstance(row.value, float) and row.unit in _TO_MS:
                row.floor = row.value * _TO_MS[row.unit] / floor_ms
            rows.append(row)

    aether = [(s, st) for s in AETHER_SYSTEMS for st in ("memory", "duckdb")]
    for n in W1_SIZES:
        lg = f"W1:langgraph:none:{n}"
        label = f"W1 chain N={n}, per node"
        add(label, f"W1:asyncio:none:{n}", "per_node_us", "µs", lg, "LG", None)
        add(label, lg, "per_node_us", "µs", lg, "LG", None)
        for system, store in aether:
            limit = 0.1 if store == "memory" else 0.2
            add(label, f"W1:{system}:{store}:{n}", "per_node_us", "µs", lg, "LG", limit)
    small, big = W1_SIZES
    for system, store in [("langgraph", "none"), *aether]:
        a, b = f"W1:{system}:{store}:{small}", f"W1:{system}:{store}:{big}"
        if not (rt.present(a) and rt.present(b)):
            continue
        per_small, per_big = rt.get(a, "per_node_us"), rt.get(b, "per_node_us")
        scale = per_big / per_small if per_small and per_big is not None else None
        row = Row(f"W1 per node N={big} / N={small}", system, store, scale, "x", f"N={small}", scale)
        if system != "langgraph":
            row.target, row.verdict = "<= 1.2x", _judge(scale, "<=", 1.2)
        rows.append(row)

    lg = "W2:langgraph:none"
    add("W2 fan-out 1000, per node", "W2:asyncio:none", "per_node_us", "µs", lg, "LG", None)
    add("W2 fan-out 1000, per node", lg, "per_node_us", "µs", lg, "LG", None)
    for system, store in aether:
        add("W2 fan-out 1000, per node", f"W2:{system}:{store}", "per_node_us", "µs", lg, "LG", 0.1)

    base = "W3:asyncio:none"
    add("W3 200 x 10 ms sleep, wall", base, "wall_ms", "ms", base, "asyncio", None)
    add("W3 200 x 10 ms sleep, wall", "W3:langgraph:none", "wall_ms", "ms", base, "asyncio", None)
    for system, store in aether:
        add("W3 200 x 10 ms sleep, wall", f"W3:{system}:{store}", "wall_ms", "ms", base, "asyncio", 1.5)
        add("W3 ... and history durable", f"W3:{system}:{store}", "durable_ms", "ms", base, "asyncio", None)

    for workload, label, systems in (
        ("W4", "W4 same process", [("asyncio", "none"), ("langgraph", "memory"), *aether]),
        ("W4new", "W4 new process", [(s, "duckdb") for s in AETHER_SYSTEMS]),
    ):
        lg = f"{workload}:langgraph:sqlite"
        for metric, what in (("pause_ms", "pause"), ("resume_ms", "resume")):
            add(f"{label}: {what}", lg, metric, "ms", lg, "LG-sqlite", None)
            for system, store in systems:
                limit = 0.5 if system in AETHER_SYSTEMS else None
                add(f"{label}: {what}", f"{workload}:{system}:{store}", metric, "ms", lg, "LG-sqlite", limit)
    lg = "W4new:langgraph:sqlite"
    for system, store in [("langgraph", "sqlite"), *[(s, "duckdb") for s in AETHER_SYSTEMS]]:
        spec = f"W4new:{system}:{store}"
        if not rt.present(spec):
            continue
        if system != "langgraph":
            add("W4 new process: first resume (cold)", spec, "resume_first_ms", "ms", lg, "LG-sqlite", None)
        rec = rt.cases[spec].get("metrics")
        again = None if rec is None else ("yes" if rec["reexecuted"] else "no")
        counts = "" if rec is None else " ".join(f"{k}={v}" for k, v in rec["side_effects_max"].items())
        row = Row("W4 new process: node 1 re-ran", system, store, again, "", counts or "-")
        if system != "langgraph":
            row.target, row.verdict = "no", "n-a" if again is None else ("met" if again == "no" else "MISSED")
        rows.append(row)

    lg = "W5:langgraph:sqlite"
    for metric, what in (("park_ms", "park 1000"), ("resume_ms", "resume 1000")):
        for system, store in [("asyncio", "none"), ("langgraph", "sqlite"), ("langgraph", "memory"), *aether]:
            limit = 0.2 if system in AETHER_SYSTEMS else None
            add(f"W5 {what}", f"W5:{system}:{store}", metric, "ms", lg, "LG-sqlite", limit)
    for metric, what in (("heap_per_run_kb", "live heap per parked run"), ("rss_per_run_kb", "RSS per parked run")):
        for system, store in [("asyncio", "none"), ("langgraph", "sqlite"), ("langgraph", "memory"), *aether]:
            spec = f"W5:{system}:{store}"
            if not rt.present(spec):
                continue
            row = Row(f"W5 {what}", system, store, rt.get(spec, metric), "KB")
            if metric == "heap_per_run_kb" and system in AETHER_SYSTEMS:
                row.target, row.verdict = "<= 4 KB", _judge(row.value, "<=", 4)  # type: ignore[arg-type]
            rows.append(row)
    return rows


def import_rows(data: dict[str, Any]) -> list[Row]:
    res = data["results"]
    ours, base = res["import_aether_nb_ms"]["median"], res["import_asyncio_ms"]["median"]
    ratio = ours / base
    return [
        Row("W6 import (fresh interpreter)", "asyncio", "-", base, "ms", "(baseline)"),
        Row("W6 import (fresh interpreter)", "aether_nb", "-", ours, "ms", f"asyncio {_fmt(base)}", ratio,
            "<= 2x", _judge(ratio, "<=", 2)),
        Row("W6 %load_ext aether_nb (fresh kernel)", "aether_nb", "-", res["load_ext_ms"]["median"], "ms", "-",
            None, "< 1000 ms", _judge(res["load_ext_ms"]["median"], "<", 1000)),
    ]  # fmt: skip


def widget_rows(data: dict[str, Any]) -> list[Row]:
    med = data["median"]
    return [
        Row("W7 graph messages/s (1000 nodes)", "widget", "-", med["graph_messages_per_s"], "/s", "-", None,
            "<= 10 /s", _judge(med["graph_messages_per_s"], "<=", 10)),
        # the longtask API reports only tasks over 50 ms: 0 means there was none
        Row("W7 page's longest task", "widget", "-", med["longest_task_ms"] or "< 50", "ms",
            f"{med['long_tasks_over_50ms']:g} tasks > 50 ms", None, "<= 200 ms",
            _judge(med["longest_task_ms"], "<=", 200)),
        Row("W7 final DAG after last update", "widget", "-", med["final_dag_after_last_update_ms"], "ms", "-",
            None, "< 1000 ms", _judge(med["final_dag_after_last_update_ms"], "<", 1000)),
    ]  # fmt: skip


def store_rows(data: dict[str, Any]) -> list[Row]:
    from store_bench import TARGETS

    res = data["results"]
    rows = [
        Row("store: raw executemany", "duckdb", "raw", res.get("raw_executemany_per_s"), "/s", "(baseline)"),
        Row("store: raw bulk insert", "duckdb", "raw", res.get("raw_bulk_insert_per_s"), "/s", "(baseline)"),
        Row("store: journal append, one write each", "aether_nb", "duckdb",
            res.get("journal_append_single_commit_per_s"), "/s"),
        Row("store: sql() point query, p50", "aether_nb", "duckdb", res.get("sql_point_p50_ms"), "ms",
            f"plain {_fmt(res.get('raw_point_p50_ms'))}"),
        Row("store: sql() aggregate, p50", "aether_nb", "duckdb", res.get("sql_aggregate_p50_ms"), "ms",
            f"plain {_fmt(res.get('raw_aggregate_p50_ms'))}"),
    ]  # fmt: skip
    labels = {
        "journal_append_group_commit_per_s": ("store: journal append, group commit", "/s"),
        "kv_get_hot_p50_us": ("store: KV get hot, p50", "µs"),
        "memory_semantic_search_20k_ms": ("store: semantic search over 20k", "ms"),
        "sql_point_overhead_ms": ("store: sql() point query, added to the plain statement", "ms"),
        "sql_aggregate_overhead_ms": ("store: sql() aggregate, added to the plain statement", "ms"),
        "redact_hostile_growth_x8": ("store: redaction of hostile text, time growth for 8x the text", "x"),
    }
    for key, (op, bound) in TARGETS.items():
        label, unit = labels.get(key, (key, ""))
        value = res.get(key)
        rows.append(
            Row(label, "aether_nb", "duckdb", value, unit, "-", None, f"{op} {bound:g}", _judge(value, op, bound))
        )
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Running the parts
# ----------------------------------------------------------------------------------------------------------------
def _run(args: list[str]) -> bool:
    """Run one part with its output on the console (progress matters on a 10-minute run)."""
    print(f"\n$ {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    code = subprocess.run([sys.executable, *args], cwd=ROOT).returncode
    print(f"({time.perf_counter() - t0:.0f} s, exit {code})", flush=True)
    return code == 0


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine(load_before: float) -> dict[str, Any]:
    """What the numbers depend on: cores, versions, the commit (and whether the tree had local changes), load."""

    def git(*args: str) -> str:
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return res.stdout.strip()

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "duckdb": _version("duckdb"),
        "langgraph": _version("langgraph"),
        "langgraph_checkpoint_sqlite": _version("langgraph-checkpoint-sqlite"),
        "aether_nb_commit": git("rev-parse", "--short", "HEAD"),
        "aether_nb_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "aether_nb")),
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": os.getloadavg()[0],
    }


def print_table(rows: list[Row]) -> None:
    header = ["workload", "system", "store", "median", "unit", "x floor", "baseline", "ratio", "target", "verdict"]
    lines = [header]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        floor = "-" if r.floor is None else f"{r.floor:.2f}"
        lines.append(
            [r.workload, r.system, r.store, _fmt(r.value), r.unit, floor, r.baseline, ratio, r.target, r.verdict]
        )
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    right = {3, 5, 7}
    for i, line in enumerate(lines):
        cells = [cell.rjust(widths[c]) if c in right else cell.ljust(widths[c]) for c, cell in enumerate(line)]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def collect(parts: dict[str, bool]) -> tuple[list[Row], list[str]]:
    """Rows from every part's JSON, and the problems to print under the table."""
    rows: list[Row] = []
    problems: list[str] = []
    readers: list[tuple[str, str, Callable[[dict[str, Any]], list[Row]]]] = [
        ("runtime", "runtime.json", runtime_rows),
        ("import", "import.json", import_rows),
        ("store", "store.json", store_rows),
        ("widget", "widget.json", widget_rows),
    ]
    for part, name, reader in readers:
        if not parts.get(part, True):
            continue
        data = _load(name)
        if data is None:
            problems.append(f"{part}: no bench/results/{name}")
            continue
        try:
            rows.extend(reader(data))
        except Exception as exc:  # one unreadable part must not hide the others' rows
            problems.append(f"{part}: could not read bench/results/{name} ({type(exc).__name__}: {exc})")
        if part == "runtime":
            for rec in data.get("results", []):
                if "error" in rec:
                    problems.append(f"{rec['case']}: {rec['error']}")
    return rows, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--skip-widget", action="store_true", help="no JupyterLab + Chromium run (W7)")
    parser.add_argument("--skip-store", action="store_true", help="no store benchmark")
    parser.add_argument("--skip-import", action="store_true", help="no import benchmark (W6)")
    parser.add_argument("--skip-runtime", action="store_true", help="no runtime benchmark (W1-W5)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions in the runtime benchmark")
    parser.add_argument("--only", help="runtime workloads to run, e.g. W1,W4new (see runtime_bench.py --help)")
    parser.add_argument("--table-only", action="store_true", help="print the table from bench/results/*.json")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    parts = {
        "runtime": not args.skip_runtime,
        "import": not args.skip_import,
        "store": not args.skip_store,
        "widget": not args.skip_widget,
    }
    failed: list[str] = []
    t0 = time.perf_counter()
    if not args.table_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        commands = {
            "runtime": [
                "bench/runtime_bench.py",
                "--json",
                str(RESULTS / "runtime.json"),
                *(["--quick"] if args.quick else []),
                *(["--only", args.only] if args.only else []),
            ],
            "import": ["bench/import_bench.py", "--json", str(RESULTS / "import.json")],
            "store": ["bench/store_bench.py", "--json", str(RESULTS / "store.json")],
            "widget": ["bench/widget_bench.py", "--json", str(RESULTS / "widget.json")],
        }
        for part, command in commands.items():
            if parts[part] and not _run(command):
                failed.append(part)
    rows, problems = collect(parts)
    print()
    print_table(rows)
    for problem in problems:
        print(f"\n! {problem}")
    summary = {
        "machine": machine(load_before),
        "elapsed_s": time.perf_counter() - t0,
        "parts": parts,
        "failed_parts": failed,
        "rows": [asdict(r) for r in rows],
        "problems": problems,
        "verdicts": {v: sum(1 for r in rows if r.verdict == v) for v in ("met", "MISSED", "n-a")},
    }
    if not args.table_only:
        (RESULTS / "suite.json").write_text(json.dumps(summary, indent=2) + "\n")
    counts = summary["verdicts"]
    print(f"\n{counts['met']} met, {counts['MISSED']} MISSED" + ("" if args.table_only else "; wrote suite.json"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
