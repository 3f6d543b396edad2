"""Second round of LangGraph parity points, each run on LangGraph and on aether_nb and compared: ToolNode's
``handle_tool_errors`` (default: a tool's own exception fails the node), ``tasks`` stream starts on a resuming
call, routers annotated with ``Literal`` destinations, LLM token deltas in the ``messages`` stream, and small API
edges (``EmptyInputError``, an unknown ``checkpoint_id``, an empty final state, the default graph name).
Skipped without LangGraph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import lg_names, thread

# --- 1. ToolNode: handle_tool_errors -------------------------------------------------------------------------------


def _tool_agent(lib: Any, tool: Any, args: dict[str, Any], **node_kw: Any) -> Any:
    """model -> tools -> model, the model asking for ``tool(**args)`` once, then answering "done"."""
    if lib is ours:
        tool_node, saver = ours.ToolNode([tool], **node_kw), "memory"
    else:
        from langgraph.prebuilt import ToolNode

        tool_node, saver = ToolNode([tool], **node_kw), lib.InMemorySaver()
    turns: list[int] = []

    def model(s: Any) -> Any:
        turns.append(1)
        if len(turns) > 1:
            return {"messages": [{"role": "assistant", "content": "done"}]}
        call = {"id": "c1", "name": tool.__name__, "args": args}
        return {"messages": [{"role": "assistant", "content": "", "tool_calls": [call]}]}

    from langgraph.prebuilt import tools_condition

    g = lib.StateGraph(lib.MessagesState)
    g.add_node("model", model)
    g.add_node("tools", tool_node)
    g.add_edge(lib.START, "model")
    g.add_conditional_edges("model", ours.tools_condition if lib is ours else tools_condition)
    g.add_edge("tools", "model")
    return g.compile(checkpointer=saver)


def _tool_outcome(lib: Any, tool: Any, args: dict[str, Any], **node_kw: Any) -> Any:
    """``("raised", type)`` or ``("answered", [(is_error, content) of the tool messages], last content)``."""
    try:
        res = _tool_agent(lib, tool, args, **node_kw).invoke({"messages": [("user", "go")]}, thread())
    except Exception as exc:
        return ("raised", type(exc))
    tools = []
    for m in res["messages"]:
        if isinstance(m, dict):
            if m["role"] == "tool":
                tools.append((bool(m.get("is_error")), m["content"]))
        elif m.type == "tool":
            tools.append((m.status == "error", m.content))
    last = res["messages"][-1]
    return ("answered", tools, last["content"] if isinstance(last, dict) else last.content)


def charge_card(amount: int) -> str:
    """Charge the card."""
    raise ConnectionError("payment gateway down")


def parse(text: str) -> str:
    """Parse a number."""
    raise ValueError(f"not a number: {text}")


def test_a_tools_own_exception_fails_the_node_by_default_as_in_langgraph() -> None:
    lg = lg_names()
    theirs = _tool_outcome(lg, charge_card, {"amount": 5})
    assert theirs == ("raised", ConnectionError)
    assert _tool_outcome(ours, charge_card, {"amount": 5}) == theirs


def test_an_invalid_call_goes_back_to_the_model_by_default_as_in_langgraph() -> None:
    lg = lg_names()
    theirs = _tool_outcome(lg, charge_card, {"amout": 5})  # (a typo: the model can fix it)
    mine = _tool_outcome(ours, charge_card, {"amout": 5})
    assert theirs[0] == mine[0] == "answered"
    assert [e for e, _ in theirs[1]] == [e for e, _ in mine[1]] == [True]
    assert theirs[2] == mine[2] == "done"
    assert "charge_card" in mine[1][0][1]


@pytest.mark.parametrize(
    ("handling", "tool", "expect"),
    [
        (True, charge_card, "answered"),
        ("the gateway is down", charge_card, "answered"),
        (ValueError, parse, "answered"),
        (ValueError, charge_card, "raised"),
        ((KeyError, ConnectionError), charge_card, "answered"),
        (False, charge_card, "raised"),
    ],
)
def test_handle_tool_errors_values_as_in_langgraph(handling: Any, tool: Any, expect: str) -> None:
    lg = lg_names()
    args = {"amount": 5} if tool is charge_card else {"text": "x"}
    theirs, mine = (
        _tool_outcome(lg, tool, args, handle_tool_errors=handling),
        _tool_outcome(ours, tool, args, handle_tool_errors=handling),
    )
    assert theirs[0] == mine[0] == expect
    if expect == "raised":
        assert theirs == mine
    else:
        assert [e for e, _ in theirs[1]] == [e for e, _ in mine[1]] == [True]
        if isinstance(handling, str):
            assert theirs[1] == mine[1] == [(True, handling)]


def gateway_down(e: ConnectionError) -> str:
    return f"gateway: {e}"


def only_keys(e: KeyError) -> str:
    return "key"


def anything(e) -> str:  # type: ignore[no-untyped-def]  # (no annotation: every exception)
    return "any"


@pytest.mark.parametrize(
    ("handler", "expect"),
    [
        (gateway_down, ("answered", [(True, "gateway: payment gateway down")], "done")),
        (only_keys, None),
        (anything, None),
    ],
)
def test_a_handler_function_handles_the_exceptions_its_annotation_names(handler: Any, expect: Any) -> None:
    lg = lg_names()
    theirs = _tool_outcome(lg, charge_card, {"amount": 5}, handle_tool_errors=handler)
    assert _tool_outcome(ours, charge_card, {"amount": 5}, handle_tool_errors=handler) == theirs
    if expect is not None:
        assert theirs == expect


def test_a_handle_tool_errors_value_of_another_kind_is_refused_when_the_node_is_made() -> None:
    def bad(e: int) -> str:
        return ""

    for value in (3, bad, (ValueError, 3)):
        with pytest.raises(UsageError, match="handle_tool_errors"):
            ours.ToolNode([charge_card], handle_tool_errors=value)


class _Log(TypedDict):
    log: Annotated[list[str], operator.add]


# --- 2. tasks stream: one start per task on a resuming call; the start's metadata --------------------------------


def _resumable(lib: Any, **compile_kw: Any) -> Any:
    def a(s: _Log) -> Any:
        return {"log": ["a"]}

    def ask(s: _Log) -> Any:
        return {"log": [lib.interrupt("q")]}

    def b(s: _Log) -> Any:
        return {"log": ["b"]}

    g = lib.StateGraph(_Log)
    g.add_node("a", a)
    g.add_node("ask", ask)
    g.add_node("b", b)
    g.add_edge(lib.START, "a")
    g.add_edge("a", "ask")
    g.add_edge("a", "b")
    return g.compile(checkpointer="memory" if lib is ours else lib.InMemorySaver(), **compile_kw)


def _task_chunks(lib: Any, resume_with: str, config_extra: dict[str, Any]) -> Any:
    """The ``tasks`` chunks of the first call and of the resuming one: (name, metadata) per start, result names."""
    app = _resumable(lib, **({"interrupt_before": ["b"]} if resume_with == "breakpoint" else {}))
    cfg = {**thread(), **config_extra}
    out = []
    for arg in ({"log": []}, lib.Command(resume="x") if resume_with == "answer" else None):
        chunks = list(app.stream(arg, cfg, stream_mode="tasks"))
        starts = [(c["name"], c.get("metadata")) for c in chunks if "input" in c]
        out.append((starts, [c["name"] for c in chunks if "input" not in c]))
    return out


@pytest.mark.parametrize("resume_with", ["answer", "breakpoint"])
@pytest.mark.parametrize(
    "config_extra",
    [
        {},
        {"metadata": {"user": "u"}},
        {"metadata": {"user": "u", "thread_id": "x", "langgraph_node": "n"}, "tags": ["t1", "seq:step:2"]},
        {"tags": ["t1"]},
        {"metadata": {}},
    ],
)
def test_a_resuming_call_announces_each_task_once_with_langgraphs_metadata(
    resume_with: str, config_extra: dict[str, Any]
) -> None:
    lg = lg_names()
    theirs = _task_chunks(lg, resume_with, config_extra)
    assert [n for n, _ in theirs[1][0]] == ["ask", "b"]
    assert _task_chunks(ours, resume_with, config_extra) == theirs


# --- 3. a router's `-> Literal[...]` annotation is its path map ----------------------------------------------------


class _X(TypedDict):
    x: int


def to_b_or_c(s: _X) -> Literal["b", "c"]:
    return "d" if s["x"] < 0 else "b"  # type: ignore[return-value]  # (a router that breaks its annotation)


def to_b_or_end(s: _X) -> Literal["b", "__end__"]:
    return "__end__" if s["x"] > 5 else "b"


def to_b_maybe(s: _X) -> Literal["b"] | None:  # (not a plain Literal: LangGraph routes by name)
    return "d" if s["x"] < 0 else "b"


def _routed(lib: Any, router: Any) -> Any:
    g = lib.StateGraph(_X)
    for n in "abcd":
        g.add_node(n, lambda s: {"x": s["x"] + 1})
    g.add_edge(lib.START, "a")
    g.add_conditional_edges("a", router)
    for n in "bcd":
        g.add_edge(n, lib.END)
    return g.compile(checkpointer="memory" if lib is ours else lib.InMemorySaver())


def _route_outcome(lib: Any, router: Any) -> Any:
    app = _routed(lib, router)
    edges = sorted((e.source, e.target, e.conditional) for e in app.get_graph().edges if e.source == "a")
    outcomes = []
    for x in (0, 9, -5):
        try:
            outcomes.append(app.invoke({"x": x}, thread(str(x))))
        except Exception as exc:
            outcomes.append((type(exc).__name__ if not isinstance(exc, KeyError) else "KeyError", exc.args[:0]))
    return edges, outcomes


@pytest.mark.parametrize("router", [to_b_or_c, to_b_or_end, to_b_maybe])
def test_a_routers_literal_annotation_is_its_path_map_as_in_langgraph(router: Any) -> None:
    lg = lg_names()
    mine, theirs = _route_outcome(ours, router), _route_outcome(lg, router)
    assert mine[1] == theirs[1]
    if router is not to_b_maybe:  # (without a path map the drawings differ, as before: LangGraph draws no branch)
        assert mine[0] == theirs[0]


def test_a_result_outside_the_literal_is_a_key_error_and_an_invalid_update() -> None:
    with pytest.raises(ours.InvalidUpdate, match="'d', which is not a key of its path_map") as caught:
        _routed(ours, to_b_or_c).invoke({"x": -5}, thread())
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ours.UnknownRoute)
    assert "'d'" in str(caught.value) and not str(caught.value).startswith('"')


# --- 6. small API edges ----------------------------------------------------------------------------------------------


def test_no_input_on_a_new_thread_is_an_empty_input_error_as_in_langgraph() -> None:
    lg = lg_names()
    caught = []
    for lib in (lg, ours):
        g = lib.StateGraph(_X)
        g.add_node("a", lambda s: {"x": 1})
        g.add_edge(lib.START, "a")
        app = g.compile(checkpointer="memory" if lib is ours else lib.InMemorySaver())
        with pytest.raises(Exception) as exc:
            app.invoke(None, thread("new"))
        caught.append(exc.value)
    assert [type(e).__name__ for e in caught] == ["EmptyInputError", "EmptyInputError"]
    assert isinstance(caught[1], ours.EmptyInputError) and isinstance(caught[1], UsageError)
    assert caught[1].code == "no_input"
