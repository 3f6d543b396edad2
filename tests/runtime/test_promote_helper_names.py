"""Promoted source imports what it uses under names that hide none of the notebook's.

The tester's repros: a notebook tool called ``ask_approval`` (the ready-made tool's name) made ``run.promote()`` fail
its own check ("This is a bug of run.promote()"), and running promoted source rebound the notebook's name
``ask_approval`` to the ready-made tool; a notebook that did ``from aether_nb import tool, graph_fn`` (no ``ag``) got
a NameError from the source's ``@ag.graphify``, which the promotion's check, run with ``ag`` bound, had passed.
"""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun, finished_run


@ag.tool(outputs=["ok"])
def ask_approval(what: str) -> dict[str, bool]:
    """The notebook's own policy check, named like the ready-made tool."""
    return {"ok": True}


@ag.graph_fn(name="clash_named_helper", outputs=["ok"])
async def clash(what: str, *, context: ag.NodeContext) -> dict[str, Any]:
    a = await ask_approval(what)
    await context.channel().ask_approval("Go?")
    return {"ok": a["ok"]}


@ag.tool(outputs=["y"])
def double_it(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(name="gated_double", outputs=["y"])
async def gated(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    await context.channel().ask_approval("Double?")
    return {"y": (await double_it(x))["y"]}


def test_a_tool_named_like_a_helper_is_promoted_and_called_by_its_own_name(
    session: Session, channel: ScriptedChannel
) -> None:
    channel.add_answers(True)
    run = finished_run(clash, what="x")
    source = run.promote("clash_static")  # (raised "promotion check failed ... a bug of run.promote()")
    assert "ask_approval_1 = ask_approval(what=what)" in source, source
    assert "import ask_approval as _ag_ask_approval" in source, source


def test_promoted_source_hides_no_notebook_name_and_imports_ag(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers(True)
    run = finished_run(gated, x=3)
    source = run.promote("gated_static")
    mine = object()
    # a notebook that imported only what it uses (no ``ag``) and has a name of its own called ask_approval
    ns: dict[str, Any] = {"double_it": double_it, "ask_approval": mine}
    exec(source, ns)
    assert ns["ask_approval"] is mine, source
    channel.add_answers(True)
    assert arun(ns["gated_static"](x=5)) == {"y": 10}


def test_a_promoted_graph_calling_a_tool_named_like_a_helper_and_the_helper_builds_and_runs(
    session: Session, channel: ScriptedChannel
) -> None:
    channel.add_answers(True)
    run = finished_run(clash, what="x")
    source = run.promote("clash_static_run")
    ns: dict[str, Any] = {"ask_approval": ask_approval}
    # (built: "two different tools are both named 'ask_approval'", though one is the notebook's and one aether_nb's)
    exec(source, ns)
    channel.add_answers(True)
    assert arun(ns["clash_static_run"](what="y")) == {"ok": True}
    assert [w.prompt for w in channel.prompts] == ["Go?", "Go?"]  # the ready-made tool asked, once per run
