"""What a run widget keeps (its synced state, saved with the notebook, and its static fallback) holds no secret.

The agent says an API key in the chat, returns one from a tool and asks a question containing one; the widget's
traits and the fallback output must show ``[REDACTED]`` while the run itself still has the real values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.notebook.widget import RunView
from aether_nb.runtime import session as session_mod
from tests.conftest import arun, make_session

SK = "sk-proj-PlantedWidgetKey0123456789abcd"
ENV_KEY = "planted-env-secret-0123456789"
GH = "ghp_" + "W1dg3tT0k3n" * 3 + "abc"


@ag.tool(outputs=["token"])
def leak() -> dict[str, str]:
    return {"token": GH}


@ag.graph_fn(outputs=["said", "answer"])
async def chatty(*, context: ag.NodeContext) -> dict[str, Any]:
    await context.channel().send_text(f"my key is {SK} and {ENV_KEY}")
    out = await leak()
    answer = await context.channel().ask_text(f"Is {GH} yours?")
    return {"said": out["token"], "answer": answer}


def test_widget_state_and_fallback_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_API_KEY", ENV_KEY)
    s, _ = make_session()
    previous = session_mod.set_default_session(s)

    async def main() -> tuple[dict[str, Any], str, Any]:
        run = chatty.start()
        view = RunView(run)
        await run.wait_for("waiting")
        view.flush()
        waits_state = json.dumps(view.widget.waits)
        await run.answer(f"yes, {SK}")
        out = await run
        view.flush()
        state = json.dumps([view.widget.graph, view.widget.messages]) + waits_state
        bundle = view.widget._repr_mimebundle_()
        view.close()
        return out, state, bundle

    try:
        out, state, bundle = arun(main())
    finally:
        session_mod.set_default_session(previous)
    assert out["said"] == GH  # the run has the real values
    saved = state + json.dumps(bundle)
    for secret in (SK, ENV_KEY, GH):
        assert secret not in saved, secret
    assert "[REDACTED]" in state
