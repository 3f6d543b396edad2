"""Promotion and the agent's context calls: an approval gates what followed it, nothing else is dropped silently.

The promoted source is executed as a notebook cell runs it and its graph is run through a scripted channel: the
approval is asked again and a refusal skips the payment; the KV write, memory record and message the promoted graph
does not make are listed in the source and named by a :class:`PromotionWarning`; a failed call the agent caught and
retried is noted.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, finished_run

PAID: list[int] = []


@ag.tool(outputs=["receipt"])
def pay(amount: int) -> dict[str, str]:
    PAID.append(amount)
    return {"receipt": f"paid {amount}"}


@ag.graph_fn(outputs=["receipt"])
async def payer(amount: int, *, context: ag.NodeContext) -> dict[str, str]:
    approved, _ = await context.channel().ask_approval("Pay now?")  # the gate
    if not approved:
        return {"receipt": ""}
    r = await pay(amount)
    await context.kv().set("last_receipt", r["receipt"])
    await context.memory().record("payment", {"amount": amount})
    await context.channel().send_text("done")
    return {"receipt": r["receipt"]}


def test_an_approval_is_carried_over_and_gates_the_calls_after_it(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers(True)
    run = finished_run(payer, amount=100)
    assert run.outputs == {"receipt": "paid 100"}
    with pytest.warns(
        PromotionWarning, match=r"leaves out 3 context call\(s\).*kv\.set_1, memory\.record_1, send_text_1"
    ):
        source = run.promote("payer_static")
    ns: dict[str, Any] = {"ag": ag, "pay": pay}
    exec(source, ns)
    assert "from aether_nb.tools import ask_approval as _ag_ask_approval" in source
    assert "ask_approval_1 = _ag_ask_approval(prompt='Pay now?')" in source
    assert "pay_1 = pay(amount=amount, _condition={'op': 'eq', 'left': ask_approval_1.approved, 'right': True})" in (
        source
    )
    # what it does not do is said at its top, with the steps' keys
    assert "# NOT IN THIS GRAPH" in source
    assert "#   kv.set_1: kv.set(" in source and "#   memory.record_1: memory.record(" in source
    assert "#   send_text_1: channel send_text('done'): not sent" in source

    PAID.clear()
    channel.add_answers(True)
    assert arun(ns["payer_static"](amount=100)) == {"receipt": "paid 100"}
    assert PAID == [100] and channel.prompts[-1].prompt == "Pay now?"

    channel.add_answers(False)  # refused: the payment is skipped
    assert arun(ns["payer_static"](amount=100)) == {"receipt": None}
    assert PAID == [100]


def test_the_promoted_taskgraph_is_gated_too(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers(True)
    run = finished_run(payer, amount=5)
    graph = run.to_taskgraph("payer_graph")
    assert graph.nodes["pay_1"].deps == ("ask_approval_1",)
    assert graph.nodes["pay_1"].condition == {
        "op": "eq",
        "left": {"$ref": ["ask_approval_1", "approved"]},
        "right": True,
    }
    PAID.clear()
    channel.add_answers(False)
    assert arun(ag.run(graph, {"amount": 5})) == {"receipt": None} and PAID == []


def test_a_failed_call_the_agent_retried_is_noted(session: Session) -> None:
    attempts: list[int] = []

    @ag.tool(outputs=["y"])
    def flaky(x: int) -> dict[str, int]:
        attempts.append(x)
        if len(attempts) == 1:
            raise ConnectionError("busy")
        return {"y": x * 3}

    @ag.graph_fn(outputs=["y"])
    async def retrying(x: int) -> dict[str, int]:
        try:
            r = await flaky(x)
        except ConnectionError:
            r = await flaky(x)
        return {"y": r["y"]}

    run = finished_run(retrying, x=2)
    assert run.outputs == {"y": 6}
    source = run.promote("retrying_static")
    assert "# flaky_1: flaky({'x': 2}) failed during the run (" in source and "busy" in source
    assert "retry=ag.RetryPolicy(" in source
    ns: dict[str, Any] = {"ag": ag, "flaky": flaky}
    exec(source, ns)
    assert arun(ns["retrying_static"](x=4)) == {"y": 12}


def test_an_agent_without_context_calls_promotes_without_a_warning(session: Session) -> None:
    @ag.graph_fn(outputs=["receipt"])
    async def plain(amount: int) -> dict[str, str]:
        return {"receipt": (await pay(amount))["receipt"]}

    run = finished_run(plain, amount=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = run.promote("plain_static")
    assert "NOT IN THIS GRAPH" not in source and "ask_approval" not in source
