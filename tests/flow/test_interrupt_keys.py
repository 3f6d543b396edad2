"""Each answer reaches the ``interrupt()`` that asked it, however the node's calls replay
(:mod:`aether_nb.flow.interrupt_keys`): an interrupt after a tool call that asked (the tool's step replays when the
node runs again), each of a ToolNode's calls that ask, a ``@graph_fn`` and the tool it calls, concurrent tool calls
of one node, and a thread resumed in new processes from the DuckDB store. Compared with LangGraph where it runs the
same code (its tools are plain functions there, called again on every re-run); every question is answered
``"ans:" + question``, so a question given another's answer shows.
"""

from __future__ import annotations

import asyncio
import json
import operator
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread
from tests.flow.test_resume_process import PRELUDE, _processes

pytestmark = pytest.mark.anyio


class S(TypedDict):
    a: Annotated[list[Any], operator.add]


async def _answer_all(app: Any, lib: Any, first: Any) -> tuple[list[str], Any]:
    """Run a turn with ``first``, then answer every question as it comes (``"ans:" + question``): the questions
    in the order they came, and the last result."""
    res = await app.ainvoke(first, thread())
    asked: list[str] = []
    while "__interrupt__" in res:
        question = res["__interrupt__"][0].value
        asked.append(question)
        res = await app.ainvoke(lib.Command(resume=f"ans:{question}"), thread())
    return asked, res


def _tool_then_node(lib: Any, wrap: Any) -> Any:
    """A node that calls a tool which asks, then asks itself."""

    def confirm(item: str) -> dict[str, Any]:
        return {"ok": lib.interrupt(f"confirm {item}?")}

    tool = wrap(confirm)

    async def node(s: S) -> dict[str, Any]:
        r = tool("x")
        if asyncio.iscoroutine(r):
            r = await r
        return {"a": [r["ok"], lib.interrupt("second question")]}

    return lib.StateGraph(S).add_node("n", node).add_edge(lib.START, "n")


def _async_tool(fn: Any) -> Any:
    @ag.tool(outputs=["ok"], name=fn.__name__)
    async def confirm(item: str) -> dict[str, Any]:
        return fn(item)  # type: ignore[no-any-return]

    return confirm


@pytest.mark.parametrize("kind", ["sync tool", "async tool"])
async def test_an_interrupt_after_a_tool_that_asked_gets_its_own_answer(checkpointer: str, kind: str) -> None:
    lg = lg_names()
    expected = await _answer_all(
        _tool_then_node(lg, lambda f: f).compile(checkpointer=lg.InMemorySaver()), lg, {"a": []}
    )
    wrap = ag.tool(outputs=["ok"]) if kind == "sync tool" else _async_tool
    app = _tool_then_node(ours, wrap).compile(checkpointer=checkpointer)
    asked, res = await _answer_all(app, ours, {"a": []})
    assert (asked, res["a"]) == (expected[0], expected[1]["a"])
    assert res["a"] == ["ans:confirm x?", "ans:second question"]


async def test_the_node_keeps_its_interrupt_ids_and_a_tools_are_under_its_step(checkpointer: str) -> None:
    """The node's own questions keep the ids (wait keys) they always had, so a run paused by an older version
    resumes; a tool's question is under the tool call's step."""
    app = _tool_then_node(ours, ag.tool(outputs=["ok"])).compile(checkpointer=checkpointer)
    first = await app.ainvoke({"a": []}, thread())
    second = await app.ainvoke(ours.Command(resume="one"), thread())
    assert [i.id for i in first["__interrupt__"]] == ["n_1/confirm_1/interrupt_1"]
    assert [i.id for i in second["__interrupt__"]] == ["n_1/interrupt_1"]


@pytest.mark.parametrize("kind", ["sync tool", "async tool"])
async def test_each_of_a_tool_nodes_calls_that_ask_gets_its_own_answer(checkpointer: str, kind: str) -> None:
    """A ToolNode whose two calls each ask (its calls run concurrently): as LangGraph, it asks one after the other
    and gives each its answer; the first call's step replays when the second's answer comes. (LangGraph's tool is
    async here: it matches answers by the order the calls ask, so its sync tools, concurrent in threads, take each
    other's answers now and then. aether_nb's run in threads too, and get their own.)"""
    pytest.importorskip("langchain_core")
    import langgraph.prebuilt as prebuilt
    from langchain_core.messages import AIMessage

    lg = lg_names()
    calls = [
        {"name": "approve", "args": {"item": "x"}, "id": "c1"},
        {"name": "approve", "args": {"item": "y"}, "id": "c2"},
    ]

    def build(lib: Any, tool_node: Any, ai: Any, sync: bool) -> Any:
        def approve(item: str) -> str:
            """Approve an item."""
            return f"{item}:{lib.interrupt(f'ok {item}?')}"

        async def approve_async(item: str) -> str:
            """Approve an item."""
            return approve(item)

        approve_async.__name__ = "approve"
        g = lib.StateGraph(lib.MessagesState)
        g.add_node("agent", lambda s: {"messages": [ai()]})
        g.add_node("tools", tool_node([approve if sync else approve_async]))
        return g.add_edge(lib.START, "agent").add_edge("agent", "tools")

    def ours_ai() -> dict[str, Any]:
        tool_calls = [ours.tool_call(c["name"], c["args"], id=c["id"]) for c in calls]
        return {"role": "assistant", "content": "", "tool_calls": tool_calls}

    lg_app = build(lg, prebuilt.ToolNode, lambda: AIMessage("", tool_calls=calls), False)
    lg_asked, lg_res = await _answer_all(
        lg_app.compile(checkpointer=lg.InMemorySaver()), lg, {"messages": [("user", "hi")]}
    )
    app = build(ours, ours.ToolNode, ours_ai, kind == "sync tool").compile(checkpointer=checkpointer)
    asked, res = await _answer_all(app, ours, {"messages": [("user", "hi")]})
    assert asked == lg_asked == ["ok x?", "ok y?"]
    assert [m["content"] for m in res["messages"][2:]] == [m.content for m in lg_res["messages"][2:]]
    assert [m["content"] for m in res["messages"][2:]] == ["x:ans:ok x?", "y:ans:ok y?"]


def _nested(lib: Any, confirm: Any, review: Any) -> Any:
    """A node that calls ``review``, which calls ``confirm`` (which asks) then asks, then the node asks."""

    async def node(s: S) -> dict[str, Any]:
        r = review("x")
        r = (await r)["r"] if asyncio.iscoroutine(r) or hasattr(r, "__await__") else r["r"]
        return {"a": [*r, lib.interrupt("node question")]}

    return lib.StateGraph(S).add_node("n", node).add_edge(lib.START, "n")


async def test_a_graph_fn_and_the_sync_tool_it_calls_get_their_own_answers(checkpointer: str) -> None:
    """The tool's step replays inside the ``@graph_fn``'s, the graph_fn's step replays inside the node: each
    question still gets its own answer (the tool's body runs in a worker thread, outside any scope)."""
    lg = lg_names()

    def lg_confirm(item: str) -> dict[str, Any]:
        return {"ok": lg.interrupt(f"confirm {item}?")}

    def lg_review(item: str) -> dict[str, Any]:
        return {"r": [lg_confirm(item)["ok"], lg.interrupt(f"review {item}?")]}

    expected = await _answer_all(
        _nested(lg, lg_confirm, lg_review).compile(checkpointer=lg.InMemorySaver()), lg, {"a": []}
    )

    @ag.tool(outputs=["ok"])
    def confirm(item: str) -> dict[str, Any]:
        return {"ok": ours.interrupt(f"confirm {item}?")}

    @ag.graph_fn(outputs=["r"])
    async def review(item: str) -> dict[str, Any]:
        return {"r": [(await confirm(item))["ok"], ours.interrupt(f"review {item}?")]}

    app = _nested(ours, confirm, lambda item: review(item=item)).compile(checkpointer=checkpointer)
    asked, res = await _answer_all(app, ours, {"a": []})
    assert (asked, res["a"]) == (expected[0], expected[1]["a"])
    assert res["a"] == ["ans:confirm x?", "ans:review x?", "ans:node question"]


async def test_concurrent_tool_calls_of_a_node_each_get_their_own_answer(checkpointer: str) -> None:
    """Two sync tools asked together (``asyncio.gather``), the one raised first asking last: on every re-run the
    other asks first, and still gets its own answer, not the one given to the first question."""

    @ag.tool(outputs=["ok"])
    def slow(item: str) -> dict[str, Any]:
        time.sleep(0.2)
        return {"ok": ours.interrupt(f"slow {item}?")}

    @ag.tool(outputs=["ok"])
    def fast(item: str) -> dict[str, Any]:
        return {"ok": ours.interrupt(f"fast {item}?")}

    async def node(s: S) -> dict[str, Any]:
        results = await asyncio.gather(slow("x"), fast("y"), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return {"a": [r["ok"] for r in results]}  # type: ignore[index]

    app = ours.StateGraph(S).add_node("n", node).add_edge(ours.START, "n").compile(checkpointer=checkpointer)
    asked, res = await _answer_all(app, ours, {"a": []})
    assert asked == ["slow x?", "fast y?"]
    assert res["a"] == ["ans:slow x?", "ans:fast y?"]


PROCESS_SCRIPT = (
    PRELUDE
    + """
@ag.tool(outputs=["ok"])
def confirm(item: str) -> dict:
    log(f"confirm {item}")
    return {"ok": interrupt(f"confirm {item}?")}

class S(TypedDict):
    a: Annotated[list, operator.add]

async def node(s: S):
    r = (await confirm("x"))["ok"]
    return {"a": [r, interrupt("second question")]}

app = StateGraph(S, name="asks").add_node("n", node).add_edge(START, "n").compile()
cfg = {"configurable": {"thread_id": "t"}}

async def main():
    res = await app.ainvoke({"a": []} if MODE == "start" else Command(resume=MODE), cfg)
    if "__interrupt__" in res:
        print("ASKED", json.dumps([i.value for i in res["__interrupt__"]]), flush=True)
    else:
        print("OUT", json.dumps(res["a"]), flush=True)
    os._exit(0)

asyncio.run(main())
"""
)


def test_answers_given_in_new_processes_reach_their_own_questions(tmp_path: Path) -> None:
    """Each answer given by a new process resuming from the DuckDB store: the second question gets the second
    answer, though the tool call that asked first replays from the journal there."""
    run, counter = _processes(tmp_path / "asks.py", PROCESS_SCRIPT, tmp_path / "flow.duckdb")
    assert json.loads(run("start").split("ASKED ", 1)[1].splitlines()[0]) == ["confirm x?"]
    assert json.loads(run("one").split("ASKED ", 1)[1].splitlines()[0]) == ["second question"]
    assert json.loads(run("two").split("OUT ", 1)[1].splitlines()[0]) == ["one", "two"]
    assert Path(counter).read_text().splitlines() == ["confirm x", "confirm x"]  # (then its step replayed)
