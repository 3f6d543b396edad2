"""A wait's schema, meta and answer checked when given (a scratch tester's findings, helper D of the twenty-seventh
session).

* A schema (or meta) that holds itself passed WaitSpec's checks: the run was shown waiting, the store dropped the
  wait's record when it wrote the batch, and after a restart the run waited forever on no question. README: "A
  wait is never shown without being durable". Now the ask fails its node.
* A schema whose ``$ref`` points nowhere passed, then every answer that reached the ref raised jsonschema's own
  ``_WrappedReferencingError`` out of ``run.answer`` (the run kept waiting). Now the WaitSpec is refused, naming
  the ref; a wait stored with such a schema says so as an InvalidAnswer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.waits import normalise_answer
from aether_nb.store.records import WaitRecord
from tests.conftest import arun, run_script

DANGLING = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Amount"}}}


def _self_holding_schema() -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {"amount": {"type": "number"}}}
    schema["x-parent"] = schema
    return schema


def _self_holding_meta() -> dict[str, Any]:
    meta: dict[str, Any] = {"ui": "form"}
    meta["parent"] = meta
    return meta


@pytest.mark.parametrize("which", ["schema", "meta"])
def test_a_wait_spec_that_holds_itself_is_refused(which: str) -> None:
    kw: dict[str, Any] = {"schema": _self_holding_schema()} if which == "schema" else {"meta": _self_holding_meta()}
    with pytest.raises(ag.UsageError, match=f"WaitSpec.{which} contains itself at") as err:
        ag.WaitSpec(kind="external", prompt="Amount?", **kw)
    assert err.value.code == "self_reference"


@pytest.mark.parametrize("which", ["schema", "meta"])
def test_an_ask_whose_wait_holds_itself_fails_its_node_instead_of_waiting(session: Session, which: str) -> None:
    @ag.graph_fn(outputs=["answer"], name=f"approve_{which}")
    async def approve(*, context: ag.NodeContext) -> dict[str, Any]:
        kw: dict[str, Any] = {"schema": _self_holding_schema()} if which == "schema" else {"meta": _self_holding_meta()}
        return {"answer": await context.wait(ag.WaitSpec(kind="external", prompt="Amount?", **kw))}

    async def main() -> ag.Run:
        run = approve.start()
        with pytest.raises(ag.RunFailed) as err:
            await run
        assert isinstance(err.value.__cause__, ag.UsageError), repr(err.value.__cause__)
        return run

    run = arun(main())
    assert run.status == "failed" and run.waits == []
    assert session.store.list_waits(run.id, status=None) == []
    session.store.flush_history()  # (nothing is dropped: no wait was ever written)


SCRIPT = """
import asyncio, json, sys
import aether_nb as ag
from aether_nb.testing import ScriptedChannel
ag.configure(store=sys.argv[1], channel=ScriptedChannel())

@ag.graph_fn(outputs=["answer"])
async def approve(*, context: ag.NodeContext):
    spec = {"type": "object", "properties": {"amount": {"type": "number"}}}
    spec["x-parent"] = spec
    return {"answer": await context.wait(ag.WaitSpec(kind="external", prompt="Amount?", schema=spec))}

async def first():
    run = approve.start(run_id="approve-1")
    try:
        await run.wait_for("waiting")
        print("WAITING", json.dumps([w.prompt for w in run.waits]))
    except ag.UsageError:  # (it ended instead)
        try:
            await run
        except ag.RunFailed as exc:
            print("FAILED", json.dumps(type(exc.__cause__).__name__))
    try:
        ag.session().flush()
    except ag.StorageError as exc:
        print("DROPPED", json.dumps(exc.message[:200]))

async def after_restart():
    run = ag.get_run("approve-1")
    print("AFTER", json.dumps([run.status, [w.prompt for w in run.waits]]))

asyncio.run(first() if sys.argv[2] == "first" else after_restart())
"""


def test_after_a_restart_the_run_is_not_left_waiting_on_a_question_that_was_never_stored(tmp_path: Path) -> None:
    script = tmp_path / "ask.py"
    script.write_text(SCRIPT)
    store = str(tmp_path / "s.duckdb")
    first = run_script(script, store, "first", timeout=60)
    assert 'FAILED "UsageError"' in first, first  # (was: WAITING ["Amount?"], then DROPPED at the flush)
    out = run_script(script, store, "after_restart", timeout=60)
    assert 'AFTER ["failed", []]' in out, out  # (was: ["waiting", []]: waiting forever, asking nothing)


def test_a_schema_whose_ref_points_nowhere_is_refused_naming_the_ref() -> None:
    with pytest.raises(ag.UsageError, match=r"\$ref '#/\$defs/Amount' does not resolve") as err:
        ag.WaitSpec(kind="external", schema=DANGLING)
    assert err.value.code == "bad_schema"


def test_a_ref_to_the_network_is_refused_not_fetched() -> None:
    with pytest.raises(ag.UsageError, match="never fetched from the network"):
        ag.WaitSpec(kind="external", schema={"properties": {"a": {"$ref": "https://example.invalid/s.json"}}})


def test_refs_that_resolve_inside_the_schema_are_accepted_and_checked() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Amount"}}, "$defs": {"Amount": {"minimum": 0}}}
    spec = ag.WaitSpec(kind="external", schema=schema)
    rec = _record(spec.schema)
    assert normalise_answer(rec, {"a": 3}) == {"a": 3}
    with pytest.raises(ag.InvalidAnswer, match="less than the minimum"):
        normalise_answer(rec, {"a": -1})


def _record(schema: Any) -> WaitRecord:
    return WaitRecord("tok", "r1", "wait_1", "external", "amount?", None, schema, None, 0.0)


def test_a_stored_schema_whose_ref_points_nowhere_makes_an_answer_invalid_not_a_jsonschema_error() -> None:
    """A wait stored before schemas were checked when asked: its answers say why they cannot be checked."""
    with pytest.raises(ag.InvalidAnswer, match=r"\$ref '#/\$defs/Amount' does not resolve.*cancel the run"):
        normalise_answer(_record(DANGLING), {"a": 1})


def test_an_answer_that_holds_itself_is_invalid() -> None:
    answer: dict[str, Any] = {"a": 1}
    answer["me"] = answer
    with pytest.raises(ag.InvalidAnswer, match=r"the answer contains itself at \['me'\]"):
        normalise_answer(_record(None), answer)
