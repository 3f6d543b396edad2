"""A SchemaTool given odd values (a scratch tester's findings, helper D of the twenty-seventh session): an output
schema that is not a dict or not JSON, a ``call`` that is not async, and an input schema whose ``$ref`` points
nowhere escaped as bare ValueError / TypeError / jsonschema's ``_WrappedReferencingError``."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.schema_tool import SchemaTool
from aether_nb.runtime.session import Session
from tests.conftest import arun


async def ok(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "got": arguments}


@pytest.mark.parametrize("output_schema", ["ok", {"enum": {1}}], ids=["a_string", "a_set"])
def test_an_output_schema_that_is_not_a_json_dict_is_a_usage_error(output_schema: Any) -> None:
    with pytest.raises(ag.UsageError, match="output_schema") as err:
        SchemaTool("t_out", {"type": "object"}, ok, output_schema=output_schema)
    assert err.value.code == "bad_schema"


def test_an_input_schema_that_holds_itself_is_a_usage_error() -> None:
    schema: dict[str, Any] = {"type": "object"}
    schema["x"] = schema
    with pytest.raises(ag.UsageError, match="the input schema must be JSON"):
        SchemaTool("t_loop", schema, ok)


def test_a_call_that_is_not_async_is_a_usage_error_saying_so(session: Session) -> None:
    def sync_call(arguments: dict[str, Any]) -> dict[str, Any]:
        return {"ok": 1}

    tool = SchemaTool("t_sync", {"type": "object"}, sync_call)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="call must be an async function") as err:
        arun(tool())
    assert err.value.code == "bad_tool"


def test_an_input_schema_whose_ref_points_nowhere_is_left_to_the_callee(session: Session) -> None:
    """As a schema jsonschema calls invalid: the server's to get right (it checks the arguments itself), so the
    call goes through unchecked rather than failing with jsonschema's referencing error."""
    tool = SchemaTool("t_ref", {"type": "object", "properties": {"a": {"$ref": "#/$defs/Amount"}}}, ok)
    assert arun(tool(a=1)) == {"ok": True, "got": {"a": 1}}
