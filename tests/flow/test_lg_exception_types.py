"""Errors LangGraph raises as builtins are aether_nb errors that are also those builtins, so a LangGraph user's
``except ValueError`` / ``except TypeError`` still catches them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.flow import START, StateGraph


@dataclasses.dataclass
class DS:
    a: int
    b: str = "d"


def test_add_sequence_of_no_node_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one node") as caught:
        StateGraph(DS).add_sequence([])
    assert isinstance(caught.value, ag.UsageError)


def test_a_dataclass_state_missing_a_required_field_is_a_type_error(checkpointer: str) -> None:
    def n(st: DS) -> dict[str, Any]:
        return {"b": "z"}

    g = StateGraph(DS)
    g.add_node("n", n)
    g.add_edge(START, "n")
    app = g.compile(checkpointer=checkpointer)
    with pytest.raises(TypeError, match="Fields without a value yet: \\['a'\\]") as caught:
        app.invoke({"b": "x"}, {"configurable": {"thread_id": "t"}})
    assert isinstance(caught.value, ag.UsageError)
    assert caught.value.code == "state_incomplete"
