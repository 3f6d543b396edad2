"""How a run ends: nothing of it runs after it finished, and its own code cannot await it.

README: "In a finished run nothing runs or waits any more". A tester's ``asyncio.gather(charge_card(), notify())``
failed in ``charge_card``: the run was reported failed, yet ``notify`` went on (the email was sent, a new tool call
``write_invoice`` started in the finished run, ``run_finished`` no longer its last event). An agent awaiting its own
run (``await ag.get_run(context.run_id)``) hung silently, where asyncio says "Task cannot await on itself".
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import RunFailed, UsageError
from aether_nb.runtime.session import Session
from tests.conftest import arun

effects: list[str] = []


@ag.tool(outputs=["y"])
async def charge_card() -> dict[str, int]:
    await asyncio.sleep(0.01)
    raise ValueError("card declined")


@ag.tool(outputs=["y"])
async def send_email(to: str) -> dict[str, int]:
    await asyncio.sleep(0.2)
    effects.append(f"email to {to}")
    return {"y": 1}


@ag.tool(outputs=["y"])
def write_invoice(n: int) -> dict[str, int]:
    effects.append(f"invoice {n}")
    return {"y": n}


@ag.tool(outputs=["y"])
def slow_sync(n: int) -> dict[str, int]:
    time.sleep(0.3)
    effects.append(f"slow {n}")
    return {"y": n}


@ag.graph_fn(outputs=["r"])
async def order() -> dict[str, int]:
    async def notify() -> None:
        await send_email("ada@example.com")
        await write_invoice(7)

    await asyncio.gather(charge_card(), notify())
    return {"r": 1}


def _nodes(run: ag.Run) -> dict[str, str]:
    return {n.id: n.status for n in run.graph.nodes}


def test_a_failed_gather_branch_ends_the_run_and_its_sibling_branch_runs_no_further(session: Session) -> None:
    effects.clear()

    async def main() -> ag.Run:
        run = order.start()
        with pytest.raises(RunFailed, match="card declined"):
            await run
        await asyncio.sleep(0.4)  # (past when the sibling would have sent the email and written the invoice)
        return run

    run = arun(main())
    session.flush()
    assert effects == []
    assert _nodes(run) == {"charge_card_1": "FAILED", "send_email_1": "CANCELLED"}
    stored = {n.node_id: n.status for n in session.store.list_nodes(run.id)}
    assert stored == {"charge_card_1": "FAILED", "send_email_1": "CANCELLED"}
    assert run.history[-1].kind == "run_finished" and run.status == "failed"
    assert [e.name for e in session.store.load_journal(run.id)] == ["charge_card"]  # (its failure, replayed on retry)


@ag.graph_fn(outputs=["r"])
async def fire_and_forget() -> dict[str, int]:
    asyncio.ensure_future(send_email("bob@example.com"))  # noqa: RUF006  (the point of the test)
    await asyncio.sleep(0.01)  # (it started its step)
    return {"r": 1}


@ag.graph_fn(outputs=["r"])
async def later_call() -> dict[str, int]:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await write_invoice(9)  # after the run finished: refused

    asyncio.ensure_future(later())  # noqa: RUF006
    return {"r": 1}


@pytest.mark.parametrize("agent", [fire_and_forget, later_call])
def test_a_task_a_succeeded_run_left_behind_starts_no_step_after_it(session: Session, agent: Any) -> None:
    effects.clear()

    async def main() -> ag.Run:
        run = agent.start()
        assert await run == {"r": 1}
        await asyncio.sleep(0.3)
        return run

    run = arun(main())
    assert effects == []
    assert all(status == "CANCELLED" for status in _nodes(run).values())
    assert run.history[-1].kind == "run_finished" and run.status == "succeeded"


@ag.graph_fn(outputs=["r"])
async def sync_sibling() -> dict[str, int]:
    await asyncio.gather(charge_card(), slow_sync(3))
    return {"r": 1}


def test_a_sync_body_left_running_in_its_thread_is_said_abandoned_before_the_run_ends(session: Session) -> None:
    effects.clear()

    async def main() -> ag.Run:
        run = sync_sibling.start()
        with pytest.raises(RunFailed):
            await run
        await asyncio.sleep(0.5)  # (the thread ends: its result is discarded)
        return run

    run = arun(main())
    kinds = [e.kind if e.kind != "warning" else e.code for e in run.history]  # type: ignore[attr-defined]
    assert _nodes(run)["slow_sync_1"] == "CANCELLED"
    end = kinds.index("run_finished")
    assert "abandoned_body" in kinds[:end]
    assert not [k for k in kinds[end + 1 :] if k != "abandoned_body_ended"]


@ag.graph_fn(outputs=["r"])
async def awaits_itself(*, context: ag.NodeContext) -> dict[str, int]:
    await ag.get_run(context.run_id)
    return {"r": 1}


@ag.graph_fn(outputs=["r"])
async def awaits_itself_in_a_branch(*, context: ag.NodeContext) -> dict[str, int]:
    async def branch() -> None:
        await ag.get_run(context.run_id).result()

    await asyncio.gather(branch())
    return {"r": 1}


@pytest.mark.parametrize("agent", [awaits_itself, awaits_itself_in_a_branch])
def test_a_run_awaiting_itself_fails_with_a_usage_error(session: Session, agent: Any) -> None:
    async def main() -> None:
        run = agent.start()
        with pytest.raises(RunFailed) as failed:
            await asyncio.wait_for(run.result(), 5)
        cause = failed.value.__cause__
        assert isinstance(cause, UsageError) and cause.code == "awaits_itself"
        assert "its own code" in cause.message

    arun(main())
