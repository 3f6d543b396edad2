"""An id or a name the store keeps as it is (a run id, a state graph's thread id or node name) is refused at the
call when it holds a secret, as a KV key is (``secret_in_name``): ``agent.start(run_id=KEY)`` stored the key in
plain text in every table of the run's history. Nothing is stored, and the message does not repeat the secret."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph
from aether_nb.runtime.session import Session
from tests.conftest import arun

KEY = "sk-proj-" + "Q7wE9rT1yU3iO5pA7sD9fG1hJ3kL5zX7cV9bN1mQ"


@ag.graph_fn(outputs=["y"])
async def agent(x: int) -> dict[str, int]:
    return {"y": x}


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graphify(outputs=["y"])
def static(x: int) -> Any:
    return double(x)


class S(TypedDict):
    n: int


def _refused(call: Any) -> str:
    """The error of ``call()``, made on a running loop (``start`` needs one), awaited when it is a coroutine."""

    async def on_loop() -> Any:
        out = call()
        return await out if hasattr(out, "__await__") else out

    with pytest.raises(ag.UsageError) as caught:
        arun(on_loop())
    assert caught.value.code == "secret_in_name"
    message = str(caught.value)
    assert KEY[8:24] not in message and "hashlib.sha256" in message
    return message


def test_a_run_id_holding_a_secret_is_refused_and_nothing_is_stored(session: Session) -> None:
    messages = [
        _refused(lambda: agent.start(x=1, run_id=KEY)),
        _refused(lambda: agent.start(x=1, run_id=f"user-{KEY}")),
        _refused(lambda: ag.run(static.build(), {"x": 1}, run_id=KEY)),
        _refused(lambda: ag.get_run(KEY)),
    ]
    assert all("os.environ" in m for m in messages)
    assert session.store.list_runs() == []
    assert arun(agent(x=2)) == {"y": 2}  # an ordinary run still runs


def test_a_thread_id_or_node_name_holding_a_secret_is_refused(session: Session) -> None:
    g = StateGraph(S)
    with pytest.raises(ag.UsageError) as caught:
        g.add_node(KEY, lambda s: {"n": s["n"] + 1})
    assert caught.value.code == "secret_in_name" and KEY[8:24] not in str(caught.value)
    assert "a name for what the node does" in str(caught.value)
    g.add_node("inc", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "inc")
    g.add_edge("inc", END)
    app = g.compile()
    _refused(lambda: app.ainvoke({"n": 1}, {"configurable": {"thread_id": "user-" + KEY}}))
    assert session.store.list_runs() == []
    assert arun(app.ainvoke({"n": 1}, {"configurable": {"thread_id": "user-7"}}))["n"] == 2
