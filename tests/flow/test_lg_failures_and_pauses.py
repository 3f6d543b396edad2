"""Failures and pauses LangGraph users meet, side by side with LangGraph (skipped without it): a router that
raises, a subgraph's own pause chunks, edits to a subgraph's state while a subgraph inside it waits, and the
order of concurrent tasks' chunks. Where aether_nb differs on purpose, the README's "Differences from LangGraph"
table says so and the test pins both libraries' behaviour."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import both, lg_names, thread


def both_with_calls(run: Any, build: Any = None) -> tuple[Any, Any]:
    """``run(lib, graph, calls)`` on LangGraph's graph and on aether_nb's, each built by ``build(lib, calls)``
    (default: the raising router's graph) with a dict of its own to count calls in."""
    build = build or _raising_router
    lg = lg_names()
    lg_calls: dict[str, int] = {}
    our_calls: dict[str, int] = {}
    theirs = run(lg, build(lg, lg_calls).compile(checkpointer=lg.InMemorySaver()), lg_calls)
    return theirs, run(ours, build(ours, our_calls).compile(checkpointer="memory"), our_calls)


class Routed(TypedDict):
    log: Annotated[list[str], operator.add]
    ok: bool


def _raising_router(lib: Any, calls: dict[str, int]) -> Any:
    """``a`` (counting its calls) routes with a router that raises until the state says ``ok``."""

    def a(s: Routed) -> dict[str, Any]:
        calls["a"] = calls.get("a", 0) + 1
        return {"log": ["a"]}

    def route(s: Routed) -> str:
        calls["route"] = calls.get("route", 0) + 1
        if not s["ok"]:
            raise KeyError("no route")
        return "b"

    b = lib.StateGraph(Routed)
    b.add_node("a", a)
    b.add_node("b", lambda s: {"log": ["b"]})
    b.add_edge(lib.START, "a")
    b.add_conditional_edges("a", route, ["b", lib.END])
    return b


@pytest.mark.parametrize("as_node", [None, "a"])
def test_a_router_that_raises_keeps_the_nodes_writes_and_an_update_lets_the_thread_go_on_as_in_langgraph(
    as_node: str | None,
) -> None:
    """The router's own error reaches the caller; ``get_state`` shows the node's writes with nothing next and the
    error on its task; ``update_state`` (as the last writer, which runs the node again, or ``as_node="a"``, which
    routes from the edited state) lets the thread go on to the same state as LangGraph's."""

    def run(lib: Any, g: Any, calls: dict[str, int]) -> Any:
        with pytest.raises(KeyError, match="no route"):
            g.invoke({"log": ["in"], "ok": False}, thread())
        failed = g.get_state(thread())
        seen: list[Any] = [(failed.values, failed.next, [(t.name, "no route" in str(t.error)) for t in failed.tasks])]
        g.update_state(thread(), {"ok": True}, **({} if as_node is None else {"as_node": as_node}))
        edited = g.get_state(thread())
        seen += [(edited.values, edited.next), dict(g.invoke(None, thread())), dict(calls)]
        return seen

    theirs, mine = both_with_calls(run)
    assert mine == theirs
    assert mine[0] == ({"log": ["in", "a"], "ok": False}, (), [("a", True)])
    assert mine[2] == {"log": ["in", "a", "b"] if as_node is None else ["in", "b"], "ok": True}


def test_a_call_after_a_router_raised_routes_again_without_running_the_node_where_langgraph_drops_the_route() -> None:
    """``invoke(None)`` right after the failure: LangGraph ends the turn with the node's writes and without the
    route (its router is not called again). aether_nb calls the router again on the state with the node's
    writes, not the node (whose effects happened once): it raises again while the state is unchanged, and once
    its input is fixed outside the router (here: a flag the router reads), the turn goes on where it stopped
    (README: differences)."""
    flaky = {"fail": True}

    def build(lib: Any, calls: dict[str, int]) -> Any:
        b = lib.StateGraph(Routed)
        b.add_node("a", lambda s: calls.update(a=calls.get("a", 0) + 1) or {"log": ["a"]})
        b.add_node("b", lambda s: {"log": ["b"]})
        b.add_edge(lib.START, "a")

        def route(s: Routed) -> str:
            calls["route"] = calls.get("route", 0) + 1
            if flaky["fail"]:
                raise ConnectionError("router down")
            return "b"

        b.add_conditional_edges("a", route, ["b", lib.END])
        return b

    def run(lib: Any, g: Any, calls: dict[str, int]) -> Any:
        flaky["fail"] = True
        seen: list[Any] = []
        with pytest.raises(ConnectionError):
            g.invoke({"log": ["in"], "ok": False}, thread())
        for _ in range(2):
            try:
                seen.append(dict(g.invoke(None, thread())))
            except ConnectionError as exc:
                seen.append(repr(exc))
            flaky["fail"] = False
        seen += [g.get_state(thread()).next, dict(calls)]
        return seen

    theirs, mine = both_with_calls(run, build)
    done = {"log": ["in", "a"], "ok": False}
    assert theirs == [done, done, (), {"a": 1, "route": 1}]
    assert mine == ["ConnectionError('router down')", {**done, "log": ["in", "a", "b"]}, (), {"a": 1, "route": 3}]


def test_a_router_failure_after_a_restart_routes_again_with_the_kept_writes(checkpointer: str) -> None:
    """The node's kept return survives the process (it is on the stored checkpoint): a new session routes again,
    and the node's tool call, made once before the failure, is not made again."""
    import aether_nb as ag
    from aether_nb.flow import START, StateGraph
    from aether_nb.runtime import session as session_mod
    from tests.conftest import arun, make_session

    charged: list[int] = []
    flaky = {"fail": True}

    @ag.tool(outputs=["receipt"])
    def charge(n: int) -> dict[str, Any]:
        charged.append(n)
        return {"receipt": f"r{n}"}

    async def pay(s: Routed) -> dict[str, Any]:
        return {"log": [(await charge(len(s["log"])))["receipt"]]}

    def route(s: Routed) -> str:
        if flaky["fail"]:
            raise ConnectionError("router down")
        return "ship"

    g = StateGraph(Routed, name="router_restart")
    g.add_node("pay", pay).add_node("ship", lambda s: {"log": ["ship"]}).add_edge(START, "pay")
    g.add_conditional_edges("pay", route, ["ship"])
    app = g.compile(checkpointer=checkpointer)
    cfg = thread("r")
    with pytest.raises(ConnectionError):
        arun(app.ainvoke({"log": ["in"], "ok": True}, cfg))
    if checkpointer == "duckdb":
        fresh, _ = make_session(ag.session().store.inner)
        session_mod.set_default_session(fresh)
    flaky["fail"] = False
    res = arun(app.ainvoke(None, cfg))
    assert (res.status, res["log"], charged) == ("completed", ["in", "r1", "ship"], [1])


class Log(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _nested_ask(lib: Any) -> Any:
    """A root graph whose node ``sub`` runs a subgraph whose node ``mid`` runs one that asks at ``interrupt()``."""

    def ask(s: Log) -> dict[str, Any]:
        return {"log": [f"ask {lib.interrupt('q?')}"]}

    deep = lib.StateGraph(Log)
    deep.add_node("deep", ask)
    deep.add_edge(lib.START, "deep")
    sub = lib.StateGraph(Log)
    sub.add_node("pre", lambda s: {"log": ["pre"]})
    sub.add_node("mid", deep.compile())
    sub.add_edge(lib.START, "pre")
    sub.add_edge("pre", "mid")
    b = lib.StateGraph(Log)
    b.add_node("sub", sub.compile())
    b.add_node("post", lambda s: {"log": ["post"]})
    b.add_edge(lib.START, "sub")
    b.add_edge("sub", "post")
    return b


MODES = ["tasks", "updates", "values", "checkpoints"]


def _plain(chunk: Any) -> Any:
    """A ``(namespace, mode, payload)`` chunk with the ids left out (the namespace's task ids, the interrupts'; a
    ``tasks`` chunk as its name, whether it is a result, and its interrupts' values; a ``checkpoints`` chunk as
    its source, step, next and values)."""
    ns, mode, payload = chunk
    if mode == "tasks":
        payload = (payload["name"], "result" in payload, [i["value"] for i in payload.get("interrupts", ())])
    elif mode == "checkpoints":
        payload = (payload["metadata"]["source"], payload["metadata"]["step"], payload["next"], payload["values"])
    elif isinstance(payload, dict) and "__interrupt__" in payload:
        payload = {**payload, "__interrupt__": [i.value for i in payload["__interrupt__"]]}
    return tuple(p.split(":", 1)[0] for p in ns), mode, payload


@pytest.mark.parametrize("sync", [True, False])
def test_a_subgraphs_question_streams_under_each_subgraphs_namespace_and_its_state_when_it_resumes(sync: bool) -> None:
    """``stream(..., subgraphs=True)``: the question of a subgraph's node streams under the namespace of each
    subgraph it pauses (with the result of the task there that paused), innermost first, then at the root; the
    resuming call streams the state each subgraph goes on from, its checkpoint and its tasks, outermost first,
    before its nodes' chunks — LangGraph's chunks, in its order (the sync
    ``stream`` replays the resumed turn from the journal; ``astream`` on one loop answers the live wait)."""
    import asyncio

    def run(lib: Any, g: Any) -> Any:
        chunks: list[Any] = []
        for inp in ({"log": []}, lib.Command(resume="yes")):
            if sync:
                chunks += [_plain(c) for c in g.stream(inp, thread(), stream_mode=MODES, subgraphs=True)]
            else:

                async def take(inp: Any = inp) -> list[Any]:
                    return [_plain(c) async for c in g.astream(inp, thread(), stream_mode=MODES, subgraphs=True)]

                chunks += asyncio.run(asyncio.wait_for(take(), 30))
            chunks.append("--")
        return chunks

    theirs, mine = both(_nested_ask, run)
    assert mine == theirs
    paused = mine[: mine.index("--")]
    assert paused[-9:] == [
        (("sub", "mid"), "updates", {"__interrupt__": ["q?"]}),
        (("sub", "mid"), "values", {"log": ["pre"], "__interrupt__": ["q?"]}),
        (("sub", "mid"), "tasks", ("deep", True, ["q?"])),
        (("sub",), "updates", {"__interrupt__": ["q?"]}),
        (("sub",), "values", {"log": ["pre"], "__interrupt__": ["q?"]}),
        (("sub",), "tasks", ("mid", True, ["q?"])),
        ((), "updates", {"__interrupt__": ["q?"]}),
        ((), "values", {"log": [], "__interrupt__": ["q?"]}),
        ((), "tasks", ("sub", True, ["q?"])),
    ]
    resumed = mine[mine.index("--") + 1 :]
    assert resumed[:9] == [
        ((), "values", {"log": []}),
        ((), "checkpoints", ("loop", 0, ["sub"], {"log": []})),
        ((), "tasks", ("sub", False, [])),
        (("sub",), "values", {"log": ["pre"]}),
        (("sub",), "checkpoints", ("loop", 1, ["mid"], {"log": ["pre"]})),
        (("sub",), "tasks", ("mid", False, [])),
        (("sub", "mid"), "values", {"log": ["pre"]}),
        (("sub", "mid"), "checkpoints", ("loop", 0, ["deep"], {"log": ["pre"]})),
        (("sub", "mid"), "tasks", ("deep", False, [])),
    ]
    # a superstep's values come before its checkpoint, as LangGraph's
    assert resumed[-4:-1] == [
        ((), "tasks", ("post", True, [])),
        ((), "values", {"log": ["pre", "pre", "ask yes", "post"]}),
        ((), "checkpoints", ("loop", 2, [], {"log": ["pre", "pre", "ask yes", "post"]})),
    ]
    assert mine[:3] == [
        ((), "checkpoints", ("input", -1, ["__start__"], {"log": []})),
        ((), "values", {"log": []}),
        ((), "checkpoints", ("loop", 0, ["sub"], {"log": []})),
    ]


def test_a_tasks_chunks_come_in_langgraphs_order_messages_update_then_result() -> None:
    """Per task, LangGraph streams the messages it wrote, its ``updates`` chunk, then its ``tasks`` result; a task
    that asks: its ``__interrupt__`` update and values, then its result with the interrupt."""

    def build(lib: Any) -> Any:
        def bot(s: Any) -> dict[str, Any]:
            if lib is not ours:
                from langchain_core.messages import AIMessage

                return {"messages": [AIMessage("hello")]}
            return {"messages": [("assistant", "hello")]}

        def ask(s: Any) -> dict[str, Any]:
            return {"messages": [("user", lib.interrupt("more?"))]}

        b = lib.StateGraph(lib.MessagesState)
        b.add_node("bot", bot)
        b.add_node("ask", ask)
        b.add_edge(lib.START, "bot")
        b.add_edge("bot", "ask")
        return b

    def plain(mode: str, p: Any) -> Any:
        if mode == "messages":
            return mode, p[1]["langgraph_node"]
        if mode == "tasks":
            return mode, p["name"], "result" in p, [i["value"] for i in p.get("interrupts", [])]
        if mode == "values":
            return mode, len(p["messages"]), [i.value for i in p.get("__interrupt__", ())]
        return mode, sorted(p)

    def run(lib: Any, g: Any) -> Any:
        modes = ["messages", "tasks", "updates", "values"]
        return [plain(m, p) for m, p in g.stream({"messages": [("user", "hi")]}, thread(), stream_mode=modes)]

    theirs, mine = both(build, run)
    assert mine == theirs
    assert mine[1:5] == [
        ("tasks", "bot", False, []),
        ("messages", "bot"),
        ("updates", ["bot"]),
        ("tasks", "bot", True, []),
    ]
    assert mine[-3:] == [("updates", ["__interrupt__"]), ("values", 2, ["more?"]), ("tasks", "ask", True, ["more?"])]


def test_the_history_and_a_checkpoint_named_by_id_show_its_own_values_and_every_task_as_langgraph() -> None:
    """A superstep where one node finished and its sibling failed: ``get_state`` of the thread's head shows the
    finished node's writes and only the failed one next; the history, and ``get_state`` of that checkpoint by its
    id, show the checkpoint's own values and both tasks next, the finished one with its result (LangGraph applies
    pending writes to the head only)."""
    import threading

    def build(lib: Any) -> Any:
        finished = threading.Event()

        def ok(s: Log) -> dict[str, Any]:
            finished.set()
            return {"log": ["ok"]}

        def bad(s: Log) -> dict[str, Any]:
            finished.wait(30)
            raise ValueError("bad")

        b = lib.StateGraph(Log)
        b.add_node("ok", ok)
        b.add_node("bad", bad)
        b.add_edge(lib.START, "ok")
        b.add_edge(lib.START, "bad")
        return b

    def shown(snap: Any) -> Any:
        tasks = sorted((t.name, t.result, bool(t.error)) for t in snap.tasks)
        return snap.values, tuple(sorted(snap.next)), tasks

    def run(lib: Any, g: Any) -> Any:
        with pytest.raises(ValueError, match="bad"):
            g.invoke({"log": []}, thread())
        head = g.get_state(thread())
        return [shown(head), shown(g.get_state(head.config)), [shown(s) for s in g.get_state_history(thread())]]

    theirs, mine = both(build, run)
    assert mine == theirs
    tasks = [("bad", None, True), ("ok", {"log": ["ok"]}, False)]
    assert mine[0] == ({"log": ["ok"]}, ("bad",), tasks)
    assert mine[1] == ({"log": []}, ("bad", "ok"), tasks) == mine[2][0]


class Fanned(TypedDict):
    log: Annotated[list[str], operator.add]


def _fan_out(lib: Any) -> Any:
    """``start`` fans out to nodes added in an order their names do not sort in, and to a Send; two nodes and the
    Send's task pause."""

    def start(s: Fanned) -> dict[str, Any]:
        return {"log": ["start"]}

    def make(name: str, asks: bool) -> Any:
        def node(s: Any) -> dict[str, Any]:
            said = lib.interrupt(f"{name}?") if asks else "-"
            return {"log": [f"{name}:{said}"]}

        return node

    b = lib.StateGraph(Fanned)
    b.add_node("start", start)
    for name, asks in [("zeta", True), ("alpha", False), ("mid", True), ("worker", True)]:
        b.add_node(name, make(name, asks))
    b.add_edge(lib.START, "start")
    b.add_conditional_edges("start", lambda s: [lib.Send("worker", s), "zeta", "alpha", "mid"])
    return b


def test_a_snapshot_lists_sends_first_then_nodes_in_the_order_they_were_added() -> None:
    """``get_state().next``, ``.tasks`` and ``.interrupts`` came sorted by node name; LangGraph lists a
    checkpoint's Sends first, then its nodes in the order the graph added them (while the writes still merge by
    name)."""

    def run(lib: Any, g: Any) -> Any:
        out = g.invoke({"log": []}, thread())
        state = g.get_state(thread())
        seen = [
            sorted(i.value for i in out["__interrupt__"]),
            state.next,
            [t.name for t in state.tasks],
            [i.value for i in state.interrupts],
        ]
        final = g.invoke(lib.Command(resume={i.id: "ok" for i in state.interrupts}), thread())
        return seen, final

    theirs, mine = both(_fan_out, run)
    assert theirs[0][1] == ("worker", "zeta", "mid")  # LangGraph's own order, pinned
    assert mine == theirs


def _fanned_by_edges(lib: Any) -> Any:
    """``start`` with an edge to each of three nodes added in an order their names do not sort in."""
    b = lib.StateGraph(Fanned)
    b.add_node("start", lambda s: {"log": ["start"]})
    for name in ["zeta", "alpha", "mid"]:
        b.add_node(name, (lambda n: lambda s: {"log": [n]})(name))
        b.add_edge("start", name)
    b.add_edge(lib.START, "start")
    return b


def test_interrupt_before_lists_the_paused_nodes_in_the_order_they_were_added() -> None:
    def run(lib: Any, g: Any) -> Any:
        g.invoke({"log": []}, thread())
        state = g.get_state(thread())
        return state.next, [t.name for t in state.tasks], dict(g.invoke(None, thread()))

    both_compiled = both(lambda lib: _Before(_fanned_by_edges(lib)), run)
    assert both_compiled[0][0] == ("zeta", "alpha", "mid")
    assert both_compiled[1] == both_compiled[0]


class _Before:
    """A builder whose ``compile`` pauses before the fanned-out nodes (``both`` compiles with a checkpointer)."""

    def __init__(self, builder: Any) -> None:
        self.builder = builder

    def compile(self, **kw: Any) -> Any:
        return self.builder.compile(interrupt_before=["zeta", "alpha", "mid"], **kw)


def test_streamed_checkpoints_list_tasks_by_name_while_the_history_lists_them_as_added() -> None:
    """LangGraph's two orders: a checkpoint streamed as the superstep runs lists its nodes by name (the loop knows
    which channels changed and sorts the triggered nodes); ``get_state_history`` lists them as the graph added them."""

    def run(lib: Any, g: Any) -> Any:
        streamed = [
            (c["next"], [t["name"] for t in c["tasks"]])
            for c in g.stream({"log": []}, thread(), stream_mode="checkpoints")
        ]
        return streamed, [tuple(s.next) for s in g.get_state_history(thread())]

    theirs, mine = both(_fanned_by_edges, run)
    assert (["alpha", "mid", "zeta"], ["alpha", "mid", "zeta"]) in theirs[0]
    assert ("zeta", "alpha", "mid") in theirs[1]
    assert mine == theirs
