"""A step that started before a restart and goes on after it (a question still open, a tool cut off) keeps the
edges it had live, as a replayed step does.

A person saw it in JupyterLab: an LLM asked for two tools at once (``price`` and a ``DualStageTool`` that asks for
approval), drawn side by side under the model call; after a kernel restart and ``%aether resume``, the DAG drew them
as a chain (``llm -> price -> approve``) and the next model call hung under ``approve`` only. The replayed ``price``
kept its edge (the frontier moves along recorded edges), but the question, which was not replayed but continued,
took the frontier of the moment: the replayed sibling."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ScriptedChannel


@ag.tool(outputs=["eur"])
async def quote(sku: str) -> dict[str, int]:
    for _ in range(3):  # yields to the loop: the question beside it starts before it ends, as a sync tool's thread
        await asyncio.sleep(0)
    return {"eur": 12}


class Approve(ag.DualStageTool, outputs=["ok"]):
    async def setup(self, amount: int) -> ag.WaitSpec:
        return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?")

    async def on_resume(self, payload: Any) -> dict[str, Any]:
        return {"ok": payload["approved"]}


@ag.tool(outputs=["done"])
async def book(ok: bool) -> dict[str, bool]:
    return {"done": ok}


@ag.graph_fn(outputs=["done"])
async def pay(*, context: ag.NodeContext) -> dict[str, Any]:
    await quote("start")  # the step both branches follow
    _, a = await asyncio.gather(quote("A-1"), Approve(amount=12))
    return dict(await book(a["ok"]))


def _session(store: MemoryStore) -> Session:
    counter = itertools.count(1)
    s = Session(store, id_factory=lambda: f"run-{next(counter)}")
    install_builtin_services(s, channel=ScriptedChannel())
    s.store.durability = "sync"
    session_mod.set_default_session(s)
    return s


@pytest.fixture(autouse=True)
def _default_session() -> Any:
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def _edges(run: Any) -> dict[str, tuple[str, ...]]:
    return {n.id: tuple(n.parents) for n in run.graph.nodes}


def test_a_question_open_across_a_restart_keeps_its_edges() -> None:
    store = MemoryStore()
    _session(store)

    async def first() -> dict[str, tuple[str, ...]]:
        run = pay.start(run_id="p")
        await run.wait_for("waiting", timeout=10)
        return _edges(run)

    live = asyncio.run(first())
    assert live["quote_2"] == ("quote_1",) and live["Approve_1"] == ("quote_1",), live

    _session(store)  # the kernel restarted: only the store is left

    async def resumed() -> dict[str, tuple[str, ...]]:
        run = ag.get_run("p")
        await run.answer("Approve")
        assert await run == {"done": True}
        return _edges(run)

    after = asyncio.run(asyncio.wait_for(resumed(), 20))
    assert after["quote_2"] == ("quote_1",)
    assert after["Approve_1"] == ("quote_1",), after  # (was ("quote_2",): the replayed sibling)
    assert set(after["book_1"]) == {"quote_2", "Approve_1"}, after  # (was ("Approve_1",) alone)
    ag.session().flush()
    stored = {n.node_id: tuple(n.parents) for n in store.list_nodes("p")}
    assert stored["Approve_1"] == ("quote_1",) and set(stored["book_1"]) == {"quote_2", "Approve_1"}, stored
