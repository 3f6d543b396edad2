"""``Command(resume=...)`` with the config of a past checkpoint that was paused at an ``interrupt()`` runs a branch
from that checkpoint, as LangGraph's does (aether_nb/flow/past_resume.py). Before, it was refused with "Nothing
to resume: thread '1' is not paused at an interrupt": the check looked at the thread's last turn, not at the
checkpoint the config names. Each scenario runs on both libraries and compares what ran and the results.
"""

from __future__ import annotations

import operator
import warnings
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import lg_names, thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]
    v: str


def _build(lib: Any, calls: list[str], *, in_subgraph: bool = False, saver: Any = "memory") -> Any:
    def ask(s: Any) -> Any:
        calls.append("ask")
        answer = lib.interrupt("q")
        calls.append(f"got-{answer}")
        return {"v": answer, "log": ["ask"]}

    b = lib.StateGraph(S)
    b.add_node("a", lambda s: calls.append("a") or {"log": ["a"]})
    if in_subgraph:
        sb = lib.StateGraph(S)
        sb.add_node("ask", ask)
        sb.add_edge(lib.START, "ask")
        b.add_node("ask", sb.compile())
    else:
        b.add_node("ask", ask)
    b.add_node("c", lambda s: calls.append("c") or {"log": ["c:" + s["v"]]})
    b.add_edge(lib.START, "a")
    b.add_edge("a", "ask")
    b.add_edge("ask", "c")
    return b.compile(checkpointer=saver if lib is ours else lib.InMemorySaver())


def _answered_then_resumed_at_the_pause(lib: Any, resume: Any, saver: Any = "memory") -> Any:
    """The thread asked ``q`` (answered ``first``) and finished; then a resume at the checkpoint that asked."""
    calls: list[str] = []
    g = _build(lib, calls, saver=saver)
    g.invoke({"log": []}, thread())
    g.invoke(lib.Command(resume="first"), thread())
    past = next(s for s in g.get_state_history(thread()) if s.next == ("ask",))
    calls.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = g.invoke(lib.Command(resume=resume(past)), past.config)
    st = g.get_state(thread())
    return (dict(res), calls, st.values, st.next), [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "resume", [lambda past: "fork-answer", lambda past: {past.interrupts[0].id: "fork-answer"}], ids=["value", "map"]
)
def test_a_resume_at_a_past_pause_runs_a_branch_from_it(resume: Any) -> None:
    """As LangGraph: the node that asked runs again from the named checkpoint and, the question having been
    answered when the thread went on from it, gets that answer (aether_nb warns that the value given is unused)."""
    theirs, _ = _answered_then_resumed_at_the_pause(lg_names(), resume)
    mine, warned = _answered_then_resumed_at_the_pause(ours, resume)
    assert mine == theirs
    assert theirs[1] == ["ask", "got-first", "c"]
    assert any("'fork-answer' is not used" in w for w in warned)


def test_a_resume_at_a_past_pause_on_the_stores_checkpointer(checkpointer: str) -> None:
    """The same with the notebook's store (checkpoints and waits read back from DuckDB)."""
    (res, calls, values, nxt), _ = _answered_then_resumed_at_the_pause(ours, lambda past: "x", checkpointer)
    assert calls == ["ask", "got-first", "c"] and nxt == ()
    assert res == values == {"log": ["a", "ask", "c:first"], "v": "first"}


def _skipped_then_resumed_at_the_pause(lib: Any) -> Any:
    """The thread paused at ``q``; an ``update_state(as_node="ask")`` went past it unanswered and the thread
    finished; then a resume at the checkpoint that asked: the value answers it."""
    calls: list[str] = []
    g = _build(lib, calls)
    g.invoke({"log": []}, thread())
    paused = g.get_state(thread())
    g.update_state(thread(), {"v": "skip", "log": ["skip"]}, as_node="ask")
    g.invoke(None, thread())
    calls.clear()
    res = g.invoke(lib.Command(resume="fork", update={"log": ["u"]}), paused.config)
    st = g.get_state(thread())
    return dict(res), calls, st.values, st.next


def test_a_resume_at_a_past_pause_left_unanswered_gives_the_node_the_value() -> None:
    theirs = _skipped_then_resumed_at_the_pause(lg_names())
    assert _skipped_then_resumed_at_the_pause(ours) == theirs
    assert theirs[1] == ["ask", "got-fork", "c"]


def test_a_resume_at_a_past_checkpoint_without_a_question_is_still_refused() -> None:
    calls: list[str] = []
    g = _build(ours, calls)
    g.invoke({"log": []}, thread())
    g.invoke(ours.Command(resume="first"), thread())
    before = next(s for s in g.get_state_history(thread()) if s.next == ("a",))
    with pytest.raises(UsageError, match="Nothing to resume"):
        g.invoke(ours.Command(resume="x"), before.config)


def test_a_resume_at_a_past_pause_inside_a_subgraph_is_refused_saying_how_to_branch() -> None:
    calls: list[str] = []
    g = _build(ours, calls, in_subgraph=True)
    g.invoke({"log": []}, thread())
    g.invoke(ours.Command(resume="first"), thread())
    past = next(s for s in g.get_state_history(thread()) if s.next == ("ask",))
    heads = len(list(g.get_state_history(thread())))
    calls.clear()
    with pytest.raises(UsageError, match="inside a subgraph") as err:
        g.invoke(ours.Command(resume="fork"), past.config)
    assert err.value.code == "resume_past_subgraph"
    assert "ainvoke(None, config)" in str(err.value)
    assert calls == [] and len(list(g.get_state_history(thread()))) == heads  # nothing ran, nothing written
