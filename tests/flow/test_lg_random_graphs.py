"""Random small graphs run on LangGraph and on aether_nb.flow side by side (hypothesis; skipped without LangGraph):
static and conditional edges, routers that send (``Send``), ``Command(goto=...)``, joins, nodes that ask
(``interrupt()``) and list/int reducers. Every turn's result, its interrupts, and ``get_state`` (values, next,
interrupts) after it are LangGraph's; the turn is resumed with an answer per interrupt until it ends. Bounded: a
fixed number of derandomized examples of at most five nodes, each resumed at most six times. (Searched further
with 500 random examples each through the sync API, through ``ainvoke`` on one loop, and comparing the
``updates``/``values`` chunks of each call as a multiset: only the order of concurrent tasks' chunks differed.)"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import aether_nb.flow as ours
from tests.flow.conftest import lg_names, thread


class Walk(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    total: Annotated[int, operator.add]


def _graph(lib: Any, case: Any) -> Any:
    """``case``: per node (asks, [router choices]), static edges, START's targets, START's router choices, the
    nodes returning ``Command(goto=...)`` and the joins (``add_edge([a, b], c)``). A choice is a node index (a
    later node), -1 (END) or ("send", index); a router picks one by the log's length."""
    nodes, edges, starts, start_choices, gotos, joins = case

    def node(i: int, asks: bool) -> Any:
        def fn(s: Walk) -> Any:
            name = f"n{i}"
            if asks:
                name += f"={lib.interrupt(f'{name}?')}"
            if i in gotos:
                return lib.Command(update={"log": [name], "total": i}, goto=f"n{gotos[i]}")
            return {"log": [name], "total": i}

        return fn

    def target(choice: Any) -> Any:
        if isinstance(choice, tuple):
            return [lib.Send(f"n{choice[1]}", {"log": [f"to{choice[1]}"], "total": 100})]
        return lib.END if choice < 0 else f"n{choice}"

    def router(choices: list[Any], salt: int) -> Any:
        def route(s: Walk) -> Any:
            return target(choices[(len(s.get("log", [])) + salt) % len(choices)])

        return route

    b = lib.StateGraph(Walk)
    for i, (asks, _) in enumerate(nodes):
        b.add_node(f"n{i}", node(i, asks))
    for i in starts:
        b.add_edge(lib.START, f"n{i}")
    if start_choices:
        b.add_conditional_edges(lib.START, router(start_choices, 0))
    for a, z in edges:
        b.add_edge(f"n{a}", f"n{z}")
    for a, z, j in joins:
        b.add_edge([f"n{a}", f"n{z}"], f"n{j}")
    for i, (_, choices) in enumerate(nodes):
        if choices:
            b.add_conditional_edges(f"n{i}", router(choices, i))
    return b


def _play(lib: Any, g: Any) -> list[Any]:
    """The turn, then one resume per pause (each interrupt answered by id): what each call returned, and the
    thread's state after it."""
    seen: list[Any] = []
    out = g.invoke({"log": ["in"]}, thread())
    for _ in range(7):
        asked = sorted(i.value for i in out.get("__interrupt__", ()))
        state = g.get_state(thread())
        seen.append(
            (
                {k: v for k, v in dict(out).items() if k != "__interrupt__"},
                asked,
                (state.values, tuple(state.next), [i.value for i in state.interrupts]),  # in LangGraph's order
            )
        )
        if not asked:
            return seen
        out = g.invoke(lib.Command(resume={i.id: f"ok({i.value})" for i in state.interrupts}), thread())
    return seen


def test_random_graphs_with_routers_sends_and_interrupts_behave_as_langgraphs() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    lg = lg_names()

    @st.composite
    def cases(draw: Any) -> Any:
        n = draw(st.integers(1, 5))

        def choices(after: int) -> Any:
            later = list(range(after + 1, n))
            one = st.sampled_from([-1, *later]) | (
                st.tuples(st.just("send"), st.sampled_from(later)) if later else st.just(-1)
            )
            return st.lists(one, max_size=3)

        nodes = [(draw(st.booleans()), draw(choices(i))) for i in range(n)]
        edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=5))
        edges = sorted({(a, z) for a, z in edges if a < z})
        start_choices = draw(choices(-1))
        starts = sorted(draw(st.sets(st.integers(0, n - 1), min_size=0 if start_choices else 1, max_size=2)))
        pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2))
        gotos = {i: j for i, j in pairs if i < j}
        triples = draw(st.lists(st.tuples(*[st.integers(0, n - 1)] * 3), max_size=2))
        joins = sorted({(a, z, j) for a, z, j in triples if a < j and z < j and a != z})
        return nodes, edges, starts, start_choices, gotos, joins

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(cases())
    def check(case: Any) -> None:
        theirs = _play(lg, _graph(lg, case).compile(checkpointer=lg.InMemorySaver()))
        mine = _play(ours, _graph(ours, case).compile(checkpointer="memory"))
        assert mine == theirs

    check()
