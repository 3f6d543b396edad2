"""``version="v2"`` (LangGraph >= 1.1): ``invoke`` returns a ``GraphOutput(value, interrupts)`` and ``stream``
yields ``{"type", "ns", "data"}`` parts; compared with LangGraph's own output on the same graphs."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import both, thread


class S(TypedDict):
    log: Annotated[list, operator.add]


def _plain(x: Any) -> Any:
    """Interrupts as (value,) and GraphOutput as (value, interrupts), for comparing the two libraries."""
    if type(x).__name__ == "GraphOutput":
        return ("GraphOutput", _plain(x.value), _plain(x.interrupts))
    if type(x).__name__ == "Interrupt":
        return ("Interrupt", x.value)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _build(lib: Any) -> Any:
    b = lib.StateGraph(S)
    b.add_node("n", lambda s: {"log": ["n"]})
    b.add_node("ask", lambda s: {"log": [lib.interrupt("q?")]})
    b.add_edge(lib.START, "n")
    b.add_edge("n", "ask")
    return b


def test_invoke_and_stream_v2_are_langgraphs() -> None:
    def run(lib: Any, app: Any) -> Any:
        out = [app.invoke({"log": []}, thread("1"), version="v2")]
        out.append(app.invoke(lib.Command(resume="a"), thread("1"), version="v2"))
        out.append(list(app.stream({"log": []}, thread("2"), version="v2")))
        out.append(list(app.stream(lib.Command(resume="b"), thread("2"), stream_mode="values", version="v2")))
        out.append(app.invoke({"log": []}, thread("3"), stream_mode="updates", version="v2"))
        return _plain(out)

    theirs, mine = both(_build, run)
    assert mine == theirs
    assert mine[0] == ("GraphOutput", {"log": ["n"]}, (("Interrupt", "q?"),))


def test_v2_coerces_a_dataclass_output() -> None:
    @dataclass
    class D:
        log: Annotated[list, operator.add] = field(default_factory=list)

    b = ours.StateGraph(D)
    b.add_node("n", lambda s: {"log": ["n"]})
    b.add_edge(ours.START, "n")
    app = b.compile(checkpointer="memory")
    out = app.invoke({"log": []}, thread(), version="v2")
    assert isinstance(out, ours.GraphOutput) and out.value == D(log=["n"]) and out.interrupts == ()
    parts = list(app.stream({"log": []}, thread("2"), stream_mode="values", version="v2"))
    assert parts[-1] == {"type": "values", "ns": (), "data": D(log=["n"]), "interrupts": ()}


def test_v2_of_a_single_value_graph_keeps_the_value_when_paused() -> None:
    b = ours.StateGraph(Annotated[list, operator.add])
    b.add_node("ask", lambda s: [ours.interrupt("q?")])
    b.add_edge(ours.START, "ask")
    app = b.compile(checkpointer="memory")
    out = app.invoke(["0"], thread(), version="v2")
    assert out.value == ["0"] and [i.value for i in out.interrupts] == ["q?"]


def test_an_unknown_version_is_refused() -> None:
    app = _build(ours).compile(checkpointer="memory")
    with pytest.raises(UsageError, match="version"):
        app.invoke({"log": []}, thread(), version="v3")
