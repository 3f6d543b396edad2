"""A graph streamed inside a node (``inner.stream(...)`` / ``astream``) runs as a subgraph of the calling task, as
LangGraph's: its caller gets its chunks, and a stream of the turn with ``subgraphs=True`` shows them under the
task's namespace (they were missing there). Expected values measured on LangGraph 1.2 with the same graphs
(its namespaces carry ``:<task id>``, stripped here as aether_nb's carry their own suffix)."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

from typing_extensions import TypedDict

from aether_nb.flow import START, StateGraph
from aether_nb.flow.compiled import CompiledGraph


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _inner() -> CompiledGraph:
    builder = StateGraph(S).add_node("s1", lambda s: {"log": ["s1"]}).add_node("s2", lambda s: {"log": ["s2"]})
    return builder.add_edge(START, "s1").add_edge("s1", "s2").compile(checkpointer="memory")


def _plain_ns(chunk: Any) -> Any:
    ns, *rest = chunk
    return (tuple(part.split(":")[0] for part in ns), *rest)


def _cfg(thread: str) -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": thread}}


INNER_UPDATES = [{"s1": {"log": ["s1"]}}, {"s2": {"log": ["s2"]}}]


def test_sync_node_streaming_a_graph_shows_under_subgraphs() -> None:
    inner = _inner()

    def call(state: S) -> dict[str, Any]:
        return {"log": [str(list(inner.stream({"log": []})))]}

    app = StateGraph(S).add_node("call", call).add_edge(START, "call").compile(checkpointer="memory")
    assert dict(app.invoke({"log": []}, _cfg("1"))) == {"log": [str(INNER_UPDATES)]}
    got = [_plain_ns(c) for c in app.stream({"log": []}, _cfg("2"), subgraphs=True)]
    assert got == [
        (("call",), INNER_UPDATES[0]),
        (("call",), INNER_UPDATES[1]),
        ((), {"call": {"log": [str(INNER_UPDATES)]}}),
    ]


def test_async_node_streaming_a_graph_shows_under_subgraphs() -> None:
    inner = _inner()

    async def call(state: S) -> dict[str, Any]:
        return {"log": [str([c async for c in inner.astream({"log": []}, stream_mode="values")])]}

    app = StateGraph(S).add_node("call", call).add_edge(START, "call").compile(checkpointer="memory")

    async def go() -> list[Any]:
        return [_plain_ns(c) async for c in app.astream({"log": []}, _cfg("1"), subgraphs=True)]

    inner_values = [{"log": []}, {"log": ["s1"]}, {"log": ["s1", "s2"]}]
    got = asyncio.run(go())
    assert got == [
        (("call",), INNER_UPDATES[0]),
        (("call",), INNER_UPDATES[1]),
        ((), {"call": {"log": [str(inner_values)]}}),
    ]


def test_a_node_leaving_a_nested_stream_early_goes_on() -> None:
    inner = _inner()

    def call(state: S) -> dict[str, Any]:
        for chunk in inner.stream({"log": []}):
            return {"log": [str(chunk)]}
        return {}

    app = StateGraph(S).add_node("call", call).add_edge(START, "call").compile(checkpointer="memory")
    assert dict(app.invoke({"log": []}, _cfg("1"))) == {"log": [str(INNER_UPDATES[0])]}
