"""A tool call the agent gave up on (``asyncio.wait_for``'s timeout, then a fallback) is noted, never dropped
silently, and a ``try`` in the agent's code is named among the places where the graph is the path one run took."""

from __future__ import annotations

import asyncio
from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["price"])
async def live_price(item: str) -> dict[str, int]:
    await asyncio.sleep(2.0 if item == "shoe" else 0.01)
    return {"price": 42}


@ag.tool(outputs=["price"])
def cached_price(item: str) -> dict[str, int]:
    return {"price": 10}


@ag.graph_fn(outputs=["price"])
async def pricer(item: str) -> dict[str, int]:
    try:
        p = await asyncio.wait_for(live_price(item), 0.2)
    except TimeoutError:
        p = await cached_price(item)
    return {"price": p["price"]}


def test_a_call_given_up_on_is_noted_and_try_is_a_path(session: Session) -> None:
    async def main() -> tuple[str, dict[str, str], dict[str, Any], dict[str, Any]]:
        run = pricer.start(item="shoe")
        await run
        statuses = {n.id: n.status for n in run.graph.nodes}
        source = run.promote("pricer_static")
        namespace: dict[str, Any] = {"ag": ag, "live_price": live_price, "cached_price": cached_price}
        exec(source, namespace)
        return source, statuses, await namespace["pricer_static"](item="shoe"), await pricer(item="hat")

    source, statuses, same, agent_other = arun(main())
    assert statuses == {"live_price_1": "CANCELLED", "cached_price_1": "DONE"}
    assert same == {"price": 10}
    assert agent_other == {"price": 42}  # with other inputs the agent takes another path: the source says so
    head = source.split("@ag.graphify")[0]
    assert "live_price_1: live_price({'item': 'shoe'}) was given up on during the run" in head, source
    assert "catches errors" in head and ": try:" in head, source
