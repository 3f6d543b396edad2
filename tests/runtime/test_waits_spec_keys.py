"""A DualStageTool's ``setup`` may return a dict of WaitSpec's keys, and AetherGraph's ``resume_schema`` is one of
them (its name for ``schema``); any other unknown key is a UsageError naming the keys, where it was a bare
``TypeError: WaitSpec.__init__() got an unexpected keyword argument``."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

SCHEMA = {"type": "object", "properties": {"choice": {"enum": ["Yes", "No"]}}, "required": ["choice"]}


class DictWait(ag.DualStageTool, outputs=["v"]):
    async def setup(self, *, context: ag.NodeContext) -> Any:
        return {"kind": "external", "prompt": "go", "resume_schema": SCHEMA}

    async def on_resume(self, resume: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": resume["choice"]}


class OddWait(ag.DualStageTool, outputs=["v"]):
    async def setup(self, *, context: ag.NodeContext) -> Any:
        return {"kind": "external", "prompt": "go", "deadline": 30, "poll": {"interval_sec": 5}}

    async def on_resume(self, resume: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": resume}


def test_a_setup_dict_with_resume_schema_checks_answers_against_it(session: Session) -> None:
    @ag.graph_fn(name="dict_wait", outputs=["v"])
    async def dict_wait() -> dict[str, Any]:
        return await DictWait()

    async def main() -> None:
        run = dict_wait.start()
        await run.wait_for("waiting")
        (wait,) = run.waits
        assert wait.schema == SCHEMA and wait.node_id == "DictWait_1"
        with pytest.raises(ag.InvalidAnswer, match="is not one of"):
            await run.answer({"choice": "Bogus"})
        await run.answer({"choice": "Yes"})
        assert await run == {"v": "Yes"}

    arun(main())


def test_an_unknown_setup_key_is_a_usage_error_naming_the_keys(session: Session) -> None:
    @ag.graph_fn(name="odd_wait", outputs=["v"])
    async def odd_wait() -> dict[str, Any]:
        return await OddWait()

    with pytest.raises(ag.RunFailed) as info:
        arun(odd_wait())
    cause = info.value.__cause__
    assert isinstance(cause, ag.UsageError) and cause.code == "bad_wait_spec"
    message = str(cause)
    assert "unknown key(s) ['deadline', 'poll']" in message
    assert "kind, prompt, options, schema (or resume_schema), timeout_s, meta" in message
    assert "for deadline= use timeout_s=" in message


def test_waitspec_takes_resume_schema_but_not_both_names() -> None:
    assert ag.WaitSpec(kind="human", prompt="ok?", resume_schema=SCHEMA).schema == SCHEMA
    assert ag.WaitSpec(kind="human", prompt="ok?", resume_schema=SCHEMA) == ag.WaitSpec("human", "ok?", schema=SCHEMA)
    with pytest.raises(ag.UsageError, match="not both"):
        ag.WaitSpec(schema=SCHEMA, resume_schema=SCHEMA)
    with pytest.raises(ag.UsageError, match="unknown key"):
        ag.WaitSpec(**{"token": "t"})
