"""Cases a differential tester found where aether_nb.flow and LangGraph disagreed, each run on both libraries (only
the import differs) and compared.

``test_lg_parity.py`` holds a LangGraph user's code from its guides; this file holds the corners the tester
reached (state objects returned by nodes, ``update_state`` with a ``Command``, the ``messages`` stream mode,
strings written as messages, the call's metadata, managed values). Each test is skipped when LangGraph is not
installed (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

import aether_nb.flow as ours
from tests.flow.conftest import lg_names as _lg
from tests.flow.conftest import thread as _thread


def _libs() -> list[tuple[Any, Any]]:
    """``(names, checkpointer)`` for LangGraph, then for aether_nb."""
    lg = _lg()
    return [(lg, lg.InMemorySaver()), (ours, "memory")]


class Tally(BaseModel):
    a: int = 0
    log: Annotated[list[str], operator.add] = Field(default_factory=list)


@pytest.mark.parametrize(
    "ret",
    [
        lambda s: Tally(a=9),  # log left at its default: appends nothing
        lambda s: Tally(a=9, log=["new"]),  # appends "new"
        lambda s: s.model_copy(update={"a": 9}),  # the state itself: LangGraph appends the list to itself
    ],
    ids=["fresh-object", "fresh-object-with-list", "mutated-copy"],
)
def test_a_node_returning_a_state_object_writes_each_field_through_its_reducer(ret: Callable[[Tally], Any]) -> None:
    """A pydantic state object returned by a node is LangGraph's ``get_update_as_tuples``: every field is a write
    through its key's reducer, so a list field at its default ``[]`` keeps what earlier nodes appended."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Tally)
        g.add_node("n1", lambda s: {"log": ["n1"]})
        g.add_node("n2", ret)
        g.add_edge(lib.START, "n1")
        g.add_edge("n1", "n2")
        app = g.compile(checkpointer=saver)
        chunks = list(app.stream({"a": 1, "log": ["in"]}, _thread()))
        results.append((chunks, dict(app.get_state(_thread()).values)))
    assert results[1] == results[0]
    assert results[0][1]["log"][:2] == ["in", "n1"]
