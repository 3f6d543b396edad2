"""Run-scoped context (``context_schema``, ``context=``, ``Runtime``, ``get_runtime``), ported from LangGraph's
``test_runtime.py`` to aether_nb's names, plus what durability adds: the context is never stored, and a resumed
turn (same process or a new one) runs with the context of the call that resumes it, as in LangGraph.
"""

from __future__ import annotations

import json
import operator
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from aether_nb.errors import UsageError
from aether_nb.flow import (
    END,
    START,
    Command,
    ExecutionInfo,
    InvalidContext,
    Runtime,
    StateGraph,
    get_runtime,
    interrupt,
)
from aether_nb.runtime.scheduler import RetryPolicy
from aether_nb.runtime.session import default_session


@dataclass
class Context:
    api_key: str
    timeout: int = 30


class State(TypedDict):
    message: str


def _single(node: Any, *, schema: Any = Context, **compile_kw: Any) -> Any:
    g = StateGraph(state_schema=State, context_schema=schema)
    g.add_node("node", node)
    g.add_edge(START, "node")
    g.add_edge("node", END)
    return g.compile(**compile_kw)


def test_injected_runtime(checkpointer: str) -> None:
    """test_runtime.py::test_injected_runtime."""

    def injected_runtime(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"message": f"api key: {runtime.context.api_key}"}

    compiled = _single(injected_runtime, checkpointer=checkpointer)
    assert compiled.invoke({"message": "hello world"}, context=Context(api_key="sk_123456")) == {
        "message": "api key: sk_123456"
    }


def test_context_runtime(checkpointer: str) -> None:
    """test_runtime.py::test_context_runtime: get_runtime() inside a node."""

    def context_runtime(state: State) -> dict[str, Any]:
        runtime = get_runtime(Context)
        return {"message": f"api key: {runtime.context.api_key}"}

    compiled = _single(context_runtime, checkpointer=checkpointer)
    assert compiled.invoke({"message": "hello world"}, context=Context(api_key="sk_123456")) == {
        "message": "api key: sk_123456"
    }


def test_runtime_injected_by_annotation_under_another_name(checkpointer: str) -> None:
    async def node(state: State, rt: Runtime[Context]) -> dict[str, Any]:
        return {"message": rt.context.api_key}

    assert _single(node, checkpointer=checkpointer).invoke({"message": ""}, context=Context("k")) == {"message": "k"}


def test_override_and_merge_runtime() -> None:
    """test_runtime.py::test_override_runtime and ::test_merge_runtime."""
    prev = Runtime(context=Context(api_key="abc"))
    new = prev.override(context=Context(api_key="def"))
    assert new.context.api_key == "def" and prev.context.api_key == "abc"
    r1, r2, r3 = Runtime(context=Context("abc")), Runtime(context=Context("def")), Runtime(context=None)
    assert r1.merge(r2).context.api_key == "def"
    assert r1.merge(r3).context.api_key == "abc"  # only set values override
    with pytest.raises(UsageError, match="unknown field"):
        prev.override(contxt=1)


def test_runtime_propagated_to_subgraph(checkpointer: str) -> None:
    """test_runtime.py::test_runtime_propogated_to_subgraph."""

    class S(TypedDict, total=False):
        subgraph: str
        main: str

    def subgraph_node_1(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"subgraph": f"{runtime.context.api_key}!"}

    sub = StateGraph(S, context_schema=Context)
    sub.add_node(subgraph_node_1)
    sub.set_entry_point("subgraph_node_1")

    def main_node(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"main": f"{runtime.context.api_key}!"}

    builder = StateGraph(S, context_schema=Context)
    builder.add_node(main_node)
    builder.add_node("node_1", sub.compile())
    builder.set_entry_point("main_node")
    builder.add_edge("main_node", "node_1")
    graph = builder.compile(checkpointer=checkpointer)
    assert graph.invoke({}, context=Context(api_key="Alice")) == {"subgraph": "Alice!", "main": "Alice!"}


def test_a_graph_invoked_inside_a_node_gets_the_callers_context_or_its_own(checkpointer: str) -> None:
    class S(TypedDict, total=False):
        seen: Annotated[list, operator.add]

    def inner_node(state: S) -> dict[str, Any]:
        return {"seen": [get_runtime().context.api_key]}

    inner = StateGraph(S, context_schema=Context).add_node("i", inner_node).add_edge(START, "i").compile()

    async def outer_node(state: S) -> dict[str, Any]:
        a = await inner.ainvoke({})
        b = await inner.ainvoke({}, context={"api_key": "own"})
        return {"seen": a["seen"] + b["seen"]}

    outer = StateGraph(S, context_schema=Context).add_node("o", outer_node).add_edge(START, "o")
    res = outer.compile(checkpointer=checkpointer).invoke({}, context=Context("caller"))
    assert res["seen"] == ["caller", "own"]


def test_context_coercion_dataclass(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_dataclass."""

    def node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"message": f"api_key: {runtime.context.api_key}, timeout: {runtime.context.timeout}"}

    compiled = _single(node, checkpointer=checkpointer)
    assert compiled.invoke({"message": "t"}, context={"api_key": "sk_test", "timeout": 60}) == {
        "message": "api_key: sk_test, timeout: 60"
    }
    assert compiled.invoke({"message": "t"}, context={"api_key": "sk_test2"}) == {
        "message": "api_key: sk_test2, timeout: 30"
    }
    assert compiled.invoke({"message": "t"}, context=Context(api_key="sk_test3", timeout=90)) == {
        "message": "api_key: sk_test3, timeout: 90"
    }


def test_context_coercion_pydantic(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_pydantic."""

    class PCtx(BaseModel):
        api_key: str
        timeout: int = 30
        tags: list[str] = []

    def node(state: State, runtime: Runtime[PCtx]) -> dict[str, Any]:
        c = runtime.context
        return {"message": f"api_key: {c.api_key}, timeout: {c.timeout}, tags: {c.tags}"}

    compiled = _single(node, schema=PCtx, checkpointer=checkpointer)
    assert compiled.invoke({"message": "t"}, context={"api_key": "sk", "timeout": 60, "tags": ["prod", "v2"]}) == {
        "message": "api_key: sk, timeout: 60, tags: ['prod', 'v2']"
    }
    assert compiled.invoke({"message": "t"}, context={"api_key": "sk2"}) == {
        "message": "api_key: sk2, timeout: 30, tags: []"
    }
    assert compiled.invoke({"message": "t"}, context=PCtx(api_key="sk3", timeout=90, tags=["test"])) == {
        "message": "api_key: sk3, timeout: 90, tags: ['test']"
    }
    with pytest.raises(InvalidContext, match="PCtx") as info:  # test_context_coercion_pydantic_validation_errors
        compiled.invoke({"message": "t"}, context={"api_key": "sk", "timeout": "not_an_int"})
    assert isinstance(info.value, ValueError) and isinstance(info.value.__cause__, ValidationError)


def test_context_coercion_typeddict(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_typeddict: a dict passes as it is."""

    class TCtx(TypedDict):
        api_key: str
        timeout: int

    def node(state: State, runtime: Runtime[TCtx]) -> dict[str, Any]:
        return {"message": f"api_key: {runtime.context['api_key']}, timeout: {runtime.context['timeout']}"}

    compiled = _single(node, schema=TCtx, checkpointer=checkpointer)
    assert compiled.invoke({"message": "t"}, context={"api_key": "sk_test", "timeout": 60}) == {
        "message": "api_key: sk_test, timeout: 60"
    }
    with pytest.raises(InvalidContext, match="must be a dict"):
        compiled.invoke({"message": "t"}, context=["api_key"])


def test_context_coercion_none(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_none."""

    def node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"message": f"context is None: {runtime.context is None}"}

    compiled = _single(node, checkpointer=checkpointer)
    assert compiled.invoke({"message": "t"}, context=None) == {"message": "context is None: True"}
    assert compiled.invoke({"message": "t"}) == {"message": "context is None: True"}


def test_context_coercion_errors(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_errors: raised by the call, before anything runs (a TypeError, as
    LangGraph's, and a UsageError that says what to pass)."""
    ran: list[str] = []

    def node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        ran.append("node")
        return {"message": "should not reach here"}

    compiled = _single(node, checkpointer=checkpointer)
    with pytest.raises(TypeError):
        compiled.invoke({"message": "test"}, context={"timeout": 60})
    with pytest.raises(InvalidContext, match="invalid_field") as info:
        compiled.invoke({"message": "test"}, context={"api_key": "test", "invalid_field": "value"})
    assert isinstance(info.value, UsageError) and "Context(...)" in str(info.value)
    with pytest.raises(InvalidContext, match="must be a Context or a dict"):
        compiled.invoke({"message": "test"}, context="sk_123")
    assert ran == []
    assert default_session().runs() == []  # no run was started for a context that cannot be used


def test_context_schema_must_be_a_class() -> None:
    with pytest.raises(UsageError, match="context_schema must be a class"):
        StateGraph(State, context_schema=Context(api_key="x"))


def test_without_a_context_schema_any_context_passes_as_it_is(checkpointer: str) -> None:
    marker = object()

    def node(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
        return {"message": str(runtime.context is marker)}

    assert _single(node, schema=None, checkpointer=checkpointer).invoke({"message": ""}, context=marker) == {
        "message": "True"
    }


@pytest.mark.anyio
async def test_context_coercion_async(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_async: ainvoke and astream."""

    @dataclass
    class ACtx:
        api_key: str
        async_mode: bool = True

    async def node(state: State, runtime: Runtime[ACtx]) -> dict[str, Any]:
        return {"message": f"async api_key: {runtime.context.api_key}, async_mode: {runtime.context.async_mode}"}

    compiled = _single(node, schema=ACtx, checkpointer=checkpointer)
    assert await compiled.ainvoke({"message": "t"}, context={"api_key": "sk_async", "async_mode": False}) == {
        "message": "async api_key: sk_async, async_mode: False"
    }
    chunks = [c async for c in compiled.astream({"message": "t"}, context={"api_key": "sk_stream"})]
    assert {"node": {"message": "async api_key: sk_stream, async_mode: True"}} in chunks


def test_context_coercion_stream(checkpointer: str) -> None:
    """test_runtime.py::test_context_coercion_stream."""

    def node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"message": f"stream api_key: {runtime.context.api_key}, t: {runtime.context.timeout}"}

    chunks = list(_single(node, checkpointer=checkpointer).stream({"message": "t"}, context={"api_key": "sk"}))
    assert {"node": {"message": "stream api_key: sk, t: 30"}} in chunks


@pytest.mark.anyio
async def test_runtime_stream_writer_store_and_execution_info(checkpointer: str) -> None:
    """``runtime.stream_writer`` feeds ``stream_mode="custom"``; ``runtime.store`` is ``compile(store=...)`` (also
    a ``store`` parameter); ``execution_info`` says where the node runs and which attempt this is."""
    my_store = {"users": {"u1": "Alice"}}
    attempts: list[ExecutionInfo] = []

    async def node(state: State, runtime: Runtime[Context], store: Any) -> dict[str, Any]:
        info = runtime.execution_info
        assert info is not None
        attempts.append(info)
        runtime.stream_writer({"progress": info.node_attempt})
        if info.node_attempt < 2:
            raise ConnectionError("flaky")
        assert store is runtime.store
        return {"message": f"Hello {runtime.store['users'][runtime.context.api_key]}"}

    g = StateGraph(State, context_schema=Context)
    g.add_node("node", node, retry_policy=RetryPolicy(max_attempts=2, backoff_s=0))
    g.add_edge(START, "node")
    app = g.compile(checkpointer=checkpointer, store=my_store)
    cfg = {"configurable": {"thread_id": "w1"}}
    chunks = [
        c async for c in app.astream({"message": ""}, cfg, stream_mode=["custom", "updates"], context={"api_key": "u1"})
    ]
    assert ("custom", {"progress": 1}) in chunks and ("custom", {"progress": 2}) in chunks
    assert ("updates", {"node": {"message": "Hello Alice"}}) in chunks
    assert [a.node_attempt for a in attempts] == [1, 2]
    first = attempts[0]
    assert (first.thread_id, first.checkpoint_ns, first.task_id) == ("w1", "", "node")
    assert attempts[1].node_first_attempt_time == first.node_first_attempt_time
    snap = await app.aget_state(cfg)
    assert first.checkpoint_id == snap.parent_config["configurable"]["checkpoint_id"]  # the superstep's start
    assert Runtime().store is None and Runtime().execution_info is None


def test_get_runtime_outside_a_node_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="inside a node"):
        get_runtime()


@pytest.mark.anyio
async def test_a_resumed_turn_runs_with_the_context_of_the_call_that_resumes_it(checkpointer: str) -> None:
    """LangGraph's rule (the context is per call, never checkpointed): the node re-run by
    ``Command(resume=...)`` sees the resuming call's context, or None when that call gives none."""

    class S(TypedDict, total=False):
        log: Annotated[list, operator.add]

    def ask(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        before = runtime.context.api_key if runtime.context else None
        answer = interrupt("ok?")
        after = get_runtime().context
        return {"log": [(before, answer, after.api_key if after else None)]}

    app = StateGraph(S, context_schema=Context).add_node("ask", ask).add_edge(START, "ask")
    graph = app.compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "r1"}}
    res = await graph.ainvoke({}, cfg, context=Context("first"))
    assert res["__interrupt__"][0].value == "ok?"
    res = await graph.ainvoke(Command(resume="yes"), cfg, context=Context("second"))
    assert res["log"] == [("second", "yes", "second")]
    # again, resuming without a context
    await graph.ainvoke({}, {"configurable": {"thread_id": "r2"}}, context=Context("first"))
    res = await graph.ainvoke(Command(resume="no"), {"configurable": {"thread_id": "r2"}})
    assert res["log"] == [(None, "no", None)]
    assert graph.contexts == {}  # nothing kept once the turns ended


@pytest.mark.anyio
async def test_a_breakpoint_continues_with_the_new_calls_context(checkpointer: str) -> None:
    class S(TypedDict, total=False):
        log: Annotated[list, operator.add]

    def a(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"log": [("a", runtime.context.api_key)]}

    def b(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        return {"log": [("b", runtime.context.api_key)]}

    g = StateGraph(S, context_schema=Context).add_sequence([a, b]).add_edge(START, "a")
    app = g.compile(checkpointer=checkpointer, interrupt_before=["b"])
    cfg = {"configurable": {"thread_id": "bp"}}
    await app.ainvoke({}, cfg, context=Context("one"))
    res = await app.ainvoke(None, cfg, context=Context("two"))
    assert res["log"] == [("a", "one"), ("b", "two")]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=6, max_size=30))
def test_the_context_never_reaches_the_store(checkpointer: str, secret: str) -> None:
    """Whatever the context holds (an API key, a connection) stays in this process: not in the run's inputs,
    journal, events, waits or checkpoints."""
    marker = f"SECRET<{secret}>"

    class S(TypedDict, total=False):
        n: int

    def node(state: S, runtime: Runtime[Context]) -> dict[str, Any]:
        assert runtime.context.api_key == marker
        interrupt("continue?")
        return {"n": len(runtime.context.api_key)}

    app = _graph_for_secret(node, checkpointer)
    cfg = {"configurable": {"thread_id": "s"}}
    app.invoke({"n": 0}, cfg, context=Context(marker))
    res = app.invoke(Command(resume=True), cfg, context={"api_key": marker})
    assert res["n"] == len(marker)
    store = default_session().store
    store.flush()
    runs = store.list_runs()
    scope = f"flow:{app.name}"
    dumped = json.dumps(
        [
            [r.inputs for r in runs],
            [[e.value for e in store.load_journal(r.run_id)] for r in runs],
            [store.load_events(r.run_id) for r in runs],
            [[(w.meta, w.prompt) for w in store.list_waits(r.run_id, status=None)] for r in runs],
            [[repr(n) for n in store.list_nodes(r.run_id)] for r in runs],
            [store.kv_get(scope, k) for k, _ in store.kv_keys(scope)],
            [s.values for s in app.get_state_history(cfg)],
        ],
        default=repr,
    )
    # The marker, as typed and as JSON escapes it (the secret alone can be a word the store itself writes:
    # hypothesis found "deferred", a checkpoint's key).
    assert runs and "SECRET<" not in dumped and json.dumps(marker)[1:-1] not in dumped


def _graph_for_secret(node: Any, checkpointer: str) -> Any:
    class S(TypedDict, total=False):
        n: int

    return (
        StateGraph(S, context_schema=Context)
        .add_node("node", node)
        .add_edge(START, "node")
        .compile(checkpointer=checkpointer)
    )


RESUME_SCRIPT = """
import asyncio, json, os, sys
from dataclasses import dataclass
from typing import TypedDict
import aether_nb as ag
from aether_nb.flow import START, Command, Runtime, StateGraph, interrupt

DB, COUNTER, MODE, ARG = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ag.configure(store=DB)

@dataclass
class Ctx:
    user: str

def log(line):
    with open(COUNTER, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["greeting"])
def greet(user: str) -> dict:
    log(f"greet {user}")
    return {"greeting": f"hi {user}"}

class S(TypedDict, total=False):
    out: str

async def node(state: S, runtime: Runtime[Ctx]):
    user = runtime.context.user if runtime.context else None
    log(f"node {user}")
    greeting = (await greet(ARG or user))["greeting"]  # ARG "": the context steers the tool call
    answer = interrupt("go?")
    return {"out": f"{greeting} / {answer} / {user}"}

app = StateGraph(S, context_schema=Ctx, name="ctxflow").add_node("n", node).add_edge(START, "n").compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        res = await app.ainvoke({}, cfg, context=Ctx("alice"))
        print("PAUSED", res.status, flush=True)
        os._exit(0)
    ctx = {"user": MODE} if MODE != "none" else None
    res = await app.ainvoke(Command(resume="yes"), cfg, context=ctx)
    print("OUT", json.dumps([res.status, res["out"]]), flush=True)

asyncio.run(main())
"""


def _run_script(tmp_path: Path, mode: str, arg: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "ctxflow.py"
    if not script.exists():
        script.write_text(RESUME_SCRIPT)
    db, counter = str(tmp_path / "flow.duckdb"), str(tmp_path / "count.txt")
    return subprocess.run(
        [sys.executable, str(script), db, counter, mode, arg], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("resumer", ["bob", "none"])
def test_a_turn_resumed_in_a_new_process_gets_the_resuming_calls_context(tmp_path: Path, resumer: str) -> None:
    """After a restart the context is gone (it was never stored): the resumed node runs with the context the
    resuming call passes (None if it passes none), while its completed tool call replays from the journal."""
    start = _run_script(tmp_path, "start", "fixed")
    assert start.returncode == 0 and "PAUSED interrupted" in start.stdout, start.stderr
    out = _run_script(tmp_path, resumer, "fixed")
    assert out.returncode == 0, out.stderr
    status, value = json.loads(out.stdout.split("OUT ", 1)[1].splitlines()[0])
    expected_user = None if resumer == "none" else resumer
    assert (status, value) == ("completed", f"hi fixed / yes / {expected_user}")
    lines = (tmp_path / "count.txt").read_text().splitlines()
    assert lines == ["node alice", "greet fixed", f"node {expected_user}"]


def test_a_call_steered_by_an_old_context_is_not_silently_repeated(tmp_path: Path) -> None:
    """A tool call whose argument came from the context the turn started with: resumed with another context,
    the call is not run again with the new argument (that would be a second effect) but fails with
    ReplayMismatch, whose note says why; resumed with the same context, it replays."""
    other_dir, same_dir = tmp_path / "other", tmp_path / "same"
    other_dir.mkdir()
    same_dir.mkdir()
    assert _run_script(other_dir, "start", "").returncode == 0
    other = _run_script(other_dir, "bob", "")
    assert other.returncode != 0
    assert "ReplayMismatch" in other.stderr and "runtime.context, which is not stored" in other.stderr
    assert (other_dir / "count.txt").read_text().splitlines() == ["node alice", "greet alice", "node bob"]
    assert _run_script(same_dir, "start", "").returncode == 0
    same = _run_script(same_dir, "alice", "")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout.split("OUT ", 1)[1].splitlines()[0]) == ["completed", "hi alice / yes / alice"]
    assert (same_dir / "count.txt").read_text().splitlines() == ["node alice", "greet alice", "node alice"]


@pytest.mark.anyio
async def test_a_tool_run_by_a_tool_node_gets_a_tool_runtime(checkpointer: str) -> None:
    """LangGraph's prebuilt ``ToolRuntime``: a tool's ``runtime`` parameter holds the call's context, the state,
    the config and the tool call id, and is hidden from the model's schema."""
    from aether_nb.flow import MessagesState, ToolNode, ToolRuntime, assistant_message, tool_call

    seen: list[Any] = []

    def lookup(city: str, runtime: ToolRuntime[Context]) -> str:
        """Look a city up for the user."""
        seen.append((runtime.tool_call_id, len(runtime.state["messages"]), runtime.config["thread_id"]))
        runtime.stream_writer({"looking": city})
        return f"{city} for {runtime.context.api_key}"

    async def ask_as_other(city: str, rt: ToolRuntime) -> str:
        """Same, with the annotation only."""
        return f"{city}/{rt.context.api_key}/{rt.tool_call_id}"

    def model(state: Any) -> Any:
        if state["messages"][-1]["role"] == "tool":
            return {"messages": [assistant_message("done")]}
        calls = [tool_call("lookup", {"city": "Oslo"}, id="c1"), tool_call("ask_as_other", {"city": "Rome"}, id="c2")]
        return {"messages": [assistant_message(None, tool_calls=calls)]}

    node = ToolNode([lookup, ask_as_other])
    assert [set(s["function"]["parameters"]["properties"]) for s in node.schemas()] == [{"city"}, {"city"}]
    g = StateGraph(MessagesState, context_schema=Context)
    g.add_node("model", model)
    g.add_node("tools", node)
    g.add_edge(START, "model")
    g.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
    g.add_edge("tools", "model")
    app = g.compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "tr"}}
    chunks = [
        c
        async for c in app.astream(
            {"messages": [("user", "hi")]}, cfg, stream_mode=["custom", "values"], context=Context("k1")
        )
    ]
    assert ("custom", {"looking": "Oslo"}) in chunks
    final = next(p for m, p in reversed(chunks) if m == "values")
    assert [m["content"] for m in final["messages"] if m["role"] == "tool"] == ["Oslo for k1", "Rome/k1/c2"]
    assert seen == [("c1", 2, "tr")]


def test_routers_get_the_runtime_too(checkpointer: str) -> None:
    """LangGraph injects ``runtime`` into conditional edges as into nodes; ``get_runtime()`` works there too, in a
    router from START as after a node, and ``aupdate_state`` routes with a runtime without context."""

    class S(TypedDict, total=False):
        path: Annotated[list, operator.add]

    def start_router(state: S, runtime: Runtime[Context]) -> str:
        return "a" if runtime.context.api_key == "a" else "b"

    def after_a(state: S, config: dict[str, Any], rt: Runtime[Context]) -> str:
        assert config["configurable"]["thread_id"] == "rt"
        return "b" if get_runtime().context.timeout > 10 and rt.context.api_key == "a" else END

    g = StateGraph(S, context_schema=Context)
    g.add_node("a", lambda s: {"path": ["a"]})
    g.add_node("b", lambda s: {"path": ["b"]})
    g.add_conditional_edges(START, start_router, ["a", "b"])
    g.add_conditional_edges("a", after_a, ["b", END])
    app = g.compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "rt"}}
    assert app.invoke({"path": []}, cfg, context=Context("a"))["path"] == ["a", "b"]
    assert app.invoke({"path": []}, cfg, context=Context("a", timeout=1))["path"] == ["a", "b", "a"]
    assert app.invoke({"path": []}, cfg, context={"api_key": "z"})["path"] == ["a", "b", "a", "b"]

    def no_context_router(state: S, runtime: Runtime[Context]) -> str:
        return END if runtime.context is None else "b"

    g2 = StateGraph(S, context_schema=Context)
    g2.add_node("a", lambda s: {"path": ["a"]})
    g2.add_node("b", lambda s: {"path": ["b"]})
    g2.add_edge(START, "a")
    g2.add_conditional_edges("a", no_context_router, ["b", END])
    app2 = g2.compile(checkpointer=checkpointer)
    app2.invoke({"path": []}, cfg, context=Context("x"), interrupt_after=["a"])
    assert app2.get_state(cfg).next == ("b",)
    app2.update_state(cfg, {"path": ["edited"]}, as_node="a")  # routes again from a, without a context
    assert app2.get_state(cfg).next == ()


def test_the_runtime_docstring_example_with_langgraphs_store(checkpointer: str) -> None:
    """LangGraph's ``Runtime`` docstring example, with its ``InMemoryStore`` given to ``compile(store=...)``."""
    memory = pytest.importorskip("langgraph.store.memory")

    @dataclass
    class Ctx:
        user_id: str

    class GState(TypedDict, total=False):
        response: str

    store = memory.InMemoryStore()
    store.put(("users",), "user_123", {"name": "Alice"})

    def personalized_greeting(state: GState, runtime: Runtime[Ctx]) -> GState:
        name = "unknown_user"
        if runtime.store and (item := runtime.store.get(("users",), runtime.context.user_id)):
            name = item.value["name"]
        return {"response": f"Hello {name}! Nice to see you again."}

    graph = (
        StateGraph(state_schema=GState, context_schema=Ctx)
        .add_node("personalized_greeting", personalized_greeting)
        .set_entry_point("personalized_greeting")
        .set_finish_point("personalized_greeting")
        .compile(checkpointer=checkpointer, store=store)
    )
    assert graph.invoke({}, context=Ctx(user_id="user_123")) == {"response": "Hello Alice! Nice to see you again."}
    assert graph.invoke({}, context=Ctx(user_id="nobody")) == {"response": "Hello unknown_user! Nice to see you again."}
