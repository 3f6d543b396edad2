"""A subgraph node whose subgraph has a narrower ``input_schema``: the parent hands it its state and the subgraph
reads the keys of its input schema, silently, as in LangGraph. It used to warn on every run that "the input wrote
'log', which the input schema does not declare ... Write it with update_state(...)", though the user wrote nothing.
A user's own input with such a key still warns.
"""

import operator
import warnings
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as af


class P(TypedDict):
    q: str
    log: Annotated[list, operator.add]
    ans: str
    other: int


class SubIn(TypedDict):
    q: str


class SubOut(TypedDict):
    ans: str
    log: Annotated[list, operator.add]


class SubAll(SubIn, SubOut):
    scratch: int


def _parent(lib: Any, checkpointer: Any) -> Any:
    sub = lib.StateGraph(SubAll, input_schema=SubIn, output_schema=SubOut)
    sub.add_node("s1", lambda s: {"ans": s["q"] + "!", "log": [f"s1 saw {sorted(s)}"]})
    sub.add_edge("__start__", "s1")
    g = lib.StateGraph(P)
    g.add_node("sub", sub.compile())
    g.add_edge("__start__", "sub")
    return g.compile(checkpointer=checkpointer)


def test_subgraph_node_with_narrower_input_schema_is_quiet(checkpointer: str) -> None:
    app = _parent(af, checkpointer)
    cfg = {"configurable": {"thread_id": "1"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = app.invoke({"q": "Q", "log": [], "other": 3}, cfg)
    assert [str(w.message) for w in caught] == []
    assert dict(out) == {"q": "Q", "log": ["s1 saw ['log', 'q']"], "ans": "Q!", "other": 3}


def test_same_result_as_langgraph(session: Any) -> None:
    lg_graph = pytest.importorskip("langgraph.graph")
    lg_memory = pytest.importorskip("langgraph.checkpoint.memory")
    cfg = {"configurable": {"thread_id": "1"}}
    inp = {"q": "Q", "log": [], "other": 3}
    ours = dict(_parent(af, "memory").invoke(inp, cfg))
    assert ours == _parent(lg_graph, lg_memory.InMemorySaver()).invoke(inp, cfg)


def test_a_users_input_outside_the_input_schema_still_warns(session: Any) -> None:
    g = af.StateGraph(SubAll, input_schema=SubIn, output_schema=SubOut)
    g.add_node("s1", lambda s: {"ans": s["q"] + "!"})
    g.add_edge(af.START, "s1")
    with pytest.warns(UserWarning, match="input schema does not declare"):
        g.compile().invoke({"q": "Q", "scratch": 1})
