"""A tool whose context comes first takes its inputs positionally after it: ``t(5)`` of
``def t(context, x=1)`` is x=5 (it bound 5 to the context and ran with x=1, silently)."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool
def sync_first(context: ag.NodeContext, x: int = 1) -> dict[str, Any]:
    return {"x": x, "ctx": type(context).__name__}


@ag.tool
async def async_first(context: ag.NodeContext, x: int = 1, y: int = 2) -> dict[str, Any]:
    return {"x": x, "y": y, "ctx": type(context).__name__}


@ag.graph_fn(name="calls_context_first_tools", outputs=["r"])
async def agent() -> dict[str, Any]:
    return {"r": [await sync_first(5), await async_first(6), await async_first(7, 8), await async_first(y=9)]}


def test_positional_inputs_of_a_context_first_tool_go_to_its_inputs(session: Session) -> None:
    assert arun(agent())["r"] == [
        {"x": 5, "ctx": "NodeContext"},
        {"x": 6, "y": 2, "ctx": "NodeContext"},
        {"x": 7, "y": 8, "ctx": "NodeContext"},
        {"x": 1, "y": 9, "ctx": "NodeContext"},
    ]
    nodes = {n.id: n.inputs for n in ag.runs()[0].graph.nodes}
    assert nodes["sync_first_1"] == {"x": 5} and nodes["async_first_2"] == {"x": 7, "y": 8}
