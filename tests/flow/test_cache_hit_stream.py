"""A node answered from its cache (``compile(cache=...)``, ``cache_policy=``) streams, as LangGraph's, the start of
its task and its ``updates`` chunk marked ``cached``: no ``tasks`` result and no message (the node did not run).
Checked against the installed LangGraph where it is importable."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as af


class S(TypedDict):
    log: Annotated[list, operator.add]
    n: int


def _chunks(lib: Any, types: Any, checkpointer: Any, cache: Any) -> list[list[tuple[Any, ...]]]:
    g = lib.StateGraph(S)
    g.add_node("a", lambda s: {"log": [f"a{s['n']}"]}, cache_policy=types.CachePolicy())
    g.add_edge(lib.START, "a")
    app = g.compile(checkpointer=checkpointer, cache=cache)
    runs = []
    for thread in ("1", "2"):  # the second thread's node has the same input: a cache hit
        cfg = {"configurable": {"thread_id": thread}}
        chunks = app.stream({"log": [], "n": 1}, cfg, stream_mode=["tasks", "updates"])
        runs.append([(m, c["name"], "result" in c) if m == "tasks" else (m, c) for m, c in chunks])
    return runs


def test_a_cache_hit_streams_its_task_start_and_cached_update_only(checkpointer: str) -> None:
    first, hit = _chunks(af, af, checkpointer, af.InMemoryCache())
    assert first == [("tasks", "a", False), ("updates", {"a": {"log": ["a1"]}}), ("tasks", "a", True)]
    assert hit == [("tasks", "a", False), ("updates", {"a": {"log": ["a1"]}, "__metadata__": {"cached": True}})]


def test_a_cache_hit_streams_no_message() -> None:
    class M(TypedDict):
        messages: Annotated[list, af.add_messages]

    g = af.StateGraph(M)
    g.add_node("a", lambda s: {"messages": [{"role": "assistant", "content": "hi", "id": "m1"}]},
               cache_policy=af.CachePolicy())  # fmt: skip
    g.add_edge(af.START, "a")
    app = g.compile(checkpointer="memory", cache=af.InMemoryCache())
    modes = []
    for thread in ("1", "2"):
        cfg = {"configurable": {"thread_id": thread}}
        modes.append([m for m, _ in app.stream({"messages": []}, cfg, stream_mode=["messages", "tasks", "updates"])])
    assert modes[1] == ["tasks", "updates"]


def test_cache_hit_stream_matches_langgraph() -> None:
    lgg = pytest.importorskip("langgraph.graph")
    lgt = pytest.importorskip("langgraph.types")
    memory = pytest.importorskip("langgraph.checkpoint.memory")
    lg_cache = pytest.importorskip("langgraph.cache.memory")
    theirs = _chunks(lgg, lgt, memory.InMemorySaver(), lg_cache.InMemoryCache())
    ours = _chunks(af, af, "memory", af.InMemoryCache())
    assert ours == theirs
