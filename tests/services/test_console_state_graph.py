"""In a script, a StateGraph's pause is its caller's, as in LangGraph: ``invoke`` returns it and the console channel
neither prints it to stdout (a script's stdout may be data) nor reads stdin for it (which raced the script's own
``input()`` for the user's line). ``graph_fn`` waits keep the console's question and terminal answers
(``tests/services/test_console.py``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest

from aether_nb.flow import START, Command, StateGraph, interrupt
from aether_nb.runtime import session as session_mod
from aether_nb.services import ConsoleChannel
from tests.conftest import make_session


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class S(TypedDict):
    answer: str


def ask(s: S) -> dict[str, Any]:
    return {"answer": interrupt("Approve?")}


def _app(**compile_kw: Any) -> Any:
    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("after", lambda s: {"answer": s["answer"] + "!"})
    g.add_edge(START, "ask")
    g.add_edge("ask", "after")
    return g.compile(checkpointer="memory", **compile_kw)


@pytest.fixture(params=["tty", "pipe"])
def console(request: pytest.FixtureRequest) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out = io.StringIO()
    inp: io.StringIO = FakeTTY("typed for input()\n") if request.param == "tty" else io.StringIO("piped\n")
    s, _ = make_session()
    s.config["channel"] = ConsoleChannel(out=out, inp=inp)
    previous = session_mod.set_default_session(s)
    try:
        yield out, inp
    finally:
        session_mod.set_default_session(previous)


def test_an_interrupt_prints_nothing_and_leaves_stdin_to_the_script(console: tuple[io.StringIO, io.StringIO]) -> None:
    out, inp = console
    app = _app()
    cfg = {"configurable": {"thread_id": "t"}}
    res = app.invoke({"answer": ""}, cfg)
    assert [i.value for i in res["__interrupt__"]] == ["Approve?"]
    assert app.invoke(Command(resume="yes"), cfg) == {"answer": "yes!"}
    assert out.getvalue() == ""  # no "? Approve?", no "(waiting: ...)" line on stdout
    assert inp.tell() == 0  # the line stays for the script's own input()


def test_a_breakpoint_prints_nothing_and_leaves_stdin_to_the_script(console: tuple[io.StringIO, io.StringIO]) -> None:
    out, inp = console
    app = _app(interrupt_before=["ask"])
    cfg = {"configurable": {"thread_id": "t"}}
    assert app.invoke({"answer": ""}, cfg) == {"answer": ""}
    assert app.get_state(cfg).next == ("ask",)
    assert out.getvalue() == "" and inp.tell() == 0
