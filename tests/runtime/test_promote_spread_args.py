"""Promoting a run whose tools take positional-only parameters, ``*args`` or ``**kwargs``: the promoted source calls
them as Python binds the run's arguments. It wrote every argument by keyword (``va(a=x, rest=..., kw=...)``), so the
graph gave the tool ``kw={'rest': [...], 'kw': {...}}`` — other outputs than the run's, silently — and ``po(a=x)``
for ``def po(a, /)`` did not build."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.schema_tool import SchemaTool
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool
def sp_va(a: int, *rest: int, **kw: int) -> dict[str, Any]:
    return {"result": [a, list(rest), kw]}


@ag.tool
def sp_po(a: int, b: int = 2, /, c: int = 3) -> dict[str, Any]:
    return {"result": [a, b, c]}


@ag.tool
def sp_pk(a: int, /, **kw: int) -> dict[str, Any]:
    return {"result": [a, kw]}


async def _echo(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"echo": arguments}


sp_echo = SchemaTool("sp_echo", {"properties": {"a": {"type": "integer"}}, "required": ["a"]}, _echo)


@ag.graph_fn(name="sp_agent")
async def sp_agent(x: int) -> dict[str, Any]:
    r1 = await sp_va(x, x + 10, z=x + 20)
    r2 = await sp_po(x, x + 1)
    r3 = await sp_po(x, c=x + 2)
    r4 = await sp_pk(x, a=x + 3)
    return {"r": [r1["result"], r2["result"], r3["result"], r4["result"]]}


@ag.graph_fn(name="sp_mcp_agent")
async def sp_mcp_agent(x: int) -> dict[str, Any]:
    return await sp_echo(a=x, **{"my-key": x + 4})  # type: ignore[no-any-return]


def _promoted_outputs(agent: Any, name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The promoted source of a run of ``agent`` (x=5), the run's outputs and the promoted graph's on the same input."""

    async def main() -> tuple[ag.Run, dict[str, Any]]:
        run = agent.start(x=5)
        return run, await run

    run, outputs = arun(main())
    source = run.promote(name)
    namespace: dict[str, Any] = {"ag": ag, "sp_va": sp_va, "sp_po": sp_po, "sp_pk": sp_pk, "sp_echo": sp_echo}
    exec(source, namespace)  # as a notebook cell runs it
    graph = namespace[name]
    return source, outputs, arun(graph(**{"x": 5, **graph.optional}))


def test_a_promoted_graph_calls_spread_and_positional_only_parameters_as_the_run_did(session: Session) -> None:
    source, outputs, again = _promoted_outputs(sp_agent, "sp_static")
    assert "sp_va(x, sp_va_1_rest_1, z=sp_va_1_kw_z" in source  # by position and spread, as Python binds them
    assert "sp_po(x, sp_po_1_b" in source
    assert again == outputs


def test_a_schema_tool_argument_that_is_no_python_name_promotes(session: Session) -> None:
    """Its computed input was named ``sp_echo_1_my-key``: the source did not parse."""
    source, outputs, again = _promoted_outputs(sp_mcp_agent, "sp_mcp_static")
    assert "sp_echo(a=x, **{'my-key': sp_echo_1_my_key}" in source
    assert again == outputs
