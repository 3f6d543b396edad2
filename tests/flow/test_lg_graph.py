"""Graph topology, ported from LangGraph's tests (``test_pregel_async.py``, ``test_pregel.py``) to aether_nb's names:
fan-out, waiting edges (joins), deferred nodes, conditional edges, Send map-reduce, Command goto, validation.

Where LangGraph's tests order concurrent nodes with ``asyncio.sleep``, these use events (a node waits until its
sibling finished), so the order is a fact of the test, not of the machine's speed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest
from pydantic import BaseModel

from aether_nb.flow import (
    END,
    START,
    Command,
    GraphBuildError,
    InvalidUpdateError,
    MessagesState,
    Send,
    StateGraph,
)
from aether_nb.flow.draw import Edge
from aether_nb.runtime.session import Session
from tests.flow.conftest import user

pytestmark = pytest.mark.anyio


def sorted_add(x: list[str], y: list[str] | list[tuple[str, str]]) -> list[str]:
    if y and isinstance(y[0], tuple):
        for rem, _ in y:
            x.remove(rem)  # type: ignore[arg-type]
        y = [t[1] for t in y]  # type: ignore[index]
    return sorted(operator.add(x, y))  # type: ignore[operator]


class RagState(TypedDict, total=False):
    query: str
    answer: str
    docs: Annotated[list[str], sorted_add]


class Rag:
    """The fan-out graph of LangGraph's waiting-edge tests; ``retriever_two`` finishes after ``analyzer_one``."""

    def __init__(self) -> None:
        self.analyzed = asyncio.Event()
        self.rewrites = 0

    async def rewrite_query(self, data: RagState) -> RagState:
        self.rewrites += 1
        self.analyzed.clear()
        return {"query": f"query: {data['query']}"}

    async def analyzer_one(self, data: RagState) -> RagState:
        self.analyzed.set()
        return {"query": f"analyzed: {data['query']}"}

    async def retriever_one(self, data: RagState) -> RagState:
        return {"docs": ["doc1", "doc2"]}

    async def retriever_two(self, data: RagState) -> RagState:
        await asyncio.wait_for(self.analyzed.wait(), 10)
        return {"docs": ["doc3", "doc4"]}

    async def qa(self, data: RagState) -> RagState:
        return {"answer": ",".join(data["docs"])}

    def builder(self, **qa_options: Any) -> StateGraph:
        w = StateGraph(RagState)
        w.add_node("rewrite_query", self.rewrite_query)
        w.add_node("analyzer_one", self.analyzer_one)
        w.add_node("retriever_one", self.retriever_one)
        w.add_node("retriever_two", self.retriever_two)
        w.add_node("qa", self.qa, **qa_options)
        w.set_entry_point("rewrite_query")
        w.add_edge("rewrite_query", "analyzer_one")
        w.add_edge("analyzer_one", "retriever_one")
        return w


Q = {"query": "what is weather in sf"}
ANSWER = {
    "query": "analyzed: query: what is weather in sf",
    "docs": ["doc1", "doc2", "doc3", "doc4"],
    "answer": "doc1,doc2,doc3,doc4",
}
UPDATES = [
    {"rewrite_query": {"query": "query: what is weather in sf"}},
    {"analyzer_one": {"query": "analyzed: query: what is weather in sf"}},
    {"retriever_two": {"docs": ["doc3", "doc4"]}},
    {"retriever_one": {"docs": ["doc1", "doc2"]}},
]


async def test_in_one_fan_out_state_graph_waiting_edge(checkpointer: str) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge."""
    rag = Rag()
    w = rag.builder()
    w.add_edge("rewrite_query", "retriever_two")
    w.add_edge(["retriever_one", "retriever_two"], "qa")
    w.set_finish_point("qa")
    app = w.compile()
    assert await app.ainvoke(Q) == ANSWER
    assert [c async for c in app.astream(Q)] == [*UPDATES, {"qa": {"answer": "doc1,doc2,doc3,doc4"}}]

    paused = w.compile(checkpointer=checkpointer, interrupt_after=["retriever_one"])
    config = {"configurable": {"thread_id": "1"}}
    assert [c async for c in paused.astream(Q, config)] == [*UPDATES, {"__interrupt__": ()}]
    assert [c async for c in paused.astream(None, config)] == [{"qa": {"answer": "doc1,doc2,doc3,doc4"}}]


@pytest.mark.parametrize("use_waiting_edge", [True, False])
async def test_in_one_fan_out_state_graph_defer_node(checkpointer: str, use_waiting_edge: bool) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_defer_node — qa runs once, at the end."""
    rag = Rag()
    w = rag.builder(defer=True)
    w.add_edge("rewrite_query", "retriever_two")
    if use_waiting_edge:
        w.add_edge(["retriever_one", "retriever_two"], "qa")
    else:
        w.add_edge("retriever_one", "qa")
        w.add_edge("retriever_two", "qa")
    w.set_finish_point("qa")
    app = w.compile()
    assert await app.ainvoke(Q) == ANSWER
    assert [c async for c in app.astream(Q)] == [*UPDATES, {"qa": {"answer": "doc1,doc2,doc3,doc4"}}]
    paused = w.compile(checkpointer=checkpointer, interrupt_after=["retriever_one"])
    config = {"configurable": {"thread_id": "1"}}
    assert [c async for c in paused.astream(Q, config)] == [*UPDATES, {"__interrupt__": ()}]
    assert [c async for c in paused.astream(None, config)] == [{"qa": {"answer": "doc1,doc2,doc3,doc4"}}]


async def test_in_one_fan_out_state_graph_waiting_edge_via_branch(checkpointer: str) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_via_branch."""
    rag = Rag()
    w = rag.builder()
    w.add_conditional_edges("rewrite_query", lambda _: "retriever_two", {"retriever_two": "retriever_two"})
    w.add_edge(["retriever_one", "retriever_two"], "qa")
    w.set_finish_point("qa")
    app = w.compile()
    assert await app.ainvoke(Q) == ANSWER
    assert [c async for c in app.astream(Q)] == [*UPDATES, {"qa": {"answer": "doc1,doc2,doc3,doc4"}}]
    paused = w.compile(checkpointer=checkpointer, interrupt_after=["retriever_one"])
    config = {"configurable": {"thread_id": "1"}}
    assert [c async for c in paused.astream(Q, config)] == [*UPDATES, {"__interrupt__": ()}]
    assert [c async for c in paused.astream(None, config)] == [{"qa": {"answer": "doc1,doc2,doc3,doc4"}}]


async def test_in_one_fan_out_state_graph_waiting_edge_plus_regular(checkpointer: str) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_plus_regular — a plain edge into the
    join target does not break the barrier."""
    rag = Rag()
    w = rag.builder()
    w.add_edge("rewrite_query", "retriever_two")
    w.add_edge(["retriever_one", "retriever_two"], "qa")
    w.set_finish_point("qa")
    w.add_edge("rewrite_query", "qa")
    app = w.compile()
    assert await app.ainvoke(Q) == ANSWER
    chunks = [c async for c in app.astream(Q)]
    assert chunks[0] == UPDATES[0]
    assert sorted(map(str, chunks[1:4])) == sorted(map(str, [{"qa": {"answer": ""}}, *UPDATES[1:3]]))
    assert chunks[4:] == [UPDATES[3], {"qa": {"answer": "doc1,doc2,doc3,doc4"}}]
    paused = w.compile(checkpointer=checkpointer, interrupt_after=["retriever_one"])
    config = {"configurable": {"thread_id": "1"}}
    chunks = [c async for c in paused.astream(Q, config)]
    assert chunks[-1] == {"__interrupt__": ()}
    assert [c async for c in paused.astream(None, config)] == [{"qa": {"answer": "doc1,doc2,doc3,doc4"}}]


async def test_in_one_fan_out_state_graph_waiting_edge_multiple(session: Session) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_multiple — a join inside a loop."""
    rag = Rag()
    w = rag.builder()
    w.add_edge("rewrite_query", "retriever_two")

    async def decider(data: RagState) -> None:
        return None

    def decider_cond(data: RagState) -> str:
        return "qa" if data["query"].count("analyzed") > 1 else "rewrite_query"

    w.add_node("decider", decider)
    w.add_edge(["retriever_one", "retriever_two"], "decider")
    w.add_conditional_edges("decider", decider_cond)
    w.set_finish_point("qa")
    app = w.compile()
    doubled = ["doc1", "doc1", "doc2", "doc2", "doc3", "doc3", "doc4", "doc4"]
    assert await app.ainvoke(Q) == {
        "query": "analyzed: query: analyzed: query: what is weather in sf",
        "answer": ",".join(doubled),
        "docs": doubled,
    }
    assert rag.rewrites == 2
    assert [c async for c in app.astream(Q)] == [
        *UPDATES,
        {"decider": None},
        {"rewrite_query": {"query": "query: analyzed: query: what is weather in sf"}},
        {"analyzer_one": {"query": "analyzed: query: analyzed: query: what is weather in sf"}},
        {"retriever_two": {"docs": ["doc3", "doc4"]}},
        {"retriever_one": {"docs": ["doc1", "doc2"]}},
        {"decider": None},
        {"qa": {"answer": ",".join(doubled)}},
    ]


async def test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge(session: Session) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_multiple_cond_edge — a router returning
    a list of nodes."""
    rag = Rag()
    w = StateGraph(RagState)
    w.add_node("rewrite_query", rag.rewrite_query)
    w.add_node("analyzer_one", rag.analyzer_one)
    w.add_node("retriever_one", rag.retriever_one)
    w.add_node("retriever_two", rag.retriever_two)
    w.add_node("decider", lambda s: None)
    w.add_node("qa", rag.qa)

    async def retriever_picker(data: RagState) -> list[str]:
        return ["analyzer_one", "retriever_two"]

    w.set_entry_point("rewrite_query")
    w.add_conditional_edges("rewrite_query", retriever_picker)
    w.add_edge("analyzer_one", "retriever_one")
    w.add_edge(["retriever_one", "retriever_two"], "decider")
    w.add_conditional_edges("decider", lambda d: "qa" if d["query"].count("analyzed") > 1 else "rewrite_query")
    w.set_finish_point("qa")
    doubled = ["doc1", "doc1", "doc2", "doc2", "doc3", "doc3", "doc4", "doc4"]
    assert await w.compile().ainvoke(Q) == {
        "query": "analyzed: query: analyzed: query: what is weather in sf",
        "answer": ",".join(doubled),
        "docs": doubled,
    }


async def test_in_one_fan_out_state_graph_waiting_edge_custom_state_class_pydantic(session: Session) -> None:
    """test_pregel_async.py::test_in_one_fan_out_state_graph_waiting_edge_custom_state_class_pydantic2 (the
    behaviour, not the JSON schemas)."""

    class State(BaseModel):
        query: str
        answer: str | None = None
        docs: Annotated[list[str], sorted_add] = []

    async def rewrite_query(data: State) -> Any:
        return {"query": f"query: {data.query}"}

    async def analyzer_one(data: State) -> Any:
        return State(query=f"analyzed: {data.query}")

    async def retriever_one(data: State) -> Any:
        return {"docs": ["doc1", "doc2"]}

    async def retriever_two(data: State) -> Any:
        return {"docs": ["doc3", "doc4"]}

    async def qa(data: State) -> Any:
        return {"answer": ",".join(data.docs)}

    w = StateGraph(State)
    for fn in (rewrite_query, analyzer_one, retriever_one, retriever_two, qa):
        w.add_node(fn.__name__, fn)
    w.set_entry_point("rewrite_query")
    w.add_edge("rewrite_query", "analyzer_one")
    w.add_edge("analyzer_one", "retriever_one")
    w.add_edge("rewrite_query", "retriever_two")
    w.add_edge(["retriever_one", "retriever_two"], "qa")
    w.set_finish_point("qa")
    out = await w.compile().ainvoke({"query": "what is weather in sf"})
    assert out == ANSWER


# -- conditional edges -----------------------------------------------------------------------------------------
async def test_conditional_entrypoint_graph_state(session: Session) -> None:
    """test_pregel_async.py::test_conditional_entrypoint_graph_state — the entry router reads the input."""

    class AgentState(TypedDict, total=False):
        input: str
        output: str
        steps: Annotated[list[str], operator.add]

    async def left(data: AgentState) -> AgentState:
        return {"output": data["input"] + "->left"}

    async def right(data: AgentState) -> AgentState:
        return {"output": data["input"] + "->right"}

    def should_start(data: AgentState) -> str:
        assert data["steps"] == [], "Expected input to be read from the state"
        return "go-right" if len(data["input"]) > 10 else "go-left"

    w = StateGraph(AgentState)
    w.add_node("left", left)
    w.add_node("right", right)
    w.set_conditional_entry_point(should_start, {"go-left": "left", "go-right": "right"})
    w.add_conditional_edges("left", lambda data: END)
    w.add_edge("right", END)
    app = w.compile()
    assert await app.ainvoke({"input": "what is weather in sf"}) == {
        "input": "what is weather in sf",
        "output": "what is weather in sf->right",
        "steps": [],
    }
    assert [c async for c in app.astream({"input": "what is weather in sf"})] == [
        {"right": {"output": "what is weather in sf->right"}}
    ]


def test_callable_in_conditional_edges_with_no_path_map(session: Session) -> None:
    """test_pregel.py::test_callable_in_conditional_edges_with_no_path_map (and the function variant)."""

    class State(TypedDict, total=False):
        query: str

    class ChooseAnalyzer:
        def __call__(self, data: State) -> str:
            return "analyzer"

    def choose(data: State) -> str:
        return "analyzer"

    for router in (ChooseAnalyzer(), choose):
        w = StateGraph(State)
        w.add_node("rewriter", lambda d: {"query": f"query: {d['query']}"})
        w.add_node("analyzer", lambda d: {"query": f"analyzed: {d['query']}"})
        w.add_conditional_edges("rewriter", router)
        w.set_entry_point("rewriter")
        assert w.compile().invoke({"query": "what is weather in sf"}) == {
            "query": "analyzed: query: what is weather in sf"
        }


def test_simple_multi_edge(session: Session) -> None:
    """test_pregel.py::test_simple_multi_edge — a join of a node and its successor."""

    class State(TypedDict):
        my_key: Annotated[str, operator.add]

    graph = StateGraph(State)
    graph.add_node("up", lambda s: None)
    graph.add_node("side", lambda s: None)
    graph.add_node("other", lambda s: {"my_key": "_more"})
    graph.add_node("down", lambda s: None)
    graph.set_entry_point("up")
    graph.add_edge("up", "side")
    graph.add_edge("up", "other")
    graph.add_edge(["up", "side"], "down")
    graph.set_finish_point("down")
    app = graph.compile()
    assert app.invoke({"my_key": "my_value"}) == {"my_key": "my_value_more"}
    assert list(app.stream({"my_key": "my_value"})) in (
        [{"up": None}, {"side": None}, {"other": {"my_key": "_more"}}, {"down": None}],
        [{"up": None}, {"other": {"my_key": "_more"}}, {"side": None}, {"down": None}],
    )


def test_conditional_state_graph_with_list_edge_inputs(session: Session) -> None:
    """test_pregel.py::test_conditional_state_graph_with_list_edge_inputs — a waiting edge into END."""

    class State(TypedDict):
        foo: Annotated[list[str], operator.add]

    b = StateGraph(State)
    b.add_node("A", lambda x: {"foo": ["A"]})
    b.add_node("B", lambda x: {"foo": ["B"]})
    b.add_edge(START, "A")
    b.add_edge(START, "B")
    b.add_edge(["A", "B"], END)
    assert b.compile().invoke({"foo": []}) == {"foo": ["A", "B"]}


def test_graph_validation(session: Session) -> None:
    """test_pregel.py::test_graph_validation."""

    class State(TypedDict):
        hello: str

    graph = StateGraph(State)
    graph.add_node("start", lambda x: x)
    graph.add_edge(START, "start")
    graph.add_edge("unknown", "start")
    graph.add_edge("start", END)
    with pytest.raises(ValueError, match="Found edge starting at unknown node "):
        graph.compile()

    def bad_reducer(a: Any) -> Any: ...

    class BadReducerState(TypedDict):
        hello: Annotated[str, bad_reducer]

    with pytest.raises(ValueError, match="Invalid reducer"):
        StateGraph(BadReducerState)

    builder = StateGraph(State)
    for n in ("a", "b", "c"):
        builder.add_node(n, lambda s: {"hello": "world"})
    builder.set_entry_point("a")
    builder.add_edge("a", "b")
    builder.add_edge("a", "c")
    with pytest.raises(InvalidUpdateError, match="At key 'hello'"):
        builder.compile().invoke({"hello": "there"})


def test_graph_validation_with_command(session: Session) -> None:
    """test_pregel.py::test_graph_validation_with_command — Command targets need no declaration."""

    class State(TypedDict):
        foo: str
        bar: str

    builder = StateGraph(State)
    builder.add_node("a", lambda s: Command(goto="b", update={"foo": "bar"}))
    builder.add_node("b", lambda s: Command(goto=END, update={"bar": "baz"}))
    builder.add_edge(START, "a")
    assert builder.compile().invoke({"foo": ""}) == {"foo": "bar", "bar": "baz"}


def test_build_problems_are_reported_together() -> None:
    """aether_nb: every problem of the graph in one GraphBuildError."""
    g = StateGraph(MessagesState)
    g.add_node("a", lambda s: None)
    g.add_edge("ghost", "a")
    g.add_conditional_edges("a", lambda s: "x", {"x": "phantom"})
    with pytest.raises(GraphBuildError) as info:
        g.compile(interrupt_before=["nobody"])
    problems = "\n".join(info.value.problems)
    for part in ("Graph must have an entrypoint", "'ghost'", "'phantom'", "'nobody'"):
        assert part in problems


def test_node_destinations(session: Session) -> None:
    """test_pregel.py::test_node_destinations — Command.PARENT from a subgraph node; destinations are drawn."""

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    def node_a(state: State) -> Any:
        value = state["foo"]
        return Command(update={"foo": value}, goto="node_b" if value == "a" else "node_c", graph=Command.PARENT)

    subgraph = StateGraph(State).add_node(node_a).add_edge(START, "node_a").compile()
    for destinations, labels in (
        (("node_b", "node_c"), (None, None)),
        ({"node_b": "foo", "node_c": "bar"}, ("foo", "bar")),
    ):
        builder = StateGraph(State)
        builder.add_edge(START, "child")
        builder.add_node("child", subgraph, destinations=destinations)
        builder.add_node("node_b", lambda s: {"foo": "b"})
        builder.add_node("node_c", lambda s: {"foo": "c"})
        compiled = builder.compile()
        assert compiled.invoke({"foo": ""}) == {"foo": "c"}
        assert compiled.get_graph().edges == [
            Edge(source=START, target="child", data=None, conditional=False),
            Edge(source="child", target="node_b", data=labels[0], conditional=True),
            Edge(source="child", target="node_c", data=labels[1], conditional=True),
            Edge(source="node_b", target=END, data=None, conditional=False),
            Edge(source="node_c", target=END, data=None, conditional=False),
        ]


def test_command_literal_annotation_declares_destinations(session: Session) -> None:
    """Issue 15: ``-> Command[Literal["b", "c"]]`` declares where a node may go (drawn dotted)."""

    class State(TypedDict):
        foo: str

    def a(state: State) -> Command[Literal["b", "c"]]:
        return Command(goto="c", update={"foo": "a"})

    g = StateGraph(State).add_node(a).add_node("b", lambda s: {"foo": "b"}).add_node("c", lambda s: {"foo": "c"})
    app = g.add_edge(START, "a").compile()
    assert app.invoke({"foo": ""}) == {"foo": "c"}
    mermaid = app.draw_mermaid()
    assert "  a -.-> b;" in mermaid.splitlines() and "  a -.-> c;" in mermaid.splitlines()


# -- Send ------------------------------------------------------------------------------------------------------
class Named:
    """A node object named by ``__name__``, returning its name (a list for the single-value state)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = name

    async def __call__(self, state: Any) -> Any:
        update = [self.name] if isinstance(state, list) else ["|".join((self.name, str(state)))]
        if isinstance(state, Command):
            return dataclasses.replace(state, update=update)
        return update


async def test_cond_edge_after_send(session: Session) -> None:
    """test_pregel_async.py::test_cond_edge_after_send."""

    async def send_for_fun(state: Any) -> Any:
        return [Send("2", state), Send("2", state)]

    async def route_to_three(state: Any) -> Literal["3"]:
        return "3"

    builder = StateGraph(Annotated[list, operator.add])
    for n in ("1", "2", "3"):
        builder.add_node(Named(n))
    builder.add_edge(START, "1")
    builder.add_conditional_edges("1", send_for_fun)
    builder.add_conditional_edges("2", route_to_three)
    assert await builder.compile().ainvoke(["0"]) == ["0", "1", "2", "2", "3"]


async def test_concurrent_emit_sends(session: Session) -> None:
    """test_pregel_async.py::test_concurrent_emit_sends — Sends from two nodes, in task order."""

    async def send_for_fun(state: Any) -> Any:
        return [Send("2", 1), Send("2", 2), "3.1"]

    async def send_for_profit(state: Any) -> Any:
        return [Send("2", 3), Send("2", 4)]

    builder = StateGraph(Annotated[list, operator.add])
    for n in ("1", "1.1", "2", "3", "3.1"):
        builder.add_node(Named(n))
    builder.add_edge(START, "1")
    builder.add_edge(START, "1.1")
    builder.add_conditional_edges("1", send_for_fun)
    builder.add_conditional_edges("1.1", send_for_profit)
    builder.add_conditional_edges("2", lambda s: "3")
    assert await builder.compile().ainvoke(["0"]) == ["0", "1", "1.1", "3.1", "2|1", "2|2", "2|3", "2|4", "3"]


async def test_send_sequences(checkpointer: str) -> None:
    """test_pregel_async.py::test_send_sequences — a Send whose argument is a Command that Sends again."""

    async def send_for_fun(state: Any) -> Any:
        return [Send("2", Command(goto=Send("2", 3))), Send("2", Command(goto=Send("2", 4))), "3.1"]

    builder = StateGraph(Annotated[list, operator.add])
    for n in ("1", "2", "3", "3.1"):
        builder.add_node(Named(n))
    builder.add_edge(START, "1")
    builder.add_conditional_edges("1", send_for_fun)
    builder.add_conditional_edges("2", lambda s: "3")
    expected = [
        "0",
        "1",
        "3.1",
        "2|Command(goto=Send(node='2', arg=3))",
        "2|Command(goto=Send(node='2', arg=4))",
        "3",
        "2|3",
        "2|4",
        "3",
    ]
    assert await builder.compile().ainvoke(["0"]) == expected
    graph = builder.compile(checkpointer=checkpointer, interrupt_before=["3.1"])
    thread1 = {"configurable": {"thread_id": "1"}}
    assert await graph.ainvoke(["0"], thread1) == ["0", "1"]
    assert await graph.ainvoke(None, thread1) == expected


async def test_max_concurrency(checkpointer: str) -> None:
    """test_pregel_async.py::test_max_concurrency — config["max_concurrency"] caps a superstep's tasks."""
    running = 0
    peak = 0
    arrived = asyncio.Event()

    async def two(state: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running >= 10:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 10)  # nobody leaves before ten are inside
        running -= 1
        return [state]

    async def send_to_many(state: Any) -> Any:
        return [Send("2", idx) for idx in range(100)]

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("1", lambda s: ["1"])
    builder.add_node("2", two)
    builder.add_node("3", lambda s: ["3"])
    builder.add_edge(START, "1")
    builder.add_conditional_edges("1", send_to_many)
    builder.add_conditional_edges("2", lambda s: "3")
    graph = builder.compile()
    assert await graph.ainvoke(["0"]) == ["0", "1", *range(100), "3"]
    assert peak == 100 and running == 0
    peak = 0
    arrived.clear()
    assert await graph.ainvoke(["0"], {"max_concurrency": 10}) == ["0", "1", *range(100), "3"]
    assert peak == 10 and running == 0

    arrived.clear()
    graph = builder.compile(checkpointer=checkpointer, interrupt_before=["2"])
    thread1 = {"max_concurrency": 10, "configurable": {"thread_id": "1"}}
    assert await graph.ainvoke(["0"], thread1) == ["0", "1"]
    assert (await graph.aget_state(thread1)).values == ["0", "1"]
    assert await graph.ainvoke(None, thread1) == ["0", "1", *range(100), "3"]


def test_map_reduce_with_send_from_start(session: Session) -> None:
    """LangGraph's Send docstring example: one task per subject, results reduced."""

    class OverallState(TypedDict):
        subjects: list[str]
        jokes: Annotated[list[str], operator.add]

    def continue_to_jokes(state: OverallState) -> list[Send]:
        return [Send("generate_joke", {"subject": s}) for s in state["subjects"]]

    builder = StateGraph(OverallState)
    builder.add_node("generate_joke", lambda state: {"jokes": [f"Joke about {state['subject']}"]})
    builder.add_conditional_edges(START, continue_to_jokes)
    builder.add_edge("generate_joke", END)
    assert builder.compile().invoke({"subjects": ["cats", "dogs"]}) == {
        "subjects": ["cats", "dogs"],
        "jokes": ["Joke about cats", "Joke about dogs"],
    }


# -- Command goto ----------------------------------------------------------------------------------------------
async def test_multistep_plan(checkpointer: str) -> None:
    """test_pregel_async.py::test_multistep_plan — a planner that routes with Command(goto=...)."""

    class State(TypedDict, total=False):
        plan: list[str | list[str]]
        messages: Annotated[list[Any], add_messages_reducer()]

    def planner(state: State) -> Any:
        if state.get("plan") is None:
            first, *plan = ["step1", ["step2", "step3"], "step4"]
            return Command(goto=first, update={"plan": plan})
        if state["plan"]:
            nxt, *rest = state["plan"]
            return Command(goto=nxt, update={"plan": rest})
        return None

    def step(name: str) -> Any:
        return lambda state: Command(goto="planner", update={"messages": [("human", name)]})

    builder = StateGraph(State)
    builder.add_node("planner", planner)
    for n in ("step1", "step2", "step3", "step4"):
        builder.add_node(n, step(n))
    builder.add_edge(START, "planner")
    graph = builder.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "1"}}
    assert await graph.ainvoke({"messages": [("human", "start")]}, config) == {
        "messages": [user("start"), user("step1"), user("step2"), user("step3"), user("step4")],
        "plan": [],
    }


def add_messages_reducer() -> Any:
    from aether_nb.flow import add_messages

    return add_messages


def test_goto_adds_to_the_edges_it_does_not_replace_them(session: Session) -> None:
    """LangGraph: a node's edges are followed as well as its Command(goto=...)."""

    class State(TypedDict):
        steps: Annotated[list[str], operator.add]

    g = StateGraph(State)
    g.add_node("a", lambda s: Command(goto="c", update={"steps": ["a"]}))
    g.add_node("b", lambda s: {"steps": ["b"]})
    g.add_node("c", lambda s: {"steps": ["c"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    assert g.compile().invoke({"steps": []}) == {"steps": ["a", "b", "c"]}


# -- concurrency -----------------------------------------------------------------------------------------------
async def test_parallel_node_execution(session: Session) -> None:
    """test_pregel_async.py::test_parallel_node_execution — both nodes run at once; writes in name order."""

    class State(TypedDict):
        results: Annotated[list[str], operator.add]

    both = asyncio.Barrier(2)

    async def slow_node(state: State) -> Any:
        await asyncio.wait_for(both.wait(), 10)  # returns only once fast_node is running too
        return {"results": ["slow"]}

    async def fast_node(state: State) -> Any:
        await asyncio.wait_for(both.wait(), 10)
        return {"results": ["fast"]}

    builder = StateGraph(State)
    builder.add_node("slow", slow_node)
    builder.add_node("fast", fast_node)
    builder.add_edge(START, "slow")
    builder.add_edge(START, "fast")
    result = await builder.compile().ainvoke({"results": []})
    assert result["results"] == ["fast", "slow"]


async def test_concurrent_execution(session: Session) -> None:
    """test_pregel_async.py::test_concurrent_execution — ten invocations at once stay independent."""

    class State(TypedDict):
        counter: Annotated[int, operator.add]

    async def node(state: State) -> Any:
        await asyncio.sleep(0)
        return {"counter": 1}

    graph = StateGraph(State).add_node("node", node).add_edge(START, "node").compile()
    results = await asyncio.gather(*(graph.ainvoke({"counter": 0}) for _ in range(10)))
    assert [r["counter"] for r in results] == [1] * 10


async def test_node_cancellation_on_other_node_exception(session: Session) -> None:
    """test_pregel_async.py::test_node_cancellation_on_other_node_exception (and ``_two``)."""
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def awhile(state: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def iambad(state: Any) -> None:
        await asyncio.wait_for(started.wait(), 10)
        raise ValueError("I am bad")

    class State(TypedDict):
        hello: str

    builder = StateGraph(State)
    builder.add_node("agent", awhile)
    builder.add_node("bad", iambad)
    builder.set_conditional_entry_point(lambda _: ["agent", "bad"])
    with pytest.raises(ValueError, match="I am bad"):
        await asyncio.wait_for(builder.compile().ainvoke({"hello": "world"}), 10)
    assert cancelled.is_set()
