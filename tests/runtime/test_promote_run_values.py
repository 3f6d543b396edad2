"""A promoted graph never freezes a value the run's nodes decided without saying so.

The tester's bug: a shop agent asked an approval and returned ``approved``; promoted from a run answered Approve, the
graph asked the approval again, was refused, and still returned ``approved=True`` (a constant ``output_approved =
True``, described as "computed in Python"), where the agent returned False. The answer is the approval node's
output: the graph now reads it.

The rule, audited over the shapes an output takes (a tool's output, the answer, a value built from the answer in
Python, a run input, a constant): promoted from a run answered one way and run with the other answer, the graph
gives what the agent gives, or the :class:`PromotionWarning` names that output (promotion cannot express it: the
agent's code branches on the answer). An output that is the answer itself is followed, with no warning.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, finished_run


@ag.tool(outputs=["path"])
def save_report(title: str) -> dict[str, str]:
    return {"path": f"report_{title}.md"}


@ag.tool(outputs=["total"])
def order_price(order_id: str) -> dict[str, int]:
    return {"total": 10 * len(order_id)}


@ag.graph_fn(outputs=["report", "approved"])
async def shop_buyer(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    """The tester's agent (/tmp/tester_a/repro/promote_approved.py)."""
    approved, _ = await context.channel().ask_approval(f"Place order {order_id}?")
    if not approved:
        return {"report": None, "approved": False}
    rep = await save_report(order_id)
    return {"report": rep["path"], "approved": approved}


# one agent per shape of the output ``out`` (its value after Approve, after Reject)


@ag.graph_fn(outputs=["out"])
async def out_tool(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if not approved:
        return {"out": None}
    rep = await save_report(order_id)
    return {"out": rep["path"]}


@ag.graph_fn(outputs=["out"])
async def out_tool_or_empty(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if not approved:
        return {"out": ""}
    rep = await save_report(order_id)
    return {"out": rep["path"]}


@ag.graph_fn(outputs=["out"])
async def out_answer(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if not approved:
        return {"out": approved}
    await save_report(order_id)
    return {"out": approved}


@ag.graph_fn(outputs=["out"])
async def out_choice(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, choice = await context.channel().ask_approval("Place the order?")
    if approved:
        await save_report(order_id)
    return {"out": choice}


@ag.graph_fn(outputs=["out"])
async def out_yes_no(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if not approved:
        return {"out": "no"}
    await save_report(order_id)
    return {"out": "yes"}


@ag.graph_fn(outputs=["out"])
async def out_from_answer(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, choice = await context.channel().ask_approval("Place the order?")
    if approved:
        await save_report(order_id)
    return {"out": f"{order_id}: {choice.lower()}d"}


@ag.graph_fn(outputs=["out"])
async def out_input(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if not approved:
        return {"out": None}
    await save_report(order_id)
    return {"out": order_id}


@ag.graph_fn(outputs=["out"])
async def out_constant(order_id: str, *, context: ag.NodeContext) -> dict[str, Any]:
    approved, _ = await context.channel().ask_approval("Place the order?")
    if approved:
        await save_report(order_id)
    return {"out": "done"}


SHAPES = {
    "a tool's output": out_tool,
    "a tool's output, or a constant": out_tool_or_empty,
    "the answer": out_answer,
    "the answer's choice": out_choice,
    "a constant chosen by the answer": out_yes_no,
    "a value built from the answer in Python": out_from_answer,
    "a run input": out_input,
    "a constant": out_constant,
}
FOLLOWED = {"the answer", "the answer's choice"}
"""The shapes promotion expresses as references (the approval node's outputs): followed, and not warned about."""


def promoted(run: ag.Run, name: str) -> tuple[str, str]:
    """The promoted source and its PromotionWarnings (joined)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote(name)
    return source, " | ".join(str(w.message) for w in caught if issubclass(w.category, PromotionWarning))


def graph_of(source: str, name: str) -> Any:
    ns: dict[str, Any] = {"ag": ag, "save_report": save_report, "order_price": order_price}
    exec(source, ns)  # the promoted source, as a notebook cell runs it
    return ns[name]


def test_the_approval_answer_is_the_graphs_output_not_the_runs(session: Session, channel: ScriptedChannel) -> None:
    """The tester's repro: after Reject the promoted graph returned approved=True."""
    channel.add_answers(True)
    run = finished_run(shop_buyer, order_id="o1")
    assert run.outputs == {"report": "report_o1.md", "approved": True}
    source, warned = promoted(run, "buyer_static")
    assert "output_approved" not in source, source
    assert "'approved': ask_approval_1.approved" in source, source
    graph = graph_of(source, "buyer_static")
    channel.add_answers(False, False)  # (the run's input: its prompt, computed in Python, is the run's)
    assert arun(graph(order_id="o1")) == arun(shop_buyer(order_id="o1")) == {"report": None, "approved": False}
    channel.add_answers(True)
    assert arun(graph(order_id="o1")) == {"report": "report_o1.md", "approved": True}
    assert not re.search(r"\boutput approved\b", warned), warned


@pytest.mark.parametrize("first", [True, False], ids=["promoted after Approve", "promoted after Reject"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_output_is_followed_or_named_by_the_warning(
    session: Session, channel: ScriptedChannel, shape: str, first: bool
) -> None:
    agent = SHAPES[shape]
    channel.add_answers(first)
    run = finished_run(agent, order_id="o1")
    source, warned = promoted(run, f"{agent.name}_static")
    graph = graph_of(source, f"{agent.name}_static")
    for answer in (first, not first):  # the run's answer (always reproduced), then the other one: only it varies
        channel.add_answers(answer)
        got = arun(graph(order_id="o1"))
        channel.add_answers(answer)
        expected = arun(agent(order_id="o1"))
        named = re.search(r"\boutput out\b", warned) is not None
        if answer == first or shape in FOLLOWED:
            assert got == expected, (shape, answer, source)
        else:
            assert got == expected or named, (
                f"{shape}: the graph gave {got} where the agent gave {expected} after answer {answer}, and no "
                f"PromotionWarning named the output:\n{source}\n{warned}"
            )
        if shape in FOLLOWED:
            assert not named, warned


@pytest.mark.parametrize(
    ("shape", "warned_about"),
    [("a tool's output", False), ("a run input", False), ("a constant", False), ("computed in Python", True)],
)
def test_without_a_question_only_a_computed_output_is_warned_about(
    session: Session, shape: str, warned_about: bool
) -> None:
    """An agent that asks nothing: a tool's output, an input and a constant are what the agent gives with any
    inputs; a value computed in Python from a tool's output is the run's (an input of the graph), named by the
    warning and refused with other inputs unless passed."""

    @ag.graph_fn(outputs=["out"])
    async def plain_shop(order_id: str) -> dict[str, Any]:
        p = await order_price(order_id)
        return {
            "out": {
                "a tool's output": p["total"],
                "a run input": order_id,
                "a constant": "ok",
                "computed in Python": p["total"] + 1,
            }[shape]
        }

    run = finished_run(plain_shop, order_id="o1")
    source, warned = promoted(run, "plain_static")
    assert (re.search(r"\boutput out\b", warned) is not None) is warned_about, (source, warned)
    graph = graph_of(source, "plain_static")
    if warned_about:
        assert "output_out = 21  (the output out: the graph returns the run's value" in source, source
        with pytest.raises(ag.UsageError, match="output_out"):
            arun(graph(order_id="o22"))
    else:
        assert arun(graph(order_id="o22")) == arun(plain_shop(order_id="o22"))
