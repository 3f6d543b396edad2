"""``@graphify(outputs=[...])`` is what the graph returns: a body returning a key it does not name (or missing one
it names) is a build error naming the keys and what to do, when the graph is built and when it is called."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def dout_inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.tool(outputs=["lo", "hi"])
def dout_split(x: int) -> dict[str, int]:
    return {"lo": x - 1, "hi": x + 1}


def test_an_undeclared_returned_key_is_a_build_error_not_an_output(session: Session) -> None:
    """The body's ``{"a": ..., "b": ...}`` with ``outputs=["a"]`` used to give the graph an output ``b`` too."""

    @ag.graphify(name="dout_extra", inputs=["x"], outputs=["a"])
    def extra(x: Any) -> Any:
        d = dout_inc(x=x)
        return {"a": d.y, "b": d.y}

    for attempt in (extra.build, lambda: arun(extra(x=1))):
        with pytest.raises(ag.UsageError) as info:
            attempt()
        assert info.value.code == "build_errors"
        assert "undeclared output(s) ['b']" in info.value.message
        assert "declare them in @graphify(outputs=[...])" in info.value.message
    assert ag.runs() == []  # refused before a run existed


def test_undeclared_and_missing_keys_are_both_named(session: Session) -> None:
    @ag.graphify(name="dout_both", inputs=["x"], outputs=["a", "c"])
    def both(x: Any) -> Any:
        d = dout_inc(x=x)
        return {"a": d.y, "b": d.y}

    with pytest.raises(ag.UsageError) as info:
        both.build()
    msg = info.value.message
    assert "undeclared output(s) ['b']" in msg
    assert "declared outputs ['c'] are not returned by the body (it returned the keys ['a', 'b'])" in msg
    assert "drop them from @graphify(outputs=[...])" in msg


def test_a_body_returning_nothing_says_so(session: Session) -> None:
    @ag.graphify(name="dout_none", inputs=["x"], outputs=["a"])
    def nothing(x: Any) -> None:
        dout_inc(x=x)

    with pytest.raises(ag.UsageError, match=r"declared outputs \['a'\] are not returned by the body \(it returned "):
        nothing.build()


def test_a_returned_handle_of_one_output_is_the_one_declared_output(session: Session) -> None:
    """As a tool's single value is its one declared output; it was refused ("['a'] not returned")."""

    @ag.graphify(name="dout_handle", inputs=["x"], outputs=["a"])
    def handle(x: Any) -> Any:
        return dout_inc(x=x)

    assert arun(handle(x=1)) == {"a": 2}


def test_a_returned_handle_whose_outputs_differ_names_them(session: Session) -> None:
    @ag.graphify(name="dout_handle2", inputs=["x"], outputs=["a"])
    def handle(x: Any) -> Any:
        return dout_split(x=x)

    with pytest.raises(ag.UsageError) as info:
        handle.build()
    assert "undeclared output(s) ['lo', 'hi']" in info.value.message
    assert "declared outputs ['a'] are not returned" in info.value.message


def test_declared_outputs_returned_exactly_still_work(session: Session) -> None:
    @ag.graphify(name="dout_ok", inputs=["x"], outputs=["lo", "hi"])
    def ok(x: Any) -> Any:
        return dout_split(x=x)

    @ag.graphify(name="dout_free", inputs=["x"])
    def free(x: Any) -> Any:  # no outputs=: any keys
        return {"p": dout_inc(x=x).y, "q": x}

    assert arun(ok(x=5)) == {"lo": 4, "hi": 6}
    assert arun(free(x=5)) == {"p": 6, "q": 5}


def test_a_non_string_output_name_is_a_build_error(session: Session) -> None:
    @ag.graphify(name="dout_int_key", inputs=["x"])
    def intkey(x: Any) -> Any:
        return {1: dout_inc(x=x).y}

    with pytest.raises(ag.UsageError, match="output name 1: output names are strings"):
        intkey.build()
