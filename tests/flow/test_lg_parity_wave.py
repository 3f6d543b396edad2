"""Three more divergences a differential tester found, each run on LangGraph and on aether_nb (only the import
differs) and compared: the interrupts ``get_state`` shows for ``Send`` tasks (each task its own, once), a
``defer=True`` node reached straight from START (it waits for the other tasks), and the fields of the LangGraph-style
``RetryPolicy`` (``retry_on``, ``jitter``, ``_replace``), which code deriving one policy from another relies on.
Each test is skipped when LangGraph is not installed (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import lg_names
from tests.flow.conftest import thread as _thread


def _libs() -> list[tuple[Any, Any]]:
    """``(names, checkpointer)`` for LangGraph, then for aether_nb."""
    lg = lg_names()
    return [(lg, lg.InMemorySaver()), (ours, "memory")]


class Work(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    x: int


def _pending(app: Any) -> tuple[Any, ...]:
    """What ``get_state`` shows of the pending work (interrupt values: the ids differ by design)."""
    st = app.get_state(_thread())
    return (
        st.next,
        [i.value for i in st.interrupts],
        [(t.name, [i.value for i in t.interrupts]) for t in st.tasks],
        st.values,
    )


def test_sends_answered_one_by_one_each_keep_only_their_own_interrupt() -> None:
    """Three Sends to a node that asks, answered one at a time by interrupt id: a finished task shows no
    interrupt, each pending one its own, and the state lists each pending interrupt once (as LangGraph)."""
    results = []
    for lib, saver in _libs():

        def w(s: Work, lib: Any = lib) -> dict[str, Any]:
            answer = lib.interrupt(f"w{s['x']}?")
            return {"log": [f"w{s['x']}={answer}"]}

        g = lib.StateGraph(Work)
        g.add_node("w", w)
        g.add_conditional_edges(lib.START, lambda s, lib=lib: [lib.Send("w", {"x": i}) for i in (1, 2, 3)])
        app = g.compile(checkpointer=saver)
        app.invoke({"log": []}, _thread())
        seen = [_pending(app)]
        for k in range(3):
            first = sorted(app.get_state(_thread()).interrupts, key=lambda i: str(i.value))[0]
            out = app.invoke(lib.Command(resume={first.id: f"A{k}"}), _thread())
            seen.append((_pending(app), sorted(str(i.value) for i in out.get("__interrupt__", ()))))
        results.append(seen)
    assert results[1] == results[0]
    assert results[0][2][0][1] == ["w3?"]  # after two answers: the third Send's question, once


class Review(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    item: int


def test_sends_into_a_subgraph_that_asks_show_one_interrupt_per_task() -> None:
    """Sends into a subgraph node whose inner node asks: each Send task carries its own subgraph's interrupt (not
    its siblings'), and answering one by id leaves only the other's."""
    results = []
    for lib, saver in _libs():
        inner = lib.StateGraph(Review)

        def approve(s: Review, lib: Any = lib) -> dict[str, Any]:
            answer = lib.interrupt(f"ok {s['item']}?")
            return {"log": [f"{s['item']}:{answer}"]}

        inner.add_node("approve", approve)
        inner.add_edge(lib.START, "approve")
        g = lib.StateGraph(Work)
        g.add_node("review", inner.compile())
        g.add_conditional_edges(lib.START, lambda s, lib=lib: [lib.Send("review", {"item": i}) for i in (1, 2)])
        app = g.compile(checkpointer=saver)
        out = app.invoke({"log": []}, _thread())
        seen: list[Any] = [(sorted(str(i.value) for i in out["__interrupt__"]), _pending(app))]
        for k in range(2):
            first = sorted(app.get_state(_thread()).interrupts, key=lambda i: str(i.value))[0]
            out = app.invoke(lib.Command(resume={first.id: f"A{k}"}), _thread())
            seen.append((sorted(str(i.value) for i in out.get("__interrupt__", ())), _pending(app)))
        results.append(seen)
    assert results[1] == results[0]
    assert results[0][0][1][1] == ["ok 1?", "ok 2?"]


@pytest.mark.parametrize(
    "edges",
    [
        [("START", "a"), ("START", "agg")],
        [("START", "agg")],
        [("START", "a"), ("a", "b"), ("START", "agg")],
        [("START", "a"), ("a", "agg"), ("START", "agg")],
    ],
    ids=["beside-a-node", "alone", "beside-a-chain", "also-after-a-node"],
)
def test_a_deferred_node_reached_from_start_waits_for_the_other_tasks(edges: list[tuple[str, str]]) -> None:
    """``add_edge(START, "agg")`` with ``defer=True``: ``agg`` runs once nothing else is pending (after ``a``,
    seeing its write), as LangGraph's, not in the first superstep beside ``a``."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Work)
        for name in sorted({n for e in edges for n in e if n != "START"}):
            g.add_node(name, lambda s, n=name: {"log": [f"{n} saw {len(s['log'])}"]}, defer=name == "agg")
        for src, dst in edges:
            g.add_edge(lib.START if src == "START" else src, dst)
        app = g.compile(checkpointer=saver)
        chunks = list(app.stream({"log": []}, _thread(), stream_mode="updates"))
        history = [(h.values, h.next, h.metadata["step"]) for h in app.get_state_history(_thread())]
        results.append((chunks, history))
    assert results[1] == results[0]


def test_a_deferred_node_from_start_waits_across_a_pause() -> None:
    """A sibling that asks: the deferred node is still pending after the pause, and runs after the answer."""
    results = []
    for lib, saver in _libs():
        g = lib.StateGraph(Work)
        g.add_node("a", lambda s, lib=lib: {"log": [f"a={lib.interrupt('a?')}"]})
        g.add_node("agg", lambda s: {"log": [f"agg saw {len(s['log'])}"]}, defer=True)
        g.add_edge(lib.START, "a")
        g.add_edge(lib.START, "agg")
        app = g.compile(checkpointer=saver)
        app.invoke({"log": []}, _thread())
        paused = _pending(app)
        out = app.invoke(lib.Command(resume="yes"), _thread())
        results.append((paused, out["log"]))
    assert results[1] == results[0]
    assert results[0][1] == ["a=yes", "agg saw 1"]


# -- RetryPolicy ---------------------------------------------------------------------------------------------------

_FIELDS = ("initial_interval", "backoff_factor", "max_interval", "max_attempts", "jitter")


def test_retry_policy_has_langgraphs_fields_and_values() -> None:
    """The LangGraph-style policy reads as LangGraph's: the same fields in order, ``jitter`` the bool given,
    ``retry_on`` the default predicate or what was passed (not an internal class tuple)."""
    lg = lg_names()
    assert ours.RetryPolicy._fields == lg.RetryPolicy._fields
    for kwargs in ({}, {"jitter": False, "max_attempts": 5}, {"initial_interval": 0.01, "backoff_factor": 3.0}):
        mine, theirs = ours.RetryPolicy(**kwargs), lg.RetryPolicy(**kwargs)
        assert [getattr(mine, f) for f in _FIELDS] == [getattr(theirs, f) for f in _FIELDS]
        assert type(mine.jitter) is type(theirs.jitter) is bool
    assert ours.RetryPolicy().retry_on is ours.default_retry_on
    for given in (ValueError, (KeyError, ConnectionError), [KeyError], lambda e: True):
        assert ours.RetryPolicy(retry_on=given).retry_on is given
        assert lg.RetryPolicy(retry_on=given).retry_on is given
    for exc in (ValueError("x"), KeyError("k"), ConnectionError("c"), TimeoutError("t"), Exception("e")):
        assert ours.RetryPolicy().retry_on(exc) == lg.RetryPolicy().retry_on(exc), exc


def test_retry_policy_replace_gives_an_equivalent_policy() -> None:
    """``policy._replace(...)`` (a NamedTuple's) changes only what it names, as LangGraph's."""
    lg = lg_names()
    for lib in (lg, ours):
        base = lib.RetryPolicy(initial_interval=0.01, jitter=False, retry_on=KeyError)
        derived = base._replace(max_attempts=7)
        assert type(derived) is type(base)
        assert derived.max_attempts == 7 and derived.retry_on is KeyError and derived.jitter is False
        assert derived._replace(max_attempts=base.max_attempts) == base
        assert base._asdict()["initial_interval"] == 0.01


def _retried(lib: Any, saver: Any, policy: Any, error: type[Exception]) -> tuple[Any, int]:
    calls: list[int] = []

    def node(s: Work) -> dict[str, Any]:
        calls.append(1)
        if len(calls) < 3:
            raise error("not yet")
        return {"log": ["ok"]}

    g = lib.StateGraph(Work)
    g.add_node("n", node, retry_policy=policy)
    g.add_edge(lib.START, "n")
    try:
        out: Any = dict(g.compile(checkpointer=saver).invoke({"log": []}, _thread()))
    except Exception as exc:
        out = (type(exc).__name__, str(exc))
    return out, len(calls)


@pytest.mark.parametrize("error", [ValueError, ConnectionError], ids=["programming-error", "connection-error"])
@pytest.mark.parametrize("derive", ["constructor", "replace"])
def test_a_policy_derived_from_another_retries_what_langgraphs_does(derive: str, error: type[Exception]) -> None:
    """``RetryPolicy(max_attempts=5, retry_on=base.retry_on)`` or ``base._replace(max_attempts=5)`` keeps the
    default ``retry_on``: a ``ValueError`` is not retried (one call), a ``ConnectionError`` is (as LangGraph)."""
    results = []
    for lib, saver in _libs():
        base = lib.RetryPolicy(initial_interval=0.001, jitter=False)
        if derive == "constructor":
            policy = lib.RetryPolicy(max_attempts=5, initial_interval=0.001, jitter=False, retry_on=base.retry_on)
        else:
            policy = base._replace(max_attempts=5)
        results.append(_retried(lib, saver, policy, error))
    assert results[1] == results[0]
    assert results[0][1] == (1 if error is ValueError else 3)


def test_aether_nbs_own_retry_policy_and_checks_still_apply() -> None:
    """aether_nb's ``ag.RetryPolicy`` keeps its fields and retries any ``Exception`` by default; the LangGraph-style
    policy still refuses bad values when made, and a node takes one policy or a list of either kind."""
    own = ag.RetryPolicy(max_attempts=3, backoff_s=0.0, jitter=0.0)
    assert own.retry_on == (Exception,) and own.jitter == 0.0
    assert _retried(ours, "memory", own, ValueError) == ({"log": ["ok"]}, 3)
    with pytest.raises(UsageError, match="initial_interval"):
        ours.RetryPolicy(initial_interval=-1)
    with pytest.raises(UsageError, match="retry_on"):
        ours.RetryPolicy(retry_on=42)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="max_attempts"):
        ours.StateGraph(Work).add_node("n", lambda s: {}, retry_policy=ours.RetryPolicy()._replace(max_attempts=0))
    mixed = [ours.RetryPolicy(initial_interval=0.0, retry_on=KeyError), own]
    assert _retried(ours, "memory", mixed, ValueError) == ({"log": ["ok"]}, 3)
