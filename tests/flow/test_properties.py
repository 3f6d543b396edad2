"""Invariants of the engine, checked on generated cases (hypothesis): the state after a superstep does not depend
on the order tasks finish in, and a checkpoint comes back from storage exactly as it went in."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aether_nb.flow import START, StateGraph
from aether_nb.flow.checkpoint import Checkpoint, InMemoryCheckpointer, StoreCheckpointer
from aether_nb.flow.routing import Route
from aether_nb.flow.tasks import Outcome
from aether_nb.flow.types import Send
from aether_nb.runtime.codec import decode, encode
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    total: Annotated[int, operator.add]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    writers=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=6, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_a_superstep_merges_in_task_order_whatever_order_tasks_finish_in(writers: list[int], order: Any) -> None:
    finish = list(writers)
    order.shuffle(finish)
    session, _ = make_session()

    async def scenario() -> Any:
        gates = {w: asyncio.Event() for w in writers}

        def node(w: int) -> Any:
            async def run(state: S) -> Any:
                await asyncio.wait_for(gates[w].wait(), 10)
                nxt = finish.index(w) + 1
                if nxt < len(finish):
                    gates[finish[nxt]].set()  # the next one in the generated finish order may go
                return {"log": [f"n{w}"], "total": w}

            return run

        g = StateGraph(S, name="prop")
        for w in writers:
            g.add_node(f"n{w}", node(w))
            g.add_edge(START, f"n{w}")
        app = g.compile(session=session)
        gates[finish[0]].set()
        return await app.ainvoke({"log": [], "total": 0})

    out = arun(scenario())
    assert out == {"log": sorted(f"n{w}" for w in writers), "total": sum(writers)}


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(state=st.dictionaries(st.text(min_size=1, max_size=5), values, max_size=4), kind=st.sampled_from(["mem", "kv"]))
def test_a_checkpoint_round_trips_through_both_checkpointers(state: dict[str, Any], kind: str) -> None:
    cker: Any = InMemoryCheckpointer() if kind == "mem" else StoreCheckpointer(MemoryStore(), "p")
    cp = Checkpoint(
        values=state,
        tasks=({"node": "a"}, {"node": "b", "send": state}),
        step=3,
        source="loop",
        run_id="r",
        created_at=1.5,
        pending={"a": {"writes": [["k", state]], "route": {"names": [], "sends": []}}},
    )
    stored = cker.put("t", cp)
    again = cker.get("t", stored.id)
    assert again == stored
    assert again.values == state and again.tasks[1]["send"] == state


names = st.text(alphabet="abcxyz_", min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    barriers=st.dictionaries(names, st.lists(names, max_size=2), max_size=2),
    deferred=st.lists(names, max_size=2),
    writers=st.lists(names, max_size=2),
    errors=st.dictionaries(names, st.text(max_size=5), max_size=2),
    interrupts=st.dictionaries(names, st.lists(st.lists(values, min_size=2, max_size=2), max_size=2), max_size=2),
    turn_start=st.integers(min_value=0, max_value=5),
    metadata=st.dictionaries(names, st.integers(), max_size=2),
    kind=st.sampled_from(["mem", "kv"]),
)
def test_a_checkpoint_keeps_every_field_whether_empty_or_not(
    barriers: Any, deferred: Any, writers: Any, errors: Any, interrupts: Any, turn_start: int, metadata: Any, kind: str
) -> None:
    """The stored form leaves out the fields at their defaults: each must come back as it was, empty or not."""
    cker: Any = InMemoryCheckpointer() if kind == "mem" else StoreCheckpointer(MemoryStore(), "p")
    cp = Checkpoint(
        values={"n": 1},
        tasks=({"node": "a"},),
        step=0,
        source="loop",
        run_id=None,
        created_at=0.0,
        parent=None,
        barriers=barriers,
        deferred=tuple(deferred),
        writers=tuple(writers),
        errors=errors,
        interrupts=interrupts,
        turn_start=turn_start,
        metadata=metadata,
    )
    stored = cker.put("t", cp)
    assert cker.get("t", stored.id) == stored and cker.latest("t") == stored


sends = st.lists(st.builds(Send, names, values), max_size=2)
routes = st.builds(Route, st.lists(names, max_size=3, unique=True), sends)


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(st.tuples(names, values), max_size=4),
    route=routes,
    old_form=st.booleans(),
)
def test_a_task_outcome_comes_back_from_the_journal_in_either_form(writes: Any, route: Route, old_form: bool) -> None:
    """A task's journaled value: the flat form written now, and the ``{"writes", "route"}`` form of journals written
    before it (and of the pending results kept on checkpoints) give the same outcome."""
    outcome = Outcome(list(writes), route)
    data = outcome.to_json()
    if old_form:
        data = {"writes": data["writes"], "route": route.to_json()}
    again = Outcome.from_json(decode(encode(data)))
    assert again.writes == outcome.writes
    assert again.route == outcome.route and again.parent_command is None
