"""Error handlers as LangGraph 1.2 shows them: ``__error_handler__<node>`` names in breakpoints (accepted, never
pausing), the failed attempt and the handler as tasks of ``stream_mode="tasks"``, and the node's error recorded
when the handler itself raises (expected values measured on LangGraph 1.2 with the same graphs)."""

from __future__ import annotations

from typing import Any

import pytest
from typing_extensions import TypedDict

from aether_nb.flow import START, NodeError, StateGraph
from aether_nb.flow.compiled import CompiledGraph


class State(TypedDict):
    foo: str


def _fail(state: State) -> dict[str, Any]:
    raise RuntimeError("node boom")


def _handle(state: State, error: NodeError) -> dict[str, Any]:
    return {"foo": "handled"}


def _cfg(thread: str = "1") -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": thread}}


def _graph(handler: Any = _handle, **compile_kw: Any) -> CompiledGraph:
    builder = StateGraph(State).add_node("af", _fail, error_handler=handler).add_edge(START, "af")
    return builder.compile(checkpointer="memory", **compile_kw)


@pytest.mark.parametrize("option", ["interrupt_before", "interrupt_after"])
def test_handler_node_name_is_a_breakpoint_name_that_never_pauses(option: str) -> None:
    app = _graph(**{option: ["__error_handler__af"]})
    assert dict(app.invoke({"foo": ""}, _cfg())) == {"foo": "handled"}
    assert app.get_state(_cfg()).next == ()
    # the call's own breakpoints take the name too
    assert dict(_graph().invoke({"foo": ""}, _cfg(), **{option: ["__error_handler__af"]})) == {"foo": "handled"}


def test_default_handler_node_name_is_accepted() -> None:
    builder = StateGraph(State).set_node_defaults(error_handler=_handle).add_node("af", _fail).add_edge(START, "af")
    app = builder.compile(checkpointer="memory", interrupt_before=["__default_error_handler__"])
    assert dict(app.invoke({"foo": ""}, _cfg())) == {"foo": "handled"}


def _tasks(app: CompiledGraph) -> list[dict[str, Any]]:
    out = []
    for chunk in app.stream({"foo": ""}, _cfg("t"), stream_mode="tasks"):
        if "input" in chunk:
            out.append({"start": chunk["name"]})
        else:
            err = chunk["error"]
            out.append({"name": chunk["name"], "error": repr(err) if err else None, "result": chunk["result"]})
    return out


def test_tasks_stream_shows_the_failed_attempt_then_the_handler() -> None:
    assert _tasks(_graph()) == [
        {"start": "af"},
        {"name": "af", "error": "RuntimeError('node boom')", "result": {}},
        {"name": "__error_handler__af", "error": None, "result": {"foo": "handled"}},
    ]


def test_tasks_stream_names_a_default_handler_as_langgraph() -> None:
    builder = StateGraph(State).set_node_defaults(error_handler=_handle).add_node("af", _fail).add_edge(START, "af")
    assert _tasks(builder.compile(checkpointer="memory"))[-1]["name"] == "__default_error_handler__"


def _broken(state: State, error: NodeError) -> dict[str, Any]:
    raise RuntimeError("handler boom")


def test_a_raising_handler_fails_the_call_but_the_task_records_the_node_error() -> None:
    app = _graph(_broken)
    with pytest.raises(RuntimeError, match="handler boom"):
        app.invoke({"foo": ""}, _cfg())
    state = app.get_state(_cfg())
    assert state.next == ("af",)
    assert [(t.name, t.error) for t in state.tasks] == [("af", "RuntimeError('node boom')")]


def test_a_raising_handler_streams_both_errors_once() -> None:
    app = _graph(_broken)
    got: list[tuple[str, str]] = []
    with pytest.raises(RuntimeError, match="handler boom"):
        for chunk in app.stream({"foo": ""}, _cfg(), stream_mode="tasks"):
            if "error" in chunk:
                got.append((chunk["name"], repr(chunk["error"])))
    assert got == [("af", "RuntimeError('node boom')"), ("__error_handler__af", "RuntimeError('handler boom')")]
