"""A constant the agent returned on the path an approval's answer took is not that answer.

The tester's repro: the agent ships after an approval and returns ``{"shipped": True}``, or logs the refusal and
returns ``{"shipped": False}``. Promoted from a refused run, the output read ``ask_approval_1.approved`` (False, as
the constant was), so approving the promoted graph returned shipped=True although ship was never called, and no
PromotionWarning said so. The output is now the run's constant, and the warning names it.
"""

from __future__ import annotations

import warnings
from typing import Any

import aether_nb as ag
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, finished_run

CALLS: list[str] = []


@ag.tool(outputs=["ok"])
def ship(what: str) -> dict[str, bool]:
    CALLS.append("ship")
    return {"ok": True}


@ag.tool(outputs=["ok"])
def log_refusal(what: str) -> dict[str, bool]:
    CALLS.append("log_refusal")
    return {"ok": True}


@ag.graph_fn(name="order_after_approval", outputs=["shipped"])
async def order(what: str, *, context: ag.NodeContext) -> dict[str, Any]:
    if await context.channel().ask_approval("Ship?"):
        await ship(what)
        return {"shipped": True}
    await log_refusal(what)
    return {"shipped": False}


def test_a_refused_runs_constant_is_not_bound_to_the_answer(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers(False)
    run = finished_run(order, what="box")
    assert run.outputs == {"shipped": False}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote("order_static")
    warned = " | ".join(str(w.message) for w in caught if issubclass(w.category, PromotionWarning))
    assert "'shipped': ask_approval_1.approved" not in source, source
    assert "output shipped" in warned, warned
    ns: dict[str, Any] = {"ag": ag, "ship": ship, "log_refusal": log_refusal}
    exec(source, ns)
    CALLS.clear()
    channel.add_answers(True)
    got = arun(ns["order_static"](what="box"))
    assert not (got == {"shipped": True} and "ship" not in CALLS), (got, CALLS, source)
