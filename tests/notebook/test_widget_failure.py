"""A failed run is explained by its own failure: the node its error was raised at, or its body. The widget named the
last failed step (a tool whose error the body had caught) for a run whose body raised afterwards, beside a cell error
and a ``run.error`` that said the body failed; the text summary and the saved static view said the same."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from tests.conftest import arun, make_session


@ag.tool(outputs=["y"])
async def charge(amount: int) -> dict[str, Any]:
    raise ValueError("card declined")


@ag.graph_fn(name="checkout", outputs=["ok"])
async def checkout(amount: int, *, context: ag.NodeContext) -> dict[str, Any]:
    try:
        await charge(amount=amount)
    except ValueError:
        await context.channel().send_text("declined, using the fallback")
    raise KeyError("no fallback configured")  # the run's own failure, in its body


@ag.graph_fn(name="strict_checkout", outputs=["ok"])
async def strict_checkout(amount: int, *, context: ag.NodeContext) -> dict[str, Any]:
    await charge(amount=amount)  # not caught: this step is the run's failure
    return {"ok": True}


def _failed_view(agent: Any) -> tuple[dict[str, Any], str, str]:
    async def main() -> tuple[dict[str, Any], str, str]:
        run = agent.start(amount=5)
        view = RunView(run)
        with pytest.raises(ag.RunFailed):
            await run
        view.flush()
        out = dict(view.widget.graph), view.widget.text_summary(), view.widget.static_fallback
        view.close()
        return out

    return arun(main())


def test_a_body_that_raised_after_handling_a_tool_error_is_the_failure_the_widget_names(session: Session) -> None:
    graph, summary, static = _failed_view(checkout)
    assert graph["error"] == "KeyError: 'no fallback configured'"
    assert graph["failed_node"] is None, "the body raised: no step is selected as the failure"
    assert "failed in the body of checkout (not in a step): KeyError: 'no fallback configured'" in summary
    assert "card declined" not in summary
    assert "Failed in the body of checkout (not in a step): KeyError: &#x27;no fallback configured&#x27;" in static
    assert "card declined" not in static
    # the handled failure stays on its step (red, counted), without being the run's
    assert [n["shown"] for n in graph["nodes"]] == ["FAILED"]
    assert "1 failed" in summary.splitlines()[0]


def test_a_step_that_failed_the_run_is_named_with_its_error(session: Session) -> None:
    graph, summary, static = _failed_view(strict_checkout)
    assert graph["failed_node"] == "charge_1"
    assert "failed at charge (charge_1): ValueError: card declined" in summary
    assert "Failed at charge (charge_1): ValueError: card declined" in static


def test_a_failed_run_read_back_from_the_store_names_the_same_failure(session: Session) -> None:
    """A view made later (another kernel, the run rebuilt from the store) reads the failure the run recorded."""

    async def first() -> str:
        run = checkout.start(amount=5)
        with pytest.raises(ag.RunFailed):
            await run
        return run.id

    run_id = arun(first())
    later, _ = make_session(session.store)

    async def rebuilt() -> dict[str, Any]:
        view = RunView(later.get_run(run_id))
        graph = dict(view.widget.graph)
        view.close()
        return graph

    graph = arun(rebuilt())
    assert graph["status"] == "failed" and graph["failed_node"] is None
