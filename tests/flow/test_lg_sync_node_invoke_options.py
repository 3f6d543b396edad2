"""A graph invoked from a sync node (``inner.invoke(x, output_keys=..., stream_mode=..., version=...)``) returns what
the same call returns from an async node and in LangGraph. It ignored these options before: a sync node got the
inner graph's values whatever it asked for, silently. Each case runs on both libraries (only the import differs).
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from tests.flow.conftest import both
from tests.flow.conftest import thread as _thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]
    out: Annotated[list[Any], operator.add]


def _shown(result: Any) -> Any:
    """A result in plain types (our InvokeResult and GraphOutput value are dict subclasses)."""
    if hasattr(result, "value") and hasattr(result, "interrupts"):
        return ("GraphOutput", _shown(result.value), tuple(result.interrupts))
    if isinstance(result, dict):
        return {k: _shown(v) for k, v in result.items()}
    if isinstance(result, list):
        return [_shown(v) for v in result]
    return result


def _builder(options: dict[str, Any]) -> Any:
    def build(lib: Any) -> Any:
        inner = lib.StateGraph(S)
        inner.add_node("i", lambda s: {"log": ["i"]})
        inner.add_edge(lib.START, "i")
        inner_app = inner.compile()

        def sync_caller(s: S) -> dict[str, Any]:
            return {"out": [("sync", _shown(inner_app.invoke({"log": ["x"]}, **options)))]}

        async def async_caller(s: S) -> dict[str, Any]:
            return {"out": [("async", _shown(await inner_app.ainvoke({"log": ["x"]}, **options)))]}

        outer = lib.StateGraph(S)
        outer.add_node("s", sync_caller)
        outer.add_node("a", async_caller)
        outer.add_edge(lib.START, "s")
        outer.add_edge("s", "a")
        return outer

    return build


@pytest.mark.parametrize(
    "options",
    [{"output_keys": "log"}, {"output_keys": ["log"]}, {"stream_mode": "updates"}, {"version": "v2"}, {}],
)
def test_a_sync_nodes_invoke_takes_the_calls_options(options: dict[str, Any]) -> None:
    def run(lib: Any, app: Any) -> Any:
        return asyncio.run(app.ainvoke({"log": [], "out": []}, _thread("1")))["out"]

    theirs, mine = both(_builder(options), run)
    assert mine == theirs
    (_, from_sync), (_, from_async) = mine
    assert from_sync == from_async  # (what both libraries agree on: a sync node's call is an async node's)
    if options == {"stream_mode": "updates"}:
        assert from_sync == [{"i": {"log": ["i"]}}]
