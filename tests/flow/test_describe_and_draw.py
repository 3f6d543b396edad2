"""LangGraph's ways to describe and draw a compiled graph: ``get_input_schema``/``get_output_schema`` (pydantic
models), ``get_graph().draw_mermaid(with_styles=...)``, ``draw_ascii()``, ``draw_png()`` (Graphviz, local),
``draw_mermaid_png()`` (a web service in LangGraph: a clear error here), and ``batch_as_completed``."""

from __future__ import annotations

import operator
import shutil
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from aether_nb.errors import UsageError
from aether_nb.flow import START, StateGraph
from tests.flow.conftest import lg_names, thread


class S(TypedDict):
    log: Annotated[list, operator.add]
    x: str


def _build(lib: Any) -> Any:
    b = lib.StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_node("b", lambda s: {"log": ["b"]})
    b.add_edge(lib.START, "a")
    b.add_conditional_edges("a", lambda s: "b", {"go": "b", "stop": "__end__"})
    return b


def _app() -> Any:
    return _build(__import__("aether_nb.flow", fromlist=["StateGraph"])).compile(checkpointer="memory")


def test_input_and_output_schemas_are_pydantic_models() -> None:
    app = _app()
    lg = lg_names()
    theirs = _build(lg).compile()
    assert app.get_input_schema().model_json_schema() == theirs.get_input_schema().model_json_schema()
    out = app.get_output_schema()
    assert set(out.model_json_schema()["properties"]) == {"log", "x"}
    assert out.model_validate({"x": "1"}).x == "1"  # every key optional, as LangGraph's output model


def test_draw_mermaid_with_styles_and_draw_ascii() -> None:
    g = _app().get_graph()
    assert g.draw_mermaid(with_styles=False) == g.draw_mermaid()
    with pytest.raises(UsageError, match="curve_style"):
        g.draw_mermaid(curve_style="basis")
    assert g.draw_ascii().splitlines() == [
        "__start__ --> a",
        "a -.-> b (go)",
        "a -.-> __end__ (stop)",
        "b --> __end__",
    ]


def test_draw_mermaid_png_says_what_to_use_instead() -> None:
    with pytest.raises(UsageError, match=r"draw_png\(\)"):
        _app().get_graph().draw_mermaid_png()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_draw_png_with_graphviz(tmp_path: Any) -> None:
    g = _app().get_graph()
    png = g.draw_png()
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    path = tmp_path / "g.png"
    assert g.draw_png(str(path)) is None and path.read_bytes().startswith(b"\x89PNG")


def test_batch_as_completed() -> None:
    b = StateGraph(S)
    b.add_node("a", lambda s: {"log": ["a"]})
    b.add_edge(START, "a")
    app = b.compile(checkpointer="memory")
    got = sorted(
        (i, dict(r)) for i, r in app.batch_as_completed([{"log": []}, {"log": ["z"]}], [thread("1"), thread("2")])
    )
    assert got == [(0, {"log": ["a"]}), (1, {"log": ["z", "a"]})]  # (LangGraph's)
    viewed = app.with_config(configurable={"thread_id": "3"})
    assert [dict(r) for _, r in viewed.batch_as_completed([{"log": []}])] == [{"log": ["a"]}]
