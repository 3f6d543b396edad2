"""``get_state_history(config, filter=, before=, limit=)`` and ``aget_state_history`` with the same arguments:
LangGraph's checkpointer ``list`` semantics (``test_pregel.py``'s history and cursor pagination, adapted), checked
against LangGraph itself on the same graph, plus a property test over random queries.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.errors import UsageError
from aether_nb.flow import START, StateGraph


class S(TypedDict, total=False):
    total: Annotated[int, operator.add]
    log: Annotated[list, operator.add]


def _build(graph_cls: Any) -> Any:
    g = graph_cls(S)
    g.add_node("a", lambda s: {"log": ["a"], "total": 1})
    g.add_node("b", lambda s: {"log": ["b"], "total": 2})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g


CFG = {"configurable": {"thread_id": "1", "user_x": "u", "n": 3}, "metadata": {"tag": "T"}}
THREAD = {"configurable": {"thread_id": "1"}}


def _view(snaps: Any) -> list[tuple[Any, ...]]:
    return [(s.metadata["source"], s.metadata["step"], s.values, s.next) for s in snaps]


def _queries(history: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(config, kwargs) pairs; configs naming checkpoints are taken from ``history`` (each library's own)."""
    return [
        (THREAD, {}),
        (THREAD, {"limit": 1}),
        (THREAD, {"limit": 0}),
        (THREAD, {"filter": {"source": "loop"}}),
        (THREAD, {"filter": {"source": "input"}}),
        (THREAD, {"filter": {"step": 1}}),
        (THREAD, {"filter": {"tag": "T", "user_x": "u", "n": 3}}),
        (THREAD, {"filter": {"tag": "other"}}),
        (THREAD, {"filter": {"missing": None}}),
        (THREAD, {"before": history[1].config}),
        (THREAD, {"before": history[1].config, "limit": 1}),
        (THREAD, {"before": history[0].config, "filter": {"source": "loop"}, "limit": 2}),
        (history[2].config, {}),
    ]


def _two_turns_langgraph() -> tuple[Any, list[Any]]:
    lg = pytest.importorskip("langgraph.graph")
    from langgraph.checkpoint.memory import InMemorySaver

    app = _build(lg.StateGraph).compile(checkpointer=InMemorySaver())
    app.invoke({"total": 0}, CFG)
    app.invoke({"total": 10}, CFG)
    return app, list(app.get_state_history(THREAD))


def test_history_queries_match_langgraph(checkpointer: str) -> None:
    theirs_app, theirs_history = _two_turns_langgraph()
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    app.invoke({"total": 0}, CFG)
    app.invoke({"total": 10}, CFG)
    history = list(app.get_state_history(THREAD))
    assert _view(history) == _view(theirs_history)
    assert history[0].metadata == {"source": "loop", "step": 6, "parents": {}, "tag": "T", "user_x": "u", "n": 3}
    for (mine_cfg, kw), (their_cfg, their_kw) in zip(_queries(history), _queries(theirs_history), strict=True):
        mine = _view(app.get_state_history(mine_cfg, **kw))
        assert mine == _view(theirs_app.get_state_history(their_cfg, **their_kw)), kw


def test_history_and_cursor_pagination(checkpointer: str) -> None:
    """test_pregel.py (checkpoint history): sorted newest first, sources counted, ``limit`` + ``before`` page."""
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    for total in (1, 2, 3):
        app.invoke({"total": total}, THREAD)
    assert len(list(app.get_state_history(THREAD, limit=1))) == 1
    history = list(app.get_state_history(THREAD))
    assert len(history) == 12  # per turn: input, START's, a's, b's
    assert Counter(c.metadata["source"] for c in history) == {"input": 3, "loop": 9}
    ids = [c.config["configurable"]["checkpoint_id"] for c in history]
    assert ids == sorted(ids, reverse=True)
    pages, cursor = [], None
    while True:
        page = list(app.get_state_history(THREAD, limit=5, before=cursor))
        if not page:
            break
        pages.append(page)
        cursor = page[-1].config
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [c.config for p in pages for c in p] == [c.config for c in history]
    assert history[0].values["total"] == 1 + 3 + 2 + 3 + 3 + 3


@pytest.mark.anyio
async def test_aget_state_history_takes_the_same_arguments(checkpointer: str) -> None:
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    await app.ainvoke({"total": 0}, CFG)
    history = await app.aget_state_history(THREAD)
    async_iterated = [s async for s in app.aget_state_history(THREAD, filter={"source": "loop"}, limit=2)]
    assert _view(async_iterated) == _view([h for h in history if h.metadata["source"] == "loop"][:2])
    before = await app.aget_state_history(THREAD, before=history[0].config, filter={"step": 0})
    assert _view(before) == [("loop", 0, {"total": 0, "log": []}, ("a",))]
    one_by_one = app.aget_state_history(THREAD, filter={"source": "loop"})
    assert (await anext(one_by_one)).config == history[0].config
    assert (await anext(one_by_one)).config == history[1].config
    newest = next(app.get_state_history(THREAD, limit=1))  # LangGraph returns a generator
    assert newest.config == history[0].config
    with pytest.raises(StopIteration):
        next(app.get_state_history(THREAD, limit=0))


def test_history_of_a_branched_thread_filters_forks_and_updates(checkpointer: str) -> None:
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    app.invoke({"total": 0}, THREAD)
    past = next(s for s in app.get_state_history(THREAD) if s.next == ("b",))
    branch = app.update_state(past.config, {"log": ["edited"]})
    app.invoke(None, branch)
    assert [s.metadata["step"] for s in app.get_state_history(THREAD, filter={"source": "update"})] == [2]
    assert [s.next for s in app.get_state_history(THREAD, filter={"source": "loop", "step": 3})] == [()]
    assert len(list(app.get_state_history(THREAD))) == 6  # all branches: 4 of the turn, the update, b's again


def test_history_arguments_are_checked(checkpointer: str) -> None:
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    app.invoke({"total": 0}, THREAD)
    with pytest.raises(UsageError, match="filter must be a dict"):
        app.get_state_history(THREAD, filter=[("source", "loop")])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="limit must be an integer"):
        app.get_state_history(THREAD, limit="2")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="before must be a config"):
        app.get_state_history(THREAD, before="00000002")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="checkpoint_id"):
        app.get_state_history(THREAD, before={"configurable": {"thread_id": "1", "checkpoint_id": "zz"}})
    with pytest.raises(TypeError):
        app.get_state_history(THREAD, filters={"source": "loop"})  # type: ignore[call-arg]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.none() | st.integers(min_value=-1, max_value=10),
    before=st.none() | st.integers(min_value=0, max_value=50),
    source=st.none() | st.sampled_from(["input", "loop", "update"]),
    step=st.none() | st.integers(min_value=-1, max_value=5),
)
def test_any_query_is_the_full_history_filtered_then_cut(
    checkpointer: str, limit: int | None, before: int | None, source: str | None, step: int | None
) -> None:
    """Invariant: a query keeps, in order, the checkpoints older than ``before`` whose metadata matches, then
    the first ``limit`` of them (none for a limit <= 0)."""
    app = _history_app(checkpointer)
    full = list(app.get_state_history(THREAD))
    assert len(full) == 9  # 4 checkpoints per turn, and the update between them
    before = before % len(full) if before is not None else None
    flt = {k: v for k, v in (("source", source), ("step", step)) if v is not None}
    before_cfg = full[before].config if before is not None else None
    got = list(app.get_state_history(THREAD, filter=flt or None, before=before_cfg, limit=limit))
    expected = [
        s
        for i, s in enumerate(full)
        if (before is None or i > before) and all(s.metadata.get(k) == v for k, v in flt.items())
    ]
    if limit is not None:
        expected = expected[: max(limit, 0)]
    assert [s.config for s in got] == [s.config for s in expected]


_APPS: list[tuple[Any, str, Any]] = []  # (session, checkpointer kind, app)


def _history_app(checkpointer: str) -> Any:
    """One graph with a 9-checkpoint thread per checkpointer kind and default session (the property test reads
    it many times)."""
    from aether_nb.runtime.session import default_session

    session = default_session()
    for s, kind, app in _APPS:
        if s is session and kind == checkpointer:
            return app
    app = _build(StateGraph).compile(checkpointer=checkpointer)
    app.invoke({"total": 0}, THREAD)
    app.update_state(THREAD, {"log": ["x"]}, as_node="b")
    app.invoke({"total": 1}, THREAD)
    _APPS.append((session, checkpointer, app))
    return app
