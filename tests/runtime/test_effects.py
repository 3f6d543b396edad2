"""Every effect of a run happens once: service calls (memory, KV, artifacts, custom services) are journaled steps.

A "restart" is a new Session over the same store after the first loop is gone (as in ``test_durability.py``);
``test_effects_process.py`` does the same across real processes with a DuckDB file.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session

calls: dict[str, int] = {}


class Ledger(ag.Service):
    """A custom service with an effect, a pure helper and a read."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[str] = []

    async def post(self, text: str) -> int:
        calls["post"] = calls.get("post", 0) + 1
        self.entries.append(text)
        return len(self.entries)

    def count(self) -> int:  # sync, journaled by default: a resumed run sees the count it saw
        calls["count"] = calls.get("count", 0) + 1
        return len(self.entries)

    @ag.pure
    def fmt(self, n: int) -> str:
        calls["fmt"] = calls.get("fmt", 0) + 1
        return f"#{n}"


@ag.graph_fn(outputs=["hits", "name", "kv", "posted", "count", "loaded"])
async def noter(topic: str, *, context: ag.NodeContext) -> dict[str, Any]:
    mem = context.memory()
    await mem.record("note", {"text": f"the {topic} is blue"}, tags=["sky"])
    hits = await mem.search(topic, limit=5)
    kv = context.kv()
    await kv.set("seen", {"topic": topic})
    seen = await kv.get("seen")
    art = await context.artifacts().save_text(f"about {topic}", name="about.txt")
    ledger = context.ledger()
    posted = await ledger.post(topic)
    count = ledger.count()
    label = ledger.fmt(count)
    await context.channel().send_text(f"{len(hits)} hits {label}")
    name = await context.channel().ask_text("Your name?")
    loaded = await context.artifacts().load_text(art.uri)
    return {
        "hits": [h.text for h in hits],
        "name": name,
        "kv": seen,
        "posted": posted,
        "count": count,
        "loaded": loaded,
    }


def _session(store: MemoryStore, ledger: Ledger, answers: Any = ()) -> tuple[Session, Any]:
    s, ch = make_session(store, answers)
    s.services["ledger"] = ledger
    return s, ch


def _in(session: Session, coro_fn: Any) -> Any:
    previous = session_mod.set_default_session(session)
    try:
        return arun(coro_fn())
    finally:
        session_mod.set_default_session(previous)


def test_a_resumed_run_repeats_no_service_call() -> None:
    calls.clear()
    store, ledger = MemoryStore(), Ledger()
    s1, _ = _session(store, ledger)

    async def first() -> None:
        run = noter.start(topic="sky", run_id="r1")
        await run.wait_for("waiting")

    _in(s1, first)
    s1.flush()
    assert [r.data["text"] for r in store.memory_query("notebook", kinds=["note"])] == ["the sky is blue"]

    # Meanwhile another run records a note that would change the search's result.
    s_other, _ = _session(store, ledger)

    @ag.graph_fn
    async def other(*, context: ag.NodeContext) -> None:
        await context.memory().record("note", {"text": "the sky at night is black"})

    async def meddle() -> None:
        await other()

    _in(s_other, meddle)
    s_other.flush()

    s2, ch2 = _session(store, ledger)

    async def resume() -> dict[str, Any]:
        run = ag.get_run("r1")
        await run.answer("Ada")
        return await run

    out = _in(s2, resume)
    assert out == {
        "hits": ["the sky is blue"],  # what the search returned the first time, not a new search
        "name": "Ada",
        "kv": {"topic": "sky"},
        "posted": 1,
        "count": 1,
        "loaded": "about sky",
    }
    s2.flush()
    notes = [r.data["text"] for r in store.memory_query("notebook", kinds=["note"])]
    assert sorted(notes) == ["the sky at night is black", "the sky is blue"]  # recorded once, not twice
    assert calls == {"post": 1, "count": 1, "fmt": 2}  # the pure helper ran again, the effects did not
    assert ledger.entries == ["sky"]
    assert ch2.texts == []  # nothing said twice
    chat = [r.text for r in store.memory_query("notebook", kinds=["chat"])]
    assert chat.count("1 hits #1") == 1


def test_service_calls_are_listed_on_the_node_that_made_them(session: Session) -> None:
    @ag.tool(outputs=["n"])
    async def remember(x: int, *, context: ag.NodeContext) -> dict[str, int]:
        await context.kv().set("x", x)
        return {"n": await context.kv().get("x")}

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.memory().record("note", "hello")
        return await remember(3)

    async def main() -> Any:
        run = agent.start()
        await run
        return run

    run = arun(main())
    assert [c["method"] for c in run.graph.calls] == ["record"]
    node = run.graph.node("remember_1")
    assert [(c["service"], c["method"]) for c in node.calls] == [("kv", "set"), ("kv", "get")]
    assert [n.id for n in run.graph.nodes] == ["remember_1"]  # service calls are not nodes of their own
    keys = [e.key for e in session.store.load_journal(run.id)]
    assert keys == ["memory.record_1", "remember_1/kv.set_1", "remember_1/kv.get_1", "remember_1"]


def test_a_failed_service_call_writes_nothing(session: Session) -> None:
    class Boom(Exception):
        pass

    class Flaky(ag.Service):
        async def store_then_fail(self) -> None:
            await self.ctx().kv().set("half", 1)  # part of this call: dropped with it
            raise Boom("no")

    session.services["flaky"] = Flaky()

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        with contextlib.suppress(Boom):
            await context.flaky().store_then_fail()
        return {"half": await context.kv().get("half", "absent")}

    assert arun(agent()) == {"half": "absent"}


def test_a_failed_call_of_an_async_or_a_sync_method_is_listed_with_its_error(session: Session) -> None:
    """Both ways a service method runs (awaited, or called right away when sync) record the failed call on the
    graph with its error and leave the error to the caller; the failed async call's write is dropped."""

    class Boom(Exception):
        pass

    class Flaky(ag.Service):
        async def fail_later(self, n: int) -> None:
            await self.ctx().kv().set(f"async-{n}", 1)
            raise Boom(f"async {n}")

        def fail_now(self, n: int) -> None:
            raise Boom(f"sync {n}")

    session.services["flaky"] = Flaky()

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        caught = []
        for n in (1, 2):
            try:
                await context.flaky().fail_later(n)
            except Boom as exc:
                caught.append(str(exc))
            try:
                context.flaky().fail_now(n)
            except Boom as exc:
                caught.append(str(exc))
        return {"caught": caught, "keys": sorted(await context.kv().keys())}

    async def main() -> ag.Run:
        run = agent.start()
        await run
        return run

    run = arun(main())
    assert run.outputs == {"caught": ["async 1", "sync 1", "async 2", "sync 2"], "keys": []}
    failed = [(c["method"], c["error"]["message"]) for c in run.graph.calls if c.get("error")]
    assert failed == [
        ("fail_later", "async 1"),
        ("fail_now", "sync 1"),
        ("fail_later", "async 2"),
        ("fail_now", "sync 2"),
    ]


def test_an_unawaited_service_call_is_reported(session: Session) -> None:
    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> None:
        context.kv().set("k", 1)  # forgot await

    with pytest.raises(ag.RunFailed) as err:
        arun(agent())
    assert "kv.set" in str(err.value.__cause__) and err.value.__cause__.code == "not_awaited"  # type: ignore[union-attr]


def test_bad_values_are_refused_at_the_call_and_block_nothing(session: Session) -> None:
    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        problems = []
        for call in (
            lambda: context.kv().set("\ud800", 1),
            lambda: context.kv().set("k\x00", 1),
            lambda: context.kv().set("k", 1, ttl_s=float("nan")),
            lambda: context.memory().record("note", {"a": _deep(10_000)}),
            lambda: context.memory().record("no\ud800te", {}),
            lambda: context.artifacts().save_text("bad \udc80 text"),
            lambda: context.kv().set("deep", _deep(500)),
        ):
            with pytest.raises(ag.UsageError) as err:
                call()
            problems.append(err.value.code)
        # text from outside (an answer, a chat turn) with a lone surrogate is kept exactly in the data
        await context.memory().record("note", {"text": "odd \ud800 text"})
        for i in range(5):
            await context.kv().set(f"k{i}", i)
        return {"problems": problems}

    async def main() -> Any:
        run = agent.start()
        out = await run
        session.flush()
        return run, out

    run, out = arun(main())
    assert out["problems"] == ["bad_text", "bad_text", "usage", "too_deep", "bad_text", "bad_text", "too_deep"]
    assert [e.key for e in session.store.load_journal(run.id)][-5:] == [f"kv.set_{i}" for i in range(1, 6)]
    (note,) = session.store.memory_query("notebook", kinds=["note"])
    assert note.data == {"text": "odd \ud800 text"} and "\ud800" not in note.text


def _deep(n: int) -> Any:
    value: Any = 0
    for _ in range(n):
        value = [value]
    return value


def test_a_poisoned_value_stops_no_history_on_a_duckdb_file(tmp_path: Any) -> None:
    """The wave-1 bug: kv.set("\\ud800", 1) made every later history batch fail; the store ended with 0 runs."""
    from aether_nb.store.duckdb import DuckDBStore

    store = DuckDBStore(tmp_path / "nb.duckdb")
    s, _ = make_session(store, answers=["odd \ud800 answer"])
    previous = session_mod.set_default_session(s)

    @ag.graph_fn
    async def poisoned(*, context: ag.NodeContext) -> dict[str, Any]:
        refused = []
        for call in (lambda: context.kv().set("\ud800", 1), lambda: context.memory().record("n\ud800", {})):
            with pytest.raises(ag.UsageError):
                call()
            refused.append(True)
        await context.memory().record("note", {"text": "lone \ud800 in a memory text"})
        answer = await context.channel().ask_text("anything odd?")
        return {"refused": refused, "answer": answer}

    @ag.tool(outputs=["y"])
    async def step(x: int) -> dict[str, int]:
        return {"y": x + 1}

    @ag.graph_fn(outputs=["y"])
    async def five() -> dict[str, int]:
        x = 0
        for _ in range(5):
            x = (await step(x))["y"]
        return {"y": x}

    async def main() -> Any:
        out = await poisoned()
        with pytest.raises(ag.UsageError):
            five.start(run_id="bad \ud800 id")
        return out, await five()

    try:
        out, after = arun(main())
        s.flush()
    finally:
        session_mod.set_default_session(previous)
    assert out == {"refused": [True, True], "answer": "odd \ud800 answer"} and after == {"y": 5}
    runs = store.list_runs()
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert len([e for e in store.load_journal(runs[0].run_id) if e.name == "step"]) == 5
    store.close()
    reopened = DuckDBStore(tmp_path / "nb.duckdb")  # everything is in the file, readable
    assert len(reopened.list_runs()) == 2
    (note,) = reopened.memory_query("notebook", kinds=["note"])
    assert note.data == {"text": "lone \ud800 in a memory text"}
    reopened.close()
