"""SchemaTool: a tool from a name, a JSON schema and an async callable works everywhere a @tool does."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.schema_tool import Omitted, SchemaTool, openai_name, schema_signature
from aether_nb.runtime.session import Session
from aether_nb.services.llm_schema import tool_spec
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

ADD_SCHEMA = {
    "type": "object",
    "properties": {
        "a": {"type": "integer", "description": "first"},
        "b": {"type": "integer"},
        "round-to": {"type": "integer"},
        "scale": {"type": "number", "default": 1},
    },
    "required": ["a", "b"],
}


def make_add(calls: list[dict[str, Any]], name: str = "calc.add") -> SchemaTool:
    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        calls.append(arguments)
        return {"result": arguments["a"] + arguments["b"]}

    return SchemaTool(name, ADD_SCHEMA, call, description="Add two integers.", source="mcp:calc")


def test_the_signature_follows_the_schema() -> None:
    sig = schema_signature(ADD_SCHEMA)
    params = sig.parameters
    assert [p for p in params] == ["a", "b", "scale", "arguments"]
    assert (
        params["a"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and params["a"].default is inspect.Parameter.empty
    )
    assert params["scale"].kind is inspect.Parameter.KEYWORD_ONLY and isinstance(params["scale"].default, Omitted)
    assert repr(params["scale"].default) == "1"  # the schema's default, shown; the callee applies it
    assert params["arguments"].kind is inspect.Parameter.VAR_KEYWORD  # "round-to" is not an identifier
    closed = schema_signature({"type": "object", "properties": {"x": {}}, "additionalProperties": False})
    assert list(closed.parameters) == ["x"]


def test_outside_a_run_it_runs_now_and_sends_only_what_was_given() -> None:
    calls: list[dict[str, Any]] = []
    add = make_add(calls)
    assert arun(add(1, 2)) == {"result": 3}
    assert arun(add(a=1, b=2, scale=2, **{"round-to": 1})) == {"result": 3}
    assert calls == [{"a": 1, "b": 2}, {"a": 1, "b": 2, "scale": 2, "round-to": 1}]


def test_bad_arguments_fail_before_anything_is_sent() -> None:
    calls: list[dict[str, Any]] = []
    add = make_add(calls)
    with pytest.raises(ag.UsageError, match=r"a: 'x' is not of type 'integer'") as err:
        add(a="x", b=2)
    assert err.value.code == "bad_arguments"
    with pytest.raises(ag.UsageError, match=r"calc\.add\(a: int, b: int"):
        add(1)  # b is missing: the message shows the signature
    with pytest.raises(ag.UsageError, match="_id= only applies while building"):
        add(1, 2, _id="x")
    assert calls == []


def test_inside_a_run_each_call_is_a_node_named_after_the_tool_and_replays_from_the_journal() -> None:
    calls: list[dict[str, Any]] = []
    add = make_add(calls)

    @ag.graph_fn(outputs=["total", "name"])
    async def schema_agent(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        first = await add(a=x, b=1)
        second = await add(a=first["result"], b=1)
        name = await context.channel().ask_text("Your name?")
        return {"total": second["result"], "name": name}

    store = MemoryStore()
    previous = session_mod.set_default_session(None)
    try:
        s1, _ = make_session(store)
        session_mod.set_default_session(s1)

        async def first_process() -> None:
            run = schema_agent.start(x=1, run_id="r1")
            await run.wait_for("waiting", timeout=10)
            graph = run.graph
            assert [(n.id, n.name, n.kind) for n in graph.nodes][:2] == [
                ("calc.add_1", "calc.add", "tool"),
                ("calc.add_2", "calc.add", "tool"),
            ]
            assert ("calc.add_1", "calc.add_2") in graph.edges
            assert graph.nodes[0].meta == {"tool_version": add.version, "source": "mcp:calc"}

        arun(first_process())  # the loop ends while the run waits, as a kernel dying would
        assert len(calls) == 2
        s2, _ = make_session(store)
        session_mod.set_default_session(s2)

        async def second_process() -> tuple[dict[str, Any], ag.Run]:
            run = ag.get_run("r1")
            await run.answer("Ada")
            return await run, run

        out, run = arun(second_process())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"total": 3, "name": "Ada"}
    assert len(calls) == 2  # replayed, not called again
    assert run.graph.node("calc.add_1").replayed and run.graph.node("calc.add_2").replayed


def test_a_graphify_graph_can_use_schema_tools(session: Session) -> None:
    calls: list[dict[str, Any]] = []
    add = make_add(calls, name="calc2.add")

    @ag.graphify(name="sums", inputs=["x"], outputs=["total"])
    def sums(x: Any) -> Any:
        a = add(a=x, b=1)
        b = add(a=a.result, b=10)
        return {"total": b.result}

    graph = sums.build()
    assert list(graph.nodes) == ["calc2.add_1", "calc2.add_2"]
    assert graph.nodes["calc2.add_1"].tool_version == add.version
    assert arun(sums(x=1)) == {"total": 12}
    again = ag.TaskGraph.from_json(graph.dumps())
    assert arun(ag.run(again, {"x": 5})) == {"total": 16}


def test_run_tools_describes_it_by_its_own_schema_under_a_name_models_accept() -> None:
    add = make_add([])
    spec = tool_spec(add)
    fn = spec.schema["function"]
    assert fn["name"] == "calc_add" == spec.name
    assert fn["description"] == "Add two integers."
    assert fn["parameters"]["properties"] == ADD_SCHEMA["properties"]
    assert fn["parameters"]["required"] == ["a", "b"]
    with pytest.raises(ag.UsageError):
        spec.validate({"a": "x", "b": 1})
    assert openai_name("calc.add") == "calc_add"
    long = openai_name("x" * 100)
    assert len(long) == 64 and long != openai_name("x" * 99)


def test_the_code_version_is_a_hash_of_schema_and_source() -> None:
    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        return {}

    a = SchemaTool("v.t", {"properties": {"x": {"type": "integer"}}}, call, source="mcp:one")
    same = SchemaTool("v.t", {"properties": {"x": {"type": "integer"}}}, call, source="mcp:one")
    other_schema = SchemaTool("v.t", {"properties": {"x": {"type": "string"}}}, call, source="mcp:one")
    other_source = SchemaTool("v.t", {"properties": {"x": {"type": "integer"}}}, call, source="mcp:two")
    assert a.version == same.version
    assert len({a.version, other_schema.version, other_source.version}) == 3


def test_bad_definitions_are_refused_with_what_to_do() -> None:
    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        return {}

    with pytest.raises(ag.UsageError, match="without '/'"):
        SchemaTool("a/b", {}, call)
    with pytest.raises(ag.UsageError, match="has type 'array'"):
        SchemaTool("t", {"type": "array"}, call)
    with pytest.raises(ag.UsageError, match="must be a JSON object schema"):
        SchemaTool("t", ["x"], call)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="async function"):
        SchemaTool("t", {}, "nope")  # type: ignore[arg-type]


_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in ("arguments",))
_values = st.one_of(st.integers(), st.text(max_size=5), st.booleans())


@settings(max_examples=60, deadline=None)
@given(
    props=st.dictionaries(_names, st.sampled_from(["integer", "string", "boolean"]), min_size=1, max_size=5),
    data=st.data(),
)
def test_property_a_call_sends_exactly_the_arguments_given(props: dict[str, str], data: Any) -> None:
    """For any flat schema: whatever subset of arguments is passed (required ones always) is what the callee
    receives, nothing omitted is invented, and values of the wrong type never reach it."""
    import keyword

    props = {k: v for k, v in props.items() if not keyword.iskeyword(k)}
    required = data.draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
    schema = {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": required}
    received: list[dict[str, Any]] = []

    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        received.append(arguments)
        return {}

    tool = SchemaTool("p.t", schema, call)
    chosen = set(required) | set(data.draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else [])
    kinds = {"integer": st.integers(), "string": st.text(max_size=5), "boolean": st.booleans()}
    args = {k: data.draw(kinds[props[k]]) for k in chosen}
    arun(tool(**args))
    assert received == [args]
    wrong = data.draw(st.sampled_from(sorted(props))) if props else None
    if wrong is not None:
        bad = {**args, wrong: data.draw(_values.filter(lambda v: not _fits(v, props[wrong])))}
        with pytest.raises(ag.UsageError):
            tool(**bad)
    assert len(received) == 1


def _fits(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, bool)


def test_a_property_or_an_argument_named_self_reaches_the_tool() -> None:
    """A server's schema may name a property ``self`` (and a model may send one): it is an argument like any
    other, never Python's "got multiple values for argument 'self'" crashing the run."""
    calls: list[dict[str, Any]] = []

    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        calls.append(arguments)
        return {"ok": True}

    ctl = SchemaTool("srv.ctl", {"type": "object", "properties": {"self": {"type": "integer"}}}, call, source="mcp:s")
    assert arun(ctl(self=3)) == {"ok": True}
    assert arun(make_add(calls)(a=1, b=2, self=4)) == {"result": 3}
    assert calls == [{"self": 3}, {"a": 1, "b": 2, "self": 4}]
