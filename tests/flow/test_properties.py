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
