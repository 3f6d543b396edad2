"""context.llm() against FakeOpenAI over real HTTP: chat, streaming, tools, structured output, retries, resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, Literal

import pydantic
import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services.llm import LLM, LLMError, LLMOutputError, LLMProfile, Usage, configure_llm, run_usage
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import FakeOpenAI, ScriptedChannel
from tests.conftest import arun, make_session


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as f:
        yield f


def use(session: Session, fake: FakeOpenAI, **settings: Any) -> None:
    configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini", "max_retries": 2, **settings})


@ag.graph_fn(outputs=["text", "usage"])
async def llm_ask(question: str, *, context: ag.NodeContext) -> dict[str, Any]:
    text, usage = await context.llm().chat([{"role": "user", "content": question}])
    return {"text": text, "usage": usage}


def test_chat_returns_text_and_usage_and_puts_usage_on_the_node(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    use(session, fake)
    fake.add("Hello, Ada.")

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = llm_ask.start(question="Say hello to Ada")
        return await run, run

    out, run = arun(main())
    assert out["text"] == "Hello, Ada."
    usage = out["usage"]
    assert isinstance(usage, Usage) and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cost_usd == pytest.approx((usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6)
    (req,) = fake.chat_requests
    assert req["model"] == "gpt-4o-mini" and req["messages"] == [{"role": "user", "content": "Say hello to Ada"}]
    node = run.graph.node("llm_1")
    assert node.kind == "llm" and node.status == "DONE"
    assert node.usage["total_tokens"] == usage.total_tokens
    assert node.outputs["text"] == "Hello, Ada."
    assert run_usage(run) == Usage(
        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cost_usd, calls=1
    )


def test_streaming_goes_live_into_one_bubble_on_the_llm_node(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    use(session, fake)
    fake.add("one two three four")

    @ag.graph_fn(outputs=["text"])
    async def llm_streamer(*, context: ag.NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("count", stream_to=context.channel())
        return {"text": text}

    assert arun(llm_streamer())["text"] == "one two three four"
    bubbles = {m.message_id for m in channel.messages if m.type == "stream"}
    assert len(bubbles) == 1  # one chat bubble
    deltas = [m.content["delta"] for m in channel.messages if "delta" in m.content]
    assert deltas == ["one ", "two ", "three ", "four"]  # token by token
    assert channel.texts == ["one two three four"]
    assert {m.node_id for m in channel.messages} == {"llm_1"}  # on the DAG node
    assert fake.chat_requests[0]["stream"] is True


def test_structured_output_from_a_pydantic_model_and_a_json_schema(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    class City(pydantic.BaseModel):
        name: str
        population: int

    use(session, fake)
    fake.add({"json": {"name": "Paris", "population": 2100000}}, '```json\n{"n": 3}\n```')
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    @ag.graph_fn(outputs=["city", "n"])
    async def llm_structured(*, context: ag.NodeContext) -> dict[str, Any]:
        city, _ = await context.llm().chat("Largest French city?", response_format=City)
        n, _ = await context.llm().chat("A number", response_format=schema)
        return {"city": city, "n": n}

    out = arun(llm_structured())
    assert out["city"] == City(name="Paris", population=2100000)
    assert out["n"] == {"n": 3}
    sent = fake.chat_requests[0]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "City"
    assert sent["json_schema"]["schema"]["required"] == ["name", "population"]


def test_invalid_structured_output_fails_the_node_with_a_clear_error(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    class City(pydantic.BaseModel):
        name: str
        population: int

    use(session, fake, cache=True)
    fake.add({"json": {"name": "Paris", "population": "lots"}})

    @ag.graph_fn(outputs=["city"])
    async def llm_structured_invalid(*, context: ag.NodeContext) -> dict[str, Any]:
        city, _ = await context.llm().chat("Largest French city?", response_format=City)
        return {"city": city}

    async def main() -> ag.Run:
        run = llm_structured_invalid.start()
        with pytest.raises(ag.RunFailed) as info:
            await run
        cause = info.value.__cause__
        assert isinstance(cause, LLMOutputError)
        assert cause.problems == ["population: Input should be a valid integer, unable to parse string as an integer"]
        assert (
            "does not match the structured output 'City'" in cause.message and '"population": "lots"' in cause.message
        )
        return run

    run = arun(main())
    node = run.graph.node("llm_1")
    assert node.status == "FAILED" and "population" in node.error["message"]
    assert session.store.kv_keys("llm-cache") == []  # an invalid reply is not cached


def test_invalid_json_against_a_json_schema(session: Session, fake: FakeOpenAI) -> None:
    profile = LLMProfile(base_url=fake.base_url, max_retries=0)
    fake.add("not json at all", {"json": {"n": "three"}})
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm = LLM(profile)  # outside a run: a plain call, not journaled
    with pytest.raises(LLMOutputError, match="not JSON"):
        arun(llm.chat("A number", response_format=schema))
    with pytest.raises(LLMOutputError, match=r"n: 'three' is not of type 'integer'"):
        arun(llm.chat("A number", response_format=schema))


# -- tools ---------------------------------------------------------------------------------------------------------
state: dict[str, Any] = {}


@ag.tool(outputs=["sum"])
async def plus(a: int, b: int) -> dict[str, int]:
    """Add two integers.

    Args:
        a: the first addend.
        b: the second addend.
    """
    await asyncio.wait_for(state["barrier"].wait(), 5)  # both calls must be running at once to get past this
    return {"sum": a + b}


@ag.tool
def weather_lookup(city: str, *, context: ag.NodeContext) -> dict[str, Any]:
    """Look up a city's weather."""
    raise RuntimeError(f"weather service down for {city}")


def test_tool_loop_runs_parallel_calls_and_returns_errors_to_the_model(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    use(session, fake)
    fake.add(
        {
            "tool_calls": [
                {"name": "plus", "arguments": {"a": 1, "b": 2}},
                {"name": "plus", "arguments": {"a": 3, "b": 4}},
                {"name": "weather_lookup", "arguments": {"city": "Oslo"}},
                {"name": "plus", "arguments": '{"a": 1,'},
                {"name": "plus", "arguments": {"a": "x", "b": 1}},
            ]
        },
        "1+2=3 and 3+4=7; the weather service is down.",
    )

    @ag.graph_fn(outputs=["text", "steps"])
    async def llm_tool_agent(*, context: ag.NodeContext) -> dict[str, Any]:
        state["barrier"] = asyncio.Barrier(2)
        result = await context.llm().run_tools(
            [{"role": "user", "content": "Add and look up"}], tools=[plus, weather_lookup]
        )
        assert result.usage.calls == 2
        return {"text": result.text, "steps": result.steps}

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = llm_tool_agent.start()
        return await run, run

    out, run = arun(main())
    assert out == {"text": "1+2=3 and 3+4=7; the weather service is down.", "steps": 2}
    tools_sent = fake.chat_requests[0]["tools"]
    assert [t["function"]["name"] for t in tools_sent] == ["plus", "weather_lookup"]
    tool_msgs = [m for m in fake.chat_requests[1]["messages"] if m["role"] == "tool"]
    contents = [m["content"] for m in tool_msgs]
    assert contents[:3] == [
        '{"sum": 3}',
        '{"sum": 7}',
        "Error: the tool raised RuntimeError: weather service down for Oslo",
    ]
    assert contents[3].startswith("Error: the arguments are not valid JSON")
    assert contents[4].startswith("Error: invalid arguments for plus: a: Input should be a valid integer")
    assert [m["tool_call_id"] for m in tool_msgs] == [
        c["id"] for c in fake.chat_requests[1]["messages"][1]["tool_calls"]
    ]
    g = run.graph
    assert g.node("run_tools_1/plus_1").status == "DONE" and g.node("run_tools_1/plus_2").status == "DONE"
    assert g.node("run_tools_1/weather_lookup_1").status == "FAILED"
    assert [n.id for n in g.nodes if n.kind == "llm"] == ["run_tools_1/llm_1", "run_tools_1/llm_2"]
    assert run.status == "succeeded"
    assert run_usage(run).calls == 2


def test_tool_loop_is_bounded(session: Session, fake: FakeOpenAI) -> None:
    use(session, fake)
    fake.rules = lambda body: {"tool_calls": [{"name": "echo_text", "arguments": {"x": "again"}}]}

    @ag.tool
    def echo_text(x: str) -> str:
        return x

    @ag.graph_fn
    async def llm_looping(*, context: ag.NodeContext) -> None:
        await context.llm().run_tools("loop forever", tools=[echo_text], max_steps=3)

    with pytest.raises(ag.RunFailed) as info:
        arun(llm_looping())
    assert isinstance(info.value.__cause__, LLMError) and info.value.__cause__.code == "llm_max_steps"
    assert len(fake.chat_requests) == 3


class Filters(pydantic.BaseModel):
    tags: list[str]


def test_tool_schema_from_type_hints_and_docstring() -> None:
    from aether_nb.services.llm_schema import tool_spec

    @ag.tool
    def search_notes(
        query: str,
        limit: int = 5,
        mode: Literal["fast", "deep"] = "fast",
        since: float | None = None,
        filters: Filters | None = None,
        *,
        context: ag.NodeContext,
    ) -> dict[str, Any]:
        """Search the notes.

        Longer explanation that is not part of the description.

        Args:
            query: what to look for,
                over several lines.
            limit: how many hits.

        Returns:
            hits.
        """
        return {}

    fn = tool_spec(search_notes).schema["function"]
    assert fn["name"] == "search_notes" and fn["description"] == "Search the notes."
    params = fn["parameters"]
    assert params["required"] == ["query"] and params["additionalProperties"] is False
    props = params["properties"]
    assert set(props) == {"query", "limit", "mode", "since", "filters"}  # no context
    assert props["query"] == {"type": "string", "description": "what to look for, over several lines."}
    assert props["limit"] == {"type": "integer", "default": 5, "description": "how many hits."}
    assert props["mode"]["enum"] == ["fast", "deep"]
    assert {"type": "null"} in props["since"]["anyOf"]
    assert params["$defs"]["Filters"]["properties"]["tags"]["type"] == "array"


# -- retries, timeouts, configuration ---------------------------------------------------------------------------------
def test_429_is_retried_with_backoff(session: Session, channel: ScriptedChannel, fake: FakeOpenAI) -> None:
    use(session, fake)
    fake.fail_next(2, status=429)
    fake.add("finally")
    assert arun(llm_ask(question="hi"))["text"] == "finally"
    assert len(fake.chat_requests) == 3


def test_retries_are_bounded_and_the_node_says_why(session: Session, fake: FakeOpenAI) -> None:
    use(session, fake, max_retries=1)
    fake.fail_next(5, status=503)

    async def main() -> ag.Run:
        run = llm_ask.start(question="hi")
        with pytest.raises(ag.RunFailed):
            await run
        return run

    run = arun(main())
    assert len(fake.requests) == 2
    err = run.graph.node("llm_1").error
    assert err["type"].endswith("LLMError") and "answered HTTP 503 (after 1 retry)" in err["message"]


def test_a_timeout_fails_the_node_with_the_reason(session: Session, fake: FakeOpenAI) -> None:
    use(session, fake, timeout_s=0.2, max_retries=0)
    fake.add({"text": "too late", "delay": 1.0})

    async def main() -> ag.Run:
        run = llm_ask.start(question="hi")
        with pytest.raises(ag.RunFailed):
            await run
        return run

    run = arun(main())
    node = run.graph.node("llm_1")
    assert node.status == "FAILED" and "no answer within timeout_s=0.2 s" in node.error["message"]


def test_no_key_and_no_endpoint_is_a_usage_error_saying_what_to_set(session: Session) -> None:
    with pytest.raises(ag.RunFailed) as info:
        arun(llm_ask(question="hi"))
    cause = info.value.__cause__
    assert isinstance(cause, ag.UsageError)
    for hint in ("OPENAI_API_KEY", "ag.configure(llm=", "%aether llm"):
        assert hint in cause.message


def test_profiles_from_env_and_by_name(session: Session, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    from aether_nb.services.llm import resolve_profile

    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "my-model")
    p = resolve_profile(session)
    assert (p.model, p.base_url, p.api_key) == ("my-model", fake.base_url, None)
    ag.configure(llm=[{"name": "fast", "model": "small", "base_url": "http://127.0.0.1:1/v1"}])
    assert resolve_profile(session, "fast").model == "small"
    with pytest.raises(ag.UsageError, match="no LLM profile named 'slow'"):
        resolve_profile(session, "slow")
    with pytest.raises(ag.UsageError, match="unknown LLM setting"):
        ag.configure(llm={"modle": "x"})


def test_embeddings_go_through_the_same_endpoint_and_feed_memory(session: Session, fake: FakeOpenAI) -> None:
    use(session, fake, embed_memory=True, embed_model="emb-1")
    vectors = arun(LLM(LLMProfile(base_url=fake.base_url)).embed(["red apple", "green pear"]))
    assert len(vectors) == 2 and len(vectors[0]) == 64

    @ag.graph_fn(outputs=["hits"])
    async def llm_remember(*, context: ag.NodeContext) -> dict[str, Any]:
        mem = context.memory()
        await mem.record("note", {"text": "the red apple is ripe"})
        await mem.record("note", {"text": "trains leave at noon"})
        hits = await mem.search("red apple", mode="semantic", limit=1)
        return {"hits": [h.text for h in hits]}

    assert arun(llm_remember())["hits"] == ["the red apple is ripe"]
    embedded = [r["body"] for r in fake.requests if r["path"].endswith("/embeddings")]
    assert {b["model"] for b in embedded[1:]} == {"emb-1"} and len(embedded) >= 4


def test_aether_llm_magic_updates_the_profile(session: Session) -> None:
    from aether_nb.notebook.magics import llm_command
    from aether_nb.services.llm import resolve_profile

    out = llm_command(["--model", "m1", "--base-url", "http://127.0.0.1:9/v1", "--cache"])
    assert out.startswith("aether_nb LLM profile 'default': model m1 at http://127.0.0.1:9/v1, cache on")
    llm_command(["--no-cache"])
    p = resolve_profile(session)
    assert (p.model, p.base_url, p.cache) == ("m1", "http://127.0.0.1:9/v1", False)
    with pytest.raises(ag.UsageError, match="unknown argument"):
        llm_command(["--temperature", "1"])


# -- durability, cache, secrets ---------------------------------------------------------------------------------------
@ag.graph_fn(outputs=["text", "name"])
async def llm_chatty(*, context: ag.NodeContext) -> dict[str, Any]:
    text, _ = await context.llm().chat("Greet me", stream_to=context.channel())
    name = await context.channel().ask_text("Your name?")
    return {"text": text, "name": name}


def test_a_resumed_run_does_not_call_the_model_again(fake: FakeOpenAI) -> None:
    store = MemoryStore()
    fake.add("Hi there")
    previous = session_mod.set_default_session(None)
    try:
        s1, ch1 = make_session(store)
        use(s1, fake)
        session_mod.set_default_session(s1)

        async def first() -> None:
            run = llm_chatty.start(run_id="r-llm")
            await run.wait_for("waiting")

        arun(first())  # the loop ends while the run waits, as a kernel dying would
        assert ch1.texts == ["Hi there"] and len(fake.chat_requests) == 1

        s2, ch2 = make_session(store)
        use(s2, fake)
        session_mod.set_default_session(s2)

        async def second() -> tuple[dict[str, Any], ag.Run]:
            run = ag.get_run("r-llm")
            await run.answer("Ada")
            return await run, run

        out, run = arun(second())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"text": "Hi there", "name": "Ada"}
    assert len(fake.chat_requests) == 1  # replayed from the journal: not paid twice
    assert ch2.texts == []  # nor streamed twice
    assert run.graph.node("llm_1").replayed
    assert run_usage(run).calls == 1 and run_usage(run).total_tokens > 0


def test_no_secret_reaches_the_store(tmp_path: Any, fake: FakeOpenAI) -> None:
    from aether_nb.store.duckdb import DuckDBStore

    key = "sk-aethertest-0123456789abcdefXYZ"
    db = tmp_path / "nb.aether.duckdb"
    store = DuckDBStore(db)
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    try:
        ag.configure(llm=LLMProfile(base_url=fake.base_url, api_key=key, cache=True))
        assert key not in repr(s.config["llm_profiles"])
        fake.rules = lambda body: f"I saw {len(body['messages'])} messages"
        arun(llm_ask(question="hello"))
        assert fake.requests[0]["headers"]["authorization"] == "***"
    finally:
        session_mod.set_default_session(previous)
        store.close()
    blob = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("nb.aether.duckdb*") if p != db)
    assert key.encode() not in blob and b"0123456789abcdefXYZ" not in blob
    assert b"I saw 1 messages" in blob  # the store did get the reply


CACHE_SCRIPT = """
import asyncio, json, sys
import aether_nb as ag

DB, URL = sys.argv[1], sys.argv[2]
ag.configure(store=DB, llm={"base_url": URL, "model": "gpt-4o-mini", "cache": True})

@ag.graph_fn(outputs=["text", "cached"])
async def cell(*, context):
    text, usage = await context.llm().chat("What is 6 x 7?", temperature=0)
    return {"text": text, "cached": usage.cached_calls}

print("OUT", json.dumps(asyncio.run(cell())), flush=True)
"""


def test_response_cache_hit_from_a_new_process(tmp_path: Any, fake: FakeOpenAI) -> None:
    import json
    import subprocess
    import sys

    script = tmp_path / "cell.py"
    script.write_text(CACHE_SCRIPT)
    db = tmp_path / "nb.aether.duckdb"
    fake.add("42")
    outs = []
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, str(script), str(db), fake.base_url], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        outs.append(json.loads(res.stdout.split("OUT ", 1)[1]))
    assert outs == [{"text": "42", "cached": 0}, {"text": "42", "cached": 1}]
    assert len(fake.chat_requests) == 1  # the second process never called the model


LATIN1_NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.listdir gives for a Latin-1 file name


@ag.tool(outputs=["names"])
def list_odd_files(folder: str) -> dict[str, Any]:
    """List the files of a folder.

    Args:
        folder: which folder
    """
    return {"names": [LATIN1_NAME, "ok.txt"]}


@ag.graph_fn(outputs=["text"])
async def odd_files_agent(*, context: ag.NodeContext) -> dict[str, Any]:
    half_emoji = json.loads('"\\ud83d"')
    res = await context.llm().run_tools(
        [{"role": "user", "content": f"list the files {half_emoji}"}], tools=[list_odd_files]
    )
    return {"text": res.text}


def test_a_lone_surrogate_in_a_tool_result_or_message_reaches_the_model_escaped(
    session: Session, channel: ScriptedChannel, fake: FakeOpenAI
) -> None:
    """A tool returning a file name decoded with surrogateescape (and half an emoji in the user's text): the API
    takes UTF-8 only, so each lone surrogate goes as its escape instead of failing the conversation."""
    use(session, fake)
    fake.add({"tool_calls": [{"name": "list_odd_files", "arguments": {"folder": "."}}]}, "Two files.")
    assert arun(odd_files_agent()) == {"text": "Two files."}
    sent = json.dumps(fake.chat_requests[1]["messages"], ensure_ascii=False)
    assert "caf\\\\udce9.txt" in sent and "files \\\\ud83d" in sent


def test_a_loops_clients_are_closed_on_that_loop_when_it_shuts_down(session: Session) -> None:
    """A client left open was closed by the openai client's ``__del__`` on whatever loop ran when the garbage
    collector reached it: in a test suite (or a script calling ``asyncio.run`` twice) another loop, whose close of
    the first loop's sockets failed ("Event loop is closed", seen as a later, unrelated test failing)."""
    clients: list[Any] = []

    @ag.graph_fn(outputs=["t"])
    async def says(*, context: ag.NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("hi")
        clients.append(context.llm().client)
        return {"t": text}

    with FakeOpenAI(script=["a", "b"]) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini"})
        assert arun(says()) == {"t": "a"}
        assert clients[0].is_closed()  # closed by the loop's shutdown, on it
        assert arun(says()) == {"t": "b"}  # the next loop makes its own
    assert clients[1] is not clients[0] and clients[1].is_closed()
