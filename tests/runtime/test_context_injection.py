"""A parameter annotated ``Optional[NodeContext]`` (or ``NodeContext | None``) of any name receives the context, in
a graph_fn and in a tool, and is no input: it got None silently, and became an input of the agent."""

from __future__ import annotations

import typing
from typing import Any, Optional

import aether_nb as ag
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.session import Session
from tests.conftest import arun


def test_optional_context_parameters_of_any_name_get_the_context(session: Session) -> None:
    @ag.graph_fn(name="opt1", outputs=["got"])
    async def opt1(x: int, c: Optional[NodeContext] = None) -> dict[str, Any]:  # noqa: UP045
        return {"got": type(c).__name__}

    @ag.graph_fn(name="opt2", outputs=["got"])
    async def opt2(x: int, node_ctx: NodeContext | None = None) -> dict[str, Any]:
        return {"got": type(node_ctx).__name__}

    @ag.tool(outputs=["got"])
    async def opt_tool(x: int, c: typing.Optional[ag.NodeContext] = None) -> dict[str, Any]:  # noqa: UP045
        return {"got": type(c).__name__}

    @ag.graph_fn(name="opt3", outputs=["got"])
    async def opt3(x: int) -> dict[str, Any]:
        return await opt_tool(x=x)

    for agent in (opt1, opt2, opt3):
        assert arun(agent(x=1)) == {"got": "NodeContext"}, agent.name
    assert opt1.inputs == ["x"] and opt2.inputs == ["x"] and opt_tool.inputs == ["x"]
