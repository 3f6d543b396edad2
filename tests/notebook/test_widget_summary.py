"""What a text-only front end (a terminal, ``make demo``) reads of a run: what it did, as the widget's header says
it (it said ``0/0 nodes done`` for an agent that only used KV)."""

from __future__ import annotations

import contextlib
from typing import Any

import aether_nb as ag
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(name="counter", outputs=["visits"])
async def counter(*, context: ag.NodeContext) -> dict[str, Any]:
    kv = context.kv()
    visits = await kv.get("visits", default=0) + 1
    await kv.set("visits", visits)
    return {"visits": visits}


@ag.graph_fn(name="mixed", outputs=["y"])
async def mixed(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    await context.kv().set("x", x)
    return {"y": (await double(x))["y"]}


def _summary(agent: Any, **inputs: Any) -> str:
    async def main() -> str:
        run = agent.start(**inputs)
        view = RunView(run)
        await run
        view.flush()
        text = view.widget.text_summary()
        view.close()
        return str(text)

    return arun(main())


def test_a_service_only_run_says_its_calls_not_zero_nodes(session: Session) -> None:
    first = _summary(counter).splitlines()[0]
    assert first.startswith("run counter (") and first.endswith("): done, 2 service calls"), first


def test_a_run_with_steps_and_calls_says_both(session: Session) -> None:
    first = _summary(mixed, x=2).splitlines()[0]
    assert first.endswith("): done, 1 step · 1 done · 1 service call"), first


@ag.graph_fn(name="asks_after_a_step", outputs=["ok"])
async def asks_after_a_step(*, context: ag.NodeContext) -> dict[str, Any]:
    await double(1)
    ok, _ = await context.channel().ask_approval("Go?")
    return {"ok": ok}


def test_a_held_back_update_goes_out_when_the_cell_ends(session: Session) -> None:
    """Updates are throttled (one message per ~0.1 s): a cell that ended sooner left the run's last state unsent
    until after it, and a notebook executed headless (nbclient, papermill), which keeps only what a cell sent while
    it ran, saved a waiting run as "pending" with no step and no question. The extension flushes the held-back
    update when the cell ends (``after_cell``)."""

    async def main() -> tuple[str, int]:
        run = asks_after_a_step.start()
        view = RunView(run)
        await run.wait_for("waiting")  # (well within the throttle's interval, mostly: tests/kernel checks the cell)
        view.flush_pending()  # what after_cell does
        after = view.widget.graph.get("status")
        waits = len(view.widget.waits)
        run.cancel()
        view.close()
        return str(after), waits

    assert arun(main()) == ("waiting", 1)


@ag.tool(outputs=["y"])
def refuses(x: int) -> dict[str, int]:
    raise ValueError("no")


@ag.graph_fn(name="recovers", outputs=["y"])
async def recovers(x: int) -> dict[str, Any]:
    try:
        await refuses(x)
    except ValueError as exc:  # (the agent recovers: it goes on without that step)
        assert str(exc) == "no"
    return {"y": (await double(x))["y"]}


def test_a_run_that_recovered_from_a_failing_step_says_it_failed_once(session: Session) -> None:
    """It said "done, 1/2 nodes done": the text a saved notebook keeps never said a step failed."""
    first = _summary(recovers, x=2).splitlines()[0]
    assert first.endswith("): done, 2 steps · 1 failed · 1 done"), first


@ag.graph_fn(name="inner", outputs=["y"])
async def inner(x: int) -> dict[str, Any]:
    return {"y": (await double(x))["y"]}


@ag.graph_fn(name="support", outputs=["ok"])
async def support(*, context: ag.NodeContext) -> dict[str, Any]:
    await inner(x=1)  # a nested agent: a node that contains another
    with contextlib.suppress(ValueError):  # (a failed step the agent handled)
        await refuses(1)
    ok, _ = await context.channel().ask_approval("Refund?")
    return {"ok": ok}


def test_the_text_summary_counts_as_the_widget_header_does(session: Session) -> None:
    """The saved text said "waiting for you, 2/4 nodes done, 1 failed" where the widget's header said "3 steps ·
    1 failed · 1 waiting · 1 done": it counted the nested agent as a node of its own, and no waiting step. It uses
    the header's counts and words now (README, "One vocabulary"), waiting and finished."""

    async def main() -> tuple[str, str]:
        run = support.start(run_id="sum-1")
        view = RunView(run)
        await run.wait_for("waiting")
        view.flush()
        waiting = view.widget.text_summary().splitlines()[0]
        await run.answer({"choice": "Approve", "index": 0})
        await run
        view.flush()
        done = view.widget.text_summary().splitlines()[0]
        view.close()
        return waiting, done

    waiting, done = arun(main())
    assert waiting == "run support (sum-1): waiting for you, 3 steps · 1 failed · 1 waiting · 1 done", waiting
    assert done == "run support (sum-1): done, 3 steps · 1 failed · 2 done", done
