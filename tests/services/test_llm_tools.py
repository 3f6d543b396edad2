"""llm.run_tools with tools other than a plain ``@tool``: a ``@graph_fn`` runs as a nested agent, against FakeOpenAI."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun


@ag.graph_fn(outputs=["y"])
async def triple(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    """Triple a number.

    Args:
        x: the number.
    """
    doubled = await double_it(x=x)  # a step of its own: the graph_fn runs as a real nested agent
    return {"y": doubled["y"] + x}


@ag.tool(outputs=["y"])
def double_it(x: int) -> dict[str, Any]:
    """Double a number."""
    return {"y": 2 * x}


@ag.graph_fn(outputs=["text"])
async def delegate(*, context: ag.NodeContext) -> dict[str, Any]:
    result = await context.llm().run_tools("Triple 2", tools=[triple])
    return {"text": result.text}


def answer_with_tool_result(body: dict[str, Any]) -> Any:
    last = body["messages"][-1]
    if last["role"] == "user":
        return {"tool_calls": [{"name": "triple", "arguments": {"x": 2}}]}
    return f"the tool said {last['content']}"


def test_a_graph_fn_is_a_tool_whose_outputs_go_back_to_the_model(session: Session) -> None:
    with FakeOpenAI(rules=answer_with_tool_result) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini"})

        async def main() -> tuple[dict[str, Any], ag.Run]:
            run = delegate.start()
            return await run, run

        out, run = arun(main())
        (first, _) = fake.chat_requests
    (schema,) = first["tools"]
    assert schema["function"]["name"] == "triple" and schema["function"]["description"] == "Triple a number."
    assert schema["function"]["parameters"]["properties"]["x"]["type"] == "integer"
    assert "context" not in schema["function"]["parameters"]["properties"]
    assert out == {"text": 'the tool said {"y": 6}'}
    node = run.graph.node("run_tools_1/triple_1")
    assert node.kind == "graph_fn" and node.status == "DONE" and node.outputs == {"y": 6}
    assert run.graph.node("run_tools_1/triple_1/double_it_1").outputs == {"y": 4}


def test_a_graph_fn_whose_schema_cannot_be_built_is_a_usage_error_before_the_model_is_called(
    session: Session,
) -> None:
    @ag.graph_fn(outputs=["y"])
    async def loose(**options: Any) -> dict[str, Any]:
        return {"y": options}

    @ag.graph_fn(outputs=["text"])
    async def uses_loose(*, context: ag.NodeContext) -> dict[str, Any]:
        result = await context.llm().run_tools("go", tools=[loose])
        return {"text": result.text}

    with FakeOpenAI(rules=lambda body: "unused") as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini"})
        with pytest.raises(ag.RunFailed) as info:
            arun(uses_loose())
        assert fake.chat_requests == []
    cause = info.value.__cause__
    assert (
        isinstance(cause, ag.UsageError)
        and "graph_fn loose" in cause.message
        and "name each parameter" in cause.message
    )
