"""KV, memory, artifacts and custom services over the in-memory store (the DuckDB store passes the same suite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ManualClock
from tests.conftest import arun


def test_kv_ttl_and_scopes(session: Session) -> None:
    clock = ManualClock()
    session.clock = clock

    @ag.graph_fn
    async def writer(*, context: ag.NodeContext) -> None:
        await context.kv().set("shared", 1, ttl_s=10)
        await context.kv(scope="run").set("mine", 2)

    @ag.graph_fn
    async def reader(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"shared": await context.kv().get("shared"), "mine": await context.kv(scope="run").get("mine", "none")}

    async def main() -> None:
        await writer()
        assert await reader() == {"shared": 1, "mine": "none"}
        clock.advance(11)
        assert await reader() == {"shared": None, "mine": "none"}

    arun(main())


def test_memory_search_ranks_relevant_events_first(session: Session) -> None:
    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        mem = context.memory()
        for text in ["the cat sat on the mat", "quarterly revenue grew", "a dog chased the cat", "tea time"]:
            await mem.record("note", {"text": text})
        out = {}
        for mode in ("lexical", "semantic", "hybrid"):
            out[mode] = [e.text for e in await mem.search("cat", limit=2, mode=mode)]
        with pytest.raises(ag.UsageError):
            await mem.search("cat", mode="fuzzy")
        return out

    out = arun(agent())
    for mode, hits in out.items():
        assert set(hits) == {"the cat sat on the mat", "a dog chased the cat"}, mode


def test_artifact_names_that_would_escape_are_rejected(session: Session) -> None:
    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> None:
        for bad in ["../x", "/etc/passwd", "a/b", "..", ""]:
            with pytest.raises(ag.UsageError, match="not allowed"):
                await context.artifacts().save_text("x", name=bad)

    arun(agent())


class Counter(ag.Service):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.callers: set[str] = set()

    async def incr(self) -> None:
        async with self.critical():
            current = self.value
            await asyncio.sleep(0)  # yield inside the critical section: without the lock, increments get lost
            self.value = current + 1
            self.callers.add(self.ctx().run_id)


def test_custom_service_with_a_critical_section(session: Session) -> None:
    counter = Counter()
    ag.register_context_service("counter", counter)

    @ag.graph_fn
    async def worker(*, context: ag.NodeContext) -> None:
        for _ in range(100):
            await context.counter().incr()

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(10)))

    arun(main())
    assert counter.value == 1000
    assert len(counter.callers) == 10
