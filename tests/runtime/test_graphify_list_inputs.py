"""A @graphify body that treats a graph input or an output as a list (``for v in xs``, ``len(xs)``, ``xs[0]``) or a
number (``int(x)``, ``-x``), and ``inputs=`` that the body cannot be called with: each was a raw Python TypeError
("'Ref' object is not iterable", "got an unexpected keyword argument") instead of a UsageError saying what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.promote_items import input_item
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def _double_items(x: Any) -> dict[str, Any]:
    return {"y": x * 2}


def _loop(xs: Any) -> dict[str, Any]:
    return {"a": [_double_items(x=v).y for v in xs]}


def _length(xs: Any) -> dict[str, Any]:
    return {"a": _double_items(x=len(xs)).y}


def _index(xs: Any) -> dict[str, Any]:
    return {"a": _double_items(x=xs[0]).y}


def _unpack(xs: Any) -> dict[str, Any]:
    first, _second = xs
    return {"a": _double_items(x=first).y}


def _output_loop(xs: Any) -> dict[str, Any]:
    h = _double_items(x=xs)
    return {"a": [v for v in h.y]}


@pytest.mark.parametrize("body", [_loop, _length, _index, _unpack, _output_loop], ids=lambda f: f.__name__)
def test_a_reference_used_as_a_list_is_a_usage_error_saying_how_to_loop(
    session: Session, body: Callable[..., Any]
) -> None:
    g = ag.graphify(name=f"g{body.__name__}", inputs=["xs"], outputs=["a"])(body)
    with pytest.raises(ag.UsageError) as err:
        g.build()
    text = str(err.value)
    assert "used as a list" in text and "loop in a tool that takes the whole list" in text
    assert "input_item(of=" in text
    assert err.value.code == "handle_as_value"


@pytest.mark.parametrize(
    "use",
    [int, float, round, abs, lambda x: -x, lambda x: ~x, lambda x: range(x), lambda x: [1, 2][x], lambda x: x & 1],
)
def test_a_reference_used_as_a_number_is_a_usage_error(session: Session, use: Callable[[Any], Any]) -> None:
    @ag.graphify(name="numbers", inputs=["n"], outputs=["a"])
    def numbers(n: Any) -> dict[str, Any]:
        return {"a": _double_items(x=use(n)).y}

    with pytest.raises(ag.UsageError, match=r"graph input 'n' was used (as a number|in arithmetic)"):
        numbers.build()


def test_the_way_the_message_names_takes_an_element_when_the_graph_runs(session: Session) -> None:
    @ag.graphify(name="first_doubled", inputs=["xs"], outputs=["a"])
    def first_doubled(xs: Any) -> dict[str, Any]:
        return {"a": _double_items(x=input_item(of=xs, at=[0]).value).y}

    assert arun(first_doubled(xs=[5, 7])) == {"a": 10}


def test_references_still_hash_and_compare_among_themselves(session: Session) -> None:
    @ag.graphify(name="two_uses", inputs=["x"], outputs=["a", "b"])
    def two_uses(x: Any) -> dict[str, Any]:
        h = _double_items(x=x)
        assert len({h.y, h.y, x}) == 2 and h.y == h.y
        return {"a": h.y, "b": _double_items(x=h.y).y}

    assert arun(two_uses(x=3)) == {"a": 6, "b": 12}


def test_inputs_naming_one_the_body_does_not_take_is_refused_naming_it(session: Session) -> None:
    def body(x: Any) -> dict[str, Any]:
        return {"a": _double_items(x=x).y}

    with pytest.raises(ag.UsageError, match=r"declares inputs \['w'\] the body has no parameter for") as err:
        ag.graphify(name="extra_input", inputs=["x", "w"], outputs=["a"])(body)
    assert err.value.code == "bad_inputs"


def test_a_body_parameter_inputs_does_not_declare_is_refused_naming_it(session: Session) -> None:
    def body(x: Any, w: Any) -> dict[str, Any]:
        return {"a": _double_items(x=x).y}

    with pytest.raises(ag.UsageError, match=r"parameters \['w'\] \(without defaults\) are not declared"):
        ag.graphify(name="missing_input", inputs={"x": 1}, outputs=["a"])(body)


def test_inputs_the_body_can_be_called_with_still_build(session: Session) -> None:
    def kwargs_body(**inputs: Any) -> dict[str, Any]:
        return {"a": _double_items(x=inputs["x"]).y}

    def defaulted(x: Any, scale: int = 2) -> dict[str, Any]:
        return {"a": _double_items(x=x).y}

    assert ag.graphify(name="kw_body", inputs=["x", "w"], outputs=["a"])(kwargs_body).build().required == ["x", "w"]
    assert arun(ag.graphify(name="defaulted_body", inputs=["x"], outputs=["a"])(defaulted)(x=2)) == {"a": 4}
