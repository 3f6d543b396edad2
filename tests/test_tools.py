"""``aether_nb.tools``: ready-made channel tools as nodes of a @graphify graph (and awaited in a graph_fn)."""

from __future__ import annotations

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
