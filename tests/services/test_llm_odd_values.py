"""Values handed to the LLM service that escaped as bare Python errors (a scratch tester's findings, helper D of
the twenty-seventh session): a lone surrogate outside a message list (one string message, ``embed``, an extra
argument) failed with UnicodeEncodeError; a message or a ``response_format`` that holds itself failed with
RecursionError / "Circular reference detected"; a ``response_format`` whose ``$ref`` points nowhere failed the
reply's check with jsonschema's own error; ``context.llm(["default"])`` with "unhashable type". Against FakeOpenAI
through the real ``openai`` client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun

NAME = os.fsdecode(b"caf\xe9.csv")  # 'caf\udce9.csv', as os.listdir gives a file name that is not UTF-8
ESCAPED = "caf\\udce9.csv"


@pytest.fixture
def fake(session: Session) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(rules=lambda body: '{"a": 1}') as f:
        configure_llm(session, {"base_url": f.base_url, "model": "m", "max_retries": 0})
        yield f


def _failure(agent: Any) -> BaseException:
    with pytest.raises(ag.RunFailed) as err:
        arun(agent())
    assert err.value.__cause__ is not None
    return err.value.__cause__


def test_a_lone_surrogate_in_one_string_message_goes_as_its_escape(fake: FakeOpenAI) -> None:
    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().chat(f"Summarise {NAME}"))[0]}

    assert arun(agent()) == {"text": '{"a": 1}'}  # (was: UnicodeEncodeError)
    assert fake.chat_requests[-1]["messages"] == [{"role": "user", "content": f"Summarise {ESCAPED}"}]


def test_a_lone_surrogate_in_an_extra_argument_goes_as_its_escape(fake: FakeOpenAI) -> None:
    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().chat("hi", user=NAME))[0]}

    assert arun(agent()) == {"text": '{"a": 1}'}
    assert fake.chat_requests[-1]["user"] == ESCAPED


def test_a_lone_surrogate_in_a_text_to_embed_goes_as_its_escape(fake: FakeOpenAI) -> None:
    @ag.graph_fn(outputs=["n"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"n": len(await context.llm().embed([NAME]))}

    assert arun(agent()) == {"n": 1}
    embeds = [r["body"] for r in fake.requests if r["path"].endswith("/embeddings")]
    assert embeds[-1]["input"] == [ESCAPED]


def test_a_message_that_holds_itself_is_a_usage_error(fake: FakeOpenAI) -> None:
    loop: list[Any] = [{"role": "user", "content": "hi"}]
    loop[0]["content"] = loop

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().chat(loop))[0]}

    cause = _failure(agent)
    assert isinstance(cause, ag.UsageError) and cause.code == "self_reference", repr(cause)
    assert "messages contains itself at [0]['content']" in cause.message
    assert fake.chat_requests == []


def test_a_response_format_that_holds_itself_is_a_usage_error(fake: FakeOpenAI) -> None:
    spec: dict[str, Any] = {"type": "object"}
    spec["x"] = spec

    @ag.graph_fn(outputs=["v"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": (await context.llm().chat("hi", response_format=spec))[0]}

    cause = _failure(agent)
    assert isinstance(cause, ag.UsageError) and cause.code == "self_reference", repr(cause)  # (was: ValueError)


@pytest.mark.parametrize("odd", [{"enum": {"a", "b"}}, {"maximum": float("nan")}])
def test_a_response_format_that_is_not_json_is_a_usage_error(fake: FakeOpenAI, odd: dict[str, Any]) -> None:
    """A set or a NaN in it failed the node with a bare TypeError as the request was encoded (found by a tester)."""
    schema = {"type": "object", "properties": {"a": odd}}

    @ag.graph_fn(outputs=["v"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": (await context.llm().chat("hi", response_format=schema))[0]}

    cause = _failure(agent)
    assert isinstance(cause, ag.UsageError) and cause.code == "bad_schema", repr(cause)
    assert "response_format must be JSON" in cause.message
    assert fake.chat_requests == []


def test_a_response_format_whose_ref_points_nowhere_is_refused_at_the_call(fake: FakeOpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Amount"}}}

    @ag.graph_fn(outputs=["v"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": (await context.llm().chat("hi", response_format=schema))[0]}

    cause = _failure(agent)
    assert isinstance(cause, ag.UsageError) and cause.code == "bad_schema", repr(cause)
    assert "$ref '#/$defs/Amount' does not resolve" in cause.message
    assert fake.chat_requests == []  # (was: the call was paid for, then its reply failed the check)


def test_a_profile_that_is_not_a_name_is_a_usage_error(fake: FakeOpenAI) -> None:
    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm(["default"]).chat("hi"))[0]}  # type: ignore[arg-type]

    cause = _failure(agent)
    assert isinstance(cause, ag.UsageError) and "profile takes a profile's name" in cause.message, repr(cause)
