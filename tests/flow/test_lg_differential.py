"""Cases a differential tester found where aether_nb.flow and LangGraph disagreed, each run on both libraries (only
the import differs) and compared.

``test_lg_parity.py`` holds a LangGraph user's code from its guides; this file holds the corners the tester
reached (state objects returned by nodes, ``update_state`` with a ``Command``, the ``messages`` stream mode,
strings written as messages, the call's metadata, managed values). Each test is skipped when LangGraph is not
installed (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel, Field

import aether_nb.flow as ours
from tests.flow.conftest import lg_names as _lg
from tests.flow.conftest import thread as _thread


def _libs() -> list[tuple[Any, Any]]:
    """``(names, checkpointer)`` for LangGraph, then for aether_nb."""
    lg = _lg()
    return [(lg, lg.InMemorySaver()), (ours, "memory")]


class Tally(BaseModel):
    a: int = 0
    log: Annotated[list[str], operator.add] = Field(default_factory=list)


@pytest.mark.parametrize(
    "ret",
    [
        lambda s: Tally(a=9),  # log left at its default: appends nothing
        lambda s: Tally(a=9, log=["new"]),  # appends "new"
        lambda s: s.model_copy(update={"a": 9}),  # the state itself: LangGraph appends the list to itself
    ],
    ids=["fresh-object", "fresh-object-with-list", "mutated-copy"],
)
def test_a_node_returning_a_state_object_writes_each_field_through_its_reducer(ret: Callable[[Tally], Any]) -> None:
    """A pydantic state object returned by a node is LangGraph's ``get_update_as_tuples``: every field is a write
    through its key's reducer, so a list field at its default ``[]`` keeps what earlier nodes appended."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Tally)
        g.add_node("n1", lambda s: {"log": ["n1"]})
        g.add_node("n2", ret)
        g.add_edge(lib.START, "n1")
        g.add_edge("n1", "n2")
        app = g.compile(checkpointer=saver)
        chunks = list(app.stream({"a": 1, "log": ["in"]}, _thread()))
        results.append((chunks, dict(app.get_state(_thread()).values)))
    assert results[1] == results[0]
    assert results[0][1]["log"][:2] == ["in", "n1"]


class Trail(TypedDict):
    a: int
    log: Annotated[list[str], operator.add]


def _trail(lib: Any, saver: Any, **compile_kw: Any) -> Any:
    g = lib.StateGraph(Trail)
    g.add_node("x", lambda s: {"a": s["a"] + 1, "log": ["x"]})
    g.add_node("y", lambda s: {"log": ["y"]})
    g.add_node("z", lambda s: {"log": ["z"]})
    g.add_edge(lib.START, "x")
    g.add_edge("x", "y")
    return g.compile(checkpointer=saver, **compile_kw)


@pytest.mark.parametrize("as_node", ["x", None])
def test_update_state_with_a_command_routes_its_goto_beside_the_nodes_edges(as_node: str | None) -> None:
    """``update_state(config, Command(update=..., goto="z"), as_node)`` is ``as_node`` returning that Command: its
    edges and the goto are both next (a pause before ``y`` goes on with ``y`` and ``z``)."""
    results = []
    for lib, saver in _libs():
        app = _trail(lib, saver, interrupt_before=["y"])
        app.invoke({"a": 1, "log": []}, _thread())
        app.update_state(_thread(), lib.Command(update={"a": 3}, goto="z"), as_node=as_node)
        next_ = app.get_state(_thread()).next
        results.append((next_, app.invoke(None, _thread())))
    assert results[1] == results[0] == (("y", "z"), {"a": 3, "log": ["x", "y", "z"]})


def test_update_state_with_a_goto_on_a_finished_thread_runs_the_target() -> None:
    """On a thread whose turn ended, the goto is the only task next; ``invoke(None)`` runs it."""
    results = []
    for lib, saver in _libs():
        app = _trail(lib, saver)
        app.invoke({"a": 1, "log": []}, _thread())
        app.update_state(_thread(), lib.Command(goto="z"), as_node="y")
        results.append((app.get_state(_thread()).next, app.invoke(None, _thread())))
    assert results[1] == results[0] == (("z",), {"a": 2, "log": ["x", "y", "z"]})


def _ai(lib: Any, content: str, mid: str) -> Any:
    """An assistant message with an id, in each library's form."""
    if lib is ours:
        return {"role": "assistant", "content": content, "id": mid}
    from langchain_core.messages import AIMessage

    return AIMessage(content, id=mid)


def _content(msg: Any) -> Any:
    return msg["content"] if isinstance(msg, dict) else msg.content


def _task_ns(ns: str) -> str:
    """A checkpoint namespace without LangGraph's task ids (``"sub:<id>|cn:<id>"`` is ``"sub|cn"``)."""
    return "|".join(part.split(":")[0] for part in ns.split("|"))


def test_a_node_returning_the_whole_message_list_streams_only_its_new_messages() -> None:
    """``stream_mode="messages"`` skips the messages a node received (LangGraph's StreamMessagesHandler marks its
    input's ids as seen), so ``s["messages"] + [new]`` streams ``new`` alone."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(lib.MessagesState)
        g.add_node("a", lambda s, lib=lib: {"messages": [_ai(lib, "first", "m1")]})
        g.add_node("b", lambda s, lib=lib: {"messages": s["messages"] + [_ai(lib, "second", "m2")]})
        g.add_edge(lib.START, "a")
        g.add_edge("a", "b")
        app = g.compile(checkpointer=saver)
        chunks = app.stream({"messages": [("user", "hi")]}, _thread(), stream_mode="messages")
        results.append([(_content(m), meta["langgraph_node"]) for m, meta in chunks])
    assert results[1] == results[0] == [("first", "a"), ("second", "b")]


@pytest.mark.parametrize("subgraphs", [False, True])
def test_a_subgraph_node_streams_each_message_once_under_the_graph_that_made_it(subgraphs: bool) -> None:
    """A subgraph node's output holds its input's messages: they are not streamed again; the child's message is
    streamed by the child (``subgraphs=True``) or, without its namespace, once by the subgraph node."""
    results = []
    for lib, saver in _libs():
        c = lib.StateGraph(lib.MessagesState)
        c.add_node("cn", lambda s, lib=lib: {"messages": [_ai(lib, "child msg", "c1")]})
        c.add_edge(lib.START, "cn")
        p = lib.StateGraph(lib.MessagesState)
        p.add_node("pn", lambda s, lib=lib: {"messages": [_ai(lib, "parent msg", "p1")]})
        p.add_node("sub", c.compile())
        p.add_edge(lib.START, "pn")
        p.add_edge("pn", "sub")
        app = p.compile(checkpointer=saver)
        out = []
        for chunk in app.stream({"messages": [("user", "hi")]}, _thread(), stream_mode="messages", subgraphs=subgraphs):
            ns, (msg, meta) = chunk if subgraphs else ((), chunk)
            out.append((tuple(_task_ns(n) for n in ns), _content(msg), meta["langgraph_node"]))
        results.append(out)
    assert results[1] == results[0]
    assert len(results[0]) == 2


def test_messages_chunks_and_node_configs_carry_langgraphs_metadata() -> None:
    """The metadata of a ``messages`` chunk, and a node's ``config["metadata"]`` (here through ``get_config()``),
    hold the call's ``config["metadata"]``, the thread and LangGraph's ``langgraph_*`` keys (namespaces without
    task ids)."""
    results = []
    for lib, saver in _libs():
        seen: list[Any] = []

        def agent(s: Any, lib: Any = lib, seen: list[Any] = seen) -> Any:
            metadata = lib.get_config()["metadata"]
            seen.append((dict(metadata), metadata["user_id"]))
            return {"messages": [_ai(lib, "hello", "a1")]}

        g = lib.StateGraph(lib.MessagesState)
        g.add_node("agent", agent)
        g.add_edge(lib.START, "agent")
        app = g.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "1"}, "metadata": {"user_id": "u7"}}
        chunks = list(app.stream({"messages": [("user", "hi")]}, config, stream_mode="messages"))
        metas = [m for _, m in chunks] + [seen[0][0]]
        for m in metas:
            m.pop("ls_integration", None)  # (LangChain's tracing tag)
            m["langgraph_checkpoint_ns"] = _task_ns(m["langgraph_checkpoint_ns"])
        results.append((metas, seen[0][1]))
    assert results[1] == results[0]
    assert results[0][0][0] == {
        "user_id": "u7",
        "thread_id": "1",
        "langgraph_step": 1,
        "langgraph_node": "agent",
        "langgraph_triggers": ("branch:to:agent",),
        "langgraph_path": ("__pregel_pull", "agent"),
        "langgraph_checkpoint_ns": "agent",
    }


def _roles(msgs: Any) -> list[tuple[str, Any]]:
    """``(role, content)`` of messages, LangChain's types spelled as OpenAI's roles."""
    roles = {"human": "user", "ai": "assistant"}
    return [(m["role"], m["content"]) if isinstance(m, dict) else (roles[m.type], m.content) for m in msgs]


@pytest.mark.parametrize("written", ["text", ["a", "b"]], ids=["string", "list-of-strings"])
def test_strings_written_to_messages_are_user_messages(written: Any) -> None:
    """``add_messages`` makes a string a user (human) message, as LangChain's ``convert_to_messages``: in a node's
    ``{"messages": ...}`` and in a direct call."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(lib.MessagesState)
        g.add_node("agent", lambda s: {"messages": written})
        g.add_edge(lib.START, "agent")
        app = g.compile(checkpointer=saver)
        state = app.invoke({"messages": [("user", "q")]}, _thread())
        direct = lib.add_messages([], written)
        results.append((_roles(state["messages"]), _roles(direct)))
    assert results[1] == results[0]
    assert {role for role, _ in results[0][0]} == {"user"}


class Budget(TypedDict):
    n: int
    remaining_steps: ours.RemainingSteps
    is_last_step: ours.IsLastStep


def test_remaining_steps_and_is_last_step_count_down_as_langgraphs() -> None:
    """``RemainingSteps``/``IsLastStep`` keys (LangGraph's ``langgraph.managed``) are filled in per task as
    LangGraph computes them (``recursion_limit`` - step; a resuming call has two more), seen by nodes and routers,
    and never stored. A loop that stops at ``remaining_steps <= 1`` ends cleanly at the limit."""
    from langgraph.managed import IsLastStep, RemainingSteps

    # (the functional form: under `from __future__ import annotations` LangGraph cannot resolve a local class)
    lg_budget = TypedDict(  # type: ignore[misc]  # noqa: UP013
        "LgBudget", {"n": int, "remaining_steps": RemainingSteps, "is_last_step": IsLastStep}
    )

    results = []
    for (lib, saver), schema in zip(_libs(), (lg_budget, Budget), strict=True):
        seen: list[tuple[str, int, bool]] = []

        def a(s: Any, seen: list[tuple[str, int, bool]] = seen) -> Any:
            seen.append(("a", s["remaining_steps"], s["is_last_step"]))
            return {"n": s["n"] + 1, "remaining_steps": 100}  # (ignored: managed keys are not written)

        def route(s: Any, lib: Any = lib, seen: list[tuple[str, int, bool]] = seen) -> Any:
            seen.append(("route", s["remaining_steps"], s["is_last_step"]))
            return lib.END if s["remaining_steps"] <= 1 or s["n"] == 3 else "a"

        g = lib.StateGraph(schema)
        g.add_node("a", a)
        g.add_edge(lib.START, "a")
        g.add_conditional_edges("a", route)
        app = g.compile(checkpointer=saver)
        config = {**_thread(), "recursion_limit": 4}
        first = app.invoke({"n": 0}, config)
        app2 = g.compile(checkpointer=saver, interrupt_before=["a"])
        app2.invoke({"n": 0}, _thread("2"))
        resumed = app2.invoke(None, {**_thread("2"), "recursion_limit": 4})
        results.append((dict(first), dict(resumed), dict(app.get_state(config).values), seen))
    assert results[1] == results[0]
    # limit 4: the first turn's node has 3 steps left, then 2, then 1 (its last); a call resuming at a breakpoint, 5
    assert [r for r in results[0][3] if r[0] == "a"] == [
        ("a", 3, False),
        ("a", 2, False),
        ("a", 1, True),
        ("a", 5, False),
    ]


def test_checkpoint_steps_after_update_state_go_on_from_the_update() -> None:
    """An ``update_state`` checkpoint is step + 1, also a ``"__copy__"`` fork; the supersteps run after it at a
    breakpoint go on from its step, as LangGraph numbers them (``filter={"step": n}`` finds one)."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Trail)
        for n in "xyz":
            g.add_node(n, lambda s, n=n: {"log": [n]})
        g.add_edge(lib.START, "x")
        g.add_edge("x", "y")
        g.add_edge("y", "z")
        app = g.compile(checkpointer=saver, interrupt_before=["y"])
        app.invoke({"a": 0, "log": []}, _thread())
        app.update_state(_thread(), {"a": 10}, as_node="x")
        app.invoke(None, _thread())
        app.invoke({"a": 0, "log": []}, _thread("2"))
        app.update_state(_thread("2"), None, as_node="__copy__")
        results.append(
            [
                [(h.metadata["source"], h.metadata["step"]) for h in app.get_state_history(_thread(t))]
                for t in ("1", "2")
            ]
        )
    assert results[1] == results[0]
    assert [step for _, step in results[0][0]] == [4, 3, 2, 1, 0, -1]


class Scratch(TypedDict):
    a: str
    b: str


class SubIn(TypedDict):
    q: str


class SubOut(TypedDict):
    a: str


class SubAll(TypedDict):
    q: str
    a: str
    scratch: str


class Parent(TypedDict):
    q: str
    a: str


@pytest.mark.parametrize("output_keys", [["a"], "a"])
def test_streamed_updates_and_values_show_only_the_output_keys(output_keys: Any) -> None:
    """``stream(..., output_keys=...)``: a node's update shows only its writes to those keys (None without any),
    one key its value; a superstep that wrote none of them streams no values chunk, as LangGraph's."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Scratch)
        g.add_node("n1", lambda s: {"b": "secret-scratch"})
        g.add_node("n2", lambda s: {"a": "a2"})
        g.add_edge(lib.START, "n1")
        g.add_edge("n1", "n2")
        app = g.compile(checkpointer=saver)
        modes = ["updates", "values"]
        results.append(list(app.stream({"a": "x"}, _thread(), stream_mode=modes, output_keys=output_keys)))
    assert results[1] == results[0]
    assert ("updates", {"n1": None}) in results[0]


def test_a_subgraphs_chunks_show_only_its_output_schemas_keys() -> None:
    """Under a subgraph's namespace, ``updates`` and ``values`` chunks show only its output schema's keys (its
    scratch keys stay private), as LangGraph's, which runs a subgraph for its output channels."""
    results = []
    for lib, saver in _libs():
        inner = lib.StateGraph(SubAll, input_schema=SubIn, output_schema=SubOut)
        inner.add_node("s1", lambda s: {"scratch": s["q"] + "!"})
        inner.add_node("s2", lambda s: {"a": s["scratch"] + "?"})
        inner.add_edge(lib.START, "s1")
        inner.add_edge("s1", "s2")
        outer = lib.StateGraph(Parent).add_node("sub", inner.compile()).add_edge(lib.START, "sub")
        app = outer.compile(checkpointer=saver)
        chunks = app.stream({"q": "hi"}, _thread(), subgraphs=True, stream_mode=["updates", "values"])
        results.append([(tuple(p.split(":")[0] for p in ns), mode, c) for ns, mode, c in chunks if ns])
    assert results[1] == results[0]
    assert all("scratch" not in (c.get("s1") or {}) and "scratch" not in c for _, _, c in results[0])


@pytest.mark.parametrize("mode", ["values", "updates", ["values", "updates"]], ids=str)
def test_streaming_none_on_a_finished_thread_yields_its_state_once(mode: Any) -> None:
    """``stream(None, config)`` on a thread with nothing left to run runs nothing; as LangGraph's, a ``values``
    stream yields the thread's state once (an ``updates`` stream nothing)."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Trail).add_node("x", lambda s: {"a": s["a"] + 1, "log": ["x"]})
        app = g.add_edge(lib.START, "x").compile(checkpointer=saver)
        app.invoke({"a": 0, "log": []}, _thread())
        results.append(
            (list(app.stream(None, _thread(), stream_mode=mode)), len(list(app.get_state_history(_thread()))))
        )
    assert results[1] == results[0]


def _abc(lib: Any, saver: Any, **compile_kw: Any) -> Any:
    g = lib.StateGraph(Trail)
    for n in "abc":
        g.add_node(n, _logs(n))
    return g.add_edge(lib.START, "a").add_edge("a", "b").add_edge("b", "c").compile(checkpointer=saver, **compile_kw)


def _logs(name: str) -> Callable[[Trail], dict[str, Any]]:
    return lambda s: {"log": [name]}


def test_a_branch_from_a_breakpoints_checkpoint_goes_past_it() -> None:
    """``invoke(None, <the config of the checkpoint paused before b>)`` after the thread went on runs a branch
    from there that goes past the breakpoint (the thread paused there already), as LangGraph's; a branch from an
    earlier checkpoint still pauses before ``b``."""
    results = []
    for lib, saver in _libs():
        app = _abc(lib, saver, interrupt_before=["b"])
        app.invoke({"a": 0, "log": []}, _thread())
        paused = app.get_state(_thread())
        app.invoke(None, _thread())
        branch = app.invoke(None, paused.config)
        first = [h for h in app.get_state_history(_thread()) if tuple(h.next) == ("a",)][-1]
        earlier = app.invoke(None, first.config)
        results.append((paused.next, branch, earlier, app.get_state(_thread()).next))
    assert results[1] == results[0]
    assert results[0][1]["log"] == ["a", "b", "c"]
