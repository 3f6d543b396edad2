"""``invoke(..., subgraphs=True)`` as LangGraph's: its ``invoke`` passes the option to ``stream``, so with a
``stream_mode`` other than ``"values"`` the returned chunks carry their namespaces, and with ``"values"`` the result
is the turn's values as without it. aether_nb refused the option (``UsageError``) before. Each case runs on both
libraries (only the import differs); a subgraph's namespace label is ``sub:<task id>`` in LangGraph and
``sub:<step key>`` here (README, "Subgraph namespaces"), so labels are compared by their node name.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import both
from tests.flow.conftest import thread as _thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _with_subgraph(lib: Any, inner_node: Any = None) -> Any:
    """``START -> a -> sub``, the subgraph ``sub`` running one node ``i`` (``inner_node``, else one logging "i")."""
    inner = lib.StateGraph(S)
    inner.add_node("i", inner_node or (lambda s: {"log": ["i"]}))
    inner.add_edge(lib.START, "i")
    outer = lib.StateGraph(S)
    outer.add_node("a", lambda s: {"log": ["a"]})
    outer.add_node("sub", inner.compile())
    outer.add_edge(lib.START, "a")
    outer.add_edge("a", "sub")
    return outer


def _ns(chunk: Any) -> Any:
    """A chunk with each namespace label cut to its node name (``sub:<id>`` -> ``sub``)."""
    ns, *rest = chunk
    return (tuple(part.split(":")[0] for part in ns), *rest)


@pytest.mark.parametrize("mode", ["updates", ["values", "updates"], ["updates"]])
def test_chunks_carry_their_namespaces(mode: Any) -> None:
    def run(lib: Any, app: Any) -> list[Any]:
        return [_ns(c) for c in app.invoke({"log": []}, _thread("1"), subgraphs=True, stream_mode=mode)]

    theirs, mine = both(_with_subgraph, run)
    assert mine == theirs
    if mode == "updates":  # (what the comparison covers: the subgraph's own update, under its namespace)
        sub_update = (("sub",), {"i": {"log": ["i"]}})
        assert mine == [((), {"a": {"log": ["a"]}}), sub_update, ((), {"sub": {"log": ["a", "i"]}})]


def test_values_mode_returns_the_turns_values() -> None:
    def run(lib: Any, app: Any) -> dict[str, Any]:
        return dict(app.invoke({"log": []}, _thread("1"), subgraphs=True))

    theirs, mine = both(_with_subgraph, run)
    assert mine == theirs == {"log": ["a", "a", "i"]}


def test_a_pause_inside_the_subgraph_and_its_answer() -> None:
    """Paused in the subgraph: the root's values and the question (LangGraph lists it twice, once from each level's
    stream; aether_nb once); then the answer finishes the turn the same way."""

    def build(lib: Any) -> Any:
        def ask(s: S) -> dict[str, Any]:
            return {"log": [f"i:{lib.interrupt('ok?')}"]}

        return _with_subgraph(lib, ask)

    def run(lib: Any, app: Any) -> tuple[Any, ...]:
        paused = app.invoke({"log": []}, _thread("1"), subgraphs=True)
        asked = {i.value for i in paused["__interrupt__"]}
        done = app.invoke(lib.Command(resume="yes"), _thread("1"), subgraphs=True)
        return paused["log"], asked, dict(done)

    theirs, mine = both(build, run)
    assert mine == theirs == (["a"], {"ok?"}, {"log": ["a", "a", "i:yes"]})


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_subgraphs_takes_a_bool(bad: Any) -> None:
    app = _with_subgraph(ours).compile(checkpointer="memory")
    with pytest.raises(UsageError, match="subgraphs takes True or False"):
        app.invoke({"log": []}, _thread("1"), subgraphs=bad, stream_mode="updates")
    assert app.get_state(_thread("1")).values == {}  # (refused before the turn started: nothing ran)


@pytest.mark.parametrize("bad", ["no", 0])
def test_astream_subgraphs_takes_a_bool(bad: Any) -> None:
    app = _with_subgraph(ours).compile(checkpointer="memory")
    with pytest.raises(UsageError, match="subgraphs takes True or False"):
        list(app.stream({"log": []}, _thread("1"), subgraphs=bad))
    assert app.get_state(_thread("1")).values == {}
