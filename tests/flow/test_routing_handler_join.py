"""A node whose ``error_handler`` recovered does not count for a waiting edge ``add_edge(["bad", "ok"], "j")``, as in
LangGraph 1.2 (the handler leads only where its ``Command(goto=...)`` says): ``j`` does not run, unless the handler
goes there. Also when the handled result is kept while a sibling pauses and reused when the answer comes. Run on
LangGraph and on aether_nb and compared."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[str], operator.add]


async def _run(lib: Any, saver: Any, variant: str) -> list[str]:
    def bad(s: S) -> dict[str, Any]:
        raise ConnectionError("down")

    def handler(s: S, error: Any) -> Any:
        if variant == "goto":
            return lib.Command(update={"a": ["handled"]}, goto="j")
        return {"a": ["handled"]}

    handler.__annotations__["error"] = lib.NodeError  # (how LangGraph finds the parameter; a string it cannot)

    def ok(s: S) -> dict[str, Any]:
        return {"a": [lib.interrupt("ok?") if variant == "sibling asks" else "ok"]}

    g = lib.StateGraph(S)
    g.add_node("bad", bad, error_handler=handler)
    g.add_node("ok", ok)
    g.add_node("j", lambda s: {"a": ["j"]})
    g.add_edge(lib.START, "bad")
    g.add_edge(lib.START, "ok")
    g.add_edge(["bad", "ok"], "j")
    app = g.compile(checkpointer=saver)
    res = await app.ainvoke({"a": []}, thread())
    if "__interrupt__" in res:
        res = await app.ainvoke(lib.Command(resume="yes"), thread())
    return list(res["a"])


@pytest.mark.parametrize("variant", ["plain", "goto", "sibling asks"])
async def test_a_node_recovered_by_its_error_handler_does_not_satisfy_a_waiting_edge(
    checkpointer: str, variant: str
) -> None:
    lg = lg_names()
    expected = await _run(lg, lg.InMemorySaver(), variant)
    assert await _run(ours, checkpointer, variant) == expected
    assert ("j" in expected) is (variant == "goto")
