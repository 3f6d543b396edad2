"""A tool that takes a context, called outside any run, says it needs a run's context (and how to give it one).

Found by a tester: ``remember("hello")`` (a sync tool taking ``context``, called directly as the API allows for sync
tools) ran its body with ``context=None``: its first ``context.logger()`` was a bare ``AttributeError``.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

saved: list[str] = []


@ag.tool(outputs=["saved"])
def remember(text: str, *, context: ag.NodeContext) -> dict[str, bool]:
    context.logger().info("saving %s", text)
    saved.append(text)
    return {"saved": True}


@ag.tool(outputs=["saved"])
async def aremember(text: str, ctx: ag.NodeContext) -> dict[str, bool]:
    await ctx.kv().set("t", text)
    return {"saved": True}


@pytest.mark.parametrize(("tool", "param"), [(remember, "context"), (aremember, "ctx")])
def test_a_context_tool_called_outside_a_run_is_refused_with_what_to_do(tool: Any, param: str) -> None:
    with pytest.raises(ag.UsageError, match=f"takes a {param!r} \\(a NodeContext\\), which only a run gives") as info:
        tool("hello")  # an async one is refused at the call too, not when its coroutine is awaited
    assert info.value.code == "needs_context"
    assert f"`await {tool.name}(...)` inside a @graph_fn" in info.value.message
    assert saved == []


def test_a_context_tool_called_from_a_sync_tool_body_is_refused_too(session: Session) -> None:
    @ag.tool(outputs=["saved"])
    def outer(text: str) -> dict[str, Any]:
        return remember(text)  # type: ignore[no-any-return]

    @ag.graph_fn(outputs=["saved"])
    async def agent(text: str) -> dict[str, Any]:
        return await outer(text)  # type: ignore[no-any-return]

    with pytest.raises(ag.RunFailed, match="which only a run gives"):
        arun(agent(text="x"))
    assert saved == []


def test_the_same_tool_in_a_run_and_one_whose_context_has_a_default_still_work(session: Session) -> None:
    @ag.tool(outputs=["had"])
    def maybe(x: int, context: ag.NodeContext | None = None) -> dict[str, bool]:
        return {"had": context is not None}

    @ag.graph_fn(outputs=["saved", "had"])
    async def agent(text: str) -> dict[str, Any]:
        return {"saved": (await remember(text))["saved"], "had": (await maybe(1))["had"]}

    saved.clear()
    assert arun(agent(text="in a run")) == {"saved": True, "had": True}
    assert saved == ["in a run"] and maybe(1) == {"had": False}
