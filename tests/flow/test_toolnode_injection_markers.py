"""ToolNode parameters the model never sees: ``runtime: ToolRuntime`` (aether_nb's or LangGraph's class) and the
injection markers of LangGraph and LangChain (``InjectedState``, ``InjectedState("k")``, ``InjectedToolCallId``,
``InjectedStore``), which a LangGraph user's tools carry. They are left out of ``ToolNode.schemas()`` (which used
to fail for a ToolRuntime parameter, or show the marked ones to the model) and filled in on each call (which used
to come back as an "Invalid arguments ... missing required arguments" error message).
"""

# (no `from __future__ import annotations`: the tools below name local variables in their annotations)
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as af
from aether_nb.runtime.session import Session


class S(TypedDict):
    messages: Annotated[list, af.add_messages]
    k: str


def _run(tool: Any, store: Any = None) -> dict[str, Any]:
    """Run ``tool`` once through a ToolNode (x=1, call id c1); the tool message it answers with."""
    sg = af.StateGraph(S)
    sg.add_node("tools", af.ToolNode([tool]))
    sg.add_edge(af.START, "tools")
    call = af.assistant_message("", tool_calls=[af.tool_call(tool.__name__, {"x": 1}, id="c1")])
    out = sg.compile(store=store).invoke({"messages": [call], "k": "K"})
    result: dict[str, Any] = out["messages"][-1]
    return result


def _properties(tool: Any) -> tuple[list[str], list[str]]:
    params = af.ToolNode([tool]).schemas()[0]["function"]["parameters"]
    return list(params["properties"]), list(params.get("required", []))


def who(x: int, runtime: af.ToolRuntime) -> str:
    """Says who called.

    Args:
        x: a number.
    """
    return f"{x}:{runtime.tool_call_id}"


def test_tool_runtime_parameter_is_left_out_of_the_schema(session: Session) -> None:
    spec = af.ToolNode([who]).schemas()[0]["function"]
    assert (spec["name"], spec["description"]) == ("who", "Says who called.")
    assert spec["parameters"]["properties"] == {"x": {"type": "integer", "description": "a number."}}
    assert spec["parameters"]["required"] == ["x"]
    assert _run(who)["content"] == "1:c1"


def test_langgraph_markers_are_hidden_and_injected(session: Session) -> None:
    prebuilt = pytest.importorskip("langgraph.prebuilt")
    lc_tools = pytest.importorskip("langchain_core.tools")
    LGInjectedState: Any = prebuilt.InjectedState
    LCInjectedToolCallId: Any = lc_tools.InjectedToolCallId
    LGToolRuntime: Any = prebuilt.ToolRuntime

    def who_lg(x: int, runtime: LGToolRuntime) -> str:
        """d"""
        return f"{x}:{runtime.tool_call_id}"

    def t1(x: int, s: Annotated[dict, LGInjectedState], cid: Annotated[str, LCInjectedToolCallId]) -> str:
        """d"""
        return f"{x}:{len(s['messages'])}:{cid}"

    def t2(x: int, k: Annotated[str, LGInjectedState("k")]) -> str:
        """d"""
        return f"{x}:{k}"

    for tool, expected in ((who_lg, "1:c1"), (t1, "1:1:c1"), (t2, "1:K")):
        assert _properties(tool) == (["x"], ["x"]), tool.__name__
        result = _run(tool)
        assert not result.get("is_error"), result
        assert result["content"] == expected


def test_schema_matches_langgraphs_tool_call_schema(session: Session) -> None:
    """LangGraph's (LangChain's) own view of the same tool: the model sees only ``x``."""
    prebuilt = pytest.importorskip("langgraph.prebuilt")
    lc_tools = pytest.importorskip("langchain_core.tools")
    LGInjectedState: Any = prebuilt.InjectedState
    LCInjectedToolCallId: Any = lc_tools.InjectedToolCallId

    def t1(x: int, s: Annotated[dict, LGInjectedState], cid: Annotated[str, LCInjectedToolCallId]) -> str:
        """d"""
        return f"{x}:{cid}"

    theirs = lc_tools.tool(t1).tool_call_schema.model_json_schema()
    assert _properties(t1) == (list(theirs["properties"]), theirs["required"])


def test_langgraph_injected_store_receives_the_compiled_store(session: Session) -> None:
    prebuilt = pytest.importorskip("langgraph.prebuilt")
    LGInjectedStore: Any = prebuilt.InjectedStore
    store = {"answer": 42}

    def lookup(x: int, st: Annotated[Any, LGInjectedStore()]) -> str:
        """d"""
        return f"{x}:{st['answer']}"

    assert _properties(lookup) == (["x"], ["x"])
    assert _run(lookup, store=store)["content"] == "1:42"
