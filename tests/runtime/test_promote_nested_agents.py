"""Promotion of runs whose values came from steps that are no tool calls: LLM replies, nested agents, context calls
read, ``run_tools`` loops, state graphs run in the agent's body.

A nested ``@graph_fn`` that called the model was dropped without a word: its reply was frozen into the promoted
source as an input "computed in Python", nothing was listed under ``NOT IN THIS GRAPH`` and no
:class:`PromotionWarning` named it, so the promoted graph run with a refused approval still answered "your refund is
on its way". The promoted source must say where every such value came from, list the calls it does not make, and
warn naming them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from aether_nb.testing import FakeOpenAI, ScriptedChannel
from tests.conftest import arun, finished_run

REPLY = "Dear customer, your refund RF-1 is on its way."


@ag.tool(outputs=["refund_id"])
def issue_refund(order_id: str) -> dict[str, str]:
    return {"refund_id": f"RF-{order_id}"}


@ag.tool(outputs=["text"])
def shout(text: str) -> dict[str, str]:
    return {"text": text.upper()}


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.graph_fn(outputs=["reply"])
async def draft_reply(facts: str, *, context: ag.NodeContext) -> dict[str, str]:
    text, _ = await context.llm().chat([{"role": "user", "content": facts}])
    return {"reply": text}


@ag.graph_fn(outputs=["answer", "refund"])
async def support(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Refund?")
    r = await issue_refund(order_id) if approved else {"refund_id": None}
    d = await draft_reply(facts=f"refund {r['refund_id']}")
    return {"answer": d["reply"], "refund": r["refund_id"]}


@pytest.fixture
def llm(session: Session) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(script=[REPLY, "twenty"]) as fake:
        ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini", "api_key": "sk-test"})
        yield fake


def promoted(run: ag.Run, name: str) -> tuple[str, list[str]]:
    """The promoted source, and the PromotionWarnings ``run.promote`` gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote(name)
    return source, [str(w.message) for w in caught if issubclass(w.category, PromotionWarning)]


def not_in_graph(source: str) -> list[str]:
    """The lines listed under the source's ``NOT IN THIS GRAPH`` header."""
    lines = source.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("# NOT IN THIS GRAPH")), None)
    if at is None:
        return []
    listed = []
    for line in lines[at + 1 :]:
        if not line.startswith("#   "):
            break
        listed.append(line[4:])
    return listed


def test_a_nested_agent_that_called_the_model_is_listed_and_its_reply_is_a_noted_literal(
    session: Session, channel: ScriptedChannel, llm: FakeOpenAI
) -> None:
    channel.add_answers(True)
    run = finished_run(support, order_id="A")
    assert run.outputs == {"answer": REPLY, "refund": "RF-A"}
    source, warned = promoted(run, "support_static")
    listed = not_in_graph(source)
    assert any(
        line.startswith("draft_reply_1: the agent draft_reply(facts='refund RF-A') is no node") for line in listed
    )
    assert any(
        line.startswith("draft_reply_1/llm_1: LLM call (gpt-4o-mini), replied 'Dear customer") for line in listed
    )
    # the reply is the run's LLM reply, kept as a literal and said so (it was an input "computed in Python")
    assert f"# draft_reply_1/llm_1 (the LLM's reply in the agent draft_reply) produced {REPLY!r} during the run" in (
        source
    )
    assert "Computed in Python" not in source, source
    assert len(warned) == 1 and "draft_reply_1/llm_1" in warned[0] and "nested agent call(s) draft_reply_1" in warned[0]
    # the promoted graph runs; refused, it skips the refund and still gives the run's reply, which its source said
    ns: dict[str, Any] = {"ag": ag, "issue_refund": issue_refund}
    exec(source, ns)
    channel.add_answers(False)
    assert arun(ns["support_static"](order_id="A")) == {"answer": REPLY, "refund": None}


@ag.graph_fn(outputs=["answer"])
async def asks_the_model(q: str, *, context: ag.NodeContext) -> dict[str, str]:
    text, _ = await context.llm().chat([{"role": "user", "content": q}])
    return {"answer": (await shout(text))["text"]}


def test_an_llm_reply_of_the_agents_own_code_is_a_noted_literal_and_the_call_is_listed(
    session: Session, llm: FakeOpenAI
) -> None:
    """README: an LLM reply taken during the run stays the literal it was, noted in the source. It was an input
    "computed in Python" (the reply is the ``text`` of the LLM step's result, which was compared whole)."""
    run = finished_run(asks_the_model, q="hi")
    source, warned = promoted(run, "asks_static")
    assert f"shout_1 = shout(text={REPLY!r})" in source, source
    assert f"# llm_1 (the LLM's reply) produced {REPLY!r} during the run: kept as a literal" in source
    assert any(line.startswith("llm_1: LLM call (gpt-4o-mini)") for line in not_in_graph(source))
    assert "Computed in Python" not in source and len(warned) == 1 and "llm_1" in warned[0]


@ag.graph_fn(outputs=["z"])
async def plus_one(x: int) -> dict[str, int]:
    return {"z": (await double(x))["y"] + 1}


@ag.graph_fn(outputs=["answer"])
async def calls_plus_one(x: int) -> dict[str, int]:
    r = await plus_one(x=x)
    return {"answer": (await double(r["z"]))["y"]}


def test_a_value_a_nested_agent_returned_is_named_as_that_agents_value(session: Session) -> None:
    run = finished_run(calls_plus_one, x=3)
    source, warned = promoted(run, "calls_static")
    assert "#   double_1_x = 7  (returned by plus_one_1, the agent plus_one called in the run)" in source, source
    assert "Computed in Python" not in source
    assert any(line.startswith("plus_one_1: the agent plus_one(x=3) is no node") for line in not_in_graph(source))
    assert "plus_one_1__double_1 = double(x=x" in source  # (its tool call is a node)
    assert len(warned) == 1 and "nested agent call(s) plus_one_1" in warned[0]
    ns: dict[str, Any] = {"ag": ag, "double": double}
    exec(source, ns)
    assert arun(ns["calls_static"](x=3)) == {"answer": 14}


@ag.graph_fn(outputs=["note"])
async def read_note(key: str, *, context: ag.NodeContext) -> dict[str, Any]:
    return {"note": await context.kv().get(key)}


@ag.graph_fn(outputs=["answer"])
async def notes(order_id: str, *, context: ag.NodeContext) -> dict[str, str]:
    await context.kv().set("k", f"order {order_id}")
    n = await read_note(key="k")
    return {"answer": (await shout(n["note"]))["text"]}


def test_a_value_a_context_call_read_in_a_nested_agent_is_named_as_that_calls_value(session: Session) -> None:
    run = finished_run(notes, order_id="A")
    source, warned = promoted(run, "notes_static")
    assert "#   shout_1_text = 'order A'  (returned by read_note_1/kv.get_1 (kv.get), a context call)" in source, source
    listed = not_in_graph(source)
    assert [line.split(":", 1)[0] for line in listed] == ["kv.set_1", "read_note_1", "read_note_1/kv.get_1"]
    assert len(warned) == 1 and "read_note_1/kv.get_1" in warned[0]


@ag.graph_fn(outputs=["reply"])
async def loops(q: str, *, context: ag.NodeContext) -> dict[str, str]:
    res = await context.llm().run_tools([{"role": "user", "content": q}], tools=[double])
    return {"reply": res.text}


@ag.graph_fn(outputs=["answer"])
async def calls_loops(q: str) -> dict[str, str]:
    return {"answer": (await loops(q=q))["reply"]}


def test_a_run_tools_loop_in_a_nested_agent_is_listed_and_its_final_reply_is_a_noted_literal(session: Session) -> None:
    script = [{"tool_calls": [{"name": "double", "arguments": {"x": 10}}]}, "twenty"]
    with FakeOpenAI(script=script) as fake:
        ag.configure(llm={"base_url": fake.base_url, "model": "fake", "api_key": "sk-test"})
        run = finished_run(calls_loops, q="double 10")
    source, warned = promoted(run, "loops_static")
    assert "return {'answer': 'twenty'}" in source and "Computed in Python" not in source, source
    assert "# loops_1/run_tools_1 (run_tools' final reply in the agent loops) produced 'twenty'" in source
    listed = not_in_graph(source)
    assert [line.split(":", 1)[0] for line in listed] == ["loops_1", "loops_1/run_tools_1"]
    assert "llm.run_tools (2 model call(s)), replied 'twenty'" in listed[1]
    assert len(warned) == 1 and "loops_1/run_tools_1" in warned[0]


class Asked(TypedDict):
    q: str
    a: str


async def answer_node(state: Asked, *, context: ag.NodeContext) -> dict[str, str]:
    text, _ = await context.llm().chat([{"role": "user", "content": state["q"]}])
    return {"a": text}


_flow = StateGraph(Asked)
_flow.add_node("ask", answer_node)
_flow.add_edge(START, "ask")
_flow.add_edge("ask", END)
app = _flow.compile()


@ag.graph_fn(outputs=["answer"])
async def runs_a_state_graph(q: str) -> dict[str, str]:
    res = await app.ainvoke({"q": q, "a": ""})
    return {"answer": (await shout(res["a"]))["text"]}


def test_a_state_graph_run_in_the_agents_body_is_listed(session: Session, llm: FakeOpenAI) -> None:
    """Its turn was no step of the run: its reply looked computed in Python and the call was not mentioned. It is a
    step now (``flow.<graph>.ainvoke``, journaled: a resumed agent does not run the turn again), listed as such."""
    run = finished_run(runs_a_state_graph, q="hi")
    source, warned = promoted(run, "state_static")
    listed = not_in_graph(source)
    assert len(listed) == 1 and re.match(r"flow\.\w+\.ainvoke_1: flow\.\w+\.ainvoke\(", listed[0]), source
    assert len(warned) == 1 and "ainvoke_1" in warned[0]


@ag.graph_fn(outputs=["answer"])
async def says_yes(q: str, *, context: ag.NodeContext) -> dict[str, str]:
    text, _ = await context.llm().chat([{"role": "user", "content": q}])
    if text == "yes":  # a constant equal to the reply
        pass
    return {"answer": (await shout(text))["text"]}


def test_an_llm_reply_equal_to_a_constant_of_the_code_is_noted(session: Session) -> None:
    with FakeOpenAI(script=["yes"]) as fake:
        ag.configure(llm={"base_url": fake.base_url, "model": "fake", "api_key": "sk-test"})
        run = finished_run(says_yes, q="ok?")
    source, warned = promoted(run, "yes_static")
    assert "shout_1 = shout(text='yes')" in source
    # the reply is the origin (the constant only compares with it): noted, and named by the warning
    assert "llm_1 (the LLM's reply) produced 'yes' during the run: kept as a literal" in source, source
    assert any("shout_1_text = 'yes' (what llm_1" in w for w in warned), warned
