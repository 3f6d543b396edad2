"""``aether_nb.tools``: ready-made channel tools as nodes of a @graphify graph (and awaited in a graph_fn)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from aether_nb.tools import ask_approval, ask_choices, ask_files, ask_text, send_text
from tests.conftest import arun


def test_channel_tools_are_graphify_nodes_that_wait_for_their_answers(
    session: Session, channel: ScriptedChannel
) -> None:
    channel.add_answers("Ada", {"choice": "Approve"}, {"choice": "blue"})

    @ag.graphify(name="onboard", inputs=["company"], outputs=["name", "approved", "colour"])
    def onboard(company: Any) -> Any:
        name = ask_text(prompt="Your name?")
        ok = ask_approval(prompt="Proceed?", _after=[name])
        colour = ask_choices(prompt="Colour?", options=["red", "blue"], _after=[ok])
        send_text(text=name.text, _after=[colour])
        return {"name": name.text, "approved": ok.approved, "colour": colour.choice}

    out = arun(onboard(company="acme"))
    assert out == {"name": "Ada", "approved": True, "colour": "blue"}
    assert [w.prompt for w in channel.prompts] == ["Your name?", "Proceed?", "Colour?"]
    assert "Ada" in channel.texts


def test_a_graph_waiting_on_a_channel_tool_is_answered_later(session: Session) -> None:
    @ag.graphify(name="ask_later", inputs=["q"], outputs=["text"])
    def ask_later(q: Any) -> Any:
        return {"text": ask_text(prompt=q).text}

    async def scenario() -> None:
        started = ask_later.start(q="Which city?")
        await started.wait_for("waiting")
        (wait,) = started.waits
        node = started.graph.node(wait.node_id.split("/")[0])
        assert node.name == "ask_text"
        await started.answer("Paris")
        assert await started == {"text": "Paris"}

    arun(scenario())


def test_channel_tools_in_a_graph_fn(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers("Bo", [])

    @ag.graph_fn(name="ask_in_fn", outputs=["name", "files"])
    async def ask_in_fn(*, context: ag.NodeContext) -> Any:
        name = await ask_text("Name?")
        files = await ask_files("Upload?", accept=[".csv"])
        return {"name": name["text"], "files": files["files"]}

    assert arun(ask_in_fn()) == {"name": "Bo", "files": []}


def test_channel_tools_outside_a_run_say_where_they_work() -> None:
    with pytest.raises(ag.UsageError, match="inside a run"):
        arun(ask_text("hello?"))


def test_read_env_gives_a_key_to_a_graph_without_storing_it(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A static graph gets its API key from a node, so the key is not an input (stored, redacted) of its runs."""
    from aether_nb.tools import read_env

    monkeypatch.setenv("SHOP_API_KEY", "sk-proj-" + "Zx9" * 12)

    @ag.tool(outputs=["ok"])
    def call_shop(key: str) -> dict[str, bool]:
        return {"ok": key == os.environ["SHOP_API_KEY"]}

    @ag.graphify(name="shop_graph", inputs=[], outputs=["ok"])
    def shop_graph():  # type: ignore[no-untyped-def]
        return {"ok": call_shop(key=read_env(name="SHOP_API_KEY").value).ok}

    async def main() -> tuple[dict[str, Any], Any]:
        run = shop_graph.start()
        return await run, run

    out, run = arun(main())
    assert out == {"ok": True}
    session.flush()
    record = session.store.get_run(run.id)
    assert record is not None and record.inputs == {} and record.meta.get("durable_inputs") is True
    stored = json.dumps([n.outputs for n in session.store.list_nodes(run.id)])
    assert "read_env_1" in {n.node_id for n in session.store.list_nodes(run.id)}
    assert "Zx9Zx9" not in stored and "[REDACTED]" in stored
    monkeypatch.delenv("SHOP_API_KEY")
    with pytest.raises(ag.RunFailed, match="environment variable SHOP_API_KEY is not set"):
        arun(shop_graph())


def test_an_ask_tools_own_node_waits_and_gives_its_slot_back(session: Session, channel: ScriptedChannel) -> None:
    """As AetherGraph's built-in ask tools (dual-stage): the ask node itself is WAITING_HUMAN, not RUNNING above a
    waiting child; under a cap of 1 the other node runs meanwhile; the chat says the question and the answer."""

    @ag.tool(outputs=["v"])
    async def work() -> dict[str, int]:
        return {"v": 1}

    @ag.graphify(name="cap_ask", outputs=["t", "v"])
    def cap_ask() -> Any:
        n = ask_text(prompt="Name?")
        w = work()
        return {"t": n.text, "v": w.v}

    async def main() -> None:
        run = cap_ask.start(max_concurrency=1)
        await run.wait_for("waiting")
        while run.graph.node("work_1").status != "DONE":  # (under arun's timeout: it hangs with the slot held)
            await asyncio.sleep(0.01)
        statuses = {n.id: n.status for n in run.graph.nodes}
        assert statuses == {"ask_text_1": "WAITING_HUMAN", "work_1": "DONE"}
        assert run.status == "waiting"
        (wait,) = run.waits
        assert wait.node_id == "ask_text_1" and wait.kind == "text" and wait.prompt == "Name?"
        await run.answer("Ada")
        assert await run == {"t": "Ada", "v": 1}
        assert run.graph.node("ask_text_1").status == "DONE"
        said = [(e.role, e.content.get("turn"), e.content["text"]) for e in run.history if e.kind == "channel_message"]
        assert said == [("assistant", "question", "Name?"), ("user", "answer", "Ada")]

    arun(main())


def test_an_ask_tool_in_a_graph_fn_waits_on_its_node_across_a_restart() -> None:
    from aether_nb.runtime import session as session_mod
    from aether_nb.store.memory import MemoryStore
    from tests.conftest import make_session

    store = MemoryStore()

    @ag.graph_fn(name="asks_approval", outputs=["approved", "choice"])
    async def asks_approval() -> dict[str, Any]:
        return await ask_approval("Ship it?", ["Ship", "Hold"])

    previous = session_mod.set_default_session(make_session(store)[0])
    try:

        async def first() -> None:
            run = asks_approval.start(run_id="r-ask")
            await run.wait_for("waiting")
            assert run.graph.node("ask_approval_1").status == "WAITING_HUMAN"

        arun(first())  # (the loop ends while it waits: a kernel gone)
        s, _ = make_session(store)
        session_mod.set_default_session(s)
        run = ag.get_run("r-ask")

        async def resume() -> dict[str, Any]:
            await run.answer("Hold")
            return await run

        assert arun(resume()) == {"approved": False, "choice": "Hold"}
        assert [w.node_id for w in s.store.list_waits("r-ask", status=None)] == ["ask_approval_1"]  # asked once
    finally:
        session_mod.set_default_session(previous)
