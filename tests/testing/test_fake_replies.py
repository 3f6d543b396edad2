"""``FakeOpenAI`` checks its script when it is given, and answers a reply it cannot build with an HTTP error; the
helpers of ``aether_nb.testing`` refuse what they cannot use.

Found by a tester: a script item ``{"tool_calls": "x"}`` killed the fake's handler thread (a traceback on stderr) and
the client under test was told "could not reach the LLM endpoint"; ``answer_or_wait(None)`` raised
``AttributeError``; ``ScriptedChannel.wait_for(5)`` a ``TypeError``.
"""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest

import aether_nb as ag
from aether_nb.testing import FakeOpenAI, ScriptedChannel, answer_or_wait
from tests.conftest import arun


@pytest.mark.parametrize(
    ("item", "fault"),
    [
        ({"tool_calls": "x"}, "'tool_calls' must be a list"),
        ({"tool_calls": ["add"]}, r"tool_calls\[0\]: a tool call is a dict"),
        ({"tool_calls": [{"arguments": {}}]}, r"tool_calls\[0\]: 'name' must be the tool's name"),
        ({"tool_calls": [{"name": "add", "arguments": {"a": object()}}]}, "'arguments' must be a dict of JSON"),
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"status": 200}, "'status' must be an HTTP error status"),
        ({"text": 5}, "'text' must be a string"),
        ({"delay": math.nan}, "'delay' must be a finite number"),
        (None, "a reply is a string"),
        (5, "a reply is a string"),
    ],
)
def test_a_script_item_the_fake_cannot_send_is_refused_when_given(item: Any, fault: str) -> None:
    with pytest.raises(ag.UsageError, match=r"FakeOpenAI\(script=\.\.\.\) item 1 .*" + fault):
        FakeOpenAI(script=["fine", item])
    with pytest.raises(ag.UsageError, match=r"FakeOpenAI\.add\(\.\.\.\) item 0 .*" + fault):
        FakeOpenAI().add(item)


def test_every_documented_reply_form_is_still_taken() -> None:
    FakeOpenAI(
        script=[
            "Hello!",
            {"text": "Once", "finish_reason": "length", "delay": 0},
            {"json": {"a": [1, 2]}},
            {"tool_calls": [{"name": "add", "arguments": {"a": 1}}, {"name": "b", "arguments": "{}", "id": "c1"}]},
            {"status": 429, "message": "slow down"},
        ]
    )


def _chat(fake: FakeOpenAI) -> str:
    async def main() -> str:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0, timeout=10)
        try:
            reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            return reply.choices[0].message.content or ""
        finally:
            await client.close()

    return arun(main())


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda body: {"tool_calls": "x"}, "the rules returned a reply it cannot send: 'tool_calls' must be a list"),
        (lambda body: 1 / 0, "could not answer /v1/chat/completions: ZeroDivisionError"),
    ],
)
def test_a_reply_the_fake_cannot_build_is_an_http_error_and_the_server_goes_on(
    rule: Any, message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    replies = [rule, lambda body: "still here"]
    with FakeOpenAI(rules=lambda body: replies.pop(0)(body)) as fake:
        with pytest.raises(openai.InternalServerError, match=message):
            _chat(fake)
        assert _chat(fake) == "still here"
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("run", [None, "run-1", 5])
def test_answer_or_wait_takes_a_run(run: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"answer_or_wait\(run, \.\.\.\) takes a run"):
        arun(answer_or_wait(run))


def test_scripted_channel_wait_for_checks_its_arguments() -> None:
    channel = ScriptedChannel()
    with pytest.raises(ag.UsageError, match=r"wait_for\(predicate\) takes a function"):
        arun(channel.wait_for(5))  # type: ignore[arg-type]
    for timeout in (math.nan, 0, -1, "1"):
        with pytest.raises(ag.UsageError, match=r"wait_for\(timeout=\.\.\.\)"):
            arun(channel.wait_for(lambda ch: True, timeout=timeout))
    arun(channel.wait_for(lambda ch: True, timeout=1))
