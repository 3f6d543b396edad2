"""``get_input_jsonschema``/``get_output_jsonschema``/``get_context_jsonschema``, ported from LangGraph's
``test_state.py`` and checked against LangGraph itself on the same schemas.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired, Required

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from aether_nb.errors import UsageError
from aether_nb.flow import StateGraph


def _optional_values_graph(graph_cls: Any, total_: bool, **compile_kw: Any) -> Any:
    class SomeParentState(TypedDict):
        val0a: str
        val0b: str | None

    class InputState(SomeParentState, total=total_):  # type: ignore[call-arg]
        val1: str
        val2: str | None
        val3: Required[Annotated[dict, operator.or_]]
        val4: NotRequired[dict]
        val5: Annotated[Required[str], "foo"]
        val6: Annotated[NotRequired[str], "bar"]

    class OutputState(SomeParentState, total=total_):  # type: ignore[call-arg]
        out_val1: str
        out_val2: str | None
        out_val3: Required[str]
        out_val4: NotRequired[dict]
        out_val5: Annotated[Required[str], "foo"]
        out_val6: Annotated[NotRequired[str], "bar"]

    class State(InputState):  # this would be ignored
        val4: dict

    builder = graph_cls(State, input_schema=InputState, output_schema=OutputState)
    builder.add_node("n", lambda x: x)
    builder.add_edge("__start__", "n")
    return builder.compile(**compile_kw)


@pytest.mark.parametrize("total_", [True, False])
def test_state_schema_optional_values(total_: bool) -> None:
    """test_state.py::test_state_schema_optional_values (without the channel classes aether_nb does not have)."""
    graph = _optional_values_graph(StateGraph, total_, checkpointer="memory")
    json_schema = graph.get_input_jsonschema()
    expected_required: set[str] = set() if not total_ else {"val1", "val2"}
    expected_optional = {"val2", "val1"} if not total_ else set()
    expected_required |= {"val0a", "val0b", "val3", "val5"}
    expected_optional |= {"val4", "val6"}
    assert set(json_schema.get("required", set())) == expected_required
    assert set(json_schema["properties"].keys()) == expected_required | expected_optional

    output_schema = graph.get_output_jsonschema()
    expected_required = set() if not total_ else {"out_val1", "out_val2"}
    expected_optional = {"out_val2", "out_val1"} if not total_ else set()
    expected_required |= {"val0a", "val0b", "out_val3", "out_val5"}
    expected_optional |= {"out_val4", "out_val6"}
    assert set(output_schema.get("required", set())) == expected_required
    assert set(output_schema["properties"].keys()) == expected_required | expected_optional


def _defaults_graph(graph_cls: Any, kw_only_: bool, **compile_kw: Any) -> Any:
    kwargs = {"kw_only": kw_only_} if "kw_only" in inspect.signature(dataclass).parameters else {}

    @dataclass(**kwargs)
    class InputState:
        val1: str
        val2: int | None
        val3: Annotated[float | None, "optional annotated"]
        val4: str | None = None
        val5: list[int] = field(default_factory=lambda: [1, 2, 3])
        val6: dict[str, int] = field(default_factory=lambda: {"a": 1})
        val7: str = field(default=...)  # type: ignore[assignment]
        val8: Annotated[int, "some metadata"] = 42
        val9: Annotated[str, "more metadata"] = field(default="some foo")
        val10: str = "default"
        val11: Annotated[list[str], "annotated list"] = field(default_factory=lambda: ["a", "b"])

    builder = graph_cls(InputState)
    builder.add_node("n", lambda x: x)
    builder.add_edge("__start__", "n")
    return builder.compile(**compile_kw)


@pytest.mark.parametrize("kw_only_", [False, True])
def test_state_schema_default_values(kw_only_: bool) -> None:
    """test_state.py::test_state_schema_default_values."""
    graph = _defaults_graph(StateGraph, kw_only_, checkpointer="memory")
    expected_required = {"val1", "val7"}
    expected_optional = {"val2", "val3", "val4", "val5", "val6", "val8", "val9", "val10", "val11"}
    for json_schema in [graph.get_input_jsonschema(), graph.get_output_jsonschema()]:
        assert set(json_schema.get("required", set())) == expected_required
        assert set(json_schema["properties"].keys()) == expected_required | expected_optional


class PState(BaseModel):
    query: str
    hits: Annotated[list[str], operator.add] = []
    score: float | None = None


class Reduced(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    count: int


def _plain(graph_cls: Any, schema: Any, **compile_kw: Any) -> Any:
    builder = graph_cls(schema)
    builder.add_node("n", lambda x: None)
    builder.add_edge("__start__", "n")
    return builder.compile(**compile_kw)


@pytest.mark.parametrize(
    "make",
    [
        lambda cls, **kw: _optional_values_graph(cls, True, **kw),
        lambda cls, **kw: _optional_values_graph(cls, False, **kw),
        lambda cls, **kw: _defaults_graph(cls, True, **kw),
        lambda cls, **kw: _plain(cls, PState, **kw),
        lambda cls, **kw: _plain(cls, Reduced, **kw),
    ],
    ids=["typeddict-total", "typeddict-partial", "dataclass", "pydantic", "reducers"],
)
def test_schemas_match_langgraph(make: Any) -> None:
    lg = pytest.importorskip("langgraph.graph")
    ours, theirs = make(StateGraph, checkpointer="memory"), make(lg.StateGraph)
    for getter in ("get_input_jsonschema", "get_output_jsonschema"):
        mine, their = getattr(ours, getter)(), getattr(theirs, getter)()
        assert set(mine.get("required", [])) == set(their.get("required", [])), getter
        assert mine["properties"] == their["properties"], getter


def test_context_jsonschema() -> None:
    @dataclass
    class Ctx:
        user_id: str
        limit: int = 3

    graph = _plain(StateGraph, Reduced, checkpointer="memory")
    assert graph.get_context_jsonschema() is None
    builder = StateGraph(Reduced, context_schema=Ctx)
    builder.add_node("n", lambda s: None).add_edge("__start__", "n")
    schema = builder.compile(checkpointer="memory").get_context_jsonschema()
    assert (
        schema is not None and schema["required"] == ["user_id"] and set(schema["properties"]) == {"user_id", "limit"}
    )


def test_a_free_form_state_is_any_object_and_an_undescribable_one_is_a_usage_error() -> None:
    assert _plain(StateGraph, None, checkpointer="memory").get_input_jsonschema()["type"] == "object"

    class Opaque:
        pass

    @dataclass
    class WithOpaque:
        thing: Opaque

    with pytest.raises(UsageError, match="JSON Schema"):
        _plain(StateGraph, WithOpaque, checkpointer="memory").get_output_jsonschema()
