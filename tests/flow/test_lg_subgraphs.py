"""Subgraphs, ported from LangGraph's tests (``test_pregel_async.py``, ``test_subgraph_persistence_async.py``,
``test_parent_command_async.py``) to aether_nb's names: a compiled graph as a node, a graph invoked inside a node,
interrupts inside subgraphs, ``Command.PARENT``, stateful subgraphs (``checkpointer=True``), namespaced streaming.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.flow import (
    END,
    START,
    Command,
    Interrupt,
    MessagesState,
    StateGraph,
    interrupt,
)
from aether_nb.runtime.session import Session
from tests.flow.conftest import AnyStr

pytestmark = pytest.mark.anyio


async def test_nested_graph(session: Session) -> None:
    """test_pregel_async.py::test_nested_graph — the subgraph's update holds the parent's keys only."""

    class InnerState(TypedDict):
        my_key: str
        my_other_key: str

    def up(state: InnerState) -> Any:
        return {"my_key": state["my_key"] + " there", "my_other_key": state["my_key"]}

    inner = StateGraph(InnerState)
    inner.add_node("up", up)
    inner.set_entry_point("up")
    inner.set_finish_point("up")

    class State(TypedDict):
        my_key: str
        never_called: Any

    async def side(state: State) -> Any:
        return {"my_key": state["my_key"] + " and back again"}

    graph = StateGraph(State)
    graph.add_node("inner", inner.compile())
    graph.add_node("side", side)
    graph.set_entry_point("inner")
    graph.add_edge("inner", "side")
    graph.set_finish_point("side")
    app = graph.compile()
    marker = {"not": "called"}
    assert await app.ainvoke({"my_key": "my value", "never_called": marker}) == {
        "my_key": "my value there and back again",
        "never_called": marker,
    }
    assert [c async for c in app.astream({"my_key": "my value", "never_called": marker})] == [
        {"inner": {"my_key": "my value there"}},
        {"side": {"my_key": "my value there and back again"}},
    ]
    assert [c async for c in app.astream({"my_key": "my value", "never_called": marker}, stream_mode="values")] == [
        {"my_key": "my value", "never_called": marker},
        {"my_key": "my value there", "never_called": marker},
        {"my_key": "my value there and back again", "never_called": marker},
    ]


async def test_subgraph_checkpoint_true(checkpointer: str) -> None:
    """test_pregel_async.py::test_subgraph_checkpoint_true — a stateful subgraph keeps its state between the
    parent's calls; ``subgraphs=True`` streams its chunks under its namespace."""

    class InnerState(TypedDict):
        my_key: Annotated[str, operator.add]
        my_other_key: str

    inner = StateGraph(InnerState)
    inner.add_node("inner_1", lambda s: {"my_key": " got here", "my_other_key": s["my_key"]})
    inner.add_node("inner_2", lambda s: {"my_key": " and there"})
    inner.add_edge("inner_1", "inner_2")
    inner.set_entry_point("inner_1")
    inner.set_finish_point("inner_2")

    class State(TypedDict):
        my_key: str

    graph = StateGraph(State)
    graph.add_node("inner", inner.compile(checkpointer=True))
    graph.add_edge(START, "inner")
    graph.add_conditional_edges("inner", lambda s: "inner" if s["my_key"].count("there") < 2 else END)
    app = graph.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "2"}}
    assert [c async for c in app.astream({"my_key": ""}, config, subgraphs=True)] == [
        (("inner",), {"inner_1": {"my_key": " got here", "my_other_key": ""}}),
        (("inner",), {"inner_2": {"my_key": " and there"}}),
        ((), {"inner": {"my_key": " got here and there"}}),
        (("inner",), {"inner_1": {"my_key": " got here", "my_other_key": " got here and there got here and there"}}),
        (("inner",), {"inner_2": {"my_key": " and there"}}),
        ((), {"inner": {"my_key": " got here and there got here and there got here and there"}}),
    ]


async def test_interrupt_subgraph(checkpointer: str) -> None:
    """test_pregel_async.py::test_interrupt_subgraph."""

    class State(TypedDict):
        baz: str

    def bar(state: State) -> Any:
        return {"baz": interrupt("Please provide baz value:")}

    child = StateGraph(State)
    child.add_node(bar)
    child.add_edge(START, "bar")
    builder = StateGraph(State)
    builder.add_node("foo", lambda s: {"baz": "foo"})
    builder.add_node("bar", child.compile())
    builder.add_edge(START, "foo")
    builder.add_edge("foo", "bar")
    graph = builder.compile(checkpointer=checkpointer)
    thread1 = {"configurable": {"thread_id": "1"}}
    first = await graph.ainvoke({"baz": ""}, thread1)
    assert first == {"baz": "foo", "__interrupt__": [Interrupt(value="Please provide baz value:", id=AnyStr())]}
    assert await graph.ainvoke(Command(resume="bar"), thread1) == {"baz": "bar"}


async def test_double_interrupt_subgraph(checkpointer: str) -> None:
    """test_pregel_async.py::test_double_interrupt_subgraph — the subgraph alone, then invoked inside a node."""

    class AgentState(TypedDict):
        input: str

    def node_1(state: AgentState) -> Any:
        return {"input": interrupt("interrupt node 1")}

    def node_2(state: AgentState) -> Any:
        return {"input": interrupt("interrupt node 2")}

    sub_builder = (
        StateGraph(AgentState)
        .add_node("node_1", node_1)
        .add_node("node_2", node_2)
        .add_edge(START, "node_1")
        .add_edge("node_1", "node_2")
        .add_edge("node_2", END)
    )
    subgraph = sub_builder.compile(checkpointer=checkpointer)
    thread = {"configurable": {"thread_id": "sub"}}
    assert [c async for c in subgraph.astream({"input": "test"}, thread)] == [
        {"__interrupt__": (Interrupt(value="interrupt node 1", id=AnyStr()),)}
    ]
    assert [c async for c in subgraph.astream(Command(resume="123"), thread)] == [
        {"node_1": {"input": "123"}},
        {"__interrupt__": (Interrupt(value="interrupt node 2", id=AnyStr()),)},
    ]
    assert [c async for c in subgraph.astream(Command(resume="123"), thread)] == [{"node_2": {"input": "123"}}]

    inner = sub_builder.compile()

    def invoke_sub_agent(state: AgentState) -> Any:
        return inner.invoke(state)

    parent = (
        StateGraph(AgentState)
        .add_node("invoke_sub_agent", invoke_sub_agent)
        .add_edge(START, "invoke_sub_agent")
        .add_edge("invoke_sub_agent", END)
        .compile(checkpointer=checkpointer)
    )
    thread = {"configurable": {"thread_id": "parent"}}
    assert [c async for c in parent.astream({"input": "test"}, thread)] == [
        {"__interrupt__": (Interrupt(value="interrupt node 1", id=AnyStr()),)}
    ]
    assert [c async for c in parent.astream(Command(resume=True), thread)] == [
        {"__interrupt__": (Interrupt(value="interrupt node 2", id=AnyStr()),)}
    ]
    assert [c async for c in parent.astream(Command(resume=True), thread)] == [{"invoke_sub_agent": {"input": True}}]


async def test_multiple_subgraphs(checkpointer: str) -> None:
    """test_pregel_async.py::test_multiple_subgraphs — one node calling subgraphs several times."""

    class State(TypedDict):
        a: int
        b: int

    class Output(TypedDict):
        result: int

    async def add(state: State) -> Any:
        return {"result": state["a"] + state["b"]}

    async def multiply(state: State) -> Any:
        return {"result": state["a"] * state["b"]}

    add_subgraph = StateGraph(State, output_schema=Output).add_node(add).add_edge(START, "add").compile()
    multiply_subgraph = StateGraph(State, output_schema=Output).add_node(multiply).add_edge(START, "multiply").compile()

    async def call_same_subgraph(state: State) -> Any:
        result = await add_subgraph.ainvoke(state)
        return await add_subgraph.ainvoke({"a": result["result"], "b": 10})

    parent = (
        StateGraph(State, output_schema=Output)
        .add_node(call_same_subgraph)
        .add_edge(START, "call_same_subgraph")
        .compile(checkpointer=checkpointer)
    )
    assert await parent.ainvoke({"a": 2, "b": 3}, {"configurable": {"thread_id": "1"}}) == {"result": 15}

    class Output2(TypedDict):
        add_result: int
        multiply_result: int

    async def call_multiple_subgraphs(state: State) -> Any:
        add_result = await add_subgraph.ainvoke(state)
        multiply_result = await multiply_subgraph.ainvoke(state)
        return {"add_result": add_result["result"], "multiply_result": multiply_result["result"]}

    parent2 = (
        StateGraph(State, output_schema=Output2)
        .add_node(call_multiple_subgraphs)
        .add_edge(START, "call_multiple_subgraphs")
        .compile(checkpointer=checkpointer)
    )
    assert await parent2.ainvoke({"a": 2, "b": 3}, {"configurable": {"thread_id": "2"}}) == {
        "add_result": 5,
        "multiply_result": 6,
    }


@pytest.mark.parametrize("subgraph_persist", [False, True])
async def test_parent_command_goto(checkpointer: str, subgraph_persist: bool) -> None:
    """test_pregel_async.py::test_parent_command_goto — Command(graph=Command.PARENT) from a subgraph's node."""

    class State(TypedDict):
        dialog_state: Annotated[list[str], operator.add]

    async def node_a_child(state: State) -> Any:
        return {"dialog_state": ["a_child_state"]}

    async def node_b_child(state: State) -> Any:
        return Command(graph=Command.PARENT, goto="node_b_parent", update={"dialog_state": ["b_child_state"]})

    sub = StateGraph(State)
    sub.add_node(node_a_child)
    sub.add_node(node_b_child)
    sub.add_edge(START, "node_a_child")
    sub.add_edge("node_a_child", "node_b_child")
    sub_graph = sub.compile(checkpointer=subgraph_persist)

    async def node_b_parent(state: State) -> Any:
        return {"dialog_state": ["node_b_parent"]}

    main = StateGraph(State)
    main.add_node(node_b_parent)
    main.add_edge(START, "subgraph_node")
    main.add_node("subgraph_node", sub_graph, destinations=("node_b_parent",))
    main_graph = main.compile(checkpointer, name="parent")
    assert await main_graph.ainvoke(
        input={"dialog_state": ["init_state"]}, config={"configurable": {"thread_id": 1}}
    ) == {"dialog_state": ["init_state", "b_child_state", "node_b_parent"]}


async def test_parent_command_from_nested_subgraph(session: Session) -> None:
    """test_parent_command_async.py::test_parent_command_from_nested_subgraph — two levels deep."""

    class State(TypedDict):
        log: Annotated[list[str], operator.add]

    def jump(state: State) -> Any:
        return Command(graph=Command.PARENT, goto="after", update={"log": ["jumped"]})

    grandchild = StateGraph(State).add_node("jump", jump).add_edge(START, "jump").compile()
    child = (
        StateGraph(State)
        .add_node("grandchild", grandchild, destinations=("after",))
        .add_node("after", lambda s: {"log": ["child after"]})
        .add_edge(START, "grandchild")
        .compile()
    )
    parent = (
        StateGraph(State)
        .add_node("child", child)
        .add_node("done", lambda s: {"log": ["parent done"]})
        .add_edge(START, "child")
        .add_edge("child", "done")
        .compile()
    )
    assert await parent.ainvoke({"log": []}) == {"log": ["jumped", "child after", "parent done"]}


# -- test_subgraph_persistence_async.py ------------------------------------------------------------------------
class ParentState(TypedDict):
    result: str


def _echo_graph(prefix: str, *, ask: bool, **compile_kw: Any) -> Any:
    def process(state: MessagesState) -> Any:
        if ask:
            interrupt("continue?")
        return {"messages": [("ai", f"{prefix}: {state['messages'][-1]['content']}")]}

    b = StateGraph(MessagesState).add_node("process", process).add_edge(START, "process")
    if ask:
        b.add_node("respond", lambda s: {"messages": [("ai", "Done")]}).add_edge("process", "respond")
    return b.compile(**compile_kw)


async def test_stateless_interrupt_resume(checkpointer: str) -> None:
    """test_subgraph_persistence_async.py::test_stateless_interrupt_resume_async."""
    inner = _echo_graph("Processing", ask=True)

    async def call_inner(state: ParentState) -> Any:
        resp = await inner.ainvoke({"messages": [("user", "apples")]})
        return {"result": resp["messages"][-1]["content"]}

    parent = StateGraph(ParentState).add_node("call_inner", call_inner).add_edge(START, "call_inner")
    app = parent.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    assert await app.ainvoke({"result": ""}, config) == {
        "result": "",
        "__interrupt__": [Interrupt(value="continue?", id=AnyStr())],
    }
    assert await app.ainvoke(Command(resume=True), config) == {"result": "Done"}


@pytest.mark.parametrize("ask", [False, True])
@pytest.mark.parametrize("inner_checkpointer", [None, False])
async def test_stateless_state_resets(checkpointer: str, ask: bool, inner_checkpointer: Any) -> None:
    """test_subgraph_persistence_async.py::test_stateless_state_resets_async, ``_with_interrupt_async`` and
    ``test_checkpointer_false_no_persistence_async``: each call starts fresh."""
    inner = _echo_graph("Processing", ask=ask, checkpointer=inner_checkpointer)
    seen: list[list[str]] = []
    topics = iter(["apples", "bananas"])

    async def call_inner(state: ParentState) -> Any:
        resp = await inner.ainvoke({"messages": [("user", f"tell me about {next(topics)}")]})
        seen.append([m["content"] for m in resp["messages"]])
        return {"result": resp["messages"][-1]["content"]}

    app = (
        StateGraph(ParentState)
        .add_node("call_inner", call_inner)
        .add_edge(START, "call_inner")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "t"}}
    for _ in range(2):
        result = await app.ainvoke({"result": ""}, config)
        if ask:
            assert result["__interrupt__"] == [Interrupt(value="continue?", id=AnyStr())]
            result = await app.ainvoke(Command(resume=True), config)
        assert result["result"] == ("Done" if ask else seen[-1][-1])
    tail = ["Done"] if ask else []
    assert seen == [
        ["tell me about apples", "Processing: tell me about apples", *tail],
        ["tell me about bananas", "Processing: tell me about bananas", *tail],
    ]


async def test_stateful_state_accumulates(checkpointer: str) -> None:
    """test_subgraph_persistence_async.py::test_stateful_state_accumulates_async — ``checkpointer=True``."""
    inner = _echo_graph("Processing", ask=False, checkpointer=True)
    seen: list[list[str]] = []
    topics = iter(["apples", "bananas"])

    async def call_inner(state: ParentState) -> Any:
        resp = await inner.ainvoke({"messages": [("user", f"tell me about {next(topics)}")]})
        seen.append([m["content"] for m in resp["messages"]])
        return {"result": resp["messages"][-1]["content"]}

    app = (
        StateGraph(ParentState)
        .add_node("call_inner", call_inner)
        .add_edge(START, "call_inner")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "t"}}
    await app.ainvoke({"result": ""}, config)
    await app.ainvoke({"result": ""}, config)
    assert seen[1] == [
        "tell me about apples",
        "Processing: tell me about apples",
        "tell me about bananas",
        "Processing: tell me about bananas",
    ]


async def test_get_state_with_subgraphs_returns_subgraph_state(checkpointer: str) -> None:
    """test_time_travel_async.py::test_get_state_with_subgraphs_returns_subgraph_state."""

    class State(TypedDict):
        value: Annotated[list[str], operator.add]

    def ask_human(state: State) -> Any:
        return {"value": [f"human:{interrupt('Provide input:')}"]}

    sub = (
        StateGraph(State)
        .add_node("step_a", lambda s: {"value": ["sub_a"]})
        .add_node("ask_human", ask_human)
        .add_edge(START, "step_a")
        .add_edge("step_a", "ask_human")
        .compile(checkpointer=True)
    )
    graph = StateGraph(State).add_node("sub", sub).add_edge(START, "sub").compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    await graph.ainvoke({"value": []}, config)
    state = await graph.aget_state(config, subgraphs=True)
    assert state.next == ("sub",)
    (task,) = state.tasks
    assert task.interrupts == (Interrupt(value="Provide input:", id=AnyStr()),)
    assert task.state.values == {"value": ["sub_a"]}
    assert task.state.next == ("ask_human",)
    plain = await graph.aget_state(config)
    assert plain.tasks[0].state == {"configurable": {"thread_id": "1", "checkpoint_ns": "sub"}}
    sub_state = await graph.aget_state(plain.tasks[0].state)
    assert sub_state.values == {"value": ["sub_a"]}


async def test_nested_graph_interrupts_parallel(checkpointer: str) -> None:
    """test_pregel_async.py::test_nested_graph_interrupts_parallel — a subgraph's own interrupt_before pauses the
    parent; the parallel sibling's write shows, it does not run again, and the resuming stream re-emits its update
    marked cached."""
    import asyncio

    class InnerState(TypedDict):
        my_key: Annotated[str, operator.add]
        my_other_key: str

    outer_done = asyncio.Event()

    async def inner_1(state: InnerState) -> Any:
        await asyncio.wait_for(outer_done.wait(), 10)  # LangGraph's test sleeps so outer_1 finishes first
        return {"my_key": "got here", "my_other_key": state["my_key"]}

    async def inner_2(state: InnerState) -> Any:
        return {"my_key": " and there", "my_other_key": state["my_key"]}

    inner = StateGraph(InnerState)
    inner.add_node("inner_1", inner_1)
    inner.add_node("inner_2", inner_2)
    inner.add_edge("inner_1", "inner_2")
    inner.set_entry_point("inner_1")
    inner.set_finish_point("inner_2")

    class State(TypedDict):
        my_key: Annotated[str, operator.add]

    calls: list[str] = []

    async def outer_1(state: State) -> Any:
        calls.append("outer_1")
        outer_done.set()
        return {"my_key": " and parallel"}

    async def outer_2(state: State) -> Any:
        return {"my_key": " and back again"}

    graph = StateGraph(State)
    graph.add_node("inner", inner.compile(interrupt_before=["inner_2"]))
    graph.add_node("outer_1", outer_1)
    graph.add_node("outer_2", outer_2)
    graph.add_edge(START, "inner")
    graph.add_edge(START, "outer_1")
    graph.add_edge(["inner", "outer_1"], "outer_2")
    graph.set_finish_point("outer_2")
    app = graph.compile(checkpointer=checkpointer)

    config = {"configurable": {"thread_id": "1"}}
    assert await app.ainvoke({"my_key": ""}, config) == {"my_key": " and parallel"}
    assert await app.ainvoke(None, config) == {"my_key": "got here and there and parallel and back again"}
    assert calls == ["outer_1"]

    outer_done.clear()
    config = {"configurable": {"thread_id": "2"}}
    chunks = [c async for c in app.astream({"my_key": ""}, config, subgraphs=True)]
    assert chunks == [
        ((), {"outer_1": {"my_key": " and parallel"}}),
        ((AnyStr("inner:"),), {"inner_1": {"my_key": "got here", "my_other_key": ""}}),
        ((), {"__interrupt__": ()}),
    ]
    resumed = [c async for c in app.astream(None, config)]
    assert resumed == [
        {"outer_1": {"my_key": " and parallel"}, "__metadata__": {"cached": True}},  # its kept result, not a run
        {"inner": {"my_key": "got here and there"}},
        {"outer_2": {"my_key": " and back again"}},
    ]

    outer_done.clear()
    config = {"configurable": {"thread_id": "3"}}
    assert [c async for c in app.astream({"my_key": ""}, config, stream_mode="values")] == [
        {"my_key": ""},
        {"my_key": " and parallel"},
    ]
    assert [c async for c in app.astream(None, config, stream_mode="values")] == [
        {"my_key": ""},
        {"my_key": "got here and there and parallel"},
        {"my_key": "got here and there and parallel and back again"},
    ]


async def test_doubly_nested_graph_interrupts(checkpointer: str) -> None:
    """test_pregel_async.py::test_doubly_nested_graph_interrupts — a grandchild's breakpoint pauses the root."""

    class State(TypedDict):
        my_key: str

    async def grandchild_1(state: State) -> Any:
        return {"my_key": state["my_key"] + " here"}

    async def grandchild_2(state: State) -> Any:
        return {"my_key": state["my_key"] + " and there"}

    grandchild = StateGraph(State)
    grandchild.add_node("grandchild_1", grandchild_1)
    grandchild.add_node("grandchild_2", grandchild_2)
    grandchild.add_edge("grandchild_1", "grandchild_2")
    grandchild.set_entry_point("grandchild_1")
    grandchild.set_finish_point("grandchild_2")
    child = StateGraph(State)
    child.add_node("child_1", grandchild.compile(interrupt_before=["grandchild_2"]))
    child.set_entry_point("child_1")
    child.set_finish_point("child_1")

    async def parent_1(state: State) -> Any:
        return {"my_key": "hi " + state["my_key"]}

    async def parent_2(state: State) -> Any:
        return {"my_key": state["my_key"] + " and back again"}

    graph = StateGraph(State)
    graph.add_node("parent_1", parent_1)
    graph.add_node("child", child.compile())
    graph.add_node("parent_2", parent_2)
    graph.set_entry_point("parent_1")
    graph.add_edge("parent_1", "child")
    graph.add_edge("child", "parent_2")
    graph.set_finish_point("parent_2")
    app = graph.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    assert await app.ainvoke({"my_key": "my value"}, config) == {"my_key": "hi my value"}
    assert await app.ainvoke(None, config) == {"my_key": "hi my value here and there and back again"}
    config = {"configurable": {"thread_id": "2"}}
    assert [c async for c in app.astream({"my_key": "my value"}, config)] == [
        {"parent_1": {"my_key": "hi my value"}},
        {"__interrupt__": ()},
    ]
    assert [c async for c in app.astream(None, config)] == [
        {"child": {"my_key": "hi my value here and there"}},
        {"parent_2": {"my_key": "hi my value here and there and back again"}},
    ]
    config = {"configurable": {"thread_id": "3"}}
    assert [c async for c in app.astream({"my_key": "my value"}, config, stream_mode="values")] == [
        {"my_key": "my value"},
        {"my_key": "hi my value"},
    ]
    assert [c async for c in app.astream(None, config, stream_mode="values")] == [
        {"my_key": "hi my value"},
        {"my_key": "hi my value here and there"},
        {"my_key": "hi my value here and there and back again"},
    ]


@pytest.mark.filterwarnings("ignore:.*'bar', which ParentState does not declare:UserWarning")  # returned by the node
async def test_interrupt_subgraph_reenter_checkpointer_true(checkpointer: str) -> None:
    """test_pregel_async.py::test_interrupt_subgraph_reenter_checkpointer_true — a stateful subgraph invoked in a
    node, entered twice per turn. The results and the subgraph's kept state are LangGraph's; the node awaiting the
    subgraph is not re-run on resume (the subgraph waits inside it), so ``call_subgraph`` is counted once per call
    where LangGraph counts it twice (see the README's table)."""

    class SubgraphState(TypedDict):
        foo: str
        bar: str

    class ParentState(TypedDict):
        foo: str
        counter: int

    called: list[str] = []
    bar_values: list[Any] = []

    async def subnode_1(state: SubgraphState) -> Any:
        called.append("subnode_1")
        bar_values.append(state.get("bar"))
        return {"foo": "subgraph_1"}

    async def subnode_2(state: SubgraphState) -> Any:
        called.append("subnode_2")
        value = interrupt("Provide value") + "baz"
        return {"foo": "subgraph_2", "bar": value}

    subgraph = (
        StateGraph(SubgraphState)
        .add_node(subnode_1)
        .add_node(subnode_2)
        .add_edge(START, "subnode_1")
        .add_edge("subnode_1", "subnode_2")
        .compile(checkpointer=True)
    )

    async def call_subgraph(state: ParentState) -> Any:
        called.append("call_subgraph")
        return await subgraph.ainvoke(state)

    async def node(state: ParentState) -> Any:
        called.append("parent")
        if state["counter"] < 1:
            return Command(goto="call_subgraph", update={"counter": state["counter"] + 1})
        return {"foo": state["foo"] + "|" + "parent"}

    parent = (
        StateGraph(ParentState)
        .add_node(call_subgraph)
        .add_node(node)
        .add_edge(START, "call_subgraph")
        .add_edge("call_subgraph", "node")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    asks = [Interrupt(value="Provide value", id=AnyStr())]
    assert await parent.ainvoke({"foo": "", "counter": 0}, config) == {"foo": "", "counter": 0, "__interrupt__": asks}
    assert await parent.ainvoke(Command(resume="bar"), config) == {
        "foo": "subgraph_2",
        "counter": 1,
        "__interrupt__": asks,
    }
    assert await parent.ainvoke(Command(resume="qux"), config) == {"foo": "subgraph_2|parent", "counter": 1}
    assert called == [
        "call_subgraph",
        "subnode_1",
        "subnode_2",
        "subnode_2",
        "parent",
        "call_subgraph",
        "subnode_1",
        "subnode_2",
        "subnode_2",
        "parent",
    ]
    assert await parent.ainvoke({"foo": "meow", "counter": 0}, config) == {
        "foo": "meow",
        "counter": 0,
        "__interrupt__": asks,
    }
    assert bar_values == [None, "barbaz", "quxbaz"]
