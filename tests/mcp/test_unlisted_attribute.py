"""``calc.add`` on a connection whose tools were never listed (a fresh store, ``context.mcp("calc")`` in a script's
first run): the error says the tools are not known yet and how to go on. It said the connection "has no attribute
or tool 'add'" and that a tool whose name is no identifier is ``calc.tools[name]`` — of a tool named ``add``."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.graph_fn(outputs=["total"])
async def adds(*, context: ag.NodeContext) -> dict[str, Any]:
    calc = context.mcp("calc")
    return {"total": (await calc.add(a=1, b=2))["result"]}


def test_an_attribute_tool_before_any_listing_says_how_to_call_it(session: Session, calc_command: list[str]) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})
    calc = ag.mcp.servers()["calc"]
    with pytest.raises(AttributeError) as info:
        _ = calc.add
    message = str(info.value)
    assert "its tools are not known yet" in message
    assert "calc.tools['add'] calls a tool by name without a listing" in message
    assert "`await calc.connect()` lists them" in message
    assert not hasattr(calc, "add") and not calc.connected  # (nothing was started for it)

    async def main() -> str:
        run = adds.start()
        await run.wait_for("failed", "succeeded", timeout=30)
        return str(run.exception)

    said = arun(main(), timeout=60)
    assert "its tools are not known yet" in said and "calc.tools['add']" in said
