"""A static graph that stops on its first error: nothing starts after the decision, and what ran stays done.

Found by a scratch tester: with ``max_concurrency=1`` the slot the failed node gave back was taken by the next node
before the scheduler had seen the failure, so its body started after the graph had decided to stop, ran to the end
and was shown CANCELLED; ``resume_mode="failed_nodes"`` then ran it a second time (its effect happened twice).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

STARTED: list[str] = []
FAILING: set[str] = set()


@ag.tool(outputs=["v"])
def gs_step(tag: str) -> dict[str, str]:
    STARTED.append(tag)
    if tag in FAILING:
        raise RuntimeError(f"{tag} failed")
    return {"v": tag}


@ag.graphify(name="gs_chainless", inputs=["x"], outputs=["n"])
def gs_chainless(x: Any) -> dict[str, Any]:
    for i in range(5):
        gs_step(tag=f"w{i}")
    return {"n": 5}


def test_no_node_takes_the_slot_a_failed_node_gave_back(session: Session) -> None:
    STARTED.clear()
    FAILING.clear()
    FAILING.add("w1")

    async def main() -> None:
        with pytest.raises(ag.RunFailed):
            await gs_chainless.start(x=1, max_concurrency=1)

    arun(main())
    assert STARTED == ["w0", "w1"]  # the old code started w2 as w1's slot came back, then showed it cancelled


RELEASE = threading.Event()
BODY_STARTED = threading.Event()
RAN: list[str] = []


@ag.tool(outputs=["v"])
def gs_book(x: int) -> dict[str, int]:
    BODY_STARTED.set()
    RAN.append("book")
    assert RELEASE.wait(10), "the test never released the body"
    return {"v": x}


@ag.tool(outputs=["v"])
async def gs_fail(x: int) -> dict[str, int]:
    await asyncio.get_running_loop().run_in_executor(None, BODY_STARTED.wait, 10)
    if "fail" in FAILING:
        raise RuntimeError("quote service down")
    return {"v": x}


@ag.graphify(name="gs_pair", inputs=["x"], outputs=["a", "b"])
def gs_pair(x: Any) -> dict[str, Any]:
    return {"a": gs_book(x=x).v, "b": gs_fail(x=x).v}


def test_a_sync_body_under_way_when_a_sibling_fails_is_kept_and_not_run_again(session: Session) -> None:
    RELEASE.clear()
    BODY_STARTED.clear()
    RAN.clear()
    FAILING.clear()
    FAILING.add("fail")

    def release_when_failed(event: Any) -> None:  # the body returns only after the graph decided to stop
        if event.kind in ("node_finished", "node_ran") and getattr(event, "status", None) == "FAILED":
            RELEASE.set()

    async def main() -> dict[str, Any]:
        first = gs_pair.start(x=3, run_id="pair")
        first.subscribe(release_when_failed)
        with pytest.raises(ag.RunFailed):
            await first
        statuses = {n.id: n.status for n in first.graph.nodes}
        assert statuses == {"gs_book_1": "DONE", "gs_fail_1": "FAILED"}  # it was CANCELLED, its effect done
        FAILING.clear()
        again = gs_pair.start(x=3, run_id="pair", resume_mode="failed_nodes")
        return await again.result()

    assert arun(main()) == {"a": 3, "b": 3}
    assert RAN == ["book"]  # booked once: the resume replays it (the old code booked twice)


@ag.tool(outputs=["v"])
async def gs_work(tag: str, fail: bool = False) -> dict[str, str]:
    await asyncio.sleep(0)
    if fail:
        raise RuntimeError(tag)
    return {"v": tag}


@ag.graphify(name="gs_fan", inputs=["x"], outputs=["n"])
def gs_fan(x: Any) -> dict[str, Any]:
    for i in range(6):
        gs_work(tag=f"t{i}", fail=(i == 0))
    return {"n": 6}


def test_nodes_cancelled_while_waiting_for_a_slot_are_drawn(session: Session) -> None:
    async def main() -> ag.Run:
        run = gs_fan.start(x=1, max_concurrency=1)
        with pytest.raises(ag.RunFailed):
            await run
        return run

    run = arun(main())
    statuses = {n.id: n.status for n in run.graph.nodes}
    assert sorted(statuses) == sorted(gs_fan.build().nodes)  # the old graph had only gs_work_1
    assert statuses.pop("gs_work_1") == "FAILED"
    assert set(statuses.values()) == {"CANCELLED"}
