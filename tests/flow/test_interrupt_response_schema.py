"""``interrupt(value, response_schema=...)`` (LangGraph 1.2): a type checks the answer (a wrong one is refused and
the question stays pending) and ``interrupt()`` returns the answer as that type; a JSON Schema dict is shown on
the :class:`Interrupt` only."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

from aether_nb.errors import InvalidAnswer
from aether_nb.flow import START, Command, StateGraph, interrupt
from tests.flow.conftest import thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    log: Annotated[list, operator.add]


class Approval(BaseModel):
    ok: bool
    note: str = ""


def _graph(checkpointer: str, schema: Any) -> Any:
    def n(s: S) -> dict[str, Any]:
        return {"log": [repr(interrupt("approve?", response_schema=schema))]}

    b = StateGraph(S)
    b.add_node("n", n)
    b.add_edge(START, "n")
    return b.compile(checkpointer=checkpointer)


async def test_a_model_schema_is_shown_and_the_answer_returned_as_the_model(checkpointer: str) -> None:
    g = _graph(checkpointer, Approval)
    res = await g.ainvoke({"log": []}, thread())
    asked = res["__interrupt__"][0]
    assert asked.value == "approve?"
    assert asked.response_schema == Approval.model_json_schema()  # (LangGraph's: the type's JSON Schema)
    assert (await g.aget_state(thread())).interrupts[0].response_schema == Approval.model_json_schema()
    done = await g.ainvoke(Command(resume={"ok": True}), thread())
    assert dict(done) == {"log": ["Approval(ok=True, note='')"]}


async def test_a_wrong_answer_is_refused_and_the_question_stays(checkpointer: str) -> None:
    g = _graph(checkpointer, Approval)
    await g.ainvoke({"log": []}, thread())
    with pytest.raises(InvalidAnswer, match="boolean"):
        await g.ainvoke(Command(resume={"ok": "not a bool"}), thread())
    st = await g.aget_state(thread())
    assert st.next == ("n",) and [i.value for i in st.interrupts] == ["approve?"]
    done = await g.ainvoke(Command(resume=Approval(ok=False, note="no")), thread())  # the model itself too
    assert dict(done) == {"log": ["Approval(ok=False, note='no')"]}


async def test_a_dict_schema_is_shown_not_enforced(checkpointer: str) -> None:
    schema = {"type": "object"}
    g = _graph(checkpointer, schema)
    res = await g.ainvoke({"log": []}, thread())
    assert res["__interrupt__"][0].response_schema == schema
    done = await g.ainvoke(Command(resume="x"), thread())  # not an object: LangGraph does not check it either
    assert dict(done) == {"log": ["'x'"]}
