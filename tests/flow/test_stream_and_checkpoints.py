"""astream modes, and the checkpointer protocol (both implementations, one suite)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aether_nb.flow import (
    START,
    AgentState,
    Checkpoint,
    Checkpointer,
    InMemoryCheckpointer,
    StateGraph,
    StoreCheckpointer,
    interrupt,
)
from aether_nb.flow.checkpoint import latest_id
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun


def graph() -> Any:
    async def ask(state: AgentState) -> list[dict[str, Any]]:
        answer = interrupt("ok?")
        return [{"role": "assistant", "content": f"ask {answer}"}]

    g = StateGraph(AgentState, name="streamed")
    g.add_node("a", lambda s: [{"role": "assistant", "content": "a"}])
    g.add_node("ask", ask)
    g.add_edge(START, "a")
    g.add_edge("a", "ask")
    return g.compile()


async def collect(app: Any, inp: Any, mode: Any) -> list[Any]:
    return [item async for item in app.astream(inp, config={"thread_id": "t"}, stream_mode=mode)]


def test_astream_yields_values_updates_messages_and_debug_events(session: Session) -> None:
    app = graph()

    async def scenario() -> None:
        items = await collect(app, {"messages": ["hi"]}, ["values", "updates", "messages", "debug"])
        modes = [m for m, _ in items]
        values = [p for m, p in items if m == "values"]
        assert [[x["content"] for x in v["messages"]] for v in values] == [["hi"], ["hi", "a"], ["hi", "a"]]
        assert values[-1]["__interrupt__"][0].value == "ok?"  # the pause, as LangGraph puts it in values
        updates = [p for m, p in items if m == "updates"]
        assert list(updates[0]) == ["a"] and updates[0]["a"]["messages"][0]["content"] == "a"
        assert updates[-1]["__interrupt__"][0].message == "ok?"
        messages = [p for m, p in items if m == "messages"]
        assert [(msg["content"], meta["langgraph_node"]) for msg, meta in messages] == [("a", "a")]
        assert "debug" in modes and any(getattr(p, "kind", "") == "node_started" for m, p in items if m == "debug")
        resumed = await collect(app, {"resume": "yes"}, "values")
        assert [x["content"] for x in resumed[-1]["messages"]] == ["hi", "a", "ask yes"]

    arun(scenario())


def test_astream_rejects_unknown_modes(session: Session) -> None:
    with pytest.raises(Exception, match="stream_mode must be among"):
        arun(collect(graph(), None, "tokens"))


@pytest.fixture(params=["memory", "store"])
def checkpointer(request: pytest.FixtureRequest) -> Checkpointer:
    if request.param == "memory":
        return InMemoryCheckpointer()
    return StoreCheckpointer(MemoryStore(), "g")


def cp(step: int, **kw: Any) -> Checkpoint:
    return Checkpoint(
        values={"n": step, "obj": {1, 2}},
        tasks=({"node": "a"}, {"node": "b", "send": {"x": 1}}),
        step=step,
        source="loop",
        run_id="r",
        created_at=0.0,
        **kw,
    )


def test_checkpointers_keep_every_checkpoint_per_thread(checkpointer: Checkpointer) -> None:
    assert checkpointer.latest("t") is None and checkpointer.history("t") == []
    first = checkpointer.put("t", cp(0))
    second = checkpointer.put("t", cp(1, pending={"b": {"update": {}}}))
    checkpointer.put("other", cp(7))
    assert (first.id, second.id) == (1, 2)
    latest = checkpointer.latest("t")
    assert latest == second and latest is not None and latest.values["obj"] == {1, 2}
    assert latest.next == ("a", "b") and latest.tasks[1]["send"] == {"x": 1}
    assert checkpointer.get("t", 1) == first and checkpointer.get("t", 9) is None
    checkpointer.replace("t", replace(first, errors={"a": "ValueError('x')"}))
    assert checkpointer.get("t", 1).errors == {"a": "ValueError('x')"}  # type: ignore[union-attr]
    assert checkpointer.latest("t") == second
    assert [c.id for c in checkpointer.history("t")] == [2, 1]
    assert checkpointer.latest("other") is not None and checkpointer.latest("other").values["n"] == 7  # type: ignore[union-attr]
    checkpointer.put_thread("t", {"turn": 3})
    checkpointer.put_thread("t", {"run_id": "r3"})
    assert {"turn": 3, "run_id": "r3"}.items() <= (checkpointer.get_thread("t") or {}).items()
    assert checkpointer.threads() == ["other", "t"]


class ProtocolOnly:
    """A checkpointer written to the protocol alone (no ``latest_id``), as a user's own would be."""

    def __init__(self, inner: Checkpointer) -> None:
        self.inner = inner
        self.key = inner.key

    def __getattr__(self, name: str) -> Any:
        if name == "latest_id":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_the_head_id_is_the_latest_checkpoint_id(checkpointer: Checkpointer) -> None:
    # (a superstep names its parent by this id; reading it must not need the whole head decoded)
    plain = ProtocolOnly(checkpointer)
    assert latest_id(checkpointer, "t") is None and latest_id(plain, "t") is None  # type: ignore[arg-type]
    checkpointer.put("t", cp(0))
    checkpointer.put("t", cp(1))
    checkpointer.put("other", cp(5))
    assert latest_id(checkpointer, "t") == latest_id(plain, "t") == checkpointer.latest("t").id == 2  # type: ignore[arg-type,union-attr]
    checkpointer.replace("t", replace(checkpointer.get("t", 1), errors={"a": "x"}))  # type: ignore[arg-type]
    assert latest_id(checkpointer, "t") == 2 and latest_id(checkpointer, "other") == 1
    if isinstance(checkpointer, StoreCheckpointer):  # another process's checkpointer over the same store
        again = StoreCheckpointer(checkpointer.store, "g")
        assert latest_id(again, "t") == 2


def test_mutating_a_returned_checkpoint_does_not_change_the_stored_one(checkpointer: Checkpointer) -> None:
    checkpointer.put("t", cp(0))
    got = checkpointer.latest("t")
    assert got is not None
    got.values["n"] = 99
    assert checkpointer.latest("t").values["n"] == 0  # type: ignore[union-attr]


def test_a_checkpoint_whose_values_cannot_be_stored_is_kept_in_this_process(checkpointer: Checkpointer) -> None:
    """A state holding an object that neither JSON nor pickle can store (a lock) is not lost: the checkpoint stays
    in this process, and the store-backed checkpointer says (once) that the thread will not survive a restart."""
    import threading
    import warnings

    lock = threading.Lock()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stored = checkpointer.put("t", replace(cp(0), values={"lock": lock}))
    assert checkpointer.latest("t").values["lock"] is not None  # type: ignore[union-attr]
    assert checkpointer.get("t", stored.id) is not None
    if isinstance(checkpointer, StoreCheckpointer):
        assert any("cannot be stored" in str(w.message) for w in caught)
