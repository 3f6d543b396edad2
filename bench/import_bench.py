"""Import benchmark (issue 8, W6): ``import aether_nb`` in a fresh interpreter, ``%load_ext aether_nb`` in a kernel.

    python bench/import_bench.py [--json bench/results/import.json] [--runs 9] [--kernels 3] [--verbose]

* Import: the child times ``import aether_nb`` with ``time.perf_counter()`` around the statement itself, so
  interpreter start-up is excluded; ``import asyncio`` is timed the same way as the baseline (aether_nb needs it
  anyway). The two alternate run by run so drift on a shared machine hits both. Median of ``--runs``.
  ``--verbose`` prints the slowest modules under ``python -X importtime`` (cumulative), to see what to defer.
* ``%load_ext aether_nb``: a fresh ipykernel per sample (jupyter_client, working directory a temp dir so the
  notebook store ``./aether.duckdb`` is isolated), the execute request timed from send to the kernel's idle
  status. Cold: it includes importing aether_nb, since a notebook's first cell pays that too.

Targets: import at most 2x ``import asyncio``; ``%load_ext`` under 1 s. It reports; it never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_TIMED_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def _env() -> dict[str, str]:
    """The children's environment without what would point aether_nb at a notebook or a store."""
    return {k: v for k, v in os.environ.items() if k not in ("AETHER_NB_STORE", "JPY_SESSION_NAME")}


def time_import(module: str) -> float:
    """Seconds ``import module`` takes in a fresh interpreter, measured inside it."""
    out = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=tempfile.gettempdir(),
    )
    return float(out.stdout.strip().splitlines()[-1])


def import_offenders(module: str, top: int = 15) -> list[tuple[str, float, float]]:
    """The modules with the largest cumulative import time under ``-X importtime``: (name, self ms, cumulative ms)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=tempfile.gettempdir(),
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:") :].split("|", 2))
        rows.append((name.strip(), int(self_us) / 1e3, int(cum_us) / 1e3))
    rows.sort(key=lambda r: r[2], reverse=True)
    return rows[:top]


def time_load_ext(timeout: float = 120.0) -> float:
    """Seconds from sending ``%load_ext aether_nb`` to a fresh kernel until it is idle again."""
    from jupyter_client.manager import start_new_kernel

    with tempfile.TemporaryDirectory(prefix="aether-load-ext-") as tmp:
        km, kc = start_new_kernel(kernel_name="python3", cwd=tmp, env=_env(), stderr=subprocess.DEVNULL)
        try:
            content = {
                "code": "%load_ext aether_nb",
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
            }
            msg = kc.session.msg("execute_request", content)
            t0 = time.perf_counter()
            kc.shell_channel.send(msg)
            msg_id = msg["header"]["msg_id"]
            error = None
            while True:
                try:
                    reply = kc.get_iopub_msg(timeout=timeout)
                except queue.Empty:
                    raise TimeoutError(f"%load_ext aether_nb: no idle within {timeout}s") from None
                if reply["parent_header"].get("msg_id") != msg_id:
                    continue
                if reply["msg_type"] == "error":
                    error = "\n".join(reply["content"]["traceback"])
                if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                    elapsed = time.perf_counter() - t0
                    break
            if error is not None:
                raise RuntimeError(f"%load_ext aether_nb failed:\n{error}")
            return elapsed
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def bench(runs: int, kernels: int, verbose: bool) -> dict[str, Any]:
    time_import("aether_nb")  # warm the OS file cache for both, so the first sample is not an outlier
    time_import("asyncio")
    ours, base = [], []
    for _ in range(runs):
        ours.append(time_import("aether_nb") * 1e3)
        base.append(time_import("asyncio") * 1e3)
    load_ext = [time_load_ext() * 1e3 for _ in range(kernels)]
    out: dict[str, Any] = {
        "import_aether_nb_ms": {"median": statistics.median(ours), "samples": ours, "unit": "ms"},
        "import_asyncio_ms": {"median": statistics.median(base), "samples": base, "unit": "ms"},
        "import_ratio": statistics.median(ours) / statistics.median(base),
        "load_ext_ms": {"median": statistics.median(load_ext), "samples": load_ext, "unit": "ms"},
        "import_offenders": [
            {"module": name, "self_ms": s, "cumulative_ms": c} for name, s, c in import_offenders("aether_nb")
        ],
    }
    if verbose:
        print("slowest imports under `import aether_nb` (cumulative ms, self ms):")
        for row in out["import_offenders"]:
            print(f"  {row['cumulative_ms']:8.1f} {row['self_ms']:8.1f}  {row['module']}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("bench/results/import.json"))
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per import measurement")
    parser.add_argument("--kernels", type=int, default=3, help="fresh kernels for %%load_ext")
    parser.add_argument("--verbose", action="store_true", help="print the slowest imports (-X importtime)")
    args = parser.parse_args()
    res = bench(args.runs, args.kernels, args.verbose)
    print(f"import aether_nb    {res['import_aether_nb_ms']['median']:8.1f} ms")
    print(f"import asyncio      {res['import_asyncio_ms']['median']:8.1f} ms   ratio {res['import_ratio']:.2f} (<= 2)")
    print(f"%load_ext aether_nb {res['load_ext_ms']['median']:8.1f} ms   (< 1000 ms)")
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": meta, "results": res}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
