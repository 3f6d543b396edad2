"""Promotion traces trivial values (True, None, [], ...) to their origin like any other value.

A tool's bool, None or empty-list output passed on used to be written as the literal it was, so the promoted graph
took the run's route whatever its inputs, silently. Each test runs the agent and its promoted graph on the run's
inputs and on others and compares what they give.
"""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["urgent"])
def classify(amount: int) -> dict[str, bool]:
    return {"urgent": amount > 100}


@ag.tool(outputs=["route"])
def route(urgent: bool) -> dict[str, str]:
    return {"route": "pager" if urgent else "email"}


@ag.graph_fn(outputs=["route", "urgent"])
async def triage(amount: int) -> dict[str, Any]:
    c = await classify(amount)
    r = await route(c["urgent"])
    return {"route": r["route"], "urgent": c["urgent"]}


@ag.tool(outputs=["y"])
def twice(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.tool(outputs=["manager", "open_tickets"])
def lookup(user: str) -> dict[str, Any]:
    return {"manager": None if user == "ceo" else "bob", "open_tickets": [] if user == "ceo" else ["T-1"]}


@ag.tool(outputs=["msg"])
def notify(urgent: bool, cc: Any, tickets: list[str]) -> dict[str, str]:
    return {"msg": f"urgent={urgent} cc={cc} tickets={tickets}"}


@ag.graph_fn(outputs=["msg"])
async def escalate(x: int, user: str) -> dict[str, str]:
    d = await twice(x)
    u = await lookup(user)
    n = await notify(d["y"] > 10, u["manager"], u["open_tickets"])
    return {"msg": n["msg"]}


def promoted(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"ag": ag, "classify": classify, "route": route, "twice": twice}
    namespace.update(lookup=lookup, notify=notify)
    exec(source, namespace)  # as a notebook cell runs it
    return namespace[name]


def test_a_tools_bool_output_passed_on_is_a_reference(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        run = triage.start(amount=500)
        out = await run
        source = run.promote("triage_static")
        graph = promoted(source, "triage_static")
        return source, out, await graph(amount=500), await graph(amount=5), await triage(amount=5)

    source, out, same, other, agent_other = arun(main())
    assert "route_1 = route(urgent=classify_1.urgent)" in source, source
    assert "'urgent': classify_1.urgent" in source, source
    assert out == same == {"route": "pager", "urgent": True}
    assert other == agent_other == {"route": "email", "urgent": False}


def test_none_and_empty_outputs_are_references_and_a_computed_bool_is_never_frozen(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str | None]:
        run = escalate.start(x=50, user="ceo")
        out = await run
        source = run.promote("escalate_static")
        graph = promoted(source, "escalate_static")
        same = await graph(x=50, user="ceo")
        agent_other = await escalate(x=1, user="ann")
        given = await graph(x=1, user="ann", notify_1_urgent=False)  # the computed value passed: the agent's
        try:
            await graph(x=1, user="ann")
            code = None
        except ag.UsageError as exc:
            code = exc.code
        return source, out, same, given if given == agent_other else {"differs": given, "agent": agent_other}, code

    source, out, same, other, code = arun(main())
    assert "cc=lookup_1.manager, tickets=lookup_1.open_tickets" in source, source
    assert "urgent=notify_1_urgent" in source and "notify_1_urgent = True" in source, source
    assert out == same == {"msg": "urgent=True cc=None tickets=[]"}
    assert other == {"msg": "urgent=False cc=bob tickets=['T-1']"}
    assert code == "stale_computed_inputs"  # other inputs without the computed value: said, not frozen


def test_a_trivial_value_two_origins_hold_is_noted(session: Session) -> None:
    @ag.tool(outputs=["flag"])
    def check_a(x: int) -> dict[str, bool]:
        return {"flag": x > 0}

    @ag.tool(outputs=["flag"])
    def check_b(x: int) -> dict[str, bool]:
        return {"flag": x > 1}

    @ag.graph_fn(outputs=["route"])
    async def both(x: int) -> dict[str, Any]:
        await check_a(x)
        b = await check_b(x)
        r = await route(b["flag"])
        return {"route": r["route"]}

    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = both.start(x=5)
        await run
        source = run.promote("both_static")
        namespace: dict[str, Any] = {"ag": ag, "check_a": check_a, "check_b": check_b, "route": route}
        exec(source, namespace)
        return source, await namespace["both_static"](x=1), await both(x=1)

    source, other, agent_other = arun(main())
    # the call just before route took the flag (the run's order): the other output holding True is named
    assert "route_1 = route(urgent=check_b_1.flag)" in source, source
    assert "its value True is also check_a_1.flag; the graph takes check_b_1.flag" in source, source
    assert other == agent_other == {"route": "email"}


@ag.tool(outputs=["seen"])
def echo(v: Any) -> dict[str, str]:
    return {"seen": repr(v)}


@ag.graph_fn(outputs=["seen"])
async def writes(x: int) -> dict[str, str]:
    await echo(None)
    await echo(True)
    c = await echo([])
    return {"seen": c["seen"]}


def test_trivial_constants_of_the_code_stay_literals(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any]]:
        run = writes.start(x=1)
        await run
        source = run.promote("writes_static")
        namespace: dict[str, Any] = {"ag": ag, "echo": echo}
        exec(source, namespace)
        return source, await namespace["writes_static"]()

    source, out = arun(main())
    assert "echo_1 = echo(v=None)" in source and "echo(v=True" in source and "echo(v=[]" in source, source
    assert "_v" not in source, source  # nothing computed
    assert out == {"seen": "[]"}
