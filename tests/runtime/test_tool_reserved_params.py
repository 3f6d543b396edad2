"""A tool parameter named like a ``@graphify`` control keyword (``_id``, ``_after``, ``_condition``, ``_timeout_s``) is
refused where the tool is defined.

Found by a tester: ``@ag.tool def fetch(_id: str)`` was accepted, then every call by keyword (``fetch(_id="abc")``,
in a run or not) failed with "_id= only applies while building a @graphify graph", which blamed the call.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag


@pytest.mark.parametrize("name", ["_id", "_after", "_condition", "_timeout_s"])
def test_a_tool_parameter_with_a_reserved_name_is_refused_at_definition(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def fetch({name}: str) -> dict:\n    return {{'doc': {name}}}", namespace)
    with pytest.raises(ag.UsageError, match=f"parameter '{name}' has a name tool calls keep for @graphify") as info:
        ag.tool(outputs=["doc"])(namespace["fetch"])
    assert info.value.code == "reserved_param"
    assert "_id, _after, _condition, _timeout_s" in info.value.message and "Rename it" in info.value.message


def test_a_dual_stage_tool_setup_parameter_with_a_reserved_name_is_refused() -> None:
    with pytest.raises(ag.UsageError, match=r"DualStageTool Approve\.setup: parameter '_id'"):

        class Approve(ag.DualStageTool):
            async def setup(self, _id: str) -> ag.WaitSpec:
                return ag.WaitSpec(kind="approval", prompt=_id)

            async def on_resume(self, payload: Any) -> Any:
                return payload


def test_other_underscore_parameters_are_still_fine() -> None:
    @ag.tool(outputs=["doc"])
    def fetch(_key: str, id_: str) -> dict[str, str]:
        return {"doc": _key + id_}

    assert fetch(_key="a", id_="b") == {"doc": "ab"}
