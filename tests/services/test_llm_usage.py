"""What a run's LLM calls cost when some of them have no price, and what streaming a tool loop shows (FakeOpenAI)."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import Usage, configure_llm, run_usage
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun


@ag.graph_fn(outputs=["text"])
async def priced_and_local(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.llm().chat("an expensive question")
    text, usage = await context.llm("local").chat("a cheap one")
    assert usage.cost_usd is None and usage.unpriced_calls == 1
    return {"text": text}


def test_an_unpriced_call_does_not_hide_the_known_cost_of_a_run(session: Session) -> None:
    with FakeOpenAI(rules=lambda body: "ok") as fake:
        configure_llm(
            session,
            [
                {"base_url": fake.base_url, "model": "gpt-4o"},
                {"name": "local", "base_url": fake.base_url, "model": "my-llama"},
            ],
        )

        async def main() -> ag.Run:
            run = priced_and_local.start()
            await run
            return run

        run = arun(main())
    priced = run.graph.node("llm_1").usage["cost_usd"]
    assert priced > 0 and run.graph.node("llm_2").usage["cost_usd"] is None
    total = run_usage(run)
    assert total.cost_usd == pytest.approx(priced)
    assert total.cost_partial and total.unpriced_calls == 1 and total.calls == 2


def test_usage_sums_keep_the_known_cost_and_stay_unknown_when_nothing_is_priced() -> None:
    priced = Usage(10, 5, 15, 0.25, calls=1)
    unpriced = Usage(10, 5, 15, None, calls=1, unpriced_calls=1)
    assert (priced + unpriced).cost_usd == 0.25 and (priced + unpriced).cost_partial
    assert (Usage() + unpriced).cost_usd is None and (Usage() + unpriced + unpriced).unpriced_calls == 2
    assert (Usage() + priced).cost_usd == 0.25 and not (Usage() + priced).cost_partial


@ag.tool(outputs=["x"])
def echo_number(x: int) -> dict[str, Any]:
    """Echo a number."""
    return {"x": x}


@ag.graph_fn(outputs=["text"])
async def streamed_tool_loop(*, context: ag.NodeContext) -> dict[str, Any]:
    result = await context.llm().run_tools("go", tools=[echo_number], stream_to=context.channel())
    return {"text": result.text}


def test_a_streamed_tool_loop_shows_a_bubble_only_for_turns_with_text(session: Session, channel: Any) -> None:
    def rule(body: dict[str, Any]) -> Any:
        if body["messages"][-1]["role"] == "user":
            return {"tool_calls": [{"name": "echo_number", "arguments": {"x": 1}}]}
        return "done"

    with FakeOpenAI(rules=rule) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini"})
        assert arun(streamed_tool_loop()) == {"text": "done"}
        assert len(fake.chat_requests) == 2
    bubbles = [m for m in channel.messages if m.type == "stream"]
    assert {m.message_id for m in bubbles} == {bubbles[-1].message_id}  # one bubble: the tool-only turn had none
    assert [m.text for m in bubbles if m.final] == ["done"]
