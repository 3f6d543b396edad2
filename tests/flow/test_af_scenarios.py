"""Agentflow's documented behaviour, ported from its acceptance scenarios (the inventory's section 5, verified
against ``10xscale-agentflow`` 0.10.1) and its examples to aether_nb's names. Where aether_nb follows LangGraph
instead (recursion counting, a router called once, ``goto`` adding to the edges), the test asserts aether_nb's rule
and the README's table of differences says so.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import (
    END,
    START,
    AgentState,
    Command,
    GraphRecursionError,
    InvalidUpdate,
    StateGraph,
    interrupt,
)
from aether_nb.runtime.session import Session

pytestmark = pytest.mark.anyio

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


class ReviewState(AgentState, total=False):
    amount: float
    decision: str
    trail: list[str]


def classify(state: ReviewState) -> Any:
    return {"amount": float(state["messages"][-1]["content"]), "trail": [*state.get("trail", []), "classify"]}


def route(state: ReviewState) -> str:
    return "auto" if state["amount"] < 100 else "review"


def auto_approve(state: ReviewState) -> Any:
    return {"trail": [*state["trail"], "auto_approve"], "messages": [f"auto-approved {state['amount']}"]}


def human_review(state: ReviewState) -> Any:
    decision = state.get("decision", "")
    return {
        "trail": [*state["trail"], f"human_review(decision={decision!r})"],
        "messages": [f"review says {decision} for {state['amount']}"],
    }


def review_graph(**compile_kw: Any) -> Any:
    g = StateGraph(ReviewState, name="review")
    g.add_node("classify", classify)
    g.add_node("auto_approve", auto_approve)
    g.add_node("human_review", human_review)
    g.set_entry_point("classify")
    g.add_conditional_edges("classify", route, {"auto": "auto_approve", "review": "human_review"})
    g.add_edge("auto_approve", END)
    g.add_edge("human_review", END)
    return g.compile(**compile_kw)


def ask(amount: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": amount}]}


# -- scenario 1 ----------------------------------------------------------------------------------------------------
async def test_linear_chain_and_step_accounting(session: Session) -> None:
    """Scenario 1: a -> b -> c; messages in order; the recursion limit counts START's superstep (LangGraph's
    rule: three nodes need 4, Agentflow's needs 5)."""
    app = chain("a", "b", "c")
    res = await app.ainvoke(HI, {"thread_id": "t1"})
    assert res.status == "completed"
    assert contents(res.messages) == ["hi", "a", "b", "c"]
    with pytest.raises(GraphRecursionError, match="Recursion limit of 3"):
        await app.ainvoke(HI, {"thread_id": "t2", "recursion_limit": 3})
    ok = await app.ainvoke(HI, {"thread_id": "t3", "recursion_limit": 4})
    assert contents(ok.messages) == ["hi", "a", "b", "c"]


# -- scenario 2 ----------------------------------------------------------------------------------------------------
async def test_conditional_routing_with_a_path_map(session: Session) -> None:
    """Scenario 2: the router's key picks the node through the path map; the router is called once; a result
    outside the map is an error naming the keys; without a map the result is the node name or END."""
    calls: list[str] = []

    def router(state: AgentState) -> str:
        calls.append("route")
        return "x"

    g = StateGraph(AgentState, name="cond")
    for n in ("a", "b", "c"):
        g.add_node(n, say(n))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", router, {"y": "c", "x": "b"})
    res = await g.compile().ainvoke(HI)
    assert contents(res.messages) == ["hi", "a", "b"] and calls == ["route"]

    g2 = StateGraph(AgentState, name="cond2")
    g2.add_node("a", say("a"))
    g2.add_node("b", say("b"))
    g2.add_edge(START, "a")
    g2.add_conditional_edges("a", lambda s: "nope", {"go": "b"})
    with pytest.raises(InvalidUpdate, match="'nope', which is not a key of its path_map"):
        await g2.compile().ainvoke(HI)

    g3 = StateGraph(AgentState, name="cond3")
    g3.add_node("a", say("a"))
    g3.add_node("b", say("b"))
    g3.add_edge(START, "a")
    g3.add_conditional_edges("a", lambda s: END if len(s["messages"]) > 1 else "b")
    assert contents((await g3.compile().ainvoke(HI)).messages) == ["hi", "a"]


# -- scenario 3 ----------------------------------------------------------------------------------------------------
async def test_command_goto_and_its_update(session: Session) -> None:
    """Scenario 3: a node whose conditional edge says END returns Command(update, goto="d"): d runs after the
    update; Command(goto=END) with an edge to END ends the run."""

    def a(state: AgentState) -> Command[Any]:
        return Command(update=[{"role": "assistant", "content": "from a"}], goto="d")

    g = StateGraph(AgentState, name="cmd")
    g.add_node("a", a)
    g.add_node("b", say("b"))
    g.add_node("d", say("d"))
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: END, [END, "b"])
    assert contents((await g.compile().ainvoke(HI)).messages) == ["hi", "from a", "d"]

    g2 = StateGraph(AgentState, name="cmd_end")
    g2.add_node("a", lambda s: Command(goto=END))
    g2.add_node("b", say("b"))
    g2.add_edge(START, "a")
    g2.add_conditional_edges("a", lambda s: END, [END, "b"])
    assert contents((await g2.compile().ainvoke(HI)).messages) == ["hi"]


# -- scenarios 4, 5 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit", [{"decision": "approved"}, {"state": {"decision": "approved"}}])
async def test_interrupt_before_pause_and_resume_with_state(checkpointer: str, edit: dict[str, Any]) -> None:
    """Scenario 4 (Agentflow's Part A): the pause returns normally with the node pending; the next call's state
    edits apply and the node runs exactly once. Agentflow writes the edits as ``{"state": {...}}``: that input
    was dropped as an unknown key (a warning) and the reviewer's decision was lost."""
    app = review_graph(checkpointer=checkpointer, interrupt_before=["human_review"])
    small = await app.ainvoke(ask("50"), {"thread_id": "t-small"})
    assert small.status == "completed" and small["trail"] == ["classify", "auto_approve"]
    big = await app.ainvoke(ask("500"), {"thread_id": "t-big"})
    assert big.status == "interrupted" and big.next == ("human_review",)
    assert [i.kind for i in big.interrupts] == ["before"] and big["trail"] == ["classify"]
    resumed = await app.ainvoke(edit, {"thread_id": "t-big"})
    assert resumed.status == "completed"
    assert resumed["trail"] == ["classify", "human_review(decision='approved')"]
    assert contents(resumed.messages) == ["500", "review says approved for 500.0"]  # this turn's, as Agentflow
    nxt = await app.ainvoke(ask("20"), {"thread_id": "t-big"})
    assert nxt["trail"] == ["classify", "human_review(decision='approved')", "classify", "auto_approve"]
    assert nxt["decision"] == "approved"  # custom fields carry over to the next turn
    assert contents(nxt.messages) == ["20", "auto-approved 20.0"]


async def test_agentflows_current_node_edit_is_refused_saying_what_to_use(session: Session) -> None:
    app = chain("a")
    with pytest.raises(UsageError, match=r"current_node .* update_state\(config, values, as_node=\.\.\.\)"):
        await app.ainvoke({**HI, "state": {"current_node": "a"}}, {"thread_id": "t-cursor"})


async def test_interrupt_after_continues_at_the_chosen_successor(checkpointer: str) -> None:
    """Scenario 5 (Part C): after the pause the successor is chosen; ``ainvoke({})`` runs it onwards."""
    app = review_graph(checkpointer=checkpointer, interrupt_after=["classify"])
    paused = await app.ainvoke(ask("7"), {"thread_id": "t-after"})
    assert paused.status == "interrupted" and paused.next == ("auto_approve",)
    assert paused["trail"] == ["classify"]
    done = await app.ainvoke({}, {"thread_id": "t-after"})
    assert done["trail"] == ["classify", "auto_approve"]


# -- scenario 6 ----------------------------------------------------------------------------------------------------
async def test_dynamic_interrupt(checkpointer: str) -> None:
    """Scenario 6 (Part B): interrupt() pauses; plain input is refused; resume re-runs the node (its code before
    the interrupt runs twice); resuming a thread that is not paused is an error."""
    runs = {"n": 0}

    def review_fn(state: ReviewState) -> Any:
        runs["n"] += 1
        answer = interrupt({"amount": state["amount"]}, message=f"Approve {state['amount']}?")
        return {"decision": answer["decision"], "trail": [*state["trail"], f"human_review_fn(run #{runs['n']})"]}

    g = StateGraph(ReviewState, name="review_dyn")
    g.add_node("classify", classify)
    g.add_node("auto_approve", auto_approve)
    g.add_node("human_review", review_fn)
    g.set_entry_point("classify")
    g.add_conditional_edges("classify", route, {"auto": "auto_approve", "review": "human_review"})
    app = g.compile(checkpointer=checkpointer)
    cfg = {"thread_id": "t-int"}
    paused = await app.ainvoke(ask("900"), cfg)
    assert paused.status == "interrupted"
    (pending,) = paused.interrupts
    assert (pending.kind, pending.node, pending.value, pending.message) == (
        "interrupt",
        "human_review",
        {"amount": 900.0},
        "Approve 900.0?",
    )
    with pytest.raises(UsageError, match="paused at interrupt"):
        await app.ainvoke(ask("hello?"), cfg)
    done = await app.ainvoke({"resume": {"decision": "rejected"}}, cfg)
    assert done["decision"] == "rejected" and done["trail"] == ["classify", "human_review_fn(run #2)"]
    with pytest.raises(UsageError, match="Nothing to resume"):
        await app.ainvoke({"resume": 1}, cfg)


# -- scenario 7 ----------------------------------------------------------------------------------------------------
async def test_cooperative_stop(checkpointer: str) -> None:
    """Scenario 7: astop stops a running turn (the node runs again on the next call); astop's answers."""
    entered = asyncio.Event()
    runs = {"n": 0}

    async def slow(state: AgentState) -> Any:
        runs["n"] += 1
        if runs["n"] == 1:
            entered.set()
            await asyncio.sleep(60)
        return [{"role": "assistant", "content": "slow done"}]

    g = StateGraph(AgentState, name="stoppable")
    g.add_node("slow", slow)
    g.add_edge(START, "slow")
    app = g.compile(checkpointer=checkpointer)
    cfg = {"thread_id": "t-stop"}
    call = asyncio.ensure_future(app.ainvoke(HI, cfg))
    await asyncio.wait_for(entered.wait(), 10)
    assert (await app.astop(cfg))["running"] is True
    res = await asyncio.wait_for(call, 10)
    assert res.status == "stopped" and res.next == ("slow",)
    assert await app.astop(cfg) == {"ok": True, "running": False, "reason": "not-running"}
    assert await app.astop({"thread_id": "nope"}) == {"ok": False, "running": False, "reason": "no-state"}
    done = await app.ainvoke({}, cfg)
    assert done.status == "completed" and runs["n"] == 2
    assert contents(done["messages"]) == ["hi", "slow done"]


# -- scenario 8 ----------------------------------------------------------------------------------------------------
async def test_failure_then_retry_on_the_same_thread(checkpointer: str) -> None:
    """Scenario 8: the node's exception surfaces (naming the node); the thread keeps the failed node pending; a
    new message continues at the failed node, with both user messages in the state."""
    broken = {"b": True}

    def b(state: AgentState) -> Any:
        if broken["b"]:
            raise RuntimeError("b is broken")
        return [{"role": "assistant", "content": "b"}]

    g = StateGraph(AgentState, name="retry")
    g.add_node("a", say("a"))
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    app = g.compile(checkpointer=checkpointer)
    cfg = {"thread_id": "t"}
    with pytest.raises(RuntimeError, match="b is broken") as info:
        await app.ainvoke(HI, cfg)
    assert any("'b'" in note for note in getattr(info.value, "__notes__", []))
    state = await app.aget_state(cfg)
    assert state.next == ("b",) and state.status == "failed"
    assert "RuntimeError('b is broken')" in (state.tasks[0].error or "")
    broken["b"] = False
    res = await app.ainvoke({"messages": [{"role": "user", "content": "again"}]}, cfg)
    assert contents(res["messages"]) == ["hi", "a", "again", "b"]


# -- scenario 9 ----------------------------------------------------------------------------------------------------
async def test_multi_turn_continuation(checkpointer: str) -> None:
    """Scenario 9: a completed thread runs from START again; the conversation accumulates; ``res.messages`` holds
    this turn's only."""
    app = chain("answer", checkpointer=checkpointer)
    cfg = {"thread_id": "t"}
    await app.ainvoke(HI, cfg)
    res = await app.ainvoke({"messages": [{"role": "user", "content": "again"}]}, cfg)
    assert contents(res["messages"]) == ["hi", "answer", "again", "answer"]
    assert contents(res.messages) == ["again", "answer"]


# -- Agentflow examples and tests ------------------------------------------------------------------------------------
async def test_node_functions_receive_state_config_and_context(session: Session) -> None:
    """Agentflow's node contract: ``state`` and ``config`` by name (config carries the thread), plus aether_nb's
    ``context`` services."""
    seen: dict[str, Any] = {}

    def node(state: AgentState, config: dict[str, Any], context: Any) -> Any:
        seen["thread"] = config["thread_id"]
        seen["configurable"] = config["configurable"]["thread_id"]
        seen["context"] = type(context).__name__
        return None

    g = StateGraph(AgentState).add_node("n", node).add_edge(START, "n")
    await g.compile().ainvoke(HI, {"thread_id": "tx", "user_id": "u1"})
    assert seen == {"thread": "tx", "configurable": "tx", "context": "NodeContext"}


async def test_a_node_returning_the_state_object_replaces_it(session: Session) -> None:
    """Agentflow: returning the (mutated) state writes what changed; messages it added are appended once."""

    class S(AgentState, total=False):
        count: int

    def node(state: S) -> Any:
        state["count"] = state.get("count", 0) + 1
        state["messages"] = [*state["messages"], {"role": "assistant", "content": "added"}]
        return state

    res = await StateGraph(S).add_node("n", node).add_edge(START, "n").compile().ainvoke({**HI, "count": 1})
    assert res["count"] == 2 and contents(res["messages"]) == ["hi", "added"]


def test_sync_invoke_refuses_to_block_a_running_loop(session: Session) -> None:
    """Agentflow's invoke() fails inside a running loop; aether_nb says to await ainvoke instead."""
    app = chain("a")

    async def inside() -> None:
        app.invoke(HI)

    with pytest.raises(UsageError, match=r"await app\.ainvoke"):
        asyncio.run(inside())
    assert contents(app.invoke(HI)["messages"]) == ["hi", "a"]


async def test_generate_graph_and_aclose(session: Session) -> None:
    """Agentflow's ``generate_graph()`` and ``aclose()`` (idempotent) / ``async with``."""
    app = chain("a", "b")
    graph = app.generate_graph()
    assert graph["info"]["node_count"] == len(graph["nodes"])
    assert graph["info"]["edge_count"] == len(graph["edges"])
    async with app as ctx:
        assert ctx is app
    assert await app.aclose() == {"status": "already_closed"}


async def test_agentflows_message_constructors_make_message_dicts(session: Session) -> None:
    """Agentflow's examples build messages with ``Message.text_message(...)``: ``Message`` was ``dict[str, Any]``
    here, so they failed with "type object 'dict' has no attribute 'text_message'"."""
    from aether_nb.flow import Message

    def answer(state: AgentState) -> list[dict[str, Any]]:
        return [Message.text_message(f"review says ok for {state['messages'][-1]['content']}", role="assistant")]

    g = StateGraph(AgentState, name="af_messages")
    g.add_node("answer", answer)
    g.add_edge(START, "answer").add_edge("answer", END)
    out = await g.compile().ainvoke({"messages": [Message.text_message("500", message_id="m-1")]})
    assert [(m["role"], m["content"]) for m in out.messages] == [
        ("user", "500"),
        ("assistant", "review says ok for 500"),
    ]
    assert out.messages[0]["id"] == "m-1" and all(isinstance(m, Message) for m in out.messages)
    tool = Message.tool_message({"rows": 3}, tool_call_id="call-1")
    assert tool == {"role": "tool", "content": '{"rows": 3}', "tool_call_id": "call-1"}
