"""DaskExecutor without a cluster: argument checks, pickling errors caught in the kernel, the worker-side call and
its interruption, exercised in this process."""

from __future__ import annotations

import asyncio
import pickle
import threading
import traceback
from typing import Any

import cloudpickle
import distributed
import pytest

import aether_nb as ag
from aether_nb.executors import remote
from aether_nb.executors.dask import DaskExecutor
from aether_nb.executors.frames import rebuild_raised
from aether_nb.runtime.executors import Executor
from aether_nb.runtime.session import Session
from tests.conftest import arun


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_workers": 0}, "n_workers"),
        ({"n_workers": "2"}, "n_workers"),
        ({"threads_per_worker": True}, "threads_per_worker"),
        ({"address": "tcp://127.0.0.1:1", "client": object()}, "not both"),
        ({"address": ""}, "scheduler address"),
        ({"client": object()}, "distributed.Client"),
        ({"address": "tcp://127.0.0.1:1", "n_workers": 2}, "already exists"),
        ({"memory_limt": "1GB"}, "did you mean memory_limit"),  # would fail in each worker as "Nanny failed"
        ({"dashbord_address": ":0"}, "did you mean dashboard_address"),
        ({"zzz_no_such": 1}, "not an option of a LocalCluster"),
    ],
)
def test_arguments_are_checked(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ag.UsageError, match=match):
        DaskExecutor(**kwargs)


def test_real_cluster_and_worker_options_are_accepted() -> None:
    # LocalCluster's own, a Nanny's (memory_limit, env), a Worker's (lifetime) and a Server's (connection_limit)
    DaskExecutor(
        n_workers=1, dashboard_address=":0", processes=True, memory_limit="1GB", env={}, lifetime="1h",
        connection_limit=64,
    )  # fmt: skip


def test_it_is_an_executor_and_the_public_name_is_lazy() -> None:
    ex = ag.DaskExecutor(n_workers=1)
    assert isinstance(ex, Executor) and ex.name == "dask"
    assert "not started" in repr(ex) and ex.client is None and ex.dashboard_link is None


def test_configure_sets_and_resets_the_session_default(session: Session) -> None:
    ex = DaskExecutor(n_workers=1)
    ag.configure(executor=ex)
    assert session.executor is ex
    with pytest.raises(ag.UsageError, match="executor must be an executor object"):
        ag.configure(executor=object())
    assert session.executor is ex  # a refused value changes nothing
    ag.configure(executor="local")
    assert session.executor is None


def test_a_pin_to_a_cluster_refuses_bodies_that_must_stay_in_the_kernel() -> None:
    ex = DaskExecutor(n_workers=1)

    async def fetch(x: int) -> int:
        return x

    def log(x: int, context: ag.NodeContext) -> int:
        return x

    with pytest.raises(ag.UsageError, match="cannot apply to an async tool"):
        ag.tool(executor=ex)(fetch)
    with pytest.raises(ag.UsageError, match="takes 'context'"):
        ag.tool(executor=ex)(log)
    assert ag.tool(executor="local")(fetch).executor is not None  # "local" is fine for any tool


def test_inputs_and_functions_that_cannot_be_pickled_are_named_before_anything_is_sent() -> None:
    ex = DaskExecutor(n_workers=1)
    lock = threading.Lock()

    def uses(x: int, handle: Any) -> int:
        return x

    def closes_over_lock(x: int) -> int:
        with lock:
            return x

    async def main() -> None:
        with pytest.raises(ag.UsageError) as info:
            ex.submit(uses, (1,), {"handle": threading.Lock()}, label="uses")
        assert info.value.code == "not_picklable"
        assert "tool uses: input 'handle' (lock: <unlocked _thread.lock" in str(info.value)
        assert 'executor="local"' in str(info.value)
        with pytest.raises(ag.UsageError, match="tool closes_over_lock: its function cannot be pickled"):
            ex.submit(closes_over_lock, (1,), {}, label="closes_over_lock")

    arun(main())
    assert ex.client is None  # nothing was started for calls that could not be sent


def test_submit_needs_a_loop_and_an_open_executor_bound_to_one_loop() -> None:
    ex = DaskExecutor(n_workers=1)
    with pytest.raises(ag.UsageError, match="running event loop"):
        ex.submit(len, ([],), {}, label="len")

    async def close() -> None:
        await ex.close()
        with pytest.raises(ag.UsageError, match="closed"):
            ex.submit(len, ([],), {}, label="len")
        with pytest.raises(ag.UsageError, match="closed"):
            await ex.start()

    arun(close())
    other = DaskExecutor(n_workers=1)

    async def submit_unpicklable() -> None:
        with pytest.raises(ag.UsageError, match="cannot be pickled"):
            other.submit(len, ([],), {"bad": threading.Lock()}, label="len")

    async def submit_elsewhere() -> None:
        with pytest.raises(ag.UsageError, match="bound to the event loop it started on"):
            other.submit(len, ([],), {}, label="len")

    arun(submit_unpicklable())  # binds the executor to that loop (nothing sent)
    arun(submit_elsewhere())


def test_an_unreachable_scheduler_is_a_clear_run_error() -> None:
    import dask

    async def main() -> None:
        ex = DaskExecutor(address="tcp://127.0.0.1:9")
        with pytest.raises(ag.RunError, match=r"could not start or reach tcp://127\.0\.0\.1:9") as info:
            await ex.start()
        assert info.value.code == "dask_unavailable"
        with pytest.raises(ag.RunError, match="could not start or reach"):  # the same answer, not a second try
            await ex.start()
        await ex.close()

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        arun(main())


# -- the worker side, in this process --------------------------------------------------------------------------------
def call(fn: Any, *args: Any, token: str = "t", **kwargs: Any) -> tuple[str, str, Any]:
    """What a worker's plugin does with one body (as it arrives: pickled)."""
    inner = cloudpickle.dumps((fn, args, kwargs))
    registry = pickle.loads(pickle.dumps(remote.BodyRegistry()))  # the plugin travels without its lock
    return registry.run(inner, token, "dask")  # type: ignore[no-any-return]


recorded: list[Any] = []


def record(inner: bytes, label: str, token: str) -> str:
    recorded.append((pickle.loads(inner), label, token))
    return "ran"


def test_a_payload_unpickles_into_a_call_of_the_runner_it_carries() -> None:
    payload = pickle.dumps(remote.BodyCall(cloudpickle.dumps(record), cloudpickle.dumps((len, ([1],), {})), "t", "k"))
    assert pickle.loads(payload) == "ran"
    assert recorded == [((len, ([1],), {}), "t", "k")]


def test_run_body_returns_the_pickled_result_or_names_what_cannot_travel() -> None:
    kind, where, data = call(lambda x: {"y": x * 2}, 4)
    assert (kind, where, pickle.loads(data)) == ("ok", "dask", {"y": 8})
    kind, _, message = call(lambda: {"ok": 1, "gen": (i for i in range(3))})
    assert kind == "unpicklable" and message.startswith("output 'gen' (generator: <generator object")
    kind, _, message = call(lambda: threading.Lock())
    assert kind == "unpicklable" and message.startswith("the returned value (lock:")


def test_run_body_notes_the_worker_on_errors_and_reports_code_the_worker_cannot_load() -> None:
    def boom() -> None:
        raise ValueError("bad input")

    # Sent back as a reply (Dask would log a raised one's repr), rebuilt in the kernel as Dask's client would.
    kind, where, data = call(boom)
    assert (kind, where) == ("raised", "dask")
    error = rebuild_raised(data)
    assert type(error) is ValueError and str(error) == "bad input"
    assert error.__notes__ == [remote.WHERE_NOTE + "dask"]
    assert [frame.name for frame in traceback.extract_tb(error.__traceback__)] == ["run", "boom"]
    unloadable = remote.BodyRegistry().run(b"not a pickle", "tok", "dask")
    assert unloadable[0] == "unloadable" and "UnpicklingError" in unloadable[2]


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_body_error_dask_could_not_pickle_comes_back_as_dask_sent_it_and_reschedule_still_reaches_dask() -> None:
    def holds_a_lock() -> None:
        raise ValueError("bad", threading.Lock())

    def unprintable() -> None:
        raise Unprintable()

    def reschedule() -> None:
        raise distributed.Reschedule()

    kind, _, data = call(holds_a_lock)
    error = rebuild_raised(data)
    assert kind == "raised" and type(error) is Exception and str(error).startswith("ValueError('bad', <unlocked")
    kind, _, data = call(unprintable)
    error = rebuild_raised(data)  # even error_message failing gives a reply, with the worker named
    assert kind == "raised" and str(error) == "Unprintable (its error could not be sent back: RuntimeError)"
    assert error.__notes__ == [remote.WHERE_NOTE + "dask"]
    with pytest.raises(distributed.Reschedule):
        call(reschedule)


SPINNING, SPUN = threading.Event(), threading.Event()


def spin_forever() -> None:
    SPINNING.set()
    try:
        n = 0
        while True:
            n += 1
    finally:
        SPUN.set()


def test_the_registry_interrupts_only_the_body_it_names_and_never_starts_a_stopped_one() -> None:
    """The interruption with real threads: a pure-Python loop is stopped at its next bytecode; the thread's next
    body runs undisturbed; a body stopped before it starts never runs."""
    registry = remote.BodyRegistry()
    results: list[Any] = []

    def body(token: str, fn: Any, *args: Any) -> None:
        kind, _, data = registry.run(cloudpickle.dumps((fn, args, {})), token, "here")
        results.append(pickle.loads(data) if kind == "ok" else kind)

    def worker_thread() -> None:
        body("a", spin_forever)
        body("b", str, "b ran")  # the same thread's next body is not hit by a late interruption
        body("c", str, "c ran")

    registry.stop("c")  # stopped before it starts
    thread = threading.Thread(target=worker_thread)
    thread.start()
    assert SPINNING.wait(10)
    ended = registry.stop("a")
    assert ended is not None and registry.stop("a") is ended  # one interruption per body
    ended.result(timeout=10)
    thread.join(10)
    assert SPUN.is_set() and results == ["interrupted", "b ran", "interrupted"]  # c never started
    assert registry.stop("zzz") is None


def test_stop_body_reports_idle_and_unknown_workers() -> None:
    class FakeWorker:
        def __init__(self) -> None:
            self.plugins = {remote.PLUGIN_NAME: remote.BodyRegistry()}

    assert asyncio.run(remote.stop_body("t", dask_worker=FakeWorker())) == "idle"
    assert asyncio.run(remote.stop_body("t", dask_worker=None)) == "unknown"


# -- runs against a scheduler that cannot be reached ---------------------------------------------------------------
@ag.tool(outputs=["y"])
def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.graph_fn(name="dask_unreachable", outputs=["y"])
async def one_call(x: int) -> dict[str, int]:
    return {"y": (await inc(x))["y"]}


def test_a_cluster_that_cannot_be_reached_fails_the_node_with_the_reason(session: Session) -> None:
    import dask

    async def main() -> ag.Run:
        run = one_call.start(x=1, executor=DaskExecutor(address="tcp://127.0.0.1:9"))
        with pytest.raises(ag.RunFailed):
            await run
        return run

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        run = arun(main())
    error = run.graph.node("inc_1").error
    assert isinstance(error, dict) and error["type"] == "aether_nb.errors.RunError"
    assert "could not start or reach tcp://127.0.0.1:9" in error["message"]


def test_cancelling_a_run_while_its_cluster_starts_sends_nothing_and_leaves_no_body(session: Session) -> None:
    import dask

    ex = DaskExecutor(address="tcp://127.0.0.1:9")

    async def cancel_while_starting() -> ag.Run:
        run = one_call.start(x=1, executor=ex)
        changed = asyncio.Event()
        unsubscribe = run.subscribe(lambda _: changed.set())
        while "inc_1" not in run.graph:  # the node started: its body waits for the cluster
            changed.clear()
            await changed.wait()
        unsubscribe()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        assert ex.client is None  # still connecting
        return run

    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        run = arun(cancel_while_starting())
    assert run.graph.node("inc_1").status == "CANCELLED"
    assert not [e for e in run.history if e.kind == "warning"]  # nothing was sent, so no body lingers
