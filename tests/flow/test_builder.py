"""StateGraph's builder refuses arguments it cannot use at the call, with a UsageError saying what to pass (never a
bare TypeError from inside), and node names as run history keeps them (no NUL, no lone surrogate)."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph


class S(TypedDict):
    n: int


def inc(s: S) -> dict[str, Any]:
    return {"n": s["n"] + 1}


def graph() -> StateGraph:
    g = StateGraph(S)
    g.add_node("inc", inc)
    g.add_edge(START, "inc")
    g.add_edge("inc", END)
    return g


@pytest.mark.parametrize("start", [None, 5, 1.5])
def test_add_edge_from_something_that_is_no_node_name(start: Any) -> None:
    with pytest.raises(ag.UsageError, match="node name or a list of them"):
        graph().add_edge(start, "inc")


@pytest.mark.parametrize("path_map", [5, "inc", {"x": 5}, [None]])
def test_add_conditional_edges_with_a_path_map_that_is_no_dict_or_list_of_names(path_map: Any) -> None:
    with pytest.raises(ag.UsageError, match="path_map"):
        graph().add_conditional_edges("inc", lambda s: END, path_map)


def test_add_conditional_edges_still_takes_dicts_lists_and_sets() -> None:
    for path_map in ({"go": END}, [END], {END}, (END,)):
        graph().add_conditional_edges("inc", lambda s: END, path_map)


@pytest.mark.parametrize("option", ["interrupt_before", "interrupt_after"])
@pytest.mark.parametrize("value", [True, 5, "inc", [None]])
def test_compile_with_interrupts_that_are_no_list_of_names(option: str, value: Any) -> None:
    with pytest.raises(ag.UsageError, match=f'{option}= takes a list of node names or "\\*"'):
        graph().compile(**{option: value})


def test_compile_still_takes_star_lists_and_none() -> None:
    for value in ("*", ["inc"], ("inc",), None):
        graph().compile(interrupt_before=value, interrupt_after=value)


@given(
    prefix=st.text(max_size=5),
    bad=st.sampled_from(["\x00", "\ud800", "\udfff", "\udc80"]),
    suffix=st.text(max_size=5),
)
def test_a_node_name_with_a_nul_or_a_lone_surrogate_is_refused_at_add_node(prefix: str, bad: str, suffix: str) -> None:
    name = f"n{prefix}{bad}{suffix}".replace("/", "").replace("|", "").replace(":", "")
    with pytest.raises(ag.UsageError, match="node name"):
        StateGraph(S).add_node(name, inc)
