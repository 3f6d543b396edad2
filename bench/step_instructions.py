"""Instructions per W1 step (graph_fn, graphify or StateGraph chain, flush included), counted by callgrind.

    python bench/step_instructions.py                    # this tree, graph_fn and graphify, in-memory store
    python bench/step_instructions.py --store duckdb     # a DuckDB file: the log written, then applied at close
    python bench/step_instructions.py --src /tmp/old     # another tree (e.g. ``git archive <commit>``), same venv

Why: on this shared 2-core machine the timed W1 cases move by 20-40 % with the other jobs' load, which hides a
change of a few percent. An instruction count does not depend on the load: it runs the chain with 10 and with
1,010 steps under ``valgrind --tool=callgrind`` and reports the difference / 1,000 (start-up and imports cancel
out). It complements the timed bench (which stays the reference for the ratios); it never asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHAIN = """
import asyncio, sys
sys.path.insert(0, sys.argv[3])
import aether_nb as ag
from aether_nb.runtime.session import Session, set_default_session
from aether_nb.services import install_builtin_services

@ag.tool(outputs=["y"])
async def inc(x: int) -> dict:
    return {"y": x + 1}

@ag.graph_fn(outputs=["y"])
async def chain(n: int) -> dict:
    x = 0
    for _ in range(n):
        x = (await inc(x))["y"]
    return {"y": x}

def graphify_chain(n):
    @ag.graphify(name=f"chain_{n}", inputs=["x"], outputs=["y"])
    def g(x):
        h = inc(x=x)
        for _ in range(n - 1):
            h = inc(x=h.y)
        return {"y": h.y}
    return g

def state_graph_chain(n):
    from typing import TypedDict
    from aether_nb.flow import START, END, StateGraph

    class S(TypedDict):
        x: int

    async def step(state: S) -> dict:
        return {"x": state["x"] + 1}

    g = StateGraph(S, name=f"chain_{n}")
    for i in range(n):
        g.add_node(f"n{i}", step)
        g.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    g.add_edge(f"n{n - 1}", END)
    return g.compile(recursion_limit=n + 10)

async def main(n):
    system = sys.argv[2]
    if system == "stategraph":  # built once (as W1 does): the second run is what is counted
        graph = state_graph_chain(1000)
        for _ in range(1 + (n > 500)):
            await graph.ainvoke({"x": 0})
    else:
        await (chain(n=n) if system == "graph_fn" else graphify_chain(n)(x=0))
    ag.session().flush()

store = None
if sys.argv[4] != ":memory:":
    from aether_nb.store.duckdb import DuckDBStore
    store = DuckDBStore(sys.argv[4], apply_after_s=3600.0)  # applied once, at close: the same work, counted
set_default_session(install_builtin_services(Session(store)))
asyncio.run(main(int(sys.argv[1])))
if store is not None:
    store.close()
"""


def count(script: Path, steps: int, system: str, src: str, store: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable, str(script)]
        path = ":memory:" if store == "memory" else f"{tmp}/chain.duckdb"
        out = subprocess.run(
            [*command, str(steps), system, src, path],
            capture_output=True,
            text=True,
            # (NumPy's OpenBLAS threads, started when the DuckDB store's apply imports NumPy, spin for a while and
            # moved a DuckDB count by 7-18 k per step between two runs of the same tree)
            env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
            check=True,
        )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", default=str(Path(__file__).resolve().parent.parent), help="tree holding aether_nb")
    parser.add_argument("--systems", default="graph_fn,graphify")
    parser.add_argument(
        "--store",
        choices=("memory", "duckdb"),
        default="memory",
        help="duckdb: the log written, "
        "then applied to the tables once at close (every thread's instructions are counted)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "chain.py"
        script.write_text(CHAIN)
        for system in args.systems.split(","):
            big, small = (count(script, n, system, args.src, args.store) for n in (1010, 10))
            print(f"{system:9s} {args.store:6s} {args.src}: {(big - small) // 1000:,} instructions per step")


if __name__ == "__main__":
    main()
