"""ToolNode, ported from LangGraph's prebuilt tests (``libs/prebuilt/tests/test_tool_node.py``) and Agentflow's
ToolNode scenario (its inventory's acceptance scenario 10, ``tests/graph/test_tool_node.py``) to aether_nb's names.

Messages are OpenAI-style dicts (``assistant_message(..., tool_calls=[tool_call(...)])``); injected parameters
(``state``, ``config``, ``tool_call_id``, ``Annotated[..., InjectedState]``) are filled by the ToolNode and hidden
from the model's schema; tools may return a ``ToolResult`` (Agentflow) or a ``Command`` (LangGraph).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

import aether_nb as ag
from aether_nb.flow import (
    END,
    START,
    AgentState,
    Command,
    InjectedState,
    InjectedToolCallId,
    MessagesState,
    StateGraph,
    ToolNode,
    ToolResult,
    assistant_message,
    get_stream_writer,
    interrupt,
    tool_call,
    tool_message,
    tools_condition,
)
from aether_nb.runtime.session import Session

pytestmark = pytest.mark.anyio


def model_then_done(calls: list[dict[str, Any]]) -> Any:
    """A fake model: asks for ``calls`` once, then answers "done"."""
    turns: list[int] = []

    def model(state: Any) -> Any:
        turns.append(1)
        if len(turns) > 1:
            return {"messages": [assistant_message("done")]}
        return {"messages": [assistant_message(None, tool_calls=calls)]}

    return model


def agent(tools: list[Any], calls: list[dict[str, Any]], schema: Any = MessagesState, **node_kw: Any) -> Any:
    g = StateGraph(schema)
    g.add_node("model", model_then_done(calls))
    g.add_node("tools", ToolNode(tools, **node_kw))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", tools_condition)
    g.add_edge("tools", "model")
    return g.compile()


def tool_results(res: Any) -> list[dict[str, Any]]:
    return [m for m in res["messages"] if m["role"] == "tool"]


async def test_tool_node_runs_calls_in_order_with_errors_as_messages(session: Session) -> None:
    """test_tool_node.py::test_tool_node, ``_incorrect_tool_name``; Agentflow scenario 10: with
    ``handle_tool_errors=True``, failing, unknown and malformed calls become error tool messages; the run goes on
    (LangGraph's default raises a tool's own exception: tests/flow/test_parity_round2.py)."""

    def tool1(some_val: int, some_other_val: str) -> str:
        """Tool 1 docstring."""
        if some_val == 0:
            raise ValueError("Test error")
        return f"{some_val} - {some_other_val}"

    async def tool2(some_val: int, some_other_val: str) -> str:
        """Tool 2 docstring."""
        return f"tool2: {some_val} - {some_other_val}"

    calls = [
        tool_call("tool1", {"some_val": 1, "some_other_val": "foo"}, id="c1"),
        tool_call("tool2", {"some_val": 2, "some_other_val": "bar"}, id="c2"),
        tool_call("tool1", {"some_val": 0, "some_other_val": "x"}, id="c3"),
        tool_call("tool3", {"some_val": 1}, id="c4"),
        tool_call("tool2", "{not json", id="c5"),
    ]
    res = await agent([tool1, tool2], calls, handle_tool_errors=True).ainvoke({"messages": [("user", "hi")]})
    results = tool_results(res)
    assert [m["tool_call_id"] for m in results] == ["c1", "c2", "c3", "c4", "c5"]
    assert [m["content"] for m in results[:2]] == ["1 - foo", "tool2: 2 - bar"]
    assert results[2]["is_error"] and "ValueError: Test error" in results[2]["content"]
    assert results[3]["is_error"] and "Tool 'tool3' not found" in results[3]["content"]
    assert results[4]["is_error"] and "Invalid arguments for tool2" in results[4]["content"]
    assert res["messages"][-1]["content"] == "done"


@pytest.mark.parametrize("schema_kind", ["typeddict", "pydantic"])
async def test_tool_node_inject_state(session: Session, schema_kind: str) -> None:
    """test_tool_node.py::test_tool_node_inject_state — the whole state, or one key of it."""

    class TState(AgentState):
        foo: str

    class PState(BaseModel):
        messages: Annotated[list[Any], ag.flow.add_messages] = []
        foo: str = ""

    schema = TState if schema_kind == "typeddict" else PState

    def tool1(some_val: int, state: Annotated[Any, InjectedState]) -> str:
        """Tool 1 docstring."""
        return state["foo"] if isinstance(state, dict) else state.foo

    def tool3(some_val: int, foo: Annotated[str, InjectedState("foo")]) -> str:
        """Tool 3 docstring."""
        return foo

    def tool4(some_val: int, state: dict) -> str:  # injected by name, as Agentflow does
        """Tool 4 docstring."""
        return state["foo"] if isinstance(state, dict) else state.foo

    calls = [tool_call(n, {"some_val": 1}, id=f"c{i}") for i, n in enumerate(("tool1", "tool3", "tool4"))]
    res = await agent([tool1, tool3, tool4], calls, schema).ainvoke({"messages": [("user", "hi")], "foo": "bar"})
    assert [m["content"] for m in tool_results(res)] == ["bar", "bar", "bar"]
    for schema_entry in ToolNode([tool1, tool3, tool4]).schemas():
        params = schema_entry["function"]["parameters"]
        assert list(params["properties"]) == ["some_val"] and params["required"] == ["some_val"]


async def test_tool_call_id_and_config_are_injected_and_hidden(session: Session) -> None:
    """Agentflow's injected ``tool_call_id``/``config``; LangGraph's ``InjectedToolCallId``."""
    seen: list[Any] = []

    def lookup(city: str, tool_call_id: str, config: dict) -> str:
        """Find a city."""
        seen.append((tool_call_id, config["thread_id"]))
        return city.upper()

    def other(x: int, call: Annotated[str, InjectedToolCallId]) -> str:
        """Other."""
        seen.append(call)
        return str(x)

    calls = [tool_call("lookup", {"city": "paris"}, id="call-1"), tool_call("other", {"x": 3}, id="call-2")]
    res = await agent([lookup, other], calls).ainvoke({"messages": [("user", "hi")]}, {"thread_id": "t9"})
    assert [m["content"] for m in tool_results(res)] == ["PARIS", "3"]
    assert seen == [("call-1", "t9"), "call-2"]
    schemas = {s["function"]["name"]: s["function"]["parameters"] for s in ToolNode([lookup, other]).schemas()}
    assert list(schemas["lookup"]["properties"]) == ["city"]
    assert list(schemas["other"]["properties"]) == ["x"]


async def test_tool_result_updates_state(session: Session) -> None:
    """Agentflow's ``ToolResult(message, state={...})``: the call is answered and the state updated."""

    class S(AgentState):
        count: int

    def bump(n: int) -> ToolResult:
        """Bump the counter."""
        return ToolResult(f"bumped {n}", state={"count": n})

    res = await agent([bump], [tool_call("bump", {"n": 3}, id="c1")], S).ainvoke(
        {"messages": [("user", "hi")], "count": 0}
    )
    assert res["count"] == 3
    assert tool_results(res)[0]["content"] == "bumped 3" and tool_results(res)[0]["tool_call_id"] == "c1"


async def test_tool_node_command(session: Session) -> None:
    """test_tool_node.py::test_tool_node_command — a tool returning Command(update=..., goto=...)."""

    class S(AgentState):
        transferred: str

    def transfer_to_bob(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
        """Transfer to Bob."""
        return Command(
            update={"messages": [tool_message("Transferred to Bob", tool_call_id)], "transferred": "bob"}, goto="bob"
        )

    g = StateGraph(S)
    g.add_node(
        "model",
        lambda s: {"messages": [assistant_message(None, tool_calls=[tool_call("transfer_to_bob", {}, id="t1")])]},
    )
    g.add_node("tools", ToolNode([transfer_to_bob]))
    g.add_node("bob", lambda s: {"messages": [assistant_message("bob here")]})
    g.add_edge(START, "model")
    g.add_edge("model", "tools")
    res = await g.compile().ainvoke({"messages": [("user", "hi")]})
    assert res["transferred"] == "bob"
    assert [m["content"] for m in res["messages"][-2:]] == ["Transferred to Bob", "bob here"]


async def test_tool_node_parent_command(session: Session) -> None:
    """test_tool_node.py (``graph=Command.PARENT``): a tool in a subgraph hands off to the parent's node."""

    def handoff(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
        """Hand off."""
        return Command(
            graph=Command.PARENT, goto="bob", update={"messages": [tool_message("handing off", tool_call_id)]}
        )

    inner = StateGraph(MessagesState)
    inner.add_node(
        "model", lambda s: {"messages": [assistant_message(None, tool_calls=[tool_call("handoff", {}, id="h1")])]}
    )
    inner.add_node("tools", ToolNode([handoff]))
    inner.add_edge(START, "model")
    inner.add_edge("model", "tools")
    outer = StateGraph(MessagesState)
    outer.add_node("alice", inner.compile(), destinations=("bob",))
    outer.add_node("bob", lambda s: {"messages": [assistant_message("bob")]})
    outer.add_edge(START, "alice")
    res = await outer.compile().ainvoke({"messages": [("user", "hi")]})
    assert [m["content"] for m in res["messages"]] == ["hi", "handing off", "bob"]


async def test_interrupt_in_a_tool_pauses_and_finished_siblings_do_not_rerun(checkpointer: str) -> None:
    """test_tool_node.py::test_tool_node_node_interrupt; Agentflow's ledger: a sibling tool that finished is not
    called again when the node re-runs after the interrupt."""
    effects: list[str] = []

    def charge(amount: int) -> str:
        """Charge."""
        effects.append(f"charge {amount}")
        return "charged"

    def confirm(what: str) -> str:
        """Ask a human."""
        effects.append("asked")
        return f"confirmed {what}: {interrupt(f'confirm {what}?')}"

    calls = [tool_call("charge", {"amount": 5}, id="c1"), tool_call("confirm", {"what": "order"}, id="c2")]
    g = StateGraph(MessagesState)
    g.add_node("model", model_then_done(calls))
    g.add_node("tools", ToolNode([charge, confirm]))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", tools_condition)
    g.add_edge("tools", "model")
    app = g.compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "t"}}
    paused = await app.ainvoke({"messages": [("user", "buy")]}, cfg)
    assert [i.value for i in paused["__interrupt__"]] == ["confirm order?"]
    done = await app.ainvoke(Command(resume="yes"), cfg)
    assert [m["content"] for m in tool_results(done)] == ["charged", "confirmed order: yes"]
    assert effects == ["charge 5", "asked", "asked"]


async def test_tool_node_stream_writer(session: Session) -> None:
    """test_tool_node.py::test_tool_node_stream_writer — a tool streams custom chunks."""

    def progress(n: int) -> str:
        """Report progress."""
        write = get_stream_writer()
        for i in range(n):
            write({"progress": i})
        return "ok"

    app = agent([progress], [tool_call("progress", {"n": 2}, id="c1")])
    chunks = [c async for c in app.astream({"messages": [("user", "go")]}, stream_mode="custom")]
    assert chunks == [{"progress": 0}, {"progress": 1}]


def test_tool_node_messages_key(session: Session) -> None:
    """test_tool_node.py::test_tool_node_messages_key."""

    class S(TypedDict):
        subgraph_messages: Annotated[list[Any], ag.flow.add_messages]

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    g = StateGraph(S)
    g.add_node(
        "model",
        lambda s: {
            "subgraph_messages": [assistant_message(None, tool_calls=[tool_call("add", {"a": 1, "b": 2}, id="c")])]
        },
    )
    g.add_node("tools", ToolNode([add], messages_key="subgraph_messages"))
    g.add_edge(START, "model")
    g.add_edge("model", "tools")
    res = g.compile().invoke({"subgraph_messages": [("user", "hi")]})
    assert res["subgraph_messages"][-1]["content"] == "3"


def test_tools_condition_routes_on_tool_calls() -> None:
    """LangGraph's ``tools_condition``."""
    assert tools_condition({"messages": [assistant_message(None, tool_calls=[tool_call("x", {})])]}) == "tools"
    assert tools_condition({"messages": [assistant_message("hi")]}) == END


def test_tool_node_rejects_non_tools() -> None:
    """Agentflow's test_tool_node_invalid_function."""
    with pytest.raises(ag.UsageError, match="takes tools"):
        ToolNode(["not_a_function"])


def test_tool_node_with_a_reducer_state_counts_results(session: Session) -> None:
    """A tool result that updates a reducer key merges with the reducer (Agentflow's parallel-tool state merge)."""

    class S(AgentState):
        hits: Annotated[list[str], operator.add]

    def hit(name: str) -> ToolResult:
        """Hit."""
        return ToolResult("ok", state={"hits": [name]})

    calls = [tool_call("hit", {"name": "a"}, id="1"), tool_call("hit", {"name": "b"}, id="2")]
    res = agent([hit], calls, S).invoke({"messages": [("user", "go")], "hits": []})
    assert res["hits"] == ["a", "b"]
