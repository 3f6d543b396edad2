"""StateGraph building, routing, reducers, fan-out, limits and dependency injection."""

from __future__ import annotations

import asyncio
import itertools
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import (
    END,
    START,
    AgentState,
    Command,
    GraphBuildError,
    GraphRecursionError,
    InvalidUpdate,
    StateGraph,
)
from aether_nb.runtime.session import Session
from tests.conftest import arun

HI = {"messages": [{"role": "user", "content": "hi"}]}


def say(text: str) -> Any:
    def node(state: AgentState) -> list[dict[str, Any]]:
        return [{"role": "assistant", "content": text}]

    node.__name__ = text
    return node


def contents(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages]


def chain(*names: str, **compile_kw: Any) -> Any:
    g = StateGraph(AgentState, name="chain")
    for n in names:
        g.add_node(n, say(n))
    g.add_edge(START, names[0])
    for x, y in itertools.pairwise(names):
        g.add_edge(x, y)
    g.add_edge(names[-1], END)
    return g.compile(**compile_kw)


def test_a_linear_chain_runs_in_order_and_records_one_dag_node_per_step(session: Session) -> None:
    app = chain("a", "b", "c")
    res = arun(app.ainvoke(HI, config={"thread_id": "t1"}))
    assert res.status == "completed"
    assert contents(res.messages) == ["hi", "a", "b", "c"]
    assert contents(res.state["messages"]) == ["hi", "a", "b", "c"]
    run = session.get_run(res.run_id)
    assert run.status == "succeeded" and run.id == "chain-t1-1"
    nodes = {n.id: n for n in run.graph.nodes}
    assert [n for n in nodes if nodes[n].kind == "state_node"] == ["a_1", "b_1", "c_1"]
    assert nodes["b_1"].parents == ("a_1",) and nodes["c_1"].parents == ("b_1",)


def test_conditional_routing_uses_the_path_map_and_calls_the_router_once(session: Session) -> None:
    calls: list[str] = []

    def route(state: AgentState) -> str:
        calls.append("route")
        return "x"

    g = StateGraph(AgentState, name="cond")
    for n in ("a", "b", "c"):
        g.add_node(n, say(n))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", route, {"y": "c", "x": "b"})
    res = arun(g.compile().ainvoke(HI, config={"thread_id": "t"}))
    assert contents(res.messages) == ["hi", "a", "b"]
    assert calls == ["route"]


def test_a_router_without_path_map_names_the_node_or_end(session: Session) -> None:
    g = StateGraph(AgentState, name="cond2")
    g.add_node("a", say("a"))
    g.add_node("b", say("b"))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: END if len(s["messages"]) > 1 else "b")
    res = arun(g.compile().ainvoke(HI, config={"thread_id": "t"}))
    assert contents(res.messages) == ["hi", "a"]


def test_a_route_outside_the_path_map_is_an_error_naming_the_keys(session: Session) -> None:
    g = StateGraph(AgentState, name="cond3")
    g.add_node("a", say("a"))
    g.add_node("b", say("b"))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: "nope", {"go": "b"})
    with pytest.raises(InvalidUpdate, match="'nope', which is not a key of its path_map"):
        arun(g.compile().ainvoke(HI, config={"thread_id": "t"}))


def test_command_goto_adds_to_the_edges_and_its_update_comes_first(session: Session) -> None:
    def a(state: AgentState) -> Command:
        return Command(update=[{"role": "assistant", "content": "from a"}], goto="d")

    g = StateGraph(AgentState, name="cmd")
    g.add_node("a", a, destinations=["d"])
    g.add_node("b", say("b"))
    g.add_node("d", say("d"))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: END, [END, "b"])
    res = arun(g.compile().ainvoke(HI, config={"thread_id": "t"}))
    assert contents(res.messages) == ["hi", "from a", "d"]

    g2 = StateGraph(AgentState, name="cmd_end")
    g2.add_node("a", lambda s: Command(goto=END), destinations=[END])
    g2.add_node("b", say("b"))
    g2.add_edge(START, "a")
    g2.add_edge("a", "b")
    res = arun(g2.compile().ainvoke(HI, config={"thread_id": "t"}))
    assert contents(res.messages) == ["hi", "b"]  # as in LangGraph, edges are followed besides the goto


class FanState(TypedDict, total=False):
    results: Annotated[list[str], operator.add]
    winner: str
    joined: int


def test_fan_out_runs_every_edge_concurrently_and_joins_with_the_reducer(session: Session) -> None:
    running = 0
    peak = 0
    joins: list[list[str]] = []

    def worker(name: str) -> Any:
        async def node(state: FanState) -> dict[str, Any]:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            return {"results": [name]}

        return node

    def join(state: FanState) -> dict[str, Any]:
        joins.append(list(state["results"]))
        return {"joined": len(state["results"])}

    g = StateGraph(FanState, name="fan")
    g.add_node("start", lambda s: {"results": ["start"]})
    for n in ("x", "y", "z"):
        g.add_node(n, worker(n))
        g.add_edge("start", n)
        g.add_edge(n, "join")
    g.add_node("join", join)
    g.add_edge(START, "start")
    res = arun(g.compile().ainvoke({}, config={"thread_id": "t"}))
    assert peak == 3  # the three branches ran at the same time
    assert joins == [["start", "x", "y", "z"]]  # join ran once, after all of them, in node order
    assert res.state["joined"] == 4
    run = session.get_run(res.run_id)
    assert set(run.graph.node("join_1").parents) == {"x_1", "y_1", "z_1"}


def test_two_nodes_writing_a_key_without_reducer_in_one_superstep_is_a_clear_error(session: Session) -> None:
    g = StateGraph(FanState, name="clash")
    g.add_node("x", lambda s: {"winner": "x"})
    g.add_node("y", lambda s: {"winner": "y"})
    g.add_edge(START, "x")
    g.add_edge(START, "y")
    with pytest.raises(InvalidUpdate, match=r"At key 'winner'.*from \['x', 'y'\].*reducer"):
        arun(g.compile().ainvoke({}, config={"thread_id": "t"}))


def test_build_errors_are_listed_all_at_once(session: Session) -> None:
    g = StateGraph(AgentState)
    g.add_node("a", say("a"))
    g.add_edge("a", "ghost")
    g.add_conditional_edges("a", lambda s: "x", {"x": "phantom"})
    with pytest.raises(GraphBuildError) as info:
        g.compile(interrupt_before=["nobody"])
    assert len(info.value.problems) == 4, info.value.problems
    for needle in ("Graph must have an entrypoint", "'ghost'", "'phantom'", "interrupt node 'nobody' not found"):
        assert needle in str(info.value)

    # as in LangGraph, a node no edge reaches is allowed (a Command may go there)
    g2 = StateGraph(AgentState)
    g2.add_node("a", say("a"))
    g2.add_node("island", say("i"))
    g2.add_edge(START, "a")
    assert contents(arun(g2.compile().ainvoke(HI, config={"thread_id": "t"})).messages) == ["hi", "a"]


def test_the_recursion_limit_raises_with_the_path_taken(session: Session) -> None:
    g = StateGraph(AgentState, name="loop")
    g.add_node("a", say("a"))
    g.add_node("b", say("b"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "a")
    app = g.compile(recursion_limit=4)
    with pytest.raises(GraphRecursionError) as info:
        arun(app.ainvoke(HI, config={"thread_id": "t"}))
    # as LangGraph: the limit's supersteps run (so the state has them), then the turn fails
    assert "path: a -> b -> a -> b, then ['a']" in str(info.value)
    assert info.value.path == [["a"], ["b"], ["a"], ["b"], ["a"]]
    assert isinstance(info.value, RecursionError)
    ok = chain("a", "b", "c", recursion_limit=4)  # START's superstep counts, as in LangGraph
    assert arun(ok.ainvoke(HI, config={"thread_id": "t"})).status == "completed"
    with pytest.raises(GraphRecursionError):
        arun(ok.ainvoke(HI, config={"thread_id": "t2", "recursion_limit": 3}))


def test_a_multi_turn_thread_accumulates_state_and_returns_this_turns_messages(session: Session) -> None:
    class S(AgentState, total=False):
        turns: int

    def answer(state: S) -> dict[str, Any]:
        n = state.get("turns", 0) + 1
        return {"turns": n, "messages": [{"role": "assistant", "content": f"answer{n}"}]}

    g = StateGraph(S, name="multi")
    g.add_node("answer", answer)
    g.add_edge(START, "answer")
    app = g.compile()
    arun(app.ainvoke(HI, config={"thread_id": "t"}))
    res = arun(app.ainvoke({"messages": [{"role": "user", "content": "again"}]}, config={"thread_id": "t"}))
    assert contents(res.state["messages"]) == ["hi", "answer1", "again", "answer2"]
    assert contents(res.messages) == ["again", "answer2"]
    assert res.state["turns"] == 2 and res.run_id == "multi-t-2"


@dataclass
class Review:
    amount: float = 0.0
    trail: list[str] = field(default_factory=list)


def test_dataclass_state_nodes_may_mutate_and_return_the_state_object(session: Session) -> None:
    def classify(state: Review) -> Review:
        state.amount = 500.0
        state.trail = [*state.trail, "classify"]
        return state

    g = StateGraph(Review, name="dc")
    g.add_node("classify", classify)
    g.add_node("noop", lambda s: None)
    g.add_edge(START, "classify")
    g.add_edge("classify", "noop")
    res = arun(g.compile().ainvoke({}, config={"thread_id": "t"}))
    assert res.state == Review(amount=500.0, trail=["classify"])
    assert res == {"amount": 500.0, "trail": ["classify"]}


def test_nodes_receive_config_context_and_services_of_their_own_compiled_graph(session: Session) -> None:
    seen: dict[str, Any] = {}

    async def node(state: AgentState, config: dict[str, Any], context: Any, db: str) -> None:
        seen.update(thread=config["thread_id"], user=config["user"], run=context.run_id, db=db)

    g = StateGraph(AgentState, name="di")
    g.add_node("n", node)
    g.add_edge(START, "n")
    one = g.compile(services={"db": "db-one"}, name="di_one")
    two = g.compile(services={"db": "db-two"}, name="di_two")
    arun(one.ainvoke(HI, config={"thread_id": "t", "user": "ada"}))
    assert seen == {"thread": "t", "user": "ada", "run": "di_one-t-1", "db": "db-one"}
    arun(two.ainvoke(HI, config={"thread_id": "t", "user": "bo"}))
    assert seen["db"] == "db-two" and seen["run"] == "di_two-t-1"
    with pytest.raises(GraphBuildError, match="asks for 'db'"):
        g.compile()


def test_two_compiled_graphs_keep_their_own_checkpointers(session: Session) -> None:
    one, two = chain("a", checkpointer="memory"), chain("a", checkpointer="memory")
    arun(one.ainvoke(HI, config={"thread_id": "same"}))
    arun(one.ainvoke(HI, config={"thread_id": "same"}))
    res = arun(two.ainvoke(HI, config={"thread_id": "same"}))
    assert contents(res.state["messages"]) == ["hi", "a"]
    assert len(arun(one.aget_state_history({"thread_id": "same"}))) == 6  # per turn: input, START, a
    assert len(arun(two.aget_state_history({"thread_id": "same"}))) == 3


def test_a_failing_node_raises_its_own_exception_naming_the_node(session: Session) -> None:
    def boom(state: AgentState) -> None:
        raise ValueError("boom")

    g = StateGraph(AgentState, name="fail")
    g.add_node("b", boom)
    g.add_edge(START, "b")
    with pytest.raises(ValueError, match="boom") as info:
        arun(g.compile().ainvoke(HI, config={"thread_id": "t"}))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "node 'b' of graph 'fail'" in notes and "fail-t-1" in notes
    run = session.get_run("fail-t-1")
    assert run.status == "failed" and run.graph.node("b_1").status == "FAILED"


def test_node_names_that_would_break_namespaces_are_refused() -> None:
    g = StateGraph(AgentState)
    for bad in ("a/b", "a|b", "a:b", "", START):
        with pytest.raises(UsageError, match="not allowed"):
            g.add_node(bad, say("x"))
    g.add_node("a", say("a"))
    with pytest.raises(UsageError, match="already present"):
        g.add_node("a", say("a"))
