"""Runtime benchmark (issue 8, W1-W5): aether_nb against raw asyncio and LangGraph, measured in the same run.

    python bench/runtime_bench.py [--json bench/results/runtime.json] [--only W1,W4new] [--quick]
    python bench/runtime_bench.py --case W1:graph_fn:duckdb:100      # one case; prints ``RESULT {json}``

A case is (workload, system, store[, N]). Systems: ``asyncio`` (plain coroutines, ``gather``, ``Event``s: the
floor), ``langgraph`` (``StateGraph`` + ``ainvoke``; no checkpointer for W1-W3, ``AsyncSqliteSaver`` on a temp
file or ``InMemorySaver`` for W4/W5), and aether_nb's ``graph_fn``, ``graphify`` and ``stategraph``
(``aether_nb.flow``) with the in-memory (``:memory:``) or DuckDB store. Each case runs in a fresh interpreter so
heap, caches and the store of one case never leak into the next; the parent only collects.

Workloads:

* W1: a chain of N trivial async nodes (N=100 and 1000); per-node time of back-to-back runs.
* W2: fan-out to 1000 trivial nodes and a join; per-node time (divided by the 1000 leaves).
* W3: 200 nodes each awaiting a 10 ms sleep, and a join; wall time (default concurrency settings).
* W4 / W4new: node 1 (appends to a file), a durable wait, nodes 2 and 3 (append too). Pause = start until the
  run waits and that is durable; resume = answer until done. W4new parks in one process, exits without cleanup
  (``os._exit``, like a killed kernel) and resumes in a new one; the file tells whether node 1 ran twice.
* W5: 1000 runs parked on a wait, then all answered; park and resume times, live heap per parked run
  (``tracemalloc``, after ``gc``, in a separate pass because tracing slows everything down) and RSS growth.
* FLOOR: what one durable write costs on this machine, measured in every round: one DuckDB ``INSERT`` statement
  carrying 6 rows, committed (``floor_ms``, the issue 16 definition), one carrying 1 row of 2 values (the shape of
  aether_nb's history log row), and one SQLite ``INSERT`` + commit in WAL mode (what LangGraph's checkpointer pays).
  The suite reports every DuckDB workload also as a multiple of ``floor_ms``.

Rounds: the cases of a workload run interleaved, in ``--rounds`` rounds (each case once per round, in a rotated
order, each time in a fresh interpreter measuring a few repetitions), so a load spike from another process on this
shared machine hits the baseline and the systems alike instead of one case. Samples of all rounds are pooled; the
load average is recorded at the start of each round.

Why the timing includes durability: aether_nb's per-node cost is only comparable to a checkpointer's if the
results are actually in the store, so every timed region ends with ``ag.session().flush()`` (a no-op for the
memory store); LangGraph's checkpointers commit inside ``ainvoke``. Protocol per interpreter: one warm-up
repetition, then up to ``--k`` repetitions, fewer when a repetition is slow (``--budget`` seconds per case); the
median is over all rounds' samples. Fast runs are timed in batches of back-to-back runs plus one final flush. It
reports; it never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import operator
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, TypedDict

AETHER_SYSTEMS = ("graph_fn", "graphify", "stategraph")
AETHER_STORES = ("memory", "duckdb")
W1_SIZES = (100, 1000)
FANOUT = 1000
SLEEPERS = 200
SLEEP_S = 0.01
PARKED = 1000
RESULT_MARK = "RESULT "


# ----------------------------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One measurement: a workload run by one system on one store (``none`` where no store applies)."""

    workload: str
    system: str
    store: str
    n: int | None = None

    @property
    def spec(self) -> str:
        return ":".join([self.workload, self.system, self.store, *([str(self.n)] if self.n is not None else [])])

    @classmethod
    def parse(cls, spec: str) -> Case:
        parts = spec.split(":")
        if len(parts) not in (3, 4):
            raise SystemExit(f"--case takes WORKLOAD:SYSTEM:STORE[:N], got {spec!r}")
        return cls(parts[0], parts[1], parts[2], int(parts[3]) if len(parts) == 4 else None)


def all_cases() -> list[Case]:
    """Every case of the suite, baselines first within each workload (so a table reads top-down)."""
    cases: list[Case] = [Case("FLOOR", "duckdb", "none")]

    def aether(workload: str, n: int | None = None, stores: tuple[str, ...] = AETHER_STORES) -> None:
        cases.extend(Case(workload, s, st, n) for s in AETHER_SYSTEMS for st in stores)

    for n in W1_SIZES:
        cases += [Case("W1", "asyncio", "none", n), Case("W1", "langgraph", "none", n)]
        aether("W1", n)
    for w in ("W2", "W3"):
        cases += [Case(w, "asyncio", "none"), Case(w, "langgraph", "none")]
        aether(w)
    cases += [Case("W4", "asyncio", "none"), Case("W4", "langgraph", "sqlite"), Case("W4", "langgraph", "memory")]
    aether("W4")
    cases.append(Case("W4new", "langgraph", "sqlite"))
    aether("W4new", stores=("duckdb",))  # a new process can only resume from a file
    cases += [Case("W5", "asyncio", "none"), Case("W5", "langgraph", "sqlite"), Case("W5", "langgraph", "memory")]
    aether("W5")
    return cases


# ----------------------------------------------------------------------------------------------------------------
# Systems under test: each method runs one repetition of a workload and returns once its results are durable.
# ----------------------------------------------------------------------------------------------------------------
def _append(path: str, label: str) -> None:
    """The side effect of the W4 nodes: one line per execution, counted afterwards to find re-executions."""
    with open(path, "a") as f:
        f.write(label + "\n")


class Driver:
    """The interface every system implements. Keys name runs/threads, so a new process can find them again."""

    async def open(self, workdir: Path) -> None:
        """Set up the system (store, checkpointer) in ``workdir``."""

    async def close(self) -> None:
        """Release what ``open`` acquired."""

    async def chain(self, n: int, runs: int) -> None:
        raise NotImplementedError

    async def fanout(self, n: int, runs: int) -> None:
        raise NotImplementedError

    async def sleepers(self, n: int) -> None:
        """W3: one run of ``n`` concurrent sleeping nodes, returning with its result (see :meth:`flush`)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Make what the last operation recorded durable (W3 reports the time to the result and to this)."""

    async def pause(self, key: str, path: str) -> None:
        """W4: start the flow and return when it waits, durably."""
        raise NotImplementedError

    async def resume(self, key: str) -> None:
        """W4: answer the flow's wait and return when it finished, durably."""
        raise NotImplementedError

    async def park(self, keys: list[str]) -> None:
        """W5: start one run per key and return when all wait, durably."""
        raise NotImplementedError

    async def resume_all(self, keys: list[str]) -> None:
        """W5: answer every parked run and return when all finished, durably."""
        raise NotImplementedError

    def describe(self) -> str:
        """What the system's runs are doing, for the message of a hang."""
        return ""


class AsyncioDriver(Driver):
    """The floor: plain coroutines, ``gather`` and ``Event``s; nothing recorded, nothing durable."""

    def __init__(self) -> None:
        self._parked: dict[str, tuple[asyncio.Event, asyncio.Task[Any]]] = {}

    @staticmethod
    async def _inc(x: int) -> int:
        return x + 1

    async def chain(self, n: int, runs: int) -> None:
        for _ in range(runs):
            x = 0
            for _ in range(n):
                x = await self._inc(x)

    async def fanout(self, n: int, runs: int) -> None:
        for _ in range(runs):
            xs = await asyncio.gather(*(self._inc(i) for i in range(n)))
            sum(xs)

    async def sleepers(self, n: int) -> None:
        async def nap(i: int) -> int:
            await asyncio.sleep(SLEEP_S)
            return i

        sum(await asyncio.gather(*(nap(i) for i in range(n))))

    async def _flow(self, key: str, path: str | None, answer: asyncio.Event, parked: Callable[[], None]) -> None:
        if path is not None:
            _append(path, "node1")
        else:
            await self._inc(0)
        parked()
        await answer.wait()
        if path is not None:
            _append(path, "node2")
            _append(path, "node3")
        else:
            await self._inc(1)

    async def pause(self, key: str, path: str) -> None:
        reached = asyncio.Event()
        answer = asyncio.Event()
        task = asyncio.create_task(self._flow(key, path, answer, reached.set))
        self._parked[key] = (answer, task)
        await reached.wait()

    async def resume(self, key: str) -> None:
        answer, task = self._parked.pop(key)
        answer.set()
        await task

    async def park(self, keys: list[str]) -> None:
        all_parked = asyncio.Event()
        remaining = len(keys)

        def one_parked() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                all_parked.set()

        for key in keys:
            answer = asyncio.Event()
            self._parked[key] = (answer, asyncio.create_task(self._flow(key, None, answer, one_parked)))
        await all_parked.wait()

    async def resume_all(self, keys: list[str]) -> None:
        tasks = []
        for key in keys:
            answer, task = self._parked.pop(key)
            answer.set()
            tasks.append(task)
        await asyncio.gather(*tasks)


class _XState(TypedDict, total=False):
    x: int


class _FanState(TypedDict, total=False):
    xs: Annotated[list[int], operator.add]
    total: int


class _FlowState(TypedDict, total=False):
    path: str
    i: int
    x: int
    answer: str


class LangGraphDriver(Driver):
    """LangGraph's ``StateGraph`` + ``ainvoke`` with async nodes (no thread pool, like the aether_nb tools).

    ``saver``: ``none`` (W1-W3: LangGraph keeps nothing), ``sqlite`` (``AsyncSqliteSaver`` on a file in the work
    directory: the durable comparison) or ``memory`` (``InMemorySaver``).
    """

    def __init__(self, saver: str) -> None:
        self.saver_kind = saver
        self._stack = contextlib.AsyncExitStack()
        self._saver: Any = None
        self._apps: dict[Any, Any] = {}

    async def open(self, workdir: Path) -> None:
        if self.saver_kind == "sqlite":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            cm = AsyncSqliteSaver.from_conn_string(str(workdir / "langgraph.sqlite"))
            self._saver = await self._stack.enter_async_context(cm)
        elif self.saver_kind == "memory":
            from langgraph.checkpoint.memory import InMemorySaver

            self._saver = InMemorySaver()

    async def close(self) -> None:
        await self._stack.aclose()

    def _app(self, kind: str, n: int = 0) -> Any:
        key = (kind, n)
        if key not in self._apps:
            self._apps[key] = self._build(kind, n)
        return self._apps[key]

    def _build(self, kind: str, n: int) -> Any:
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import interrupt

        async def inc(state: _XState) -> dict[str, Any]:
            return {"x": state["x"] + 1}

        if kind == "chain":
            g = StateGraph(_XState)
            for i in range(n):
                g.add_node(f"n{i}", inc)
                g.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
            g.add_edge(f"n{n - 1}", END)
            return g.compile()
        if kind in ("fanout", "sleepers"):
            sleep = kind == "sleepers"

            def leaf(i: int) -> Callable[[_FanState], Awaitable[dict[str, Any]]]:
                async def node(state: _FanState) -> dict[str, Any]:
                    if sleep:
                        await asyncio.sleep(SLEEP_S)
                    return {"xs": [i]}

                return node

            async def join(state: _FanState) -> dict[str, Any]:
                return {"total": sum(state["xs"])}

            g2 = StateGraph(_FanState)
            names = [f"leaf{i}" for i in range(n)]
            for i, name in enumerate(names):
                g2.add_node(name, leaf(i))
                g2.add_edge(START, name)
            g2.add_node("join", join)
            g2.add_edge(names, "join")  # LangGraph's barrier: join runs once, after every leaf
            g2.add_edge("join", END)
            return g2.compile()

        # the flows that pause: interrupt() in node 2, which LangGraph re-runs from its start when resumed, so
        # node 2's side effect comes after the interrupt
        async def n1(state: _FlowState) -> dict[str, Any]:
            if "path" in state:
                _append(state["path"], "node1")
            return {"x": state.get("i", 0) + 1}

        async def n2(state: _FlowState) -> dict[str, Any]:
            answer = interrupt("ok?")
            if "path" in state:
                _append(state["path"], "node2")
            return {"answer": answer, "x": state["x"] + 1}

        async def n3(state: _FlowState) -> dict[str, Any]:
            if "path" in state:
                _append(state["path"], "node3")
            return {"x": state["x"] + 1}

        g3 = StateGraph(_FlowState)
        g3.add_node("n1", n1)
        g3.add_node("n2", n2)
        g3.add_node("n3", n3)
        g3.add_edge(START, "n1")
        g3.add_edge("n1", "n2")
        g3.add_edge("n2", "n3")
        g3.add_edge("n3", END)
        return g3.compile(checkpointer=self._saver)

    async def chain(self, n: int, runs: int) -> None:
        app = self._app("chain", n)
        for _ in range(runs):
            await app.ainvoke({"x": 0}, config={"recursion_limit": n + 10})

    async def fanout(self, n: int, runs: int) -> None:
        app = self._app("fanout", n)
        for _ in range(runs):
            await app.ainvoke({"xs": []})

    async def sleepers(self, n: int) -> None:
        await self._app("sleepers", n).ainvoke({"xs": []})

    async def pause(self, key: str, path: str) -> None:
        out = await self._app("flow").ainvoke({"path": path}, config={"configurable": {"thread_id": key}})
        if "__interrupt__" not in out:
            raise RuntimeError(f"LangGraph flow {key} did not pause: {out}")

    async def resume(self, key: str) -> None:
        from langgraph.types import Command

        out = await self._app("flow").ainvoke(Command(resume="yes"), config={"configurable": {"thread_id": key}})
        if out.get("answer") != "yes":
            raise RuntimeError(f"LangGraph flow {key} did not finish: {out}")

    async def park(self, keys: list[str]) -> None:
        app = self._app("flow")
        outs = await asyncio.gather(
            *(app.ainvoke({"i": i}, config={"configurable": {"thread_id": k}}) for i, k in enumerate(keys))
        )
        if not all("__interrupt__" in o for o in outs):
            raise RuntimeError("some LangGraph threads did not pause")

    async def resume_all(self, keys: list[str]) -> None:
        from langgraph.types import Command

        app = self._app("flow")
        outs = await asyncio.gather(
            *(app.ainvoke(Command(resume="yes"), config={"configurable": {"thread_id": k}}) for k in keys)
        )
        if not all(o.get("answer") == "yes" for o in outs):
            raise RuntimeError("some LangGraph threads did not finish")


def _aether_defs(ag: Any) -> SimpleNamespace:
    """The tools, agents and graphs of every workload, defined identically in every process (W4new needs the
    same code in the resuming process: tools are matched by name and code version)."""
    from aether_nb.flow import END, START, StateGraph, interrupt

    @ag.tool(outputs=["y"])
    async def inc(x: int) -> dict[str, int]:
        return {"y": x + 1}

    @ag.tool(outputs=["y"])
    async def leaf(i: int) -> dict[str, int]:
        return {"y": i}

    @ag.tool(outputs=["y"])
    async def nap(i: int) -> dict[str, int]:
        await asyncio.sleep(SLEEP_S)
        return {"y": i}

    @ag.tool(outputs=["y"])
    async def join(xs: list[int]) -> dict[str, int]:
        return {"y": sum(xs)}

    @ag.tool(outputs=["n"])
    async def mark(path: str, label: str) -> dict[str, int]:
        _append(path, label)
        return {"n": 1}

    class Ask(ag.DualStageTool, outputs=["answer"]):  # type: ignore[misc, name-defined]
        """A graphify node that waits for an answer (graphify's way to pause)."""

        async def setup(self, after: int) -> Any:
            return ag.WaitSpec(kind="text", prompt="ok?")

        async def on_resume(self, payload: Any) -> dict[str, Any]:
            return {"answer": payload}

    # -- graph_fn ----------------------------------------------------------------------------------------------
    @ag.graph_fn(name="w_chain", outputs=["y"])
    async def gf_chain(x: int, n: int) -> dict[str, int]:
        for _ in range(n):
            x = (await inc(x))["y"]
        return {"y": x}

    @ag.graph_fn(name="w_fanout", outputs=["y"])
    async def gf_fanout(n: int) -> dict[str, int]:
        outs = await asyncio.gather(*(leaf(i) for i in range(n)))
        return {"y": (await join([o["y"] for o in outs]))["y"]}

    @ag.graph_fn(name="w_sleepers", outputs=["y"])
    async def gf_sleepers(n: int) -> dict[str, int]:
        outs = await asyncio.gather(*(nap(i) for i in range(n)))
        return {"y": (await join([o["y"] for o in outs]))["y"]}

    @ag.graph_fn(name="w4_flow", outputs=["answer"])
    async def gf_w4(path: str, *, context: Any) -> dict[str, Any]:
        await mark(path, "node1")
        answer = await context.channel().ask_text("ok?")
        await mark(path, "node2")
        await mark(path, "node3")
        return {"answer": answer}

    @ag.graph_fn(name="w5_flow", outputs=["y"])
    async def gf_w5(i: int, *, context: Any) -> dict[str, Any]:
        y = (await inc(i))["y"]
        await context.channel().ask_text("ok?")
        return {"y": (await inc(y))["y"]}

    # -- graphify (graphs whose size is an input are built per size, see ``graphify_sized``) -----------------
    @ag.graphify(name="w4_graph", inputs=["path"], outputs=["answer"])
    def gy_w4(path: Any) -> dict[str, Any]:
        a = mark(path=path, label="node1")
        w = Ask(after=a.n)
        b = mark(path=path, label="node2", _after=[w])
        mark(path=path, label="node3", _after=[b])
        return {"answer": w.answer}

    @ag.graphify(name="w5_graph", inputs=["i"], outputs=["y"])
    def gy_w5(i: Any) -> dict[str, Any]:
        a = inc(x=i)
        w = Ask(after=a.y)
        b = inc(x=a.y, _after=[w])
        return {"y": b.y}

    # -- StateGraph (aether_nb.flow), same shapes as the LangGraph ones ---------------------------------------
    async def sg_inc(state: _XState) -> dict[str, Any]:
        return {"x": state["x"] + 1}

    async def sg_n1(state: _FlowState) -> dict[str, Any]:
        if "path" in state:
            _append(state["path"], "node1")
        return {"x": state.get("i", 0) + 1}

    async def sg_n2(state: _FlowState) -> dict[str, Any]:
        answer = interrupt("ok?")
        if "path" in state:
            _append(state["path"], "node2")
        return {"answer": answer, "x": state["x"] + 1}

    async def sg_n3(state: _FlowState) -> dict[str, Any]:
        if "path" in state:
            _append(state["path"], "node3")
        return {"x": state["x"] + 1}

    def sg_flow(name: str) -> Any:
        g = StateGraph(_FlowState, name=name)
        g.add_node("n1", sg_n1)
        g.add_node("n2", sg_n2)
        g.add_node("n3", sg_n3)
        g.add_edge(START, "n1")
        g.add_edge("n1", "n2")
        g.add_edge("n2", "n3")
        g.add_edge("n3", END)
        return g.compile()

    def sg_chain(n: int) -> Any:
        g = StateGraph(_XState, name=f"w_sg_chain_{n}")
        for i in range(n):
            g.add_node(f"n{i}", sg_inc)
            g.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
        g.add_edge(f"n{n - 1}", END)
        return g.compile(recursion_limit=n + 10)

    def sg_fan(n: int, sleep: bool) -> Any:
        def make_leaf(i: int) -> Callable[[_FanState], Awaitable[dict[str, Any]]]:
            async def node(state: _FanState) -> dict[str, Any]:
                if sleep:
                    await asyncio.sleep(SLEEP_S)
                return {"xs": [i]}

            return node

        async def sg_join(state: _FanState) -> dict[str, Any]:
            return {"total": sum(state["xs"])}

        g = StateGraph(_FanState, name=f"w_sg_{'sleepers' if sleep else 'fanout'}_{n}")
        for i in range(n):
            g.add_node(f"leaf{i}", make_leaf(i))
            g.add_edge(START, f"leaf{i}")
            g.add_edge(f"leaf{i}", "join")
        g.add_node("join", sg_join)
        g.add_edge("join", END)
        return g.compile()

    return SimpleNamespace(
        inc=inc,
        leaf=leaf,
        nap=nap,
        join=join,
        gf_chain=gf_chain,
        gf_fanout=gf_fanout,
        gf_sleepers=gf_sleepers,
        gf_w4=gf_w4,
        gf_w5=gf_w5,
        gy_w4=gy_w4,
        gy_w5=gy_w5,
        sg_w4=sg_flow("w4_sg"),
        sg_w5=sg_flow("w5_sg"),
        sg_chain=sg_chain,
        sg_fan=sg_fan,
    )


def graphify_sized(ag: Any, defs: SimpleNamespace, kind: str, n: int) -> Any:
    """A graphify graph of ``n`` nodes: built in a loop inside the body, as a user would for a wide graph."""
    inc, leaf, nap, join = defs.inc, defs.leaf, defs.nap, defs.join
    if kind == "chain":

        @ag.graphify(name=f"w_gy_chain_{n}", inputs=["x"], outputs=["y"])
        def chain(x: Any) -> dict[str, Any]:
            h = inc(x=x)
            for _ in range(n - 1):
                h = inc(x=h.y)
            return {"y": h.y}

        return chain
    tool = leaf if kind == "fanout" else nap

    @ag.graphify(name=f"w_gy_{kind}_{n}", inputs=["x"], outputs=["y"])
    def fan(x: Any) -> dict[str, Any]:
        handles = [tool(i=i) for i in range(n)]
        return {"y": join(xs=[h.y for h in handles]).y}

    return fan


class AetherDriver(Driver):
    """aether_nb: ``graph_fn``, ``graphify`` or ``stategraph`` on the memory or DuckDB store.

    The console channel writes to /dev/null: waits stay open until ``run.answer`` (stdin is not a terminal) and
    the prompts cost no terminal I/O.
    """

    def __init__(self, system: str, store: str) -> None:
        if system not in AETHER_SYSTEMS or store not in AETHER_STORES:
            raise SystemExit(f"unknown aether_nb case {system}:{store}")
        self.system = system
        self.store = store
        self._sized: dict[tuple[str, int], Any] = {}
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - closed in close()

    async def open(self, workdir: Path) -> None:
        import aether_nb as ag

        self.ag = ag
        spec = ":memory:" if self.store == "memory" else str(workdir / "bench.duckdb")
        ag.configure(store=spec, channel=ag.ConsoleChannel(out=self._devnull))
        self.defs = _aether_defs(ag)

    async def close(self) -> None:
        self.ag.session().flush()
        self._devnull.close()

    def _durable(self) -> None:
        self.ag.session().flush()

    def describe(self) -> str:
        statuses: dict[str, int] = {}
        for run in self.ag.runs():
            statuses[run.status] = statuses.get(run.status, 0) + 1
        return f"; runs by status in the store: {statuses}"

    def _graph(self, kind: str, n: int) -> Any:
        key = (kind, n)
        if key not in self._sized:
            if self.system == "graphify":
                self._sized[key] = graphify_sized(self.ag, self.defs, kind, n)
            elif kind == "chain":
                self._sized[key] = self.defs.sg_chain(n)
            else:
                self._sized[key] = self.defs.sg_fan(n, sleep=kind == "sleepers")
        return self._sized[key]

    async def _one(self, kind: str, n: int) -> None:
        d = self.defs
        if self.system == "graph_fn":
            fn = {"chain": d.gf_chain, "fanout": d.gf_fanout, "sleepers": d.gf_sleepers}[kind]
            await (fn(x=0, n=n) if kind == "chain" else fn(n=n))
        elif self.system == "graphify":
            await self._graph(kind, n)(x=0)
        else:
            inp: dict[str, Any] = {"x": 0} if kind == "chain" else {"xs": []}
            res = await self._graph(kind, n).ainvoke(inp)
            if res.status != "completed":
                raise RuntimeError(f"StateGraph {kind} ended {res.status}")

    async def chain(self, n: int, runs: int) -> None:
        for _ in range(runs):
            await self._one("chain", n)
        self._durable()

    async def fanout(self, n: int, runs: int) -> None:
        for _ in range(runs):
            await self._one("fanout", n)
        self._durable()

    async def sleepers(self, n: int) -> None:
        await self._one("sleepers", n)

    def flush(self) -> None:
        self._durable()

    async def pause(self, key: str, path: str) -> None:
        d = self.defs
        if self.system == "stategraph":
            res = await d.sg_w4.ainvoke({"path": path}, config={"thread_id": key})
            if res.status != "interrupted":
                raise RuntimeError(f"StateGraph flow {key} did not pause: {res.status}")
        else:
            run = (d.gf_w4 if self.system == "graph_fn" else d.gy_w4).start(path=path, run_id=key)
            await run.wait_for("waiting")
        self._durable()

    async def resume(self, key: str) -> None:
        if self.system == "stategraph":
            res = await self.defs.sg_w4.ainvoke({"resume": "yes"}, config={"thread_id": key})
            if res.status != "completed":
                raise RuntimeError(f"StateGraph flow {key} did not finish: {res.status}")
        else:
            run = self.ag.get_run(key)
            await run.answer("yes")
            out = await run
            if out.get("answer") != "yes":
                raise RuntimeError(f"run {key} returned {out}")
        self._durable()

    async def park(self, keys: list[str]) -> None:
        d = self.defs
        if self.system == "stategraph":
            results = await asyncio.gather(
                *(d.sg_w5.ainvoke({"i": i}, config={"thread_id": k}) for i, k in enumerate(keys))
            )
            if not all(r.status == "interrupted" for r in results):
                raise RuntimeError("some StateGraph threads did not pause")
        else:
            target = d.gf_w5 if self.system == "graph_fn" else d.gy_w5
            runs = [target.start(i=i, run_id=k) for i, k in enumerate(keys)]
            await asyncio.gather(*(r.wait_for("waiting", timeout=None) for r in runs))
        self._durable()

    async def resume_all(self, keys: list[str]) -> None:
        if self.system == "stategraph":
            app = self.defs.sg_w5
            results = await asyncio.gather(*(app.ainvoke({"resume": "yes"}, config={"thread_id": k}) for k in keys))
            if not all(r.status == "completed" for r in results):
                raise RuntimeError("some StateGraph threads did not finish")
        else:
            runs = [self.ag.get_run(k) for k in keys]
            for run in runs:
                await run.answer("yes")
            await asyncio.gather(*(run.result() for run in runs))
        self._durable()


def make_driver(case: Case) -> Driver:
    """The driver of a case's system; each imports its library only when built, so cases do not pay for others."""
    if case.system == "asyncio":
        return AsyncioDriver()
    if case.system == "langgraph":
        return LangGraphDriver(case.store)
    return AetherDriver(case.system, case.store)


# ----------------------------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """Repetition policy: at most ``k`` measured repetitions within ``budget_s``; fast runs batched to ``batch_s``."""

    k: int = 5
    budget_s: float = 6.0
    batch_s: float = 0.3


OP_TIMEOUT_S = 120.0
"""One operation (a batch, a pause, parking 1000 runs) taking longer is reported as a hang, so that a runtime
bug costs the suite two minutes rather than the case's whole timeout."""


async def _guard(coro: Awaitable[Any], driver: Driver | None = None) -> Any:
    """Await ``coro``, turning a hang into an error that says what the system's runs were doing."""
    try:
        async with asyncio.timeout(OP_TIMEOUT_S):  # no extra task: timing stays that of the awaited code
            return await coro
    except TimeoutError:
        state = driver.describe() if driver is not None else ""
        raise RuntimeError(f"no progress within {OP_TIMEOUT_S:.0f} s (a hang?){state}") from None


async def _timed(coro: Awaitable[Any], driver: Driver | None = None, full: list[int] | None = None) -> float:
    """Seconds to await ``coro``; garbage from earlier repetitions is collected first, outside the timing.
    ``full``: gets the number of the garbage collector's full collections while ``coro`` ran appended."""
    gc.collect()
    counter = _FullCollections()
    if full is not None:
        gc.callbacks.append(counter)
    t0 = time.perf_counter()
    try:
        await _guard(coro, driver)
        return time.perf_counter() - t0
    finally:
        if full is not None:
            gc.callbacks.remove(counter)
            full.append(counter.count)


class _FullCollections:
    """Counts CPython's collections of its oldest generation (a ``gc.callbacks`` entry). With 1,000 runs parked
    each takes ~100 ms, so how many a W5 resume triggers decides much of its time, independent of the machine's
    load: the count shows a change in objects allocated per run that the timings' noise hides (bench/README)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            self.count += 1


def _reps(settings: Settings, one_rep_s: float, k: int | None = None) -> int:
    """How many measured repetitions fit the per-case budget (at least 1, at most k)."""
    k = settings.k if k is None else k
    return max(1, min(k, int(settings.budget_s / max(one_rep_s, 1e-9))))


def _summary(samples: list[float], unit: str) -> dict[str, Any]:
    return {"median": statistics.median(samples), "min": min(samples), "samples": samples, "unit": unit}


async def per_node(settings: Settings, fn: Callable[[int, int], Awaitable[None]], n: int, units: int) -> dict[str, Any]:
    """Per-node µs of batches of back-to-back runs (each batch ends durable): warm-up run, then batches."""
    warm = await _timed(fn(n, 1))
    if warm < settings.budget_s / 4:  # a first run pays one-off costs (lazy imports, caches): size from a second
        warm = await _timed(fn(n, 1))
    batch = max(1, min(50, math.ceil(settings.batch_s / warm)))
    reps = _reps(settings, warm * batch)
    samples = [await _timed(fn(n, batch)) / (batch * units) * 1e6 for _ in range(reps)]
    return {"per_node_us": _summary(samples, "µs"), "batch_runs": batch, "reps": reps, "warmup_s": warm}


async def w3(settings: Settings, driver: Driver) -> dict[str, Any]:
    """Wall time of one 200-sleeper run, to its result (what the caller waits for: the issue's metric) and to
    its history being durable (aether_nb writes it behind the result; see README "Durability").
    Cheap, so more repetitions (the sleeps make it noisy)."""

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        await driver.sleepers(SLEEPERS)
        t1 = time.perf_counter()
        driver.flush()
        return t1 - t0, time.perf_counter() - t0

    warm = (await once())[1]
    if warm < settings.budget_s / 4:
        warm = (await once())[1]
    reps = _reps(settings, warm, k=max(settings.k, 7))
    pairs = [await once() for _ in range(reps)]
    return {
        "wall_ms": _summary([a * 1e3 for a, _ in pairs], "ms"),
        "durable_ms": _summary([b * 1e3 for _, b in pairs], "ms"),
        "reps": reps,
        "warmup_s": warm,
    }


def _count(path: Path) -> dict[str, int]:
    lines = path.read_text().splitlines() if path.exists() else []
    return {label: lines.count(label) for label in ("node1", "node2", "node3")}


def _side_effects(paths: list[Path]) -> dict[str, Any]:
    """The most executions of each node over the flows, and whether node 1 ran again after the pause."""
    counts = [_count(p) for p in paths]
    worst = {label: max(c[label] for c in counts) for label in ("node1", "node2", "node3")}
    return {
        "side_effects_max": worst,
        "reexecuted": worst["node1"] > 1,
        "incomplete": any(min(c.values()) < 1 for c in counts),
    }


async def w4(settings: Settings, driver: Driver, workdir: Path) -> dict[str, Any]:
    """Same process: pause then resume, each timed, ``k`` flows after one warm-up flow."""
    pauses, resumes, paths = [], [], []
    for i in range(settings.k + 1):
        path = workdir / f"w4-{i}.txt"
        key = f"w4-{i}"
        pause = await _timed(driver.pause(key, str(path)), driver)
        resume = await _timed(driver.resume(key), driver)
        if i > 0:  # flow 0 is the warm-up
            pauses.append(pause * 1e3)
            resumes.append(resume * 1e3)
            paths.append(path)
    return {"pause_ms": _summary(pauses, "ms"), "resume_ms": _summary(resumes, "ms"), **_side_effects(paths)}


async def w4_phase(case: Case, phase: str, workdir: Path, k: int) -> dict[str, Any]:
    """One process of W4new: ``park`` (warm-up flow, then park ``k`` flows) or ``resume`` (the parked flows)."""
    driver = make_driver(case)
    await driver.open(workdir)
    out: dict[str, Any] = {}
    if phase == "park":
        await driver.pause("warm", str(workdir / "warm.txt"))
        await driver.resume("warm")
        out["pause_ms"] = [await _timed(driver.pause(f"w4-{i}", str(workdir / f"w4-{i}.txt"))) * 1e3 for i in range(k)]
        print(RESULT_MARK + json.dumps(out), flush=True)
        os._exit(0)  # like a killed kernel: no cleanup, no close; only what was made durable survives
    out["resume_ms"] = [await _timed(driver.resume(f"w4-{i}")) * 1e3 for i in range(k)]
    await driver.close()
    return out


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    """Run this script in a fresh interpreter and return the JSON it printed (stderr's tail if it printed none)."""
    res = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=_child_env(),
    )
    for line in reversed(res.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise RuntimeError(f"{' '.join(args)} exited {res.returncode} without a result:\n{res.stderr[-4000:]}")


async def w4_new_process(settings: Settings, case: Case, workdir: Path) -> dict[str, Any]:
    """Park ``k`` flows in one process, kill it, resume them in another; count the side effects."""
    k = min(settings.k, 3)
    base = ["--case", case.spec, "--workdir", str(workdir), "--k", str(k)]
    parked = _child([*base, "--phase", "park"], timeout=300)
    resumed = _child([*base, "--phase", "resume"], timeout=300)
    return {
        "pause_ms": _summary(parked["pause_ms"], "ms"),
        "resume_ms": _summary(resumed["resume_ms"], "ms"),
        "resume_first_ms": resumed["resume_ms"][0],
        **_side_effects([workdir / f"w4-{i}.txt" for i in range(k)]),
    }


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


async def w5(settings: Settings, driver: Driver, heap: bool = True) -> dict[str, Any]:
    """Park and resume 1000 runs (timed, warm-up with 100 first), then a traced pass for the live heap."""
    await _guard(driver.park([f"warm-{i}" for i in range(100)]), driver)
    await _guard(driver.resume_all([f"warm-{i}" for i in range(100)]), driver)
    parks, resumes, rss = [], [], []
    full: list[int] = []
    rep = 0
    while True:
        keys = [f"r{rep}-{i}" for i in range(PARKED)]
        gc.collect()
        before = _rss()
        parks.append(await _timed(driver.park(keys), driver) * 1e3)
        rss.append((_rss() - before) / PARKED)
        resumes.append(await _timed(driver.resume_all(keys), driver, full) * 1e3)
        rep += 1
        if rep >= _reps(settings, (parks[0] + resumes[0]) / 1e3, k=min(settings.k, 3)):
            break
    out = {
        "park_ms": _summary(parks, "ms"),
        "resume_ms": _summary(resumes, "ms"),
        "resume_full_gcs": _summary([float(n) for n in full], "full GCs"),
        "rss_per_run_kb": rss[0] / 1024,
    }
    if not heap:
        return {**out, "reps": rep}
    # live heap: a separate pass, since tracemalloc slows allocation down several times
    keys = [f"heap-{i}" for i in range(PARKED)]
    gc.collect()
    tracemalloc.start()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    await _guard(driver.park(keys), driver)
    await asyncio.sleep(0.1)  # let the loop go idle: work a runtime does right after parking (e.g. evicting) counts
    gc.collect()
    heap_bytes = (tracemalloc.get_traced_memory()[0] - base) / PARKED
    tracemalloc.stop()
    # these runs stay parked: the process ends here, and resuming them would only add minutes to the DuckDB cases
    return {**out, "heap_per_run_kb": heap_bytes / 1024, "reps": rep}


def floor(workdir: Path, n: int = 300) -> dict[str, Any]:
    """The cost of one durable write here: DuckDB (default settings) and SQLite (WAL, synchronous=FULL), in a fresh
    file each, alternating statement by statement so both see the same load."""
    import sqlite3

    import duckdb

    row = [
        None,
        "event",
        "run-1",
        "node_1",
        json.dumps({"kind": "node_finished", "outputs": {"y": 1}, "pad": "x" * 40}),
    ]
    duck = duckdb.connect(str(workdir / "floor.duckdb"))
    duck.execute("CREATE TABLE log (seq BIGINT, kind VARCHAR, run_id VARCHAR, k VARCHAR, data VARCHAR)")
    duck.execute("CREATE TABLE one (seq BIGINT, batch VARCHAR)")
    six = "INSERT INTO log VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * 6)
    lite = sqlite3.connect(str(workdir / "floor.sqlite"), isolation_level=None)
    lite.execute("PRAGMA journal_mode=WAL")
    lite.execute("PRAGMA synchronous=FULL")
    lite.execute("CREATE TABLE log (seq INTEGER, kind TEXT, run_id TEXT, k TEXT, data TEXT)")
    samples: dict[str, list[float]] = {"floor_ms": [], "floor_one_row_ms": [], "sqlite_commit_ms": []}
    batch_text = json.dumps([row[1:]] * 6)
    for i in range(n):
        six_params = [v for j in range(6) for v in [i * 6 + j, *row[1:]]]
        ops: list[tuple[str, Any, str, list[Any]]] = [
            ("floor_ms", duck, six, six_params),
            ("floor_one_row_ms", duck, "INSERT INTO one VALUES (?, ?)", [i, batch_text]),
            ("sqlite_commit_ms", lite, "INSERT INTO log VALUES (?, ?, ?, ?, ?)", [i, *row[1:]]),
        ]
        for name, con, sql, params in ops if i % 2 else reversed(ops):
            t0 = time.perf_counter()
            con.execute(sql, params)
            samples[name].append((time.perf_counter() - t0) * 1e3)
    duck.close()
    lite.close()
    return {name: _summary(values[n // 10 :], "ms") for name, values in samples.items()}  # the first tenth warms up


async def run_case(case: Case, settings: Settings, workdir: Path, heap: bool = True) -> dict[str, Any]:
    if case.workload == "FLOOR":
        return floor(workdir)
    if case.workload == "W4new":
        return await w4_new_process(settings, case, workdir)
    driver = make_driver(case)
    await driver.open(workdir)
    try:
        if case.workload == "W1":
            assert case.n is not None
            return await per_node(settings, driver.chain, case.n, case.n)
        if case.workload == "W2":
            return await per_node(settings, driver.fanout, FANOUT, FANOUT)
        if case.workload == "W3":
            return await w3(settings, driver)
        if case.workload == "W4":
            return await w4(settings, driver, workdir)
        if case.workload == "W5":
            return await w5(settings, driver, heap)
        raise SystemExit(f"unknown workload {case.workload}")
    finally:
        await driver.close()


# ----------------------------------------------------------------------------------------------------------------
# The parent: one fresh interpreter per case
# ----------------------------------------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AETHER_NB_STORE", "JPY_SESSION_NAME")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


PER_ROUND_K = {"W1": 2, "W2": 2, "W3": 3, "W4": 2, "W4new": 3, "W5": 1, "FLOOR": 1}
"""Measured repetitions per case in one interpreter (one round); W5's are slow and W3's noisy."""


def _run_one(case: Case, settings: Settings, timeout: float, k: int, heap: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aether-runtime-bench-") as tmp:
        args = ["--case", case.spec, "--workdir", tmp, "--k", str(k), "--budget", str(settings.budget_s)]
        if not heap:
            args.append("--no-heap")
        return _child(args, timeout)


def _pool(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One case's metrics over its rounds: samples pooled (median of all), scalars from the first round."""
    out: dict[str, Any] = {}
    for metrics in rounds:
        for name, value in metrics.items():
            if isinstance(value, dict) and "samples" in value:
                pooled = out.setdefault(name, {"samples": [], "unit": value["unit"]})
                pooled["samples"] += value["samples"]
            elif isinstance(value, bool):
                out[name] = bool(out.get(name)) or value
            elif name not in out:
                out[name] = value
            elif name == "side_effects_max":
                out[name] = {k: max(v, out[name].get(k, 0)) for k, v in value.items()}
    for value in out.values():
        if isinstance(value, dict) and "samples" in value:
            value.update(median=statistics.median(value["samples"]), min=min(value["samples"]))
    return out


def run_all(cases: list[Case], settings: Settings, timeout: float, rounds: int) -> list[dict[str, Any]]:
    """Every case ``rounds`` times, interleaved: round r runs each case of a workload once (rotated order), the
    floor first in every round; a case's samples are pooled over the rounds."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.workload, []).append(case)
    floor_case = next((c for c in cases if c.workload == "FLOOR"), None)
    records = {c.spec: {"case": c.spec, **c.__dict__, "rounds": [], "load_1m": [], "elapsed_s": 0.0} for c in cases}
    total = sum(len(g) for w, g in groups.items() if w != "FLOOR") * rounds
    done = 0
    for workload, group in groups.items():
        if workload == "FLOOR":
            continue
        for r in range(rounds):
            order = group[r % len(group) :] + group[: r % len(group)]
            if floor_case is not None:
                order = [floor_case, *order]
            for case in order:
                rec = records[case.spec]
                if "error" in rec:
                    continue
                if case.workload != "FLOOR":
                    done += 1
                    print(f"[{done}/{total}] round {r + 1} {case.spec} ...", end=" ", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                rec["load_1m"].append(os.getloadavg()[0])
                try:
                    k = PER_ROUND_K.get(case.workload, 2)
                    rec["rounds"].append(_run_one(case, settings, timeout, k, heap=r == 0))
                except Exception as exc:  # a failing case is reported in the table, never hides the others
                    rec["error"] = f"{type(exc).__name__}: {exc}"
                rec["elapsed_s"] += time.perf_counter() - t0
                if case.workload != "FLOOR":
                    took = time.perf_counter() - t0
                    print(f"{took:.1f} s" + (" ERROR" if "error" in rec else ""), file=sys.stderr, flush=True)
    results = []
    for rec in records.values():
        if rec["rounds"] and "error" not in rec:
            rec["metrics"] = _pool(rec["rounds"])
        elif "error" not in rec:
            continue  # a case of a workload that was not selected
        results.append(rec)
    return results


def _headline(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, value in metrics.items():
        if isinstance(value, dict) and "median" in value:
            out.append((name, f"{value['median']:.1f} {value['unit']}"))
        elif name in ("heap_per_run_kb", "rss_per_run_kb"):
            out.append((name, f"{value:.2f} KB"))
        elif name == "reexecuted":
            out.append((name, str(value)))
    return out


def print_results(results: list[dict[str, Any]]) -> None:
    print(f"{'case':32} {'metric':16} {'median':>14}")
    for r in results:
        if "error" in r:
            print(f"{r['case']:32} {'ERROR':16} {r['error'].splitlines()[0][:80]}")
            continue
        for name, text in _headline(r["metrics"]):
            print(f"{r['case']:32} {name:16} {text:>14}")


def _machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("bench/results/runtime.json"))
    parser.add_argument("--only", help="comma-separated workloads (W1,W2,W3,W4,W4new,W5) or case prefixes")
    parser.add_argument("--quick", action="store_true", help="2 rounds and a 2 s budget per case (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every case (see above)")
    parser.add_argument("--no-heap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=5, help="most measured repetitions per case")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds of measured repetitions per case")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a case is abandoned")
    parser.add_argument("--case", help="run one case in this process (internal)")
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("park", "resume"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = Settings(k=3 if args.quick else args.k, budget_s=2.0 if args.quick else args.budget)

    if args.case:
        case = Case.parse(args.case)
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aether-runtime-case-"))
        try:
            if args.phase:
                out = asyncio.run(w4_phase(case, args.phase, workdir, settings.k))
            else:
                out = asyncio.run(run_case(case, settings, workdir, heap=not args.no_heap))
        except Exception:
            traceback.print_exc()
            return 1
        print(RESULT_MARK + json.dumps(out), flush=True)
        return 0

    cases = all_cases()
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        cases = [
            c
            for c in cases
            if c.workload in wanted or c.workload == "FLOOR" or any(c.spec.startswith(w) for w in wanted)
        ]
    t0 = time.perf_counter()
    rounds = 2 if args.quick else max(1, args.rounds)
    results = run_all(cases, settings, args.timeout, rounds)
    print_results(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": _machine(),
        "settings": {**settings.__dict__, "rounds": rounds},
        "elapsed_s": time.perf_counter() - t0,
        "results": results,
    }
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
