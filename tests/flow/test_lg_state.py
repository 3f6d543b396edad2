"""State semantics, ported from LangGraph's own tests (``libs/langgraph/tests/test_state.py``, ``test_pregel.py``,
``test_pydantic.py``) to aether_nb's names: reducers, Overwrite, node input/output schemas, pydantic and dataclass
states, Commands as updates. Each test names the LangGraph test it ports.
"""

from __future__ import annotations

import enum
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from pydantic import BaseModel, field_validator

from aether_nb.errors import UsageError
from aether_nb.flow import (
    END,
    START,
    Command,
    GraphBuildError,
    InvalidUpdateError,
    MessagesState,
    Overwrite,
    RemoveMessage,
    StateGraph,
    add_messages,
)
from aether_nb.runtime.session import Session
from tests.flow.conftest import ai, user


# -- test_state.py ------------------------------------------------------------------------------------------------
def test_state_schema_with_type_hint(session: Session) -> None:
    """test_state.py::test_state_schema_with_type_hint — nodes typed with other schemas get those keys."""

    class InputState(TypedDict):
        question: str

    class OutputState(TypedDict):
        input_state: InputState

    class FooState(InputState):
        foo: str

    def complete_hint(state: InputState) -> OutputState:
        return {"input_state": state}

    def miss_first_hint(state, config) -> OutputState:  # type: ignore[no-untyped-def]
        return {"input_state": state}

    def miss_all_hint(state, config):  # type: ignore[no-untyped-def]
        return {"input_state": state}

    def pre_foo(_) -> FooState:  # type: ignore[no-untyped-def]
        return {"foo": "bar"}  # type: ignore[typeddict-item]

    class Foo:
        def __call__(self, state: FooState) -> OutputState:
            assert state.pop("foo") == "bar"
            return {"input_state": state}

    graph = StateGraph(InputState, output_schema=OutputState)
    actions = [complete_hint, miss_first_hint, miss_all_hint, pre_foo, Foo()]
    for action in actions:
        graph.add_node(action)

    def name(action: Any) -> str:
        return getattr(action, "__name__", action.__class__.__name__)

    graph.set_entry_point(name(actions[0]))
    for a, b in itertools.pairwise(actions):
        graph.add_edge(name(a), name(b))
    graph.set_finish_point(name(actions[-1]))
    app = graph.compile()
    chunks = list(app.stream({"question": "Hello World!"}, stream_mode="updates"))
    assert len(chunks) == len(actions)
    for action, chunk in zip(actions, chunks, strict=True):
        if name(action) == "pre_foo":
            assert chunk[name(action)] == {"foo": "bar"}
        else:
            assert chunk[name(action)] == {"input_state": {"question": "Hello World!"}}


def test_input_schema_conditional_edge(session: Session) -> None:
    """test_state.py::test_input_schema_conditional_edge — a private key and an unknown one."""

    class OverallState(TypedDict):
        foo: Annotated[int, operator.add]
        bar: str

    class PrivateState(TypedDict):
        baz: str

    def node_1(state: OverallState) -> Any:
        return {"foo": 1, "baz": "bar"}

    def node_2(state: PrivateState) -> Any:
        return {"foo": 1, "bar": state["baz"], "something_else": "meow"}

    def node_3(state: OverallState) -> Any:
        return {"foo": 1}

    def router(state: OverallState) -> str:
        assert state == {"foo": 2, "bar": "bar"}
        return "node_3" if state["foo"] == 2 else END

    builder = StateGraph(OverallState)
    builder.add_node(node_1)
    builder.add_node(node_2)
    builder.add_node(node_3)
    builder.add_conditional_edges("node_2", router)
    builder.add_edge(START, "node_1")
    builder.add_edge("node_1", "node_2")
    with pytest.warns(UserWarning, match="something_else"):
        assert builder.compile().invoke({"foo": 0}) == {"foo": 3, "bar": "bar"}


def test_private_input_schema_conditional_edge(session: Session) -> None:
    """test_state.py::test_private_input_schema_conditional_edge — a router typed with a private schema."""

    class OverallState(TypedDict):
        foo: Annotated[int, operator.add]
        bar: str

    class RouterState(TypedDict):
        baz: str

    class Node2State(TypedDict):
        foo: Annotated[int, operator.add]
        baz: str

    def node_1(state: OverallState) -> Any:
        return {"foo": 1, "baz": "meow"}

    def node_2(state: Node2State) -> Any:
        return {"foo": 1, "bar": state["baz"]}

    def router(state: RouterState) -> str:
        assert state == {"baz": "meow"}
        return "node_2" if state["baz"] == "meow" else END

    builder = StateGraph(OverallState)
    builder.add_node(node_1)
    builder.add_node(node_2)
    builder.add_conditional_edges("node_1", router)
    builder.add_edge(START, "node_1")
    assert builder.compile().invoke({"foo": 0}) == {"foo": 2, "bar": "meow"}


# -- test_pregel.py: reducers and schemas --------------------------------------------------------------------------
@pytest.mark.parametrize("container", [list, Sequence])
def test_reducer_before_first_node(session: Session, container: Any) -> None:
    """test_pregel.py::test_reducer_before_first_node — the input goes through the reducer."""

    class State(TypedDict):
        hello: str
        messages: Annotated[container[str], add_messages]  # type: ignore[valid-type]

    def node_a(state: State) -> None:
        assert state == {"hello": "there", "messages": [user("hello")]}

    builder = StateGraph(State)
    builder.add_node("a", node_a)
    builder.set_entry_point("a")
    builder.set_finish_point("a")
    assert builder.compile().invoke({"hello": "there", "messages": "hello"}) == {
        "hello": "there",
        "messages": [user("hello")],
    }


def test_node_schemas_custom_output(session: Session) -> None:
    """test_pregel.py::test_node_schemas_custom_output — per-node input schemas, an output schema."""

    class State(TypedDict):
        hello: str
        bye: str
        messages: Annotated[list[str], add_messages]

    class Output(TypedDict):
        messages: list[str]

    class StateForA(TypedDict):
        hello: str
        messages: Annotated[list[str], add_messages]

    def node_a(state: StateForA) -> None:
        assert state == {"hello": "there", "messages": [user("hello")]}

    class StateForB(TypedDict):
        bye: str
        now: int

    def node_b(state: StateForB) -> Any:
        assert state == {"bye": "world"}
        return {"now": 123, "hello": "again"}

    class StateForC(TypedDict):
        hello: str
        now: int

    def node_c(state: StateForC) -> None:
        assert state == {"hello": "again", "now": 123}

    builder = StateGraph(State, output_schema=Output)
    builder.add_node("a", node_a)
    builder.add_node("b", node_b)
    builder.add_node("c", node_c)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    graph = builder.compile()
    assert graph.invoke({"hello": "there", "bye": "world", "messages": "hello"}) == {"messages": [user("hello")]}
    with pytest.warns(UserWarning, match="now"):  # not in the input schema: ignored
        assert graph.invoke({"hello": "there", "bye": "world", "messages": "hello", "now": 345}) == {
            "messages": [user("hello")]
        }
    assert list(graph.stream({"hello": "there", "bye": "world", "messages": "hello"})) == [
        {"a": None},
        {"b": {"hello": "again", "now": 123}},
        {"c": None},
    ]


def test_dict_mixed_return(session: Session) -> None:
    """test_pregel.py::test_dict_mixed_return — a list mixing Commands and updates."""

    class State(TypedDict):
        foo: Annotated[str, operator.add]

    def my_node(state: State) -> Any:
        return [Command(update={"foo": "a"}), {"foo": "b"}]

    graph = StateGraph(State).add_node(my_node).add_edge(START, "my_node").compile()
    assert graph.invoke({"foo": ""}) == {"foo": "ab"}


def test_multiple_updates(session: Session) -> None:
    """test_pregel_async.py::test_multiple_updates — several Commands and dicts from one node."""

    class State(TypedDict):
        foo: Annotated[list[str], operator.add]

    def node_a(state: State) -> Any:
        return [Command(update={"foo": ["a1"]}), Command(update={"foo": ["a2"]})]

    def node_b(state: State) -> Any:
        return {"foo": ["b"]}

    graph = (
        StateGraph(State)
        .add_node("node_a", node_a)
        .add_node("node_b", node_b)
        .add_edge(START, "node_a")
        .add_edge("node_a", "node_b")
        .compile()
    )
    assert graph.invoke({"foo": ["start"]}) == {"foo": ["start", "a1", "a2", "b"]}
    assert list(graph.stream({"foo": ["start"]})) == [
        {"node_a": [{"foo": ["a1"]}, {"foo": ["a2"]}]},
        {"node_b": {"foo": ["b"]}},
    ]


def test_multiple_writes_same_channel_from_same_node(checkpointer: str) -> None:
    """test_pregel.py::test_multiple_writes_same_channel_from_same_node — (key, value) updates reduce in order."""

    class State(TypedDict):
        foo: Annotated[str, lambda a, b: ", ".join([x for x in [a, b] if x])]

    def one(_: State) -> Command[Any]:
        return Command(update=[("foo", "one.0"), ("foo", "one.1")])

    def two(_: State) -> Any:
        return {"foo": "two"}

    graph = (
        StateGraph(State)
        .add_node("one", one)
        .add_node("two", two)
        .add_edge(START, "one")
        .add_edge("one", "two")
        .add_edge("two", END)
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    assert list(graph.stream({"foo": "input"}, config)) == [
        {"one": [{"foo": "one.0"}, {"foo": "one.1"}]},
        {"two": {"foo": "two"}},
    ]
    history = [s.values for s in graph.get_state_history(config)]
    assert history == [
        {"foo": "input, one.0, one.1, two"},
        {"foo": "input, one.0, one.1"},
        {"foo": "input"},
        {"foo": ""},
    ]


@pytest.mark.parametrize("as_json", [False, True])
def test_overwrite_sequential(checkpointer: str, as_json: bool) -> None:
    """test_pregel.py::test_overwrite_sequential — Overwrite bypasses the reducer."""

    class State(TypedDict):
        messages: Annotated[list[Any], operator.add]

    def node_b(state: State) -> Any:
        return {"messages": {"__overwrite__": ["b"]} if as_json else Overwrite(["b"])}

    builder = StateGraph(State)
    builder.add_node("node_a", lambda s: {"messages": ["a"]})
    builder.add_node("node_b", node_b)
    builder.add_edge(START, "node_a")
    builder.add_edge("node_a", "node_b")
    graph = builder.compile(checkpointer=checkpointer)
    assert graph.invoke({"messages": ["START"]}, {"configurable": {"thread_id": "1"}}) == {"messages": ["b"]}


@pytest.mark.parametrize("as_json", [False, True])
def test_overwrite_parallel(checkpointer: str, as_json: bool) -> None:
    """test_pregel.py::test_overwrite_parallel — one Overwrite wins over its siblings' writes."""

    class State(TypedDict):
        messages: Annotated[list[Any], operator.add]

    def node_b(state: State) -> Any:
        return {"messages": {"__overwrite__": ["b"]} if as_json else Overwrite(["b"])}

    builder = StateGraph(State)
    builder.add_node("node_a", lambda s: {"messages": ["a"]})
    builder.add_node("node_b", node_b)
    builder.add_node("node_c", lambda s: {"messages": ["c"]})
    builder.add_node("node_d", lambda s: {"messages": ["d"]})
    builder.add_edge(START, "node_a")
    builder.add_edge("node_a", "node_b")
    builder.add_edge("node_a", "node_c")
    builder.add_edge("node_b", "node_d")
    builder.add_edge("node_c", "node_d")
    graph = builder.compile(checkpointer=checkpointer)
    assert graph.invoke({"messages": ["START"]}, {"configurable": {"thread_id": "1"}}) == {"messages": ["b", "d"]}


@pytest.mark.parametrize("as_json", [False, True])
def test_overwrite_parallel_error(checkpointer: str, as_json: bool) -> None:
    """test_pregel.py::test_overwrite_parallel_error — two Overwrites of a key in one superstep."""

    class State(TypedDict):
        messages: Annotated[list[Any], operator.add]

    def over(value: str) -> Any:
        return lambda s: {"messages": {"__overwrite__": [value]} if as_json else Overwrite([value])}

    builder = StateGraph(State)
    builder.add_node("node_a", lambda s: {"messages": ["a"]})
    builder.add_node("node_b", over("b"))
    builder.add_node("node_c", over("c"))
    builder.add_edge(START, "node_a")
    builder.add_edge("node_a", "node_b")
    builder.add_edge("node_a", "node_c")
    builder.add_edge("node_b", END)
    builder.add_edge("node_c", END)
    graph = builder.compile(checkpointer=checkpointer)
    with pytest.raises(InvalidUpdateError, match="only one Overwrite value per superstep"):
        graph.invoke({"messages": ["START"]}, {"configurable": {"thread_id": "1"}})


def test_enum_node_names(session: Session) -> None:
    """test_pregel.py::test_enum_node_names."""

    class NodeName(str, enum.Enum):  # noqa: UP042 - the str mixin is what LangGraph's test uses
        BAZ = "baz"

    class State(TypedDict):
        foo: str
        bar: str

    graph = StateGraph(State)
    graph.add_node(NodeName.BAZ, lambda s: {"bar": s["foo"] + "!"})
    graph.add_edge(START, NodeName.BAZ)
    graph.add_edge(NodeName.BAZ, END)
    assert graph.compile().invoke({"foo": "hello"}) == {"foo": "hello", "bar": "hello!"}


def test_add_sequence(session: Session) -> None:
    """test_pregel.py::test_add_sequence."""

    class State(TypedDict):
        foo: Annotated[list[str], operator.add]
        bar: str

    def step1(state: State) -> Any:
        return {"foo": ["step1"], "bar": "baz"}

    def step2(state: State) -> Any:
        return {"foo": ["step2"]}

    with pytest.raises(UsageError):
        StateGraph(State).add_sequence([])
    with pytest.raises(UsageError, match="already present"):
        StateGraph(State).add_sequence([step1, step1])
    graph = StateGraph(State).add_sequence([step1, step2]).add_edge(START, "step1").compile()
    assert graph.invoke({"foo": []}) == {"foo": ["step1", "step2"], "bar": "baz"}
    assert list(graph.stream({"foo": []})) == [
        {"step1": {"foo": ["step1"], "bar": "baz"}},
        {"step2": {"foo": ["step2"]}},
    ]
    named = StateGraph(State).add_sequence([("meow1", step1), ("meow2", step2)]).add_edge(START, "meow1").compile()
    assert named.invoke({"foo": []}) == {"foo": ["step1", "step2"], "bar": "baz"}


# -- pydantic and dataclass states ---------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*cannot be stored:UserWarning")  # classes defined in the test function
def test_command_pydantic_dataclass(session: Session) -> None:
    """test_pregel.py::test_command_pydantic_dataclass — Command(update=<state object>, goto=...)."""

    class PydanticState(BaseModel):
        foo: str

    @dataclass
    class DataclassState:
        foo: str

    for State in (PydanticState, DataclassState):

        def node_a(state: Any, State: Any = State) -> Command[Literal["node_b"]]:
            return Command(update=State(foo="foo"), goto="node_b")

        def node_b(state: Any) -> Any:
            return {"foo": state.foo + "bar"}

        builder = StateGraph(State)
        builder.add_edge(START, "node_a")
        builder.add_node(node_a)
        builder.add_node(node_b)
        assert builder.compile().invoke(State(foo="")) == {"foo": "foobar"}


def test_pydantic_none_state_update(session: Session) -> None:
    """test_pregel.py::test_pydantic_none_state_update."""

    class State(BaseModel):
        foo: str | None

    def node_a(state: State) -> State:
        return State(foo=None)

    graph = StateGraph(State).add_node(node_a).add_edge(START, "node_a").compile()
    assert graph.invoke({"foo": ""}) == {"foo": None}


@pytest.mark.filterwarnings("ignore:.*cannot be stored:UserWarning")  # classes defined in the test function
def test_pydantic_state_update_command(session: Session) -> None:
    """test_pregel.py::test_pydantic_state_update_command — Command(update=Model(bar=...)) keeps foo."""

    class State(BaseModel):
        foo: str | None

    def node_a(state: State) -> Any:
        return Command(update=State(foo=None))

    graph = StateGraph(State).add_node(node_a).add_edge(START, "node_a").compile()
    assert graph.invoke({"foo": ""}) == {"foo": None}

    class State2(BaseModel):
        foo: str | None = None
        bar: str | None = None

    builder = StateGraph(State2)
    builder.add_node("node_a", lambda s: State2(foo="foo"))
    builder.add_node("node_b", lambda s: Command(update=State2(bar="bar")))
    builder.add_edge(START, "node_a")
    builder.add_edge("node_a", "node_b")
    builder.add_edge("node_b", END)
    assert builder.compile().invoke(State2()) == {"foo": "foo", "bar": "bar"}


@pytest.mark.filterwarnings("ignore:.*cannot be stored:UserWarning")  # classes defined in the test function
def test_pydantic_state_mutation(session: Session) -> None:
    """test_pregel.py::test_pydantic_state_mutation — a node mutating and returning the model."""

    class Inner(BaseModel):
        a: int = 0

    class State(BaseModel):
        inner: Inner = Inner()
        outer: int = 0

    def my_node(state: State) -> State:
        state.inner.a = 5
        state.outer = 10
        return state

    graph = StateGraph(State).add_node(my_node).add_edge(START, "my_node").compile()
    assert graph.invoke({"outer": 1}) == {"outer": 10, "inner": Inner(a=5)}

    def my_command_node(state: State) -> Any:
        state.inner.a = 5
        state.outer = 10
        return Command(update=state)

    graph = StateGraph(State).add_node(my_command_node).add_edge(START, "my_command_node").compile()
    assert graph.invoke({"outer": 1}) == {"outer": 10, "inner": Inner(a=5)}


@pytest.mark.filterwarnings("ignore:.*cannot be stored:UserWarning")  # classes defined in the test function
def test_nested_pydantic_models(session: Session) -> None:
    """test_pydantic.py::test_nested_pydantic_models — nested models survive the round trip."""

    class NestedModel(BaseModel):
        value: int
        name: str

    class State(BaseModel):
        top: NestedModel
        items: list[NestedModel] = []
        mapping: dict[str, NestedModel] = {}

    def node(state: State) -> Any:
        assert isinstance(state.top, NestedModel)
        return {"items": [*state.items, NestedModel(value=len(state.items), name="new")]}

    graph = StateGraph(State).add_node(node).add_edge(START, "node").compile()
    out = graph.invoke({"top": {"value": 1, "name": "t"}, "mapping": {"k": NestedModel(value=2, name="m")}})
    assert out["items"] == [NestedModel(value=0, name="new")]
    assert out["mapping"] == {"k": NestedModel(value=2, name="m")}


def test_pydantic_state_field_validator(session: Session) -> None:
    """test_pydantic.py::test_pydantic_state_field_validator — nodes get validated models."""

    class State(BaseModel):
        name: str
        count: int = 0

        @field_validator("name")
        @classmethod
        def upper(cls, v: str) -> str:
            return v.upper()

    seen: list[str] = []

    def node(state: State) -> Any:
        seen.append(state.name)
        return {"count": state.count + 1}

    graph = StateGraph(State).add_node(node).add_edge(START, "node").compile()
    assert graph.invoke({"name": "ada"}) == {"name": "ada", "count": 1}
    assert seen == ["ADA"]


def test_dataclass_defaults_fill_missing_keys(session: Session) -> None:
    """test_state.py::test_state_schema_default_values (behaviour, not JSON schema): defaults fill the node's
    state; only written keys are returned."""

    @dataclass
    class State:
        val1: str
        val4: str | None = None
        val5: list[int] = field(default_factory=lambda: [1, 2, 3])
        val10: str = "default"

    seen: list[State] = []

    def n(state: State) -> Any:
        seen.append(state)
        return {"val10": state.val10 + "!"}

    graph = StateGraph(State).add_node("n", n).add_edge(START, "n").compile()
    assert graph.invoke({"val1": "x"}) == {"val1": "x", "val10": "default!"}
    assert seen == [State(val1="x")]


# -- messages ------------------------------------------------------------------------------------------------------
def test_messages_state(session: Session) -> None:
    """test_messages_state.py::test_messages_state — MessagesState appends and replaces by id."""

    def foo(state: MessagesState) -> Any:
        return {"messages": [("ai", "foo")]}

    def bar(state: MessagesState) -> Any:
        first = state["messages"][0]
        return {"messages": [{**first, "content": "updated"}]}

    graph = StateGraph(MessagesState).add_sequence([foo, bar]).add_edge(START, "foo").compile()
    out = graph.invoke({"messages": [("user", "meow")]})
    assert out == {"messages": [user("updated"), ai("foo")]}


def test_remove_message_via_state_update(checkpointer: str) -> None:
    """test_pregel.py::test_remove_message_via_state_update."""
    graph = (
        StateGraph(MessagesState)
        .add_node("chatbot", lambda s: {"messages": [("ai", "hello")]})
        .add_edge(START, "chatbot")
        .compile(checkpointer=checkpointer)
    )
    config = {"configurable": {"thread_id": "1"}}
    output = graph.invoke({"messages": [("user", "hi")]}, config)
    assert output == {"messages": [user("hi"), ai("hello")]}
    graph.update_state(config, {"messages": [RemoveMessage(output["messages"][-1]["id"])]})
    assert graph.get_state(config).values == {"messages": [user("hi")]}


def test_remove_message_from_node(session: Session) -> None:
    """test_pregel.py::test_remove_message_from_node."""

    def delete(state: MessagesState) -> Any:
        return {"messages": [RemoveMessage(state["messages"][0]["id"])]}

    graph = (
        StateGraph(MessagesState)
        .add_node("chatbot", lambda s: {"messages": [("ai", "hello")]})
        .add_node("delete", delete)
        .add_edge(START, "chatbot")
        .add_edge("chatbot", "delete")
        .compile()
    )
    assert graph.invoke({"messages": [("user", "hi")]}) == {"messages": [ai("hello")]}


def test_a_messages_key_with_another_reducer_keeps_its_items(session: Session) -> None:
    """Issue 15: ``messages: Annotated[list, operator.add]`` is a plain list (no chat coercion)."""

    class State(TypedDict):
        messages: Annotated[list[Any], operator.add]

    graph = StateGraph(State).add_node("n", lambda s: {"messages": [("x", 1), "plain"]}).add_edge(START, "n").compile()
    assert graph.invoke({"messages": ["start"]}) == {"messages": ["start", ("x", 1), "plain"]}


# -- issue 15: reducers start empty, are checked, and resolve ------------------------------------------------------
def test_reducer_keys_start_empty_so_a_router_can_read_them(session: Session) -> None:
    class State(TypedDict):
        steps: Annotated[list[str], operator.add]
        total: Annotated[int, operator.add]
        note: NotRequired[str]

    seen: list[Any] = []

    def route(state: State) -> str:
        seen.append((state["steps"], state["total"], "note" in state))
        return END

    graph = StateGraph(State).add_node("a", lambda s: None).add_edge(START, "a")
    graph.add_conditional_edges("a", route)
    assert graph.compile().invoke({}) == {"steps": [], "total": 0}
    assert seen == [([], 0, False)]


def test_a_reducer_with_the_wrong_arity_is_a_build_error() -> None:
    class State(TypedDict):
        items: Annotated[list[str], lambda a: a]

    with pytest.raises(GraphBuildError, match="Invalid reducer signature for 'items': it takes 1 positional"):
        StateGraph(State)


def test_annotations_imported_inside_a_function_resolve_from_the_builder(session: Session) -> None:
    from tests.flow import _future_state

    graph = _future_state.build_resolvable()
    assert graph.invoke({"items": ["x"]}) == {"items": ["x", "a"]}


def test_an_annotation_that_cannot_be_resolved_names_the_missing_name() -> None:
    from tests.flow import _future_state

    State = _future_state.make_state()
    with pytest.raises(GraphBuildError, match=r"field 'items'.*cannot resolve 'operator'"):
        StateGraph(State)
