"""What a model or a user can hand the LLM service that escaped as a bare Python error (a scratch tester's
findings, the twenty-sixth session): each now goes back to the model, or is a UsageError / LLMOutputError that
says what to do. Against FakeOpenAI through the real ``openai`` client."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun

HUGE_INT = '{"a": 1' + "0" * 5000 + ', "b": 1}'
DEEP = '{"a": ' + "[" * 100_000 + "]" * 100_000 + ', "b": 1}'


@ag.tool(outputs=["sum"])
def add(a: int, b: int) -> dict[str, Any]:
    """Add two numbers."""
    return {"sum": a + b}


@pytest.fixture
def fake(session: Session) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as f:
        configure_llm(session, {"base_url": f.base_url, "model": "gpt-4o-mini", "max_retries": 0})
        yield f


def _calls_then_echoes(name: str, arguments: Any) -> Any:
    def rule(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        if not any(m["role"] == "tool" for m in messages):
            return {"tool_calls": [{"name": name, "arguments": arguments}]}
        return "the model got: " + messages[-1]["content"]

    return rule


@pytest.mark.parametrize("arguments", [HUGE_INT, DEEP], ids=["int_of_5001_digits", "nested_100k_deep"])
def test_arguments_json_cannot_read_go_back_to_the_model(fake: FakeOpenAI, arguments: str) -> None:
    fake.rules = _calls_then_echoes("add", arguments)

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().run_tools("add", tools=[add])).text}

    text = arun(agent())["text"]  # (a ValueError or RecursionError failed the run)
    assert text.startswith("the model got: Error: the arguments are not valid JSON"), text


def test_a_tool_result_that_is_not_json_reaches_the_model_as_text(fake: FakeOpenAI) -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop

    @ag.tool(outputs=["graph"])
    def circular() -> dict[str, Any]:
        """Return a graph that refers to itself."""
        return {"graph": loop}

    fake.rules = _calls_then_echoes("circular", {})

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().run_tools("go", tools=[circular])).text}

    text = arun(agent())["text"]  # (json.dumps raised outside the tool's guard: the run_tools step failed)
    assert text.startswith("the model got: (the result is not JSON: Circular reference detected) {'graph'"), text


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"temperature": math.nan}, "temperature= must be a JSON value"),
        ({"top_p": math.inf}, "top_p= must be a JSON value"),
        ({"seed": object()}, "seed= must be a JSON value"),
        ({"temprature": 0.2}, "unknown argument 'temprature': did you mean 'temperature'?"),
    ],
)
def test_chat_arguments_the_client_cannot_send_are_usage_errors_before_any_request(
    fake: FakeOpenAI, kw: dict[str, Any], says: str
) -> None:
    fake.rules = lambda body: "unused"

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().chat("hi", **kw))[0]}

    with pytest.raises(ag.RunFailed, match=says):
        arun(agent())
    assert fake.chat_requests == []


def test_run_tools_names_itself_in_an_argument_error(fake: FakeOpenAI) -> None:
    fake.rules = lambda body: "unused"

    @ag.tool(outputs=["ok"])
    def noop() -> dict[str, Any]:
        """Do nothing."""
        return {"ok": True}

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().run_tools("go", tools=[noop], temprature=0.1)).text}

    with pytest.raises(ag.RunFailed, match=r"run_tools\(\): unknown argument 'temprature'"):  # (it said chat())
        arun(agent())
    assert fake.chat_requests == []


def test_a_password_in_the_base_url_is_masked_in_reprs() -> None:
    """A profile or an LLM shown as a cell's last line is saved in the notebook: its URL's password was in clear."""
    from aether_nb.services.llm import LLM
    from aether_nb.services.llm_config import LLMProfile

    profile = LLMProfile(model="m", base_url="http://bob:TopSecretPw99@127.0.0.1:9/v1", api_key="sk-" + "x" * 20)
    for text in (repr(profile), repr(LLM(profile))):
        assert "TopSecretPw99" not in text and "bob:[REDACTED]@127.0.0.1:9/v1" in text, text
        assert "sk-" not in text


def test_a_chat_calls_other_arguments_are_among_its_nodes_inputs(fake: FakeOpenAI) -> None:
    """Only the model and the messages were: a resume whose ``temperature`` had changed raised a ReplayMismatch
    saying the arguments "look equal in the stored preview"."""
    fake.rules = lambda body: "ok"

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().chat("hi", temperature=0.1, seed=7, timeout=30))[0]}

    async def main() -> ag.Run:
        run = agent.start()
        await run
        return run

    run = arun(main())
    inputs = run.graph.node("llm_1").inputs
    assert inputs["temperature"] == 0.1 and inputs["seed"] == 7 and "timeout" not in inputs
    assert fake.chat_requests[0]["temperature"] == 0.1


@pytest.mark.parametrize("reply", ['{"n": 1' + "0" * 5000 + "}", "[" * 100_000 + "]" * 100_000])
def test_a_structured_reply_json_cannot_read_is_an_llm_output_error(fake: FakeOpenAI, reply: str) -> None:
    fake.rules = lambda body: reply

    @ag.graph_fn(outputs=["n"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        return {"n": (await context.llm().chat("a number", response_format=schema))[0]}

    with pytest.raises(ag.RunFailed) as info:
        arun(agent())
    assert isinstance(info.value.__cause__, ag.errors.LLMOutputError), repr(info.value.__cause__)
    assert "not JSON" in str(info.value.__cause__)


class Approve(ag.DualStageTool, outputs=["decision"]):
    """Ask a person to approve a payment."""

    async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
        return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?")

    async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"decision": payload["choice"]}


def test_a_dual_stage_tool_is_a_tool_the_model_can_call_and_a_person_answers(fake: FakeOpenAI) -> None:
    """Its schema was taken from the metaclass' ``__call__(*args, **kwargs)``: "*args/**kwargs cannot be
    described in a JSON schema", though ``setup`` names every parameter."""
    fake.rules = _calls_then_echoes("Approve", {"amount": 3})

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().run_tools("pay 3", tools=[Approve])).text}

    async def main() -> dict[str, Any]:
        run = agent.start()
        await run.wait_for("waiting", timeout=10)
        (wait,) = run.waits
        assert wait.prompt == "Pay 3.0?"
        await run.answer("Approve")
        return await run

    out = arun(main())
    (schema,) = fake.chat_requests[0]["tools"]
    assert schema["function"]["description"] == "Ask a person to approve a payment."
    assert list(schema["function"]["parameters"]["properties"]) == ["amount"]
    assert out == {"text": 'the model got: {"decision": "Approve"}'}


def test_a_key_an_endpoint_echoes_is_in_no_traceback_node_or_event(session: Session) -> None:
    """LLMError's message was redacted, but it was raised from openai's error, whose message held the key: the
    printed traceback (a script's stderr, a saved cell), the node's error and its events showed it."""
    import traceback

    key = "localkey-Zq7Wm3Xv9Rt2Yp8Kd4Lf"

    @ag.graph_fn(outputs=["t"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"t": (await context.llm().chat("hi"))[0]}

    async def main() -> tuple[ag.Run, str, list[str]]:
        run = agent.start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        return run, "".join(traceback.format_exception(info.value)), [repr(e) async for e in run.events()]

    rule = {"status": 401, "message": f"Incorrect API key provided: {key}"}
    with FakeOpenAI(rules=lambda body: rule) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini", "api_key": key, "max_retries": 0})
        run, shown, events = arun(main())
    assert "HTTP 401" in shown and key not in shown
    assert key not in str(run.graph.node("llm_1").error)
    assert not [e for e in events if key in e]
