"""LangGraph channel annotations on state keys (``Annotated[T, EphemeralValue]``, ``Topic``, ``AnyValue``,
``LastValue``, ``BinaryOperatorAggregate(T, op)``), side by side with the installed LangGraph: what the nodes read,
what ``invoke`` returns, ``get_state`` and the history. ``UntrackedValue`` (and other channels) are refused when
the graph is built. A channel class used to be taken for a reducer: the key's value became a channel object.
"""

# (no `from __future__ import annotations`: the schemas below name local variables in their annotations)
import operator
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

import aether_nb.flow as af
from aether_nb.flow import GraphBuildError

channels = pytest.importorskip("langgraph.channels")
lg_graph = pytest.importorskip("langgraph.graph")
lg_memory = pytest.importorskip("langgraph.checkpoint.memory")


def _chain(lib: str, meta: Any, checkpointer: str) -> dict[str, Any]:
    """START -> a (writes v=1) -> b -> c, input v=7: what each node read, the result, the thread's state and the
    history of v, then the state after update_state({'v': 5}). ``lib`` is ``aether_nb`` or ``langgraph``."""

    class S(TypedDict):
        log: Annotated[list, operator.add]
        v: Annotated[int, meta]

    sg: Any = af.StateGraph(S) if lib == "aether_nb" else lg_graph.StateGraph(S)
    sg.add_node("a", lambda s: {"v": 1, "log": [f"a saw {s.get('v')!r}"]})
    sg.add_node("b", lambda s: {"log": [f"b saw {s.get('v')!r}"]})
    sg.add_node("c", lambda s: {"log": [f"c saw {s.get('v')!r}"]})
    sg.add_edge("__start__", "a")
    sg.add_edge("a", "b")
    sg.add_edge("b", "c")
    app = sg.compile(checkpointer=checkpointer if lib == "aether_nb" else lg_memory.InMemorySaver())
    cfg = {"configurable": {"thread_id": f"t-{lib}"}}
    out = dict(app.invoke({"log": [], "v": 7}, cfg))
    first = dict(app.get_state(cfg).values)
    history = [h.values.get("v", "-") for h in app.get_state_history(cfg)]
    app.update_state(cfg, {"v": 5})
    return {"out": out, "state": first, "history": history, "edited": dict(app.get_state(cfg).values)}


def _two_writers(lib: str, meta: Any) -> Any:
    """Two nodes write v in one superstep: the result, or the error's class."""

    class S(TypedDict):
        log: Annotated[list, operator.add]
        v: Annotated[int, meta]

    sg: Any = af.StateGraph(S) if lib == "aether_nb" else lg_graph.StateGraph(S)
    sg.add_node("a", lambda s: {"v": 1})
    sg.add_node("a2", lambda s: {"v": 2})
    sg.add_edge("__start__", "a")
    sg.add_edge("__start__", "a2")
    try:
        return dict(sg.compile().invoke({"log": []}))
    except Exception as exc:  # LangGraph's InvalidUpdateError, aether_nb's InvalidUpdate (its alias)
        return "InvalidUpdate" if "InvalidUpdate" in type(exc).__name__ else repr(exc)


CHANNELS = {
    "LastValue": lambda: channels.LastValue,
    "AnyValue": lambda: channels.AnyValue,
    "EphemeralValue": lambda: channels.EphemeralValue,
    "EphemeralValue(guard=False)": lambda: channels.EphemeralValue(int, guard=False),
    "Topic": lambda: channels.Topic,
    "Topic(accumulate=True)": lambda: channels.Topic(int, accumulate=True),
    "BinaryOperatorAggregate(add)": lambda: channels.BinaryOperatorAggregate(int, operator.add),
}


@pytest.mark.parametrize("name", list(CHANNELS))
def test_channel_annotation_matches_langgraph(name: str, checkpointer: str) -> None:
    meta = CHANNELS[name]()
    ours = _chain("aether_nb", meta, checkpointer)
    assert ours == _chain("langgraph", meta, checkpointer)
    assert "object at" not in repr(ours)  # (the channel object itself was the key's value)


@pytest.mark.parametrize("name", list(CHANNELS))
def test_channel_two_writers_in_one_superstep_match_langgraph(name: str, session: Any) -> None:
    meta = CHANNELS[name]()
    assert _two_writers("aether_nb", meta) == _two_writers("langgraph", meta)


def test_ephemeral_value_is_read_by_the_next_superstep_only(session: Any) -> None:
    """Spelled out (LangGraph's behaviour, measured): the input's value reaches the first node, a node's write the
    nodes of the next superstep, and the key is gone after a superstep that does not write it."""

    class S(TypedDict):
        log: Annotated[list, operator.add]
        v: Annotated[int, channels.EphemeralValue]

    sg = af.StateGraph(S)
    sg.add_node("a", lambda s: {"v": 1, "log": [f"a saw {s.get('v')!r}"]})
    sg.add_node("b", lambda s: {"log": [f"b saw {s.get('v')!r}"]})
    sg.add_node("c", lambda s: {"log": [f"c saw {s.get('v')!r}"]})
    sg.add_edge(af.START, "a")
    sg.add_edge("a", "b")
    sg.add_edge("b", "c")
    out = sg.compile().invoke({"log": [], "v": 7})
    assert dict(out) == {"log": ["a saw 7", "b saw 1", "c saw None"]}


def test_pydantic_state_with_a_channel_annotation(session: Any) -> None:
    class S(BaseModel):
        log: Annotated[list, operator.add] = []
        v: Annotated[list, channels.Topic(int, accumulate=True)] = []

    sg = af.StateGraph(S)
    sg.add_node("a", lambda s: {"v": 1, "log": ["a"]})
    sg.add_node("b", lambda s: {"v": [2, 3], "log": [f"b saw {s.v!r}"]})
    sg.add_edge(af.START, "a")
    sg.add_edge("a", "b")
    assert dict(sg.compile().invoke({"log": []})) == {"log": ["a", "b saw [1]"], "v": [1, 2, 3]}


@pytest.mark.parametrize("meta", ["class", "instance"])
def test_untracked_value_is_refused_when_the_graph_is_built(meta: str) -> None:
    """aether_nb journals and checkpoints every value of the state (a run resumes exactly once), so a key kept out
    of the checkpoints is refused, naming the key and what to do, rather than stored or mangled."""

    channel = channels.UntrackedValue if meta == "class" else channels.UntrackedValue(object)

    class S(TypedDict):
        messages: list
        res: Annotated[Any, channel]

    with pytest.raises(GraphBuildError) as info:
        af.StateGraph(S)
    text = str(info.value)
    assert "'res'" in text and "UntrackedValue" in text and "context=" in text


def test_other_channels_are_refused_when_the_graph_is_built() -> None:
    class S(TypedDict):
        v: Annotated[int, channels.NamedBarrierValue(str, {"a"})]

    with pytest.raises(GraphBuildError, match="NamedBarrierValue"):
        af.StateGraph(S)

    class T(TypedDict):
        v: Annotated[int, channels.BinaryOperatorAggregate]  # (the class: no operator)

    with pytest.raises(GraphBuildError, match="operator"):
        af.StateGraph(T)
