"""``aether_nb.tools``: ready-made channel tools as nodes of a @graphify graph (and awaited in a graph_fn)."""

from __future__ import annotations

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
