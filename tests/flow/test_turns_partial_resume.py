"""Answering one of several parallel ``interrupt()`` questions with ``ainvoke(Command(resume={id: value}))`` in a
live process (the notebook case) runs the answered node inside that call, as LangGraph does: its write is in the
result and in ``get_state``, its error is raised, a new question it asks is returned (aether_nb/flow/turns.py
``until_pause``, aether_nb/flow/pauses.py). It returned at once before: the node ran after the call, its failure
was never seen, and the next resume met "Nothing to resume"."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


def _two_questions(lib: Any, log: list[str], fail: bool = False, ask_again: bool = False) -> Any:
    """``a`` and ``b`` both ask at START; ``a`` logs once answered (fails, or asks a second question)."""

    def a(s: S) -> dict[str, Any]:
        v = lib.interrupt("qa")
        log.append("a answered")
        if fail:
            raise ValueError("boom in a")
        if ask_again:
            v += lib.interrupt("qa2")
            log.append("a answered twice")
        return {"a": ["a:" + v]}

    def b(s: S) -> dict[str, Any]:
        v = lib.interrupt("qb")
        log.append("b answered")
        return {"a": ["b:" + v]}

    g = lib.StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(lib.START, "a")
    g.add_edge(lib.START, "b")
    return g


def _with_subgraph(lib: Any, log: list[str], fail: bool = False, ask_again: bool = False) -> Any:
    """A subgraph node whose inner node asks, beside a plain node ``b`` that asks."""

    def inner(s: S) -> dict[str, Any]:
        v = lib.interrupt("qa")
        log.append("inner answered")
        return {"a": ["in:" + v]}

    sub = lib.StateGraph(S)
    sub.add_node("inner", inner)
    sub.add_edge(lib.START, "inner")

    def b(s: S) -> dict[str, Any]:
        return {"a": ["b:" + lib.interrupt("qb")]}

    g = lib.StateGraph(S)
    g.add_node("sub", sub.compile())
    g.add_node("b", b)
    g.add_edge(lib.START, "sub")
    g.add_edge(lib.START, "b")
    return g


async def _answer_qa_only(lib: Any, app: Any, log: list[str]) -> dict[str, Any]:
    """Start the turn, answer ``qa`` alone, then ``qb``: what each call returned or raised, and the state after."""
    cfg = thread("t")
    first = await app.ainvoke({"a": []}, cfg)
    qa = next(i.id for i in first["__interrupt__"] if i.value == "qa")
    out: dict[str, Any] = {}
    try:
        res = await app.ainvoke(lib.Command(resume={qa: "1"}), cfg)
        out["answer qa"] = (res["a"], sorted(i.value for i in res.get("__interrupt__", ())))
    except ValueError as exc:
        out["answer qa"] = ("raised", str(exc))
    st = await app.aget_state(cfg)
    out["state"] = (st.values, st.next)
    out["log"] = list(log)
    if out["answer qa"][0] != "raised":  # (after a failure LangGraph's snapshot still lists the old questions)
        out["asked"] = sorted(i.value for i in st.interrupts)
        pending = {i.value: i.id for i in st.interrupts}
        res = await app.ainvoke(lib.Command(resume={pending[v]: v[1:] for v in pending}), cfg)
        out["answer the rest"] = (sorted(res["a"]), sorted(i.value for i in res.get("__interrupt__", ())))
        out["log after"] = sorted(log)
    return out


@pytest.mark.parametrize(
    "build, fail, ask_again",
    [
        (_two_questions, False, False),
        (_two_questions, True, False),
        (_two_questions, False, True),
        (_with_subgraph, False, False),
    ],
    ids=["answered-node-runs", "its-error-is-raised", "its-new-question-is-returned", "a-subgraph-question"],
)
async def test_answering_one_of_two_questions_runs_that_node_inside_the_call_as_in_langgraph(
    build: Any, fail: bool, ask_again: bool
) -> None:
    lg = lg_names()
    lg_log: list[str] = []
    our_log: list[str] = []
    theirs = await _answer_qa_only(
        lg, build(lg, lg_log, fail, ask_again).compile(checkpointer=lg.InMemorySaver()), lg_log
    )
    mine = await _answer_qa_only(ours, build(ours, our_log, fail, ask_again).compile(checkpointer="memory"), our_log)
    assert mine == theirs


async def test_an_answered_node_runs_once_and_the_other_question_is_answered_next(checkpointer: str) -> None:
    """On either checkpointer: the answered node's code after its question runs once, inside the call; the other
    question is still pending and answering it finishes the turn (nothing runs twice)."""
    log: list[str] = []
    app = _two_questions(ours, log).compile(checkpointer=checkpointer)
    cfg = thread("t")
    first = await app.ainvoke({"a": []}, cfg)
    ids = {i.value: i.id for i in first["__interrupt__"]}
    res = await app.ainvoke(ours.Command(resume={ids["qa"]: "1"}), cfg)
    assert log == ["a answered"]
    assert res["a"] == ["a:1"] and [i.value for i in res["__interrupt__"]] == ["qb"]
    assert (await app.aget_state(cfg)).next == ("b",)
    done = await app.ainvoke(ours.Command(resume={ids["qb"]: "2"}), cfg)
    assert sorted(done["a"]) == ["a:1", "b:2"] and "__interrupt__" not in done
    assert sorted(log) == ["a answered", "b answered"]


async def test_a_question_asked_in_a_toolnode_tool_answered_beside_another_returns_the_tools_reply() -> None:
    """As in LangGraph: the answered question was asked inside a tool a ToolNode runs (its id lies under the tool's
    step); the call returns once the ToolNode finished, its tool message in the result, the other question pending."""

    def ask(q: str) -> str:
        """Ask the user."""
        return "ans:" + ours.interrupt("qt")

    def llm(s: ours.AgentState) -> dict[str, Any]:
        call = {"id": "c1", "type": "function", "function": {"name": "ask", "arguments": '{"q": "x"}'}}
        return {"messages": [{"role": "assistant", "content": "", "tool_calls": [call]}]}

    def b(s: ours.AgentState) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": "b:" + ours.interrupt("qb")}]}

    g = ours.StateGraph(ours.AgentState, name="partial_tool")
    g.add_node("llm", llm)
    g.add_node("tools", ours.ToolNode([ask]))
    g.add_node("b", b)
    g.add_edge(ours.START, "llm")
    g.add_edge("llm", "tools")
    g.add_edge("llm", "b")
    app = g.compile(checkpointer="memory")
    cfg = thread("t")
    first = await app.ainvoke({"messages": [("user", "go")]}, cfg)
    qt = next(i.id for i in first["__interrupt__"] if i.value == "qt")
    res = await app.ainvoke(ours.Command(resume={qt: "1"}), cfg)
    assert [m["content"] for m in res["messages"]] == ["go", "", "ans:1"]
    assert [i.value for i in res["__interrupt__"]] == ["qb"]
    assert (await app.aget_state(cfg)).next == ("b",)
