"""LangGraph's ``debug=True`` and ``print_mode=`` call options print the chunks of those modes while the call
returns (or yields) what it would without them (they were accepted and printed nothing)."""

from __future__ import annotations

import operator
from typing import Annotated

import pytest
from typing_extensions import TypedDict

from aether_nb.errors import UsageError
from aether_nb.flow import START, StateGraph
from aether_nb.flow.compiled import CompiledGraph


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _graph(*, debug: bool = False) -> CompiledGraph:
    builder = StateGraph(S).add_node("a", lambda s: {"log": ["a"]}).add_edge(START, "a")
    return builder.compile(checkpointer="memory", debug=debug)


def _lines(text: str) -> list[str]:
    return [line.replace("\033[1m", "").replace("\033[0m", "") for line in text.splitlines()]


def _cfg(thread: str) -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": thread}}


def test_invoke_debug_prints_updates_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    res = _graph().invoke({"log": []}, _cfg("1"), debug=True)
    assert dict(res) == {"log": ["a"]}
    assert _lines(capsys.readouterr().out) == [
        "[values] {'log': []}",
        "[updates] {'a': {'log': ['a']}}",
        "[values] {'log': ['a']}",
    ]


def test_compile_debug_prints_every_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert dict(_graph(debug=True).invoke({"log": []}, _cfg("1"))) == {"log": ["a"]}
    assert "[updates] {'a': {'log': ['a']}}" in _lines(capsys.readouterr().out)


def test_invoke_print_mode_prints_only_that_mode(capsys: pytest.CaptureFixture[str]) -> None:
    res = _graph().invoke({"log": []}, _cfg("1"), print_mode="updates")
    assert dict(res) == {"log": ["a"]}
    assert _lines(capsys.readouterr().out) == ["[updates] {'a': {'log': ['a']}}"]


def test_stream_prints_its_print_mode_and_yields_its_stream_mode(capsys: pytest.CaptureFixture[str]) -> None:
    got = list(_graph().stream({"log": []}, _cfg("1"), stream_mode="values", print_mode=["updates"]))
    assert got == [{"log": []}, {"log": ["a"]}]
    assert _lines(capsys.readouterr().out) == ["[updates] {'a': {'log': ['a']}}"]


def test_unknown_print_mode_is_refused() -> None:
    with pytest.raises(UsageError, match="print_mode must be among"):
        _graph().invoke({"log": []}, _cfg("1"), print_mode="everything")
