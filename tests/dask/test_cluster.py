"""ag.DaskExecutor against a real LocalCluster of 2 single-threaded worker processes (one cluster for the module).

Tools are defined as notebook cells are (``cell``: a ``__main__`` namespace), so they travel to the workers by value
and the workers never import aether_nb. Bodies and tests meet through Dask's own ``Event``/``Variable`` on the
scheduler: a test waits on state (a body started, a body stopped, a run event), never on the clock. The worker-kill
test comes last: it restarts a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import distributed
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.executors.dask import DaskExecutor
from aether_nb.runtime.codec import decode
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.testing import ScriptedChannel
from tests.dask.conftest import Counting, KernelLoop, cell

TOOLS = '''
import os
import sys
import aether_nb as ag


@ag.tool(outputs=["v", "pid"])
def square(i: int, gate: str = ""):
    """CPU work on a worker; with a gate, it says it started and waits until the test opens the gate."""
    if gate:
        from distributed import Event

        Event(f"{gate}-started-{i}").set()
        assert Event(f"{gate}-go").wait(30), "the test never opened the gate"
    sum(k * k for k in range(20_000))
    return {"v": i * i, "pid": os.getpid()}


@ag.tool(outputs=["v"])
def flaky(i: int, flag: str):
    return {"v": check(i, flag)}


def check(i, flag):
    if not os.path.exists(flag):
        raise RuntimeError(f"flag {flag} is not there yet")
    return -i


@ag.tool(outputs=["done"])
def spin(tag: str, gate: str, pause: float = 0.0):
    """Python that never returns by itself: only an interruption stops it. With a pause, it sleeps between
    iterations (two such bodies do not starve a loaded 2-core machine; the interruption lands after a sleep)."""
    import time
    from distributed import Event

    try:  # the interruption may land anywhere, even inside the first set(): only the finally is sure to run
        Event(f"{gate}-{tag}-started").set()
        n = 0
        while True:
            n += 1
            if pause:
                time.sleep(pause)
    finally:
        Event(f"{gate}-{tag}-stopped").set()


@ag.tool(outputs=["a_started", "a_stopped"])
def look(gate: str):
    from distributed import Event

    return {"a_started": Event(f"{gate}-a-started").is_set(), "a_stopped": Event(f"{gate}-a-stopped").is_set()}


@ag.tool(outputs=["pid"])
def hold(i: int, gate: str):
    from distributed import Event, Variable

    Variable(f"{gate}-pid-{i}").set(os.getpid())
    Event(f"{gate}-started-{i}").set()
    assert Event(f"{gate}-go").wait(30), "the test never opened the gate"
    return {"pid": os.getpid()}


def aether_nb_imported():
    return "aether_nb" in sys.modules
'''


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, Any]:
    return cell(TOOLS, tmp_path)


def gate_name() -> str:
    return f"gate-{uuid.uuid4().hex}"


def event(ex: DaskExecutor, name: str) -> distributed.Event:
    return distributed.Event(name, client=ex.client)


async def until_event(run: ag.Run, predicate: Any) -> None:
    """Wait until ``predicate(run.history)`` holds, re-checking at each event of the run (under the cell timeout)."""
    changed = asyncio.Event()
    unsubscribe = run.subscribe(lambda _: changed.set())
    try:
        while not predicate(run.history):
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


async def worker_pids(ex: DaskExecutor) -> dict[str, int]:
    """``{worker address: worker process id}``."""
    pids: dict[str, int] = await ex.client.run(os.getpid)
    return pids


async def run_on_workers(ex: DaskExecutor, fn: Any) -> dict[str, Any]:
    result: dict[str, Any] = await ex.client.run(fn)
    return result


async def ended(submission: Any) -> None:
    """Wait until a submission's body has really ended (the protocol's done callback, from any thread)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    submission.add_done_callback(lambda: loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None)))
    await done


def finished(run: ag.Run, node_id: str) -> list[Any]:
    return [e for e in run.history if e.kind in ("node_finished", "node_ran") and e.node_id == node_id]


def test_a_fan_out_runs_in_two_worker_processes_while_the_kernel_loop_ticks(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    square = tools["square"]

    @ag.graphify(name="dask_fan", inputs=["gate"], outputs=["vs", "pids"])
    def fan(gate):  # type: ignore[no-untyped-def]
        nodes = [square(i=i, gate=gate) for i in range(8)]
        return {"vs": [n.v for n in nodes], "pids": [n.pid for n in nodes]}

    gate = gate_name()

    async def main() -> tuple[dict[str, Any], ag.Run, dict[str, int], int]:
        client = cluster.client
        workers = await worker_pids(cluster)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticking = asyncio.ensure_future(ticker())
        run = fan.start(gate=gate, executor=cluster)
        waits = {asyncio.ensure_future(event(cluster, f"{gate}-started-{i}").wait(30)) for i in range(8)}
        started = 0
        while started < 2:  # both workers are busy (one thread each) with a body that waits for the gate
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            started += len(done)
        # The DAG shows every node live, none finished: the two bodies on a worker running, the six waiting in
        # Dask's queue pending; and the kernel's loop is free while bodies run elsewhere. (A start reaches the
        # kernel on Dask's event stream, not with the test's Event: wait for it.)
        await until_event(run, lambda _: sum(n.status == "RUNNING" for n in run.graph.nodes) == 2)
        statuses = sorted(n.status for n in run.graph.nodes)
        assert statuses == ["PENDING"] * 6 + ["RUNNING"] * 2 and run.status == "running"
        seen = ticks
        while ticks < seen + 5:
            await asyncio.sleep(0.005)
        assert all(n.status in ("PENDING", "RUNNING") for n in run.graph.nodes)
        await event(cluster, f"{gate}-go").set()
        out = await run
        for waiter in waits:
            waiter.cancel()
        ticking.cancel()
        imported = await client.run(tools["aether_nb_imported"])
        assert imported == dict.fromkeys(workers, False)  # the workers got the tools by value, not aether_nb
        return out, run, workers, ticks

    out, run, workers, _ = kernel.run(main())
    assert out["vs"] == [i * i for i in range(8)]
    assert set(out["pids"]) == set(workers.values()) and os.getpid() not in out["pids"]
    journal = {e.key: decode(e.value) for e in session.store.load_journal(run.id)}
    for node in run.graph.nodes:
        assert node.status == "DONE" and node.where in workers
        assert journal[node.id]["pid"] == workers[node.where]  # the inspector names the worker that ran it
    assert len(journal) == 8


def test_a_graph_fn_resumed_after_a_restart_submits_nothing_it_already_did(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    square = tools["square"]

    @ag.graph_fn(name="dask_agent", outputs=["total", "who"])
    async def agent(n: int, *, context: ag.NodeContext):  # type: ignore[no-untyped-def]
        a = await square(n)
        b = await square(n + 1)
        who = await context.channel().ask_text("Who?")
        c = await square(n + 2)
        return {"total": a["v"] + b["v"] + c["v"], "who": who}

    first = Counting(cluster)

    async def before_restart() -> str:
        session.max_live_waiting = 0  # the waiting run leaves memory: nothing of it stays in this "process"
        run = agent.start(n=3, executor=first)
        await run.wait_for("waiting")
        assert run.evicted
        session.store.flush_history()
        return run.id

    run_id = kernel.run(before_restart())
    assert first.labels == ["square", "square"]

    # A new process: a new session over the same store; the executor is configured again, as after a restart.
    restarted = install_builtin_services(Session(session.store), channel=ScriptedChannel())
    from aether_nb.runtime import session as session_mod

    previous = session_mod.set_default_session(restarted)
    second = Counting(cluster)
    try:
        ag.configure(executor=second)

        async def after_restart() -> tuple[dict[str, Any], ag.Run]:
            run = ag.get_run(run_id)
            await run.answer("Ada")
            return await run, run

        out, run = kernel.run(after_restart())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"total": 9 + 16 + 25, "who": "Ada"}
    assert second.labels == ["square"]  # square_1 and square_2 were replayed from the journal
    replayed = {n.id for n in run.graph.nodes if n.replayed}
    assert {"square_1", "square_2"} <= replayed and "square_3" not in replayed
    assert run.graph.node("square_3").where in kernel.run(worker_pids(cluster))


def test_a_failed_graph_resumes_only_its_failed_node_and_the_error_carries_the_remote_traceback(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any], tmp_path: Path
) -> None:
    square, flaky = tools["square"], tools["flaky"]

    @ag.graphify(name="dask_partial", inputs=["flag"], outputs=["a", "b", "c"])
    def partial(flag):  # type: ignore[no-untyped-def]
        a = square(i=2)
        b = square(i=a.v)
        c = flaky(i=7, flag=flag)
        return {"a": a.v, "b": b.v, "c": c.v}

    flag = tmp_path / "flag"
    first, second = Counting(cluster), Counting(cluster)

    async def main() -> tuple[Any, BaseException, dict[str, Any]]:
        run = partial.start(flag=str(flag), executor=first, stop_on_first_error=False)
        with pytest.raises(ag.RunFailed) as failed:
            await run
        node = copy.deepcopy(run.graph.node("flaky_1"))
        flag.write_text("now")
        again = partial.start(flag=str(flag), run_id=run.id, resume_mode="failed_nodes", executor=second)
        return node, failed.value, await again

    node, error, out = kernel.run(main())
    assert out == {"a": 4, "b": 16, "c": -7}
    assert sorted(first.labels) == ["flaky", "square", "square"] and second.labels == ["flaky"]
    cause = error.__cause__
    assert isinstance(cause, RuntimeError) and "is not there yet" in str(cause)
    workers = kernel.run(worker_pids(cluster))
    assert node.status == "FAILED" and node.where in workers
    info = node.error
    assert isinstance(info, dict) and info["type"] == "builtins.RuntimeError"
    # The remote traceback: the body's frame and the helper it called, with their source lines, and the worker.
    assert 'raise RuntimeError(f"flag {flag} is not there yet")' in info["traceback"]
    assert "in flaky" in info["traceback"] and "in check" in info["traceback"]
    assert f"aether_nb: raised on Dask worker {node.where}" in info["traceback"]
    # Only the user's frames: not the executor's on the worker, nor Dask's client re-raising it in the kernel.
    assert "<dynamic-code>" not in info["traceback"] and "distributed" not in info["traceback"]
    assert info["traceback"].count('  File "') == 2


def test_values_that_cannot_be_pickled_fail_their_node_with_a_message_naming_the_tool_and_the_value(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    ns = cell(
        """
        import threading
        import aether_nb as ag

        @ag.tool(outputs=["ok"])
        def needs(handle):
            return {"ok": True}

        @ag.tool(outputs=["n", "g"])
        def gen_out():
            return {"n": 1, "g": (i for i in range(3))}

        @ag.graph_fn(name="dask_pickling", outputs=["errors"])
        async def pickling():
            errors = []
            for call in (lambda: needs(handle=threading.Lock()), lambda: gen_out()):
                try:
                    await call()
                except ag.UsageError as exc:
                    errors.append((exc.code, str(exc)))
            return {"errors": errors}
        """,
        tmp_path,
    )
    counting = Counting(cluster)

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = ns["pickling"].start(executor=counting)
        return await run, run

    out, run = kernel.run(main())
    (code1, needs_msg), (code2, gen_msg) = out["errors"]
    assert code1 == code2 == "not_picklable"
    assert needs_msg.startswith("tool needs: input 'handle' (lock: <unlocked _thread.lock")
    assert gen_msg.startswith("tool gen_out returned output 'g' (generator: <generator object")
    assert "Dask worker tcp://" in gen_msg
    assert counting.labels == ["gen_out"]  # the lock never left the kernel
    assert [n.status for n in run.graph.nodes] == ["FAILED", "FAILED"]


def test_a_timed_out_node_is_stopped_on_its_worker_and_keeps_its_slot_until_then(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    spin, look = tools["spin"], tools["look"]

    @ag.graphify(name="dask_timeout", inputs=["gate"], outputs=["a_started", "a_stopped"])
    def timed(gate):  # type: ignore[no-untyped-def]
        spin(tag="a", gate=gate, _timeout_s=1.0)
        seen = look(gate=gate)
        return {"a_started": seen.a_started, "a_stopped": seen.a_stopped}

    gate = gate_name()
    counting = Counting(cluster)

    async def main() -> tuple[ag.Run, dict[str, Any]]:
        # max_concurrency=1: spin takes the only slot first (nodes start in build order); look runs once it is free.
        run = timed.start(gate=gate, executor=counting, max_concurrency=1, stop_on_first_error=False)
        with pytest.raises(ag.RunFailed):
            await run
        return run, dict(run.graph.node("look_1").outputs or {})

    run, seen = kernel.run(main())
    assert run.graph.node("spin_1").status == "FAILED_TIMEOUT"
    # look ran after the spinning body had stopped on its worker: the slot was held until then, not to the timeout.
    assert seen == {"a_started": True, "a_stopped": True}
    spin_sub = next(s for label, s in counting.submitted if label == "spin")
    assert spin_sub.future is not None and spin_sub.future.cancelled() and spin_sub.done()
    codes = [e.code for e in run.history if e.kind == "warning" and e.node_id == "spin_1"]
    assert codes == ["abandoned_body", "abandoned_body_ended"]


def test_cancelling_a_run_cancels_its_futures_and_stops_its_bodies_on_the_workers(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    spin, square = tools["spin"], tools["square"]

    @ag.graph_fn(name="dask_cancel", outputs=["n"])
    async def three(gate: str):  # type: ignore[no-untyped-def]
        await asyncio.gather(*(spin(tag, gate, 0.001) for tag in ("c1", "c2", "c3")))
        return {"n": 3}

    gate = gate_name()
    counting = Counting(cluster)

    async def main() -> tuple[ag.Run, dict[str, bool], dict[str, bool], list[bool]]:
        run = three.start(gate=gate, executor=counting)
        # Two bodies spin (one per worker); the third waits for a free thread.
        pending = {asyncio.ensure_future(event(cluster, f"{gate}-{t}-started").wait(60)) for t in ("c1", "c2", "c3")}
        started: list[bool] = []
        while len(started) < 2:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            started.extend(w.result() for w in done)
        assert started == [True, True] and len(pending) == 1
        for waiter in pending:
            waiter.cancel()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        subs = [s for _, s in counting.submitted]
        await asyncio.gather(*(ended(s) for s in subs))  # each body's end is confirmed by its worker
        stopped = {t: await event(cluster, f"{gate}-{t}-stopped").is_set() for t in ("c1", "c2", "c3")}
        began = {t: await event(cluster, f"{gate}-{t}-started").is_set() for t in ("c1", "c2", "c3")}
        keys = [s.key for s in subs]
        on_scheduler = await cluster.client.run_on_scheduler(_known_keys, keys)
        assert on_scheduler == []  # the scheduler forgot every cancelled task
        # The workers' threads are free again: new work runs at once on both.
        again = await asyncio.gather(*(ag.run(_one(square, i), {}, executor=cluster) for i in range(2)))
        return run, began, stopped, [bool(a) for a in again]

    run, began, stopped, again = kernel.run(main(), timeout=90)
    # Every body that began was stopped on its worker. The queued one never begins, unless its worker freed by an
    # interruption starts it before its own cancellation arrives; then it is stopped too, and the interruption may
    # land inside its first Event.set() (its "started" never set, its finally's "stopped" set: a CI run saw it).
    assert all(stopped[t] for t, began_it in began.items() if began_it) and sum(stopped.values()) >= 2, (began, stopped)
    ended_msgs = [w.message for w in run.history if w.kind == "warning" and w.code == "abandoned_body_ended"]
    assert len(ended_msgs) == 3 and sum(" on tcp://" in m for m in ended_msgs) == sum(stopped.values())
    assert not any(kernel.run(run_on_workers(cluster, tools["aether_nb_imported"])).values())  # stop_body by value
    assert [n.status for n in run.graph.nodes] == ["CANCELLED"] * 3
    assert all(s.future is not None and s.future.cancelled() for _, s in counting.submitted)
    assert again == [True, True]


def _known_keys(keys: list[str], dask_scheduler: Any = None) -> list[str]:
    return [k for k in keys if k in dask_scheduler.tasks]


def _one(square: Any, i: int) -> ag.TaskGraph:
    @ag.graphify(name=f"dask_one_{i}", inputs=[], outputs=["v"])
    def one():  # type: ignore[no-untyped-def]
        return {"v": square(i=i).v}

    graph: ag.TaskGraph = one.build()
    return graph


def test_where_each_body_runs_and_the_session_default(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path
) -> None:
    ns = cell(
        """
        import os
        import aether_nb as ag

        @ag.tool(outputs=["pid"])
        def remote_pid(x: int):
            return {"pid": os.getpid()}

        @ag.tool(outputs=["pid"], executor="local")
        def pinned(x: int):
            return {"pid": os.getpid()}

        @ag.tool(outputs=["pid"])
        async def async_pid(x: int):
            return {"pid": os.getpid()}

        @ag.tool(outputs=["pid"])
        def with_context(x: int, context: ag.NodeContext):
            return {"pid": os.getpid()}

        @ag.graph_fn(name="dask_routing", outputs=["pids"])
        async def routing(x: int):
            tools = {"remote": remote_pid, "pinned": pinned, "async": async_pid, "context": with_context}
            return {"pids": {name: (await t(x))["pid"] for name, t in tools.items()}}
        """,
        tmp_path,
    )
    ag.configure(executor=cluster)  # the session default: no executor= on the run

    async def main() -> tuple[dict[str, Any], ag.Run, dict[str, int]]:
        run = ns["routing"].start(x=1)
        return await run, run, await worker_pids(cluster)

    out, run, workers = kernel.run(main())
    pids = out["pids"]
    assert pids["remote"] in workers.values()
    assert pids["pinned"] == pids["async"] == pids["context"] == os.getpid()
    wheres = {n.name: n.where for n in run.graph.nodes}
    assert wheres["remote_pid"] in workers and workers[wheres["remote_pid"]] == pids["remote"]
    assert wheres["pinned"] is wheres["async_pid"] is wheres["with_context"] is None
    ag.configure(executor="local")

    async def again() -> dict[str, Any]:
        result: dict[str, Any] = await ns["routing"](x=1)
        return result

    out = kernel.run(again())
    assert out["pids"]["remote"] == os.getpid()  # back on the kernel's threads

    # A tool pinned to the cluster runs there in any run.
    pinned_remote = ag.tool(outputs=["pid"], name="pinned_remote", executor=cluster)(ns["remote_pid"].fn)

    @ag.graph_fn(name="dask_pinned", outputs=["pid"])
    async def uses_pin(x: int):  # type: ignore[no-untyped-def]
        return {"pid": (await pinned_remote(x))["pid"]}

    async def pinned() -> tuple[dict[str, Any], dict[str, int]]:
        result: dict[str, Any] = await uses_pin(x=1)
        return result, await worker_pids(cluster)

    out, workers = kernel.run(pinned())
    assert out["pid"] in workers.values()


def test_pointing_at_an_existing_cluster_is_one_argument(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    square = tools["square"]
    address = cluster.client.scheduler.address
    graph = _one(square, 5)
    sync_client = distributed.Client(address)  # a synchronous client, as most Dask examples make one
    try:

        async def main() -> list[dict[str, Any]]:
            outs = []
            for ex in (
                DaskExecutor(address=address),
                DaskExecutor(client=sync_client),
                DaskExecutor(client=cluster.client),
            ):
                outs.append(await ag.run(graph, {}, executor=ex))
                await ex.close()
            return outs

        assert kernel.run(main()) == [{"v": 25}] * 3
        assert sync_client.submit(sum, [1, 2]).result(timeout=30) == 3  # closing the executors left it open
        assert len(kernel.run(worker_pids(cluster))) == 2  # and the cluster too
    finally:
        sync_client.close()


COMBINE = """
import os
import aether_nb as ag


@ag.tool(outputs=["v"])
def combine(tag: str, vals: list, k: int, fragile: bool, flag: str):
    if fragile and not os.path.exists(flag):
        raise RuntimeError(f"{tag} fails until {flag} exists")
    return {"v": sum(v for v in vals if v is not None) + k}
"""

# A random DAG: node i depends on a subset of the nodes before it; some nodes fail until a flag file exists.
dags = st.integers(min_value=1, max_value=7).flatmap(
    lambda n: st.tuples(
        st.tuples(*(st.sets(st.integers(0, max(i - 1, 0)), max_size=min(i, 3)) for i in range(n))),
        st.sets(st.integers(0, n - 1), max_size=2),
    )
)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(dag=dags)
def test_any_graph_gives_the_thread_pool_s_outputs_and_a_resume_submits_exactly_what_did_not_finish(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tmp_path: Path, dag: Any
) -> None:
    deps, fragile = dag
    combine = cell(COMBINE, tmp_path)["combine"]
    flag = tmp_path / f"flag-{uuid.uuid4().hex}"
    name = f"dask_dag_{uuid.uuid4().hex[:8]}"

    @ag.graphify(name=name, inputs=["flag"], outputs=["out"])
    def dag_graph(flag):  # type: ignore[no-untyped-def]
        nodes: list[Any] = []
        for i, parents in enumerate(deps):
            vals = [nodes[p].v for p in sorted(parents) if p < i]
            nodes.append(combine(tag=f"n{i}", vals=vals, k=i + 1, fragile=i in fragile, flag=flag))
        return {"out": [n.v for n in nodes]}

    first, second = Counting(cluster), Counting(cluster)

    async def main() -> tuple[dict[str, Any], dict[str, Any], list[str], ag.Run]:
        flag.write_text("reference")
        reference = await dag_graph.start(flag=str(flag))  # the kernel's threads, nothing fails
        flag.unlink()
        run = dag_graph.start(flag=str(flag), executor=first, stop_on_first_error=False)
        with contextlib.suppress(ag.RunFailed):
            await run
        unfinished = sorted(n.id for n in run.graph.nodes if n.status != "DONE")
        flag.write_text("now")
        again = dag_graph.start(flag=str(flag), run_id=run.id, resume_mode="failed_nodes", executor=second)
        return reference, await again, unfinished, again

    reference, out, unfinished, run = kernel.run(main())
    assert out == reference
    assert len(first.submitted) == len(deps) - sum(1 for n in unfinished if _skipped(run, n))
    assert sorted(s.key.rsplit("-", 1)[0] for _, s in second.submitted) == ["combine"] * len(unfinished)
    workers = kernel.run(worker_pids(cluster))
    assert all(n.where in workers for n in run.graph.nodes if not n.replayed)


def _skipped(run: ag.Run, node_id: str) -> bool:
    """Whether a node of the first execution was skipped (never submitted) rather than failed."""
    first_end = next(e for e in run.history if e.kind in ("node_finished", "node_ran") and e.node_id == node_id)
    return first_end.status == "SKIPPED"


def test_closing_an_executor_fails_the_nodes_it_runs_and_leaves_a_given_cluster_open(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    square = tools["square"]

    @ag.graph_fn(name="dask_closing", outputs=["v"])
    async def gated(gate: str):  # type: ignore[no-untyped-def]
        return {"v": (await square(3, gate))["v"]}

    gate = gate_name()

    async def main() -> tuple[ag.Run, BaseException]:
        ex = DaskExecutor(address=cluster.client.scheduler.address)
        run = gated.start(gate=gate, executor=ex)
        assert await event(cluster, f"{gate}-started-3").wait(60)
        await ex.close()
        with pytest.raises(ag.RunFailed) as failed:
            await run
        with pytest.raises(ag.UsageError, match="closed"):
            ex.submit(len, ([],), {}, label="len")
        await event(cluster, f"{gate}-go").set()  # the body itself runs on (close does not interrupt it)
        return run, failed.value

    run, error = kernel.run(main())
    assert isinstance(error.__cause__, ag.RunError) and error.__cause__.code == "dask_closed"
    assert "square: its DaskExecutor was closed while it ran" in str(error.__cause__)
    assert run.graph.node("square_1").status == "FAILED"
    assert len(kernel.run(worker_pids(cluster))) == 2  # the cluster it was given stays up


def test_a_killed_worker_fails_only_the_node_it_held_which_retries_per_policy(
    kernel: KernelLoop, cluster: DaskExecutor, session: Session, tools: dict[str, Any]
) -> None:
    hold = tools["hold"]

    @ag.graphify(name="dask_kill", inputs=["gate"], outputs=["p0", "p1"])
    def pair(gate):  # type: ignore[no-untyped-def]
        return {"p0": hold(i=0, gate=gate).pid, "p1": hold(i=1, gate=gate).pid}

    gate = gate_name()
    counting = Counting(cluster)

    async def main() -> tuple[ag.Run, dict[str, Any], int]:
        client = cluster.client
        run = pair.start(gate=gate, executor=counting, retry=ag.RetryPolicy(max_attempts=2, backoff_s=0))
        await event(cluster, f"{gate}-started-0").wait(30)
        await event(cluster, f"{gate}-started-1").wait(30)
        victim = await distributed.Variable(f"{gate}-pid-0", client=client).get()
        os.kill(victim, signal.SIGKILL)
        await until_event(run, lambda _: any(e.status == "FAILED" for e in finished(run, "hold_1")))
        await event(cluster, f"{gate}-go").set()
        out = await run
        await client.wait_for_workers(2)  # the nanny restarts the worker, for the next module's tests
        return run, out, victim

    run, out, victim = kernel.run(main(), timeout=90)
    first, last = finished(run, "hold_1")
    assert first.status == "FAILED" and "KilledWorker" in first.error["type"] and first.where
    assert last.status == "DONE" and out["p0"] != victim
    assert [e.status for e in finished(run, "hold_2")] == ["DONE"]  # the other worker's node never failed
    assert out["p1"] != victim
    assert sorted(counting.labels) == ["hold", "hold", "hold"]  # one retry, of the lost node only


def test_a_local_cluster_listens_on_loopback_only(cluster: DaskExecutor) -> None:
    """The scheduler and workers were on 127.0.0.1, but Dask's dashboard (task stream, worker logs with the bodies'
    prints, unauthenticated) listened on every interface: a user's ``DaskExecutor(n_workers=2)`` exposed it."""
    import psutil

    listening = [c.laddr for c in psutil.Process().net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    assert listening, "the cluster's scheduler listens in this process"
    assert all(a.ip in ("127.0.0.1", "::1") for a in listening), listening
    link = cluster.dashboard_link
    assert link is None or link.startswith("http://127.0.0.1:"), link
