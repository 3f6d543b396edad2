"""KV, memory, artifacts and custom services over the in-memory store (the DuckDB store passes the same suite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.events import ServiceCalled
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


GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_a_name_or_key_holding_a_secret_is_refused_without_repeating_it(session: Session) -> None:
    """Values are redacted where they are stored; keys and names cannot be (two would become one): a KV key
    ``quota:<token>``, a memory kind or tag, an artifact name were stored whole. Refused now, saying what to do,
    and the message does not repeat the secret (it lands in the cell's output)."""
    refused: list[str] = []

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> None:
        calls = [
            lambda: context.kv().set(f"quota:{GITHUB_TOKEN}", 1),
            lambda: context.kv().get(f"quota:{GITHUB_TOKEN}"),
            lambda: context.memory().record(f"login {GITHUB_TOKEN}", {"ok": True}),
            lambda: context.memory().record("login", {"ok": True}, tags=[GITHUB_TOKEN]),
            lambda: context.artifacts().save_text("x", name=f"{GITHUB_TOKEN}.txt"),
        ]
        for call in calls:
            with pytest.raises(ag.UsageError) as caught:
                await call()
            assert caught.value.code == "secret_in_name"
            refused.append(str(caught.value))
        await context.kv().set("quota:api_key", 1)  # credential-like words alone are fine
        await context.memory().record("password_reset", {"ok": True})

    arun(agent())
    assert len(refused) == 5 and not any(GITHUB_TOKEN[4:20] in m for m in refused)
    assert all("hashlib.sha256" in m for m in refused)


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


def test_a_service_is_reached_as_aethergraph_writes_it_too(session: Session) -> None:
    """AetherGraph's documented ``context.counter.incr(2)`` failed with "'function' object has no attribute
    'incr'" (only ``context.counter()`` worked); both spellings are the same journaled step now."""
    counter = Counter()
    ag.register_context_service("counter", counter)

    @ag.graph_fn
    async def worker(*, context: ag.NodeContext) -> None:
        await context.counter.incr()
        await context.counter().incr()
        assert context.counter is context.counter() is context.svc("counter")

    async def main() -> list[str]:
        run = worker.start()
        await run
        return [f"{e.service}.{e.method}" for e in run.history if isinstance(e, ServiceCalled)]

    assert arun(main()) == ["counter.incr", "counter.incr"]  # both journaled steps
    assert counter.value == 2


def test_kv_expired_keys_are_purged_after_runs(session: Session) -> None:
    clock = ManualClock()
    session.clock = clock

    @ag.graph_fn
    async def writer(*, context: ag.NodeContext) -> None:
        await context.kv().set("short", 1, ttl_s=5)

    @ag.graph_fn
    async def idle() -> None:
        return None

    arun(writer())
    assert [k for k, _ in session.store.kv_keys("notebook")] == ["short"]
    clock.advance(120)
    arun(idle())  # housekeeping after a run purges expired keys from the store itself
    assert session.store.kv_keys("notebook") == []


def test_artifacts_pin_filter_and_display(session: Session) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        arts = context.artifacts()
        t = await arts.save_text("hello", name="greeting.txt", labels={"stage": "draft"})
        j = await arts.save_json({"a": 1}, name="data.json")
        p = await arts.save_bytes(png, name="plot.png", mime="image/png")
        await arts.pin(t.uri)
        return {
            "pinned": [a.name for a in await arts.list(pinned=True)],
            "glob": sorted(a.name for a in await arts.list(name="*.json")),
            "kind": [a.name for a in await arts.list(kind="text")],
            "bundles": [t._repr_mimebundle_(), j._repr_mimebundle_(), p._repr_mimebundle_()],
        }

    out = arun(agent())
    assert out["pinned"] == ["greeting.txt"] and out["glob"] == ["data.json"] and out["kind"] == ["greeting.txt"]
    text, js, img = out["bundles"]
    assert text["text/plain"] == "hello"
    assert js["application/json"] == {"a": 1}
    assert "image/png" in img and img["text/plain"].startswith("Artifact plot.png")


def test_distill_summary_is_extractive(session: Session) -> None:
    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        mem = context.memory()
        for text in [
            "The pump failed at noon. Weather was mild.",
            "Engineers replaced the pump seal. Lunch was late.",
            "After the seal change the pump ran fine.",
        ]:
            await mem.record("note", {"text": text})
        summary = await mem.distill_summary(max_sentences=2)
        latest = await mem.recent(kinds=["summary"], limit=1)
        return {"summary": summary.text, "events": summary.data["events"], "stored": latest[0].id == summary.id}

    out = arun(agent())
    assert out["events"] == 3 and out["stored"] is True
    assert "pump" in out["summary"] and "Lunch" not in out["summary"] and "Weather" not in out["summary"]


def test_aethergraphs_service_names_work(session: Session) -> None:
    """AetherGraph code (its inventory's names): ``kv.mget``/``mset``/``scan_keys``, ``memory.append_event``/
    ``recent_events``, a stream's ``start()``/``end(full_text=...)`` raised AttributeError here."""

    @ag.graph_fn(name="ag_services", outputs=["kv", "keys", "kinds", "streamed"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        kv, memory, ch = context.kv(), context.memory(), context.channel()
        await kv.mset({"a": 1, "b": 2})
        await memory.append_event(kind="tool_result", data={"ok": True}, tags=["t"])
        with pytest.raises(ag.UsageError, match=r"\['severity'\] are AetherGraph event fields"):
            await memory.append_event(kind="x", data={}, severity=3)
        async with ch.stream() as s:
            await s.start()
            await s.delta("Hel")
            await s.end(full_text="Hello, world")
        events = await memory.recent_events(kinds=["tool_result"], limit=5)
        return {
            "kv": await kv.mget(["a", "b", "missing"]),
            "keys": await kv.scan_keys(""),
            "kinds": [e.kind for e in events],
            "streamed": s.text,
        }

    assert arun(agent()) == {
        "kv": [1, 2, None],
        "keys": ["a", "b"],
        "kinds": ["tool_result"],
        "streamed": "Hello, world",
    }
