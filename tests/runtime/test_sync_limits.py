"""Sync tools keep their limits: a body that outlives its timeout or a cancel keeps its slot until its thread ends.

Bodies block on ``threading.Event``s the tests control, so every interleaving below is forced, not timed: a test
releases a body only after it has seen (through run events) that the node gave up on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun, make_session
from tests.gates import Gate


async def until(predicate: Any, *, runs: tuple[ag.Run, ...] = (), gate: Gate | None = None) -> None:
    """Wait on state, under a timeout: re-check whenever a run emits an event or a body starts or ends."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    unsubscribe = [r.subscribe(lambda _: woken.set()) for r in runs]
    notify = lambda: loop.call_soon_threadsafe(woken.set)  # noqa: E731
    if gate is not None:
        gate.changed.append(notify)

    async def check() -> None:
        while not predicate():
            woken.clear()
            await woken.wait()

    try:
        await asyncio.wait_for(check(), 20)
    finally:
        for undo in unsubscribe:
            undo()
        if gate is not None:
            gate.changed.remove(notify)


async def turns(n: int = 200) -> None:
    """Let the loop run ``n`` turns (no wall-clock wait): anything the loop would do by itself is done by then."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_timed_out_body_keeps_its_slot_and_the_retry_waits_for_it(session: Session) -> None:
    """The wave-1 bug: _timeout_s=0.05, RetryPolicy(max_attempts=3), max_concurrency=1 ran three bodies at once."""
    gate = Gate()
    attempts: list[int] = []

    @ag.tool(outputs=["v"])
    def slow(x: int) -> dict[str, str]:
        attempts.append(x)
        return {"v": gate.body(f"attempt {len(attempts)}", block=len(attempts) == 1)}

    @ag.graphify(outputs=["v"])
    def one(x: Any) -> Any:
        return {"v": slow(x=x, _timeout_s=0.05).v}

    async def main() -> tuple[Any, list[str]]:
        run = one.start(x=1, max_concurrency=1, retry=ag.RetryPolicy(max_attempts=3, backoff_s=0.0, jitter=0.0))
        await until(lambda: any(e.kind == "warning" and e.code == "abandoned_body" for e in run.history), runs=(run,))
        # the node gave up on attempt 1, whose thread still runs: no retry may start until it ends
        await turns()
        starts = [e for e in run.history if e.kind == "node_started" and e.node_id == "slow_1"]
        assert len(starts) == 1 and gate.started == ["attempt 1"] and gate.running == 1
        gate.release.set()
        out = await run
        codes = [e.code for e in run.history if e.kind == "warning"]
        return out, codes

    out, codes = arun(main())
    assert out == {"v": "attempt 2"}  # the late result of attempt 1 never counts
    assert gate.peak == 1 and gate.started == ["attempt 1", "attempt 2"]
    assert codes == ["abandoned_body", "abandoned_body_ended"]


def test_a_cancelled_run_keeps_the_session_cap_until_its_threads_end() -> None:
    s, _ = make_session()
    s.config["global_max_concurrency"] = 1
    gate = Gate()

    @ag.tool(outputs=["v"])
    def work(label: str, block: bool) -> dict[str, str]:
        return {"v": gate.body(label, block=block)}

    @ag.graphify(outputs=["v"])
    def single(label: Any, block: Any) -> Any:
        return {"v": work(label=label, block=block).v}

    async def main() -> Any:
        first = single.start(label="first", block=True, session=s)
        await until(lambda: gate.started == ["first"], gate=gate)
        first.cancel()
        with pytest.raises(ag.RunCancelled):
            await first
        second = single.start(label="second", block=False, session=s)
        await turns()
        # the first body still runs in its thread and holds the only slot: the second node has not started
        assert [(n.status, n.started_at) for n in second.graph.nodes] == [("PENDING", None)]
        assert gate.started == ["first"]
        gate.release.set()
        return await second

    assert arun(main()) == {"v": "second"}
    assert gate.peak == 1 and gate.finished == ["first", "second"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(min_value=2, max_value=8),
    cap=st.integers(min_value=1, max_value=3),
    session_cap=st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
    slow=st.sets(st.integers(min_value=0, max_value=7), max_size=4),
)
def test_caps_are_never_exceeded_counting_threads_that_run(
    n: int, cap: int, session_cap: int | None, slow: set[int]
) -> None:
    """Random fan-outs where some bodies outlive their timeout: peak threads never exceed the caps, every node
    ends, and a timed-out body's late result is never a node's output. Blocked bodies are released once one of
    them has been given up on (or the run ended): bodies that start after that do not block."""
    s, _ = make_session()
    if session_cap is not None:
        s.config["global_max_concurrency"] = session_cap
    gate = Gate()
    limit = min(cap, session_cap or cap)

    @ag.tool(outputs=["v"])
    def leaf(i: int) -> dict[str, str]:
        return {"v": gate.body(f"n{i}", block=i in slow)}

    @ag.graphify(outputs=["all"])
    def fan(k: Any) -> Any:
        # 0.5 s: a body that does not block must never time out, even on a loaded machine (at 0.05 s one did, under
        # a load of 5 on 2 cores); a blocked body is released only after one timed out, so it waits that long.
        return {"all": [leaf(i=i, _id=f"leaf_{i}", _timeout_s=0.5).v for i in range(n)]}

    async def main() -> Any:
        run = fan.start(k=0, max_concurrency=cap, stop_on_first_error=False, session=s)
        await until(lambda: run.done or any(e.kind == "warning" for e in run.history), runs=(run,))
        gate.release.set()
        with contextlib.suppress(ag.RunFailed):
            await run
        await until(lambda: gate.running == 0, gate=gate)

        def codes() -> list[str]:
            return [e.code for e in run.history if e.kind == "warning"]

        # a body's end is reported from its thread: wait until every abandoned body has been reported ended
        await until(lambda: codes().count("abandoned_body") == codes().count("abandoned_body_ended"), runs=(run,))
        return run

    run = arun(main(), timeout=60)
    assert gate.peak <= limit
    statuses = {node.id: node.status for node in run.graph.nodes}
    timed_out = {i for i in range(n) if statuses[f"leaf_{i}"] == "FAILED_TIMEOUT"}
    assert timed_out <= slow
    assert all(statuses[f"leaf_{i}"] == "DONE" for i in range(n) if i not in timed_out)
    warnings = [e.code for e in run.history if e.kind == "warning"]
    # a body may end just as its timeout fires: then nothing is left running and there is no abandoned body
    assert warnings.count("abandoned_body") == warnings.count("abandoned_body_ended") <= len(timed_out)
    assert run.status == ("failed" if timed_out else "succeeded")
    if not timed_out:
        assert run.outputs == {"all": [f"n{i}" for i in range(n)]}
