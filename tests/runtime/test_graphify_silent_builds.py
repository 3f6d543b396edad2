"""Bodies that used to build silently wrong: each is now a build error saying what to do, or builds right.

Found by a scratch tester's fuzz of @graphify bodies: ``if x == 0`` and ``x in [...]`` traced the wrong branch,
``str(ref)`` put ``Ref(node=...)`` into text, a whole handle nested in an argument reached the tool as a
``<node ...>`` object, a nested graph or agent put a coroutine in the outputs, and a misspelled ``_condition`` key
compared None with None.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.taskgraph import Ref
from tests.conftest import arun


@ag.tool(outputs=["y"])
def sb_double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.tool(outputs=["out"])
def sb_show(v: Any) -> dict[str, str]:
    return {"out": repr(v)}


def _build(body: Any, outputs: list[str] | None = None) -> Any:
    return ag.graphify(name=body.__name__, inputs=["x"], outputs=outputs or ["a"])(body).build()


def test_equality_and_membership_on_a_reference_are_refused() -> None:
    def eq_zero(x):  # type: ignore[no-untyped-def]
        return {"a": sb_double(x=x).y if x == 0 else 1}  # was silently False: the `else` branch was built

    def ne_zero(x):  # type: ignore[no-untyped-def]
        return {"a": sb_double(x=x).y if sb_double(x=x).y != 0 else 1}

    def member(x):  # type: ignore[no-untyped-def]
        return {"a": 1 if x in [1, 2, 3] else 2}

    def contains(x):  # type: ignore[no-untyped-def]
        return {"a": 1 if 3 in x else 2}

    for body in (eq_zero, ne_zero, member, contains):
        with pytest.raises(ag.UsageError, match="_condition=") as err:
            _build(body)
        assert err.value.code == "handle_as_value"


def test_references_still_compare_and_hash_among_themselves() -> None:
    a, b = Ref("n", "y"), Ref("n", "y")
    assert a == b and (a != b) is False and Ref("n", "z") != a
    assert {a: 1}[b] == 1 and len({a, b}) == 1
    assert repr(a) == "Ref(node='n', key='y')"  # kept for messages


def test_a_handle_compared_with_a_value_is_refused() -> None:
    def handle_eq(x):  # type: ignore[no-untyped-def]
        d = sb_double(x=x)
        return {"a": 1 if d == 0 else 2}

    with pytest.raises(ag.UsageError, match="sb_double_1 was used as a value"):
        _build(handle_eq)


def test_str_and_percent_formatting_of_a_reference_are_refused() -> None:
    def with_str(x):  # type: ignore[no-untyped-def]
        return {"a": sb_show(v="val: " + str(sb_double(x=x).y)).out}

    def with_percent(x):  # type: ignore[no-untyped-def]
        return {"a": sb_show(v="val: %s" % sb_double(x=x).y).out}  # noqa: UP031 (what is tested)

    def handle_str(x):  # type: ignore[no-untyped-def]
        return {"a": sb_show(v="val: %s" % sb_double(x=x)).out}  # noqa: UP031 (what is tested)

    for body in (with_str, with_percent):
        with pytest.raises(ag.UsageError, match=r"sb_double_1\.y was turned into text"):
            _build(body)
    with pytest.raises(ag.UsageError, match="sb_double_1 was used as a value"):
        _build(handle_str)


def test_a_whole_handle_nested_in_an_argument_or_a_condition_is_a_build_error() -> None:
    def in_dict(x):  # type: ignore[no-untyped-def]
        d = sb_double(x=x)
        return {"a": sb_show(v={"k": [d]}).out}

    def in_condition(x):  # type: ignore[no-untyped-def]
        d = sb_double(x=x)
        return {"a": sb_double(x=x, _condition={"op": "truthy", "value": d}).y}

    with pytest.raises(ag.UsageError, match=r"sb_show_1: input 'v': a whole handle \(sb_double_1\).*sb_double_1\.y"):
        _build(in_dict)
    with pytest.raises(ag.UsageError, match=r"sb_double_2: _condition: a whole handle \(sb_double_1\)"):
        _build(in_condition)


def test_references_nested_in_arguments_and_outputs_resolve(session: Session) -> None:
    @ag.graphify(name="sb_nested", inputs=["x"], outputs=["a", "b"])
    def sb_nested(x):  # type: ignore[no-untyped-def]
        d = sb_double(x=x)
        return {"a": sb_show(v={"k": [d.y, x]}).out, "b": [d, {"y": d.y}]}

    graph = sb_nested.build()
    assert graph.outputs["b"] == [{"$ref": ["sb_double_1", "y"]}, {"y": {"$ref": ["sb_double_1", "y"]}}]
    assert arun(sb_nested(x=3)) == {"a": "{'k': [6, 3]}", "b": [6, {"y": 6}]}  # "b" held "<node sb_double_1 ...>"


@ag.graphify(name="sb_inner_graph", inputs=["x"], outputs=["r"])
def sb_inner_graph(x):  # type: ignore[no-untyped-def]
    return {"r": sb_double(x=x).y}


@ag.graph_fn(name="sb_inner_agent", outputs=["r"])
async def sb_inner_agent(x: int) -> dict[str, int]:
    return {"r": (await sb_double(x=x))["y"] + 1}


@ag.tool(outputs=["r"])
async def sb_agent_step(x: int) -> dict[str, int]:
    return await sb_inner_agent(x=x)  # type: ignore[no-any-return]


def test_a_graph_or_agent_called_in_a_body_says_how_to_nest(session: Session) -> None:
    def calls_graph(x):  # type: ignore[no-untyped-def]
        return {"a": sb_inner_graph(x=x)}

    def calls_agent(x):  # type: ignore[no-untyped-def]
        return {"a": sb_inner_agent(x=x)}

    with pytest.raises(ag.UsageError, match=r"graphs do not nest as nodes.*plain function") as err:
        _build(calls_graph)
    assert err.value.code == "nested_graph"
    with pytest.raises(ag.UsageError, match="Wrap it in an async tool that awaits it"):
        _build(calls_agent)

    @ag.graphify(name="sb_wrapped", inputs=["x"], outputs=["a"])
    def sb_wrapped(x):  # type: ignore[no-untyped-def]
        return {"a": sb_agent_step(x=x).r}

    assert arun(sb_wrapped(x=3)) == {"a": 7}  # the way the message gives works
    assert arun(sb_inner_graph(x=4)) == {"r": 8}  # and a graph is still awaited as before


def test_a_condition_with_misspelled_keys_is_a_build_error() -> None:
    def typo(x):  # type: ignore[no-untyped-def]
        return {"a": sb_double(x=x, _condition={"op": "eq", "lhs": x, "rhs": 5}).y}

    def typo_nested(x):  # type: ignore[no-untyped-def]
        cond = {"op": "and", "args": [{"op": "truthy", "value": x}, {"op": "not", "val": x}]}
        return {"a": sb_double(x=x, _condition=cond).y}

    with pytest.raises(ag.UsageError, match=r"op 'eq' takes 'left' and 'right', got keys \['lhs', 'rhs'\]"):
        _build(typo)
    with pytest.raises(ag.UsageError, match=r"op 'not' takes 'value'.*got keys \['val'\]"):
        _build(typo_nested)

    def well_formed(x):  # type: ignore[no-untyped-def]
        cond = {"op": "or", "args": [{"op": "ne", "left": x, "right": 0}, {"op": "not", "value": x}]}
        return {"a": sb_double(x=x, _condition=cond).y}

    assert list(_build(well_formed).nodes) == ["sb_double_1"]
