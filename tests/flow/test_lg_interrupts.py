"""Interrupts, breakpoints and resuming, ported from LangGraph's tests (``test_pregel_async.py``,
``test_pregel.py``) to aether_nb's names. ``interrupt()`` pauses the task; ``Command(resume=...)`` re-runs it with
the answer; ``interrupt_before``/``interrupt_after`` pause between supersteps; ``Command(update=..., goto=...)``
edits the thread at a pause.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import (
    END,
    START,
    Command,
    Interrupt,
    PregelTask,
    StateGraph,
    interrupt,
)
from aether_nb.runtime.scheduler import RetryPolicy
from aether_nb.runtime.session import Session
from tests.flow.conftest import AnyStr

pytestmark = pytest.mark.anyio


async def test_dynamic_interrupt(checkpointer: str) -> None:
    """test_pregel_async.py::test_dynamic_interrupt."""

    class State(TypedDict):
        my_key: Annotated[str, operator.add]
        market: str

    calls = 0

    async def tool_two_node(s: State) -> Any:
        nonlocal calls
        calls += 1
        answer = interrupt("Just because...") if s["market"] == "DE" else " all good"
        return {"my_key": answer}

    builder = StateGraph(State)
    builder.add_node("tool_two", tool_two_node, retry_policy=RetryPolicy())
    builder.add_edge(START, "tool_two")
    tool_two = builder.compile()
    assert await tool_two.ainvoke({"my_key": "value", "market": "DE"}) == {
        "my_key": "value",
        "market": "DE",
        "__interrupt__": [Interrupt(value="Just because...", id=AnyStr())],
    }
    assert calls == 1, "interrupts aren't retried"
    assert await tool_two.ainvoke({"my_key": "value", "market": "US"}) == {"my_key": "value all good", "market": "US"}

    tool_two = builder.compile(checkpointer=checkpointer)
    thread2 = {"configurable": {"thread_id": "2"}}
    assert [c async for c in tool_two.astream({"my_key": "value ⛰️", "market": "DE"}, thread2)] == [
        {"__interrupt__": (Interrupt(value="Just because...", id=AnyStr()),)}
    ]
    assert [c async for c in tool_two.astream(Command(resume=" my answer"), thread2)] == [
        {"tool_two": {"my_key": " my answer"}}
    ]

    thread1 = {"configurable": {"thread_id": "1"}}
    assert [c async for c in tool_two.astream({"my_key": "value ⛰️", "market": "DE"}, thread1)] == [
        {"__interrupt__": (Interrupt(value="Just because...", id=AnyStr()),)}
    ]
    state = await tool_two.aget_state(thread1)
    assert state.values == {"my_key": "value ⛰️", "market": "DE"}
    assert state.next == ("tool_two",)
    assert state.metadata == {"parents": {}, "source": "loop", "step": 0}
    assert state.tasks == (
        PregelTask(
            AnyStr(),
            "tool_two",
            ("__pregel_pull", "tool_two"),
            interrupts=(Interrupt(value="Just because...", id=AnyStr()),),
        ),
    )
    assert state.interrupts == (Interrupt(value="Just because...", id=AnyStr()),)
    assert state.parent_config is not None

    # clear the interrupt and next tasks
    await tool_two.aupdate_state(thread1, None, as_node=END)
    cleared = await tool_two.aget_state(thread1)
    assert cleared.values == {"my_key": "value ⛰️", "market": "DE"}
    assert cleared.next == () and cleared.tasks == () and cleared.interrupts == ()
    assert cleared.metadata == {"parents": {}, "source": "update", "step": 1}
    assert cleared.parent_config == state.config


async def test_node_not_cancelled_on_other_node_interrupted(checkpointer: str) -> None:
    """test_pregel_async.py::test_node_not_cancelled_on_other_node_interrupted — the sibling finishes, its
    writes show, and it does not run again on resume."""

    class State(TypedDict):
        hello: Annotated[str, operator.add]

    awhiles = 0
    cancelled = False

    async def awhile(state: State) -> Any:
        nonlocal awhiles, cancelled
        awhiles += 1
        try:
            await asyncio.sleep(0.05)
            return {"hello": " again"}
        except asyncio.CancelledError:
            cancelled = True
            raise

    async def iambad(state: State) -> Any:
        return {"hello": interrupt("I am bad")}

    builder = StateGraph(State)
    builder.add_node("agent", awhile)
    builder.add_node("bad", iambad)
    builder.set_conditional_entry_point(lambda _: ["agent", "bad"])
    graph = builder.compile(checkpointer=checkpointer)
    thread = {"configurable": {"thread_id": "1"}}
    expected = {"hello": "world again", "__interrupt__": [Interrupt(value="I am bad", id=AnyStr())]}
    assert await graph.ainvoke({"hello": "world"}, thread) == expected
    assert not cancelled and awhiles == 1
    assert await graph.ainvoke(None, thread) == expected
    assert not cancelled and awhiles == 1
    state = await graph.aget_state(thread)
    assert state.next == ("bad",)
    assert [(t.name, t.result) for t in state.tasks] == [("agent", {"hello": " again"}), ("bad", None)]
    assert await graph.ainvoke(Command(resume=" okay"), thread) == {"hello": "world again okay"}
    assert not cancelled and awhiles == 1


async def test_interrupt_multiple(checkpointer: str) -> None:
    """test_pregel_async.py::test_interrupt_multiple — two interrupts in a node; resume with an update."""

    class State(TypedDict):
        my_key: Annotated[str, operator.add]

    async def node(s: State) -> Any:
        answer = interrupt({"value": 1})
        answer2 = interrupt({"value": 2})
        return {"my_key": answer + " " + answer2}

    graph = StateGraph(State).add_node("node", node).add_edge(START, "node").compile(checkpointer=checkpointer)
    thread1 = {"configurable": {"thread_id": "1"}}
    with pytest.warns(UserWarning, match="market"):
        first = [e async for e in graph.astream({"my_key": "DE", "market": "DE"}, thread1)]
    assert first == [{"__interrupt__": (Interrupt(value={"value": 1}, id=AnyStr()),)}]
    assert [e async for e in graph.astream(Command(resume="answer 1", update={"my_key": "foofoo"}), thread1)] == [
        {"__interrupt__": (Interrupt(value={"value": 2}, id=AnyStr()),)}
    ]
    assert [e async for e in graph.astream(Command(resume="answer 2"), thread1)] == [
        {"node": {"my_key": "answer 1 answer 2"}}
    ]
    assert (await graph.aget_state(thread1)).values == {"my_key": "DEfoofooanswer 1 answer 2"}


async def test_interrupt_loop(checkpointer: str) -> None:
    """test_pregel_async.py::test_interrupt_loop — interrupt() in a loop, answered until valid."""

    class State(TypedDict):
        age: int
        other: str

    async def ask_age(s: State) -> Any:
        question = "How old are you?"
        value: Any = None
        for _ in range(10):
            value = interrupt(question)
            if not value.isdigit() or int(value) < 18:
                question = "invalid response"
                value = None
            else:
                break
        return {"age": int(value)}

    graph = StateGraph(State).add_node("node", ask_age).add_edge(START, "node").compile(checkpointer=checkpointer)
    thread1 = {"configurable": {"thread_id": "1"}}
    assert [e async for e in graph.astream({"other": ""}, thread1)] == [
        {"__interrupt__": (Interrupt(value="How old are you?", id=AnyStr()),)}
    ]
    for answer in ("13", "15"):
        assert [e async for e in graph.astream(Command(resume=answer), thread1)] == [
            {"__interrupt__": (Interrupt(value="invalid response", id=AnyStr()),)}
        ]
    assert [e async for e in graph.astream(Command(resume="19"), thread1)] == [{"node": {"age": 19}}]


async def test_multiple_interrupt_state_persistence(checkpointer: str) -> None:
    """test_pregel_async.py::test_multiple_interrupt_state_persistence."""

    class State(TypedDict):
        steps: Annotated[list[str], operator.add]

    def interruptible_node(state: State) -> Any:
        first = interrupt("First interrupt")
        second = interrupt("Second interrupt")
        return {"steps": [first, second]}

    app = (
        StateGraph(State)
        .add_node("node", interruptible_node)
        .add_edge(START, "node")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    await app.ainvoke({"steps": []}, config)
    assert (await app.aget_state(config)).values == {"steps": []}
    await app.ainvoke(Command(resume="step1"), config)
    assert (await app.aget_state(config)).values == {"steps": []}
    result = await app.ainvoke(Command(resume="step2"), config)
    assert result["steps"] == ["step1", "step2"]
    assert (await app.aget_state(config)).values["steps"] == ["step1", "step2"]


async def test_node_before_interrupt_resume_graph_api(checkpointer: str) -> None:
    """test_pregel_async.py::test_node_before_interrupt_resume_graph_api."""

    class State(TypedDict):
        topics: list[str]
        answers: Annotated[list[str], operator.add]

    def setup(state: State) -> dict[str, Any]:
        return {"topics": [f"topic {i + 1}" for i in range(len(state["topics"]))]}

    def ask(state: State) -> dict[str, Any]:
        return {"answers": [interrupt(f"Whats the answer for {t}?") for t in state["topics"]]}

    graph = (
        StateGraph(State)
        .add_node("setup", setup)
        .add_node("ask", ask)
        .add_edge(START, "setup")
        .add_edge("setup", "ask")
        .add_edge("ask", END)
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    result = await graph.ainvoke({"topics": ["a", "b"], "answers": []}, config=config)
    assert [i.value for i in result["__interrupt__"]] == ["Whats the answer for topic 1?"]
    result = await graph.ainvoke(Command(resume="answer1"), config=config)
    assert [i.value for i in result["__interrupt__"]] == ["Whats the answer for topic 2?"]
    result = await graph.ainvoke(Command(resume="answer2"), config=config)
    assert result == {"topics": ["topic 1", "topic 2"], "answers": ["answer1", "answer2"]}


async def test_multiple_nodes_before_interrupt_resume_graph_api(checkpointer: str) -> None:
    """test_pregel_async.py::test_multiple_nodes_before_interrupt_resume_graph_api."""

    class State(TypedDict):
        value: int
        answer: str

    def ask(state: State) -> dict[str, Any]:
        return {"answer": interrupt(f"Result so far is {state['value']}. What next?")}

    graph = (
        StateGraph(State)
        .add_node("step_a", lambda s: {"value": s["value"] + 1})
        .add_node("step_b", lambda s: {"value": s["value"] * 2})
        .add_node("ask", ask)
        .add_edge(START, "step_a")
        .add_edge("step_a", "step_b")
        .add_edge("step_b", "ask")
        .add_edge("ask", END)
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    result = await graph.ainvoke({"value": 5, "answer": ""}, config=config)
    assert result["__interrupt__"][0].value == "Result so far is 12. What next?"
    assert await graph.ainvoke(Command(resume="continue"), config=config) == {"value": 12, "answer": "continue"}


async def test_command_with_static_breakpoints(checkpointer: str) -> None:
    """test_pregel_async.py::test_command_with_static_breakpoints — Command(update=...) at a pause."""

    class State(TypedDict):
        foo: str

    builder = StateGraph(State)
    builder.add_node("node1", lambda s: {"foo": s["foo"] + "|node-1"})
    builder.add_node("node2", lambda s: {"foo": s["foo"] + "|node-2"})
    builder.add_edge(START, "node1")
    builder.add_edge("node1", "node2")
    graph = builder.compile(checkpointer=checkpointer, interrupt_before=["node1"])
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"foo": "abc"}, config)
    assert await graph.ainvoke(Command(update={"foo": "def"}), config) == {"foo": "def|node-1|node-2"}


async def test_command_goto_with_static_breakpoints(checkpointer: str) -> None:
    """test_pregel_async.py::test_command_goto_with_static_breakpoints — Command(goto=[...]) at a pause."""

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    builder = StateGraph(State)
    builder.add_node("node1", lambda s: {"foo": "|node-1"})
    builder.add_node("node2", lambda s: {"foo": "|node-2"})
    builder.add_edge(START, "node1")
    builder.add_edge("node1", "node2")
    graph = builder.compile(checkpointer=checkpointer, interrupt_before=["node1"])
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"foo": "abc"}, config)
    assert await graph.ainvoke(Command(goto=["node2"]), config) == {"foo": "abc|node-1|node-2|node-2"}


async def test_null_resume_disallowed_with_multiple_interrupts(checkpointer: str) -> None:
    """test_pregel_async.py::test_null_resume_disallowed_with_multiple_interrupts — a map answers several."""

    class State(TypedDict):
        text_1: str
        text_2: str

    async def human_node_1(state: State) -> Any:
        return {"text_1": interrupt(state["text_1"])}

    async def human_node_2(state: State) -> Any:
        return {"text_2": interrupt(state["text_2"])}

    b = StateGraph(State)
    b.add_node("human_node_1", human_node_1)
    b.add_node("human_node_2", human_node_2)
    b.add_edge(START, "human_node_1")
    b.add_edge(START, "human_node_2")
    graph = b.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"text_1": "original text 1", "text_2": "original text 2"}, config=config)
    resume_map = {i.id: f"resume for prompt: {i.value}" for i in (await graph.aget_state(config)).interrupts}
    assert len(resume_map) == 2
    with pytest.raises(
        RuntimeError, match="When there are multiple pending interrupts, you must specify the interrupt id"
    ):
        await graph.ainvoke(Command(resume="singular resume"), config=config)
    assert await graph.ainvoke(Command(resume=resume_map), config=config) == {
        "text_1": "resume for prompt: original text 1",
        "text_2": "resume for prompt: original text 2",
    }


async def test_parallel_interrupts_answered_one_at_a_time(checkpointer: str) -> None:
    """test_pregel.py::test_parallel_interrupts — answering one of two keeps the other pending."""

    class State(TypedDict):
        answers: Annotated[list[str], operator.add]

    def ask(name: str) -> Any:
        return lambda s: {"answers": [f"{name}:{interrupt(name)}"]}

    b = StateGraph(State)
    b.add_node("a", ask("a"))
    b.add_node("b", ask("b"))
    b.add_edge(START, "a")
    b.add_edge(START, "b")
    graph = b.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    first = await graph.ainvoke({"answers": []}, config)
    ids = {i.value: i.id for i in first["__interrupt__"]}
    assert set(ids) == {"a", "b"}
    second = await graph.ainvoke(Command(resume={ids["a"]: "1"}), config)
    assert [i.value for i in second["__interrupt__"]] == ["b"]
    done = await graph.ainvoke(Command(resume={ids["b"]: "2"}), config)
    assert done == {"answers": ["a:1", "b:2"]}


async def test_interrupt_stream_mode_values(checkpointer: str) -> None:
    """test_pregel_async.py::test_interrupt_stream_mode_values."""

    class State(TypedDict):
        robot_input: str
        human_input: str

    def robot_input_node(state: State) -> Any:
        return {"robot_input": "beep boop i am a robot"}

    def human_input_node(state: State) -> Command[Any]:
        return Command(update={"human_input": interrupt("interrupt")})

    builder = StateGraph(State)
    builder.add_node(robot_input_node)
    builder.add_node(human_input_node)
    builder.add_edge(START, "robot_input_node")
    builder.add_edge("robot_input_node", "human_input_node")
    app = builder.compile(checkpointer=checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    result = [c async for c in app.astream({}, config, stream_mode=["updates", "values"])]
    assert result == [
        ("updates", {"robot_input_node": {"robot_input": "beep boop i am a robot"}}),
        ("values", {"robot_input": "beep boop i am a robot"}),
        ("updates", {"__interrupt__": (Interrupt(value="interrupt", id=AnyStr()),)}),
        (
            "values",
            {"robot_input": "beep boop i am a robot", "__interrupt__": (Interrupt(value="interrupt", id=AnyStr()),)},
        ),
    ]
    resumed = [c async for c in app.astream(Command(resume="i am a human"), config, stream_mode=["updates", "values"])]
    assert resumed == [
        ("values", {"robot_input": "beep boop i am a robot"}),
        ("updates", {"human_input_node": {"human_input": "i am a human"}}),
        ("values", {"robot_input": "beep boop i am a robot", "human_input": "i am a human"}),
    ]


async def test_static_breakpoints_stream_and_resume(checkpointer: str) -> None:
    """LangGraph's behaviour at ``interrupt_before``: ``{"__interrupt__": ()}`` in updates, values as they are,
    ``ainvoke(None)`` continues; at the end of the graph nothing is pending."""

    class S(TypedDict, total=False):
        steps: Annotated[list[str], operator.add]

    g = StateGraph(S)
    g.add_node("a", lambda s: {"steps": ["a"]})
    g.add_node("b", lambda s: {"steps": ["b"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    app = g.compile(checkpointer=checkpointer, interrupt_before=["b"])
    cfg = {"configurable": {"thread_id": "1"}}
    assert [c async for c in app.astream({"steps": []}, cfg, stream_mode="values")] == [{"steps": []}, {"steps": ["a"]}]
    assert [c async for c in app.astream(None, cfg, stream_mode="values")] == [{"steps": ["a"]}, {"steps": ["a", "b"]}]
    cfg2 = {"configurable": {"thread_id": "2"}}
    assert [c async for c in app.astream({"steps": []}, cfg2, stream_mode=["values", "updates"])] == [
        ("values", {"steps": []}),
        ("updates", {"a": {"steps": ["a"]}}),
        ("values", {"steps": ["a"]}),
        ("updates", {"__interrupt__": ()}),
    ]
    assert await app.ainvoke(None, cfg2) == {"steps": ["a", "b"]}
    assert await app.ainvoke(None, cfg2) == {"steps": ["a", "b"]}  # nothing pending: the state as it is


@pytest.mark.parametrize("where", ["before", "after"])
async def test_interrupt_on_every_node_with_a_star(checkpointer: str, where: str) -> None:
    """Issue 15: ``interrupt_before="*"`` / ``interrupt_after="*"`` pause at every node."""

    class S(TypedDict, total=False):
        steps: Annotated[list[str], operator.add]

    g = StateGraph(S)
    for n in ("a", "b", "c"):
        g.add_node(n, lambda s, n=n: {"steps": [n]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    app = g.compile(checkpointer=checkpointer, **{f"interrupt_{where}": "*"})
    cfg = {"configurable": {"thread_id": "t"}}
    res = await app.ainvoke({"steps": []}, cfg)
    seen = [list(res["steps"])]
    while res.status == "interrupted":
        res = await app.ainvoke(None, cfg)
        seen.append(list(res["steps"]))
    if where == "before":
        assert seen == [[], ["a"], ["a", "b"], ["a", "b", "c"]]
    else:
        assert seen == [["a"], ["a", "b"], ["a", "b", "c"]]


async def test_update_state_at_interrupt_after_reroutes_as_the_last_writer(checkpointer: str) -> None:
    """Issue 15 (and LangGraph's update_state): the next node is routed again with the edited state."""

    class S(TypedDict, total=False):
        x: int
        steps: Annotated[list[str], operator.add]

    g = StateGraph(S)
    for n in ("a", "b", "c"):
        g.add_node(n, lambda s, n=n: {"steps": [n]})
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: "c" if s.get("x") == 5 else "b")
    app = g.compile(checkpointer=checkpointer, interrupt_after=["a"])
    cfg = {"configurable": {"thread_id": "1"}}
    await app.ainvoke({"x": 1}, cfg)
    assert (await app.aget_state(cfg)).next == ("b",)
    config = await app.aupdate_state(cfg, {"x": 5})
    assert config["configurable"]["checkpoint_id"] == AnyStr()
    state = await app.aget_state(cfg)
    assert state.next == ("c",)
    assert state.metadata == {"source": "update", "step": 2, "parents": {}}
    assert await app.ainvoke(None, cfg) == {"x": 5, "steps": ["a", "c"]}


async def test_resume_with_update_applies_both(checkpointer: str) -> None:
    """Issue 15: ``ainvoke(Command(resume=..., update={...}))`` keeps the update."""

    class S(TypedDict):
        note: str
        answer: str

    def ask(state: S) -> Any:
        return {"answer": f"{interrupt('ok?')} ({state['note']})"}

    app = StateGraph(S).add_node("ask", ask).add_edge(START, "ask").compile(checkpointer=checkpointer)
    cfg = {"configurable": {"thread_id": "t"}}
    await app.ainvoke({"note": "old", "answer": ""}, cfg)
    assert await app.ainvoke(Command(resume="yes", update={"note": "new"}), cfg) == {
        "note": "new",
        "answer": "yes (new)",
    }


async def test_new_input_at_an_interrupt_is_refused_with_how_to_resume(checkpointer: str) -> None:
    """aether_nb (as Agentflow): a plain input while paused at interrupt() says to resume instead."""

    class S(TypedDict):
        a: str

    app = (
        StateGraph(S)
        .add_node("n", lambda s: {"a": interrupt("q")})
        .add_edge(START, "n")
        .compile(checkpointer=checkpointer)
    )
    cfg = {"configurable": {"thread_id": "t"}}
    await app.ainvoke({"a": "x"}, cfg)
    with pytest.raises(UsageError, match=r"paused at interrupt\(\).*Command\(resume=value\)"):
        await app.ainvoke({"a": "y"}, cfg)
    with pytest.raises(UsageError, match="Nothing to resume"):
        await app.ainvoke(Command(resume=1), {"configurable": {"thread_id": "other"}})


def test_interrupt_outside_a_node_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="inside a node"):
        interrupt("x")


async def test_awaiting_interrupt_says_to_drop_the_await(session: Session) -> None:
    """aether_nb's former ``await interrupt(...)`` fails on the answer with a message saying what to write."""

    class S(TypedDict):
        a: str

    async def n(state: S) -> Any:
        return {"a": await interrupt("q")}  # type: ignore[misc]

    app = StateGraph(S).add_node("n", n).add_edge(START, "n").compile()
    cfg = {"configurable": {"thread_id": "t"}}
    await app.ainvoke({"a": "x"}, cfg)
    with pytest.raises(UsageError, match="without await"):
        await app.ainvoke(Command(resume="y"), cfg)
