"""``stream_mode="messages"`` with a node streaming a model's reply (``context.llm().chat(...,
stream_to=context.channel())``): the deltas are the node's message chunks, as LangGraph streams a chat model's
tokens — the node's metadata, its subgraph's namespace, and the finished message not streamed again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aether_nb.flow import START, MessagesState, StateGraph
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import default_session

pytestmark = pytest.mark.anyio

REPLY = "Hello big world"


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    """A default session whose model is the fake OpenAI server, replying ``REPLY`` (streamed word by word)."""
    with FakeOpenAI(script=[REPLY, REPLY]) as fake, default_session() as s:
        configure_llm(s, {"base_url": fake.base_url, "model": "fake", "api_key": "x"})
        yield fake


async def agent(s: dict[str, Any], context: Any) -> dict[str, Any]:
    text, _ = await context.llm().chat(s["messages"], stream_to=context.channel())
    return {"messages": [{"role": "assistant", "content": text}]}


def agent_graph() -> StateGraph:
    g = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_edge(START, "agent")
    return g


async def chunks(app: Any, thread: str = "t", **kw: Any) -> list[Any]:
    cfg = {"configurable": {"thread_id": thread}}
    return [c async for c in app.astream({"messages": [("user", "hi")]}, cfg, stream_mode="messages", **kw)]


async def test_deltas_carry_the_nodes_metadata_and_the_reply_streams_once(fake_llm: FakeOpenAI) -> None:
    app = agent_graph().compile(checkpointer="memory")
    out = await chunks(app)
    deltas = [(m, meta) for m, meta in out if m.get("delta")]
    assert len(deltas) > 1
    for _, meta in deltas:
        assert meta["langgraph_node"] == "agent"
        assert meta["thread_id"] == "t"
        assert meta["langgraph_step"] == 1
    # every chunk put together is the reply once: the returned message, streamed as deltas, is not streamed again
    assert "".join(m["content"] for m, _ in out) == REPLY
    # the deltas' id is the id of the message in the state (as LangGraph's chunks and finished AIMessage)
    final = (await app.aget_state({"configurable": {"thread_id": "t"}})).values["messages"][-1]
    assert final["content"] == REPLY
    assert {m["id"] for m, _ in deltas} == {final["id"]}


async def test_a_second_turn_streams_its_reply_under_a_new_id(fake_llm: FakeOpenAI) -> None:
    app = agent_graph().compile(checkpointer="memory")
    first = await chunks(app)
    second = await chunks(app)
    assert "".join(m["content"] for m, _ in second) == REPLY
    assert {m["id"] for m, _ in first}.isdisjoint({m["id"] for m, _ in second})
    msgs = (await app.aget_state({"configurable": {"thread_id": "t"}})).values["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]  # (none replaced)


async def test_deltas_in_a_subgraph_stream_under_its_namespace(fake_llm: FakeOpenAI) -> None:
    parent = StateGraph(MessagesState)
    parent.add_node("child", agent_graph().compile())
    parent.add_edge(START, "child")
    app = parent.compile(checkpointer="memory")
    out = await chunks(app, subgraphs=True)
    deltas = [(ns, meta) for ns, (m, meta) in out if m.get("delta")]
    assert deltas
    assert {ns for ns, _ in deltas} == {("child:child_1",)}
    assert all(meta["langgraph_node"] == "agent" and meta["checkpoint_ns"] == "child" for _, meta in deltas)
    assert "".join(m["content"] for _, (m, _) in out) == REPLY
    # without subgraphs=True a subgraph's deltas are not streamed, as LangGraph's: its reply comes once, in
    # full, as the message the subgraph's node returns
    [(msg, meta)] = await chunks(app, thread="t2")
    assert msg["content"] == REPLY and "delta" not in msg
    assert meta["langgraph_node"] == "child"


async def test_delta_metadata_has_langgraphs_keys(fake_llm: FakeOpenAI) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.messages import AIMessage
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START as LG_START
    from langgraph.graph import MessagesState as LGMessagesState
    from langgraph.graph import StateGraph as LGStateGraph

    def lg_agent(s: Any) -> dict[str, Any]:
        return {"messages": [AIMessage(content=REPLY)]}

    lg = LGStateGraph(LGMessagesState)
    lg.add_node("agent", lg_agent)
    lg.add_edge(LG_START, "agent")
    lg_app = lg.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    lg_keys = {
        k
        for _, meta in lg_app.stream({"messages": [("user", "hi")]}, cfg, stream_mode="messages")
        for k in meta
        if not k.startswith("ls_")  # (LangSmith's tracing tags, not LangGraph's)
    }
    out = await chunks(agent_graph().compile(checkpointer="memory"))
    assert out and all(set(meta) == lg_keys for _, meta in out)
