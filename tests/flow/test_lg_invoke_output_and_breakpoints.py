"""``invoke``'s call options where a tester found aether_nb and LangGraph apart, each run on both and compared: an
empty per-call ``interrupt_before=[]``/``interrupt_after=[]`` keeps the compiled breakpoints (LangGraph's
``interrupt_before or compiled``); ``output_keys=`` may name any key of the state, outside the output schema too;
``invoke(..., stream_mode=...)`` (and ``print_mode=``) show only the output schema's keys, as LangGraph's ``invoke``
streams with ``output_keys or output_channels``. Skipped without LangGraph.
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from tests.flow.conftest import both, lg_names, thread


class Pay(TypedDict):
    log: Annotated[list[str], operator.add]


def _payment(lib: Any) -> Any:
    """plan -> charge, ``charge`` being the step an approval gate (a compiled breakpoint) guards."""
    g = lib.StateGraph(Pay)
    g.add_node("plan", lambda s: {"log": ["plan"]})
    g.add_node("charge", lambda s: {"log": ["CHARGED"]})
    g.add_edge(lib.START, "plan")
    g.add_edge("plan", "charge")
    return g


@pytest.mark.parametrize(
    ("compiled", "call"),
    [
        ({"interrupt_before": ["charge"]}, {"interrupt_before": []}),
        ({"interrupt_before": ["charge"]}, {"interrupt_before": [], "interrupt_after": []}),
        ({"interrupt_after": ["plan"]}, {"interrupt_after": []}),
        ({"interrupt_before": "*"}, {"interrupt_before": ()}),
    ],
    ids=["before", "both-empty", "after", "star-empty-tuple"],
)
@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_an_empty_per_call_breakpoint_list_keeps_the_compiled_gate(
    compiled: dict[str, Any], call: dict[str, Any], how: str
) -> None:
    """A call passing ``[]`` (no extra breakpoints this time) does not switch off the compiled ones: the card is
    not charged, the thread waits at the gate, as in LangGraph."""

    def run(lib: Any, app: Any) -> Any:
        if how == "invoke":
            app.invoke({"log": []}, thread(), **call)
        else:
            list(app.stream({"log": []}, thread(), **call))
        snap = app.get_state(thread())
        return dict(snap.values), tuple(snap.next)

    lg = lg_names()
    theirs = run(lg, _payment(lg).compile(checkpointer=lg.InMemorySaver(), **compiled))
    mine = run(ours, _payment(ours).compile(checkpointer="memory", **compiled))
    assert mine == theirs
    assert "CHARGED" not in mine[0]["log"]
    assert mine[1] in (("charge",), ("plan",))


def test_a_non_empty_per_call_list_still_replaces_the_compiled_breakpoints() -> None:
    """The other half of LangGraph's rule: a non-empty list is the call's breakpoints instead of the compiled."""

    def run(lib: Any, app: Any) -> Any:
        app.invoke({"log": []}, thread(), interrupt_before=["plan"])
        return tuple(app.get_state(thread()).next)

    lg = lg_names()
    theirs = run(lg, _payment(lg).compile(checkpointer=lg.InMemorySaver(), interrupt_before=["charge"]))
    mine = run(ours, _payment(ours).compile(checkpointer="memory", interrupt_before=["charge"]))
    assert mine == theirs == ("plan",)


class In(TypedDict):
    q: str


class Out(TypedDict):
    ans: str


class Full(In, Out):
    notes: str


def _io(lib: Any) -> Any:
    """An input schema, an output schema, and a key (``notes``) in neither."""
    g = lib.StateGraph(Full, input_schema=In, output_schema=Out)
    g.add_node("n", lambda s: {"ans": s["q"] * 2, "notes": "audit"})
    g.add_edge(lib.START, "n")
    return g


@pytest.mark.parametrize(
    ("keys", "expect"),
    [
        (["ans", "notes"], {"ans": "hihi", "notes": "audit"}),
        ("notes", "audit"),
        (["q"], {"q": "hi"}),
        (["ans"], {"ans": "hihi"}),
    ],
    ids=["list-with-private", "one-private-key", "input-key", "output-key"],
)
def test_output_keys_name_any_key_of_the_state_as_langgraph(keys: Any, expect: Any) -> None:
    """``invoke(..., output_keys=...)`` returns keys outside the output schema (LangGraph reads them from the
    state's channels, not from the output schema's result)."""
    theirs, mine = both(_io, lambda lib, app: app.invoke({"q": "hi"}, thread(), output_keys=keys))
    assert theirs == expect
    assert mine == theirs


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_output_keys_outside_the_output_schema_at_an_interrupt_and_after_it(version: str) -> None:
    """Paused at ``interrupt()`` the picked keys come with ``__interrupt__`` (v2: ``GraphOutput``), and the
    answer's turn gives them again, as LangGraph's."""

    def build(lib: Any) -> Any:
        def n(s: Any) -> dict[str, Any]:
            return {"ans": lib.interrupt("ok?"), "notes": "audit"}

        g = lib.StateGraph(Full, input_schema=In, output_schema=Out)
        g.add_node("pre", lambda s: {"notes": "pre"})
        g.add_node("n", n)
        g.add_edge(lib.START, "pre")
        g.add_edge("pre", "n")
        return g

    def plain(x: Any) -> Any:
        if type(x).__name__ == "GraphOutput":
            return ("GraphOutput", plain(x.value), plain(list(x.interrupts)))
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [i.value if type(i).__name__ == "Interrupt" else plain(i) for i in x]
        return x

    def run(lib: Any, app: Any) -> Any:
        keys = ["q", "notes"]
        first = app.invoke({"q": "hi"}, thread(), output_keys=keys, version=version)
        second = app.invoke(lib.Command(resume="yes"), thread(), output_keys=keys, version=version)
        return plain(first), plain(second)

    theirs, mine = both(build, run)
    assert mine == theirs
    first = mine[0] if version == "v1" else mine[0][1]
    assert first == (
        {"q": "hi", "notes": "pre", "__interrupt__": ["ok?"]} if version == "v1" else {"q": "hi", "notes": "pre"}
    )


class Secret(In, Out):
    secret: str


def _secret(lib: Any) -> Any:
    """``n1`` writes only a key outside the output schema (``secret``), ``n2`` the answer and the secret again."""
    g = lib.StateGraph(Secret, input_schema=In, output_schema=Out)
    g.add_node("n1", lambda s: {"secret": s["q"] + "!"})
    g.add_node("n2", lambda s: {"ans": "done", "secret": "s3cr3t"})
    g.add_edge(lib.START, "n1")
    g.add_edge("n1", "n2")
    return g


@pytest.mark.parametrize(
    "mode",
    ["updates", ["values", "updates"], ["updates", "values", "custom"], "values"],
    ids=["updates", "values+updates", "three-modes", "values"],
)
def test_invoke_with_a_stream_mode_shows_only_the_output_schemas_keys(mode: Any) -> None:
    """``invoke(..., stream_mode=...)`` returns chunks of the output schema's keys (no input or private key: no
    ``secret``), and no ``values`` chunk for a superstep that wrote none of them, as LangGraph's."""
    theirs, mine = both(_secret, lambda lib, app: app.invoke({"q": "hi"}, thread(), stream_mode=mode))
    assert mine == theirs
    assert "s3cr3t" not in repr(mine) and "hi!" not in repr(mine)


def test_invoke_chunks_with_output_keys_and_a_plain_stream_still_show_what_they_ask() -> None:
    """``output_keys=`` on ``invoke(stream_mode=...)`` picks the chunks' keys, and ``stream()`` without it shows
    every key, as in LangGraph (only ``invoke`` defaults to the output schema's)."""

    def run(lib: Any, app: Any) -> Any:
        picked = app.invoke({"q": "hi"}, thread("a"), stream_mode="updates", output_keys=["secret"])
        streamed = list(app.stream({"q": "hi"}, thread("b"), stream_mode="updates"))
        return picked, streamed

    theirs, mine = both(_secret, run)
    assert mine == theirs
    assert mine[1][0] == {"n1": {"secret": "hi!"}}


def test_invoke_prints_only_the_output_schemas_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """``invoke(..., print_mode=...)`` prints the chunks ``invoke`` streams: the output schema's keys only."""

    def run(lib: Any, app: Any) -> Any:
        out = app.invoke({"q": "hi"}, thread(), print_mode=["updates", "values"])
        return dict(out), re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)

    theirs, mine = both(_secret, run)
    assert mine == theirs
    assert "secret" not in mine[1]
