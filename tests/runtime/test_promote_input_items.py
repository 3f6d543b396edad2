"""A promoted graph keeps the agent's inputs: an element of an input list is taken from it when the graph runs.

The tester's bug: ``buyer(order_id, skus)`` looped over ``skus`` calling ``lookup_price``; the promoted graph had no
``skus`` input (each element was a constant ``lookup_price_1_sku = 'A1'``, listed as "computed in Python ... not a
run input"), so ``buyer_static(order_id="o1", skus=[...])`` failed with "unknown ['order_id', 'skus']" and no hint.
Now the graph declares the agent's inputs, takes each element with an ``input_item`` node (by position), and, as a
loop's length is the graph's shape, says so in the source and a :class:`PromotionWarning` and refuses another number
of elements naming why (``promoted_shape``).
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.errors import RunFailed
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from tests.conftest import arun, finished_run

PRICES = {"A1": 10, "B2": 20, "C3": 30}


@ag.tool(outputs=["price"])
def lookup_price(sku: str) -> dict[str, int]:
    return {"price": PRICES.get(sku, 5)}


@ag.graph_fn(outputs=["total"])
async def sku_buyer(order_id: str, skus: list[str], *, context: ag.NodeContext) -> dict[str, int]:
    """The tester's agent (/tmp/tester_a/repro/promote_inputs.py)."""
    prices = await asyncio.gather(*(lookup_price(s) for s in skus))
    return {"total": sum(p["price"] for p in prices)}


@ag.graph_fn(outputs=["prices"])
async def sku_pricer(order_id: str, skus: list[str]) -> dict[str, list[int]]:
    prices = await asyncio.gather(*(lookup_price(s) for s in skus))
    return {"prices": [p["price"] for p in prices]}


def promoted(run: ag.Run, name: str) -> tuple[Any, str, str]:
    """The promoted graph (its source run as a notebook cell runs it), the source, and its PromotionWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote(name)
    ns: dict[str, Any] = {"ag": ag, "lookup_price": lookup_price}
    exec(source, ns)
    return ns[name], source, " | ".join(str(w.message) for w in caught if issubclass(w.category, PromotionWarning))


def test_the_graph_takes_the_agents_inputs_and_says_what_it_holds(session: Session) -> None:
    """The tester's repro: the graph takes order_id and skus; the total, computed in Python, is the run's (named)."""
    run = finished_run(sku_buyer, order_id="o1", skus=["A1", "B2"])
    graph, source, warned = promoted(run, "buyer_static")
    assert "lookup_price_1_sku" not in source and "input_item(of=skus, at=[0], length=2, name='skus')" in source
    assert "lookup_price_1 = lookup_price(sku=input_item_1.value)" in source, source
    assert "# order_id: an input of the agent that no node of this graph reads" in source
    assert "output total = 30" in warned and "2 element(s) of skus" in warned, warned
    # called as the agent is: another order_id changes nothing the graph computes
    assert arun(graph(order_id="o2", skus=["A1", "B2"])) == {"total": 30}
    # other skus: the total is the run's, so the call is refused, naming it (it said "unknown ['order_id', 'skus']")
    with pytest.raises(ag.UsageError, match="output_total") as stale:
        arun(graph(order_id="o1", skus=["C3", "A1"]))
    assert stale.value.code == "stale_computed_inputs"
    assert arun(graph(order_id="o1", skus=["C3", "A1"], output_total=40)) == {"total": 40}


def test_a_loop_over_an_input_follows_its_elements_and_refuses_another_length(session: Session) -> None:
    run = finished_run(sku_pricer, order_id="o1", skus=["A1", "B2"])
    graph, source, warned = promoted(run, "pricer_static")
    assert "'prices': [lookup_price_1.price, lookup_price_2.price]" in source, source
    assert "This graph has the shape of run" in source and "input skus (2 element(s))" in source
    assert "has the shape of that run" in warned and "2 element(s) of skus" in warned, warned
    assert arun(graph(order_id="o9", skus=["C3", "Z9"])) == arun(sku_pricer(order_id="o9", skus=["C3", "Z9"]))
    with pytest.raises(RunFailed, match=r"input skus has 3 element\(s\).*looped over 2 element\(s\) of skus"):
        arun(graph(order_id="o1", skus=["A1", "B2", "C3"]))
    with pytest.raises(RunFailed, match=r"input skus has 1 element\(s\)"):
        arun(graph(order_id="o1", skus=["A1"]))
    # the TaskGraph promotion builds directly is the same graph
    direct = run.to_taskgraph("pricer_graph")
    assert arun(ag.run(direct, {"order_id": "o1", "skus": ["B2", "Z9"]})) == {"prices": [20, 5]}


def test_an_element_read_by_position_or_key_is_no_loop(session: Session) -> None:
    """``skus[0]`` and ``cfg["region"]``: taken by position or key, any length accepted, no shape warning."""

    @ag.graph_fn(outputs=["first", "region"])
    async def sku_first(skus: list[str], cfg: dict[str, str]) -> dict[str, Any]:
        p = await lookup_price(skus[0])
        r = await lookup_price(cfg["region"])
        return {"first": p["price"], "region": r["price"]}

    run = finished_run(sku_first, skus=["B2", "A1"], cfg={"region": "C3"})
    graph, source, warned = promoted(run, "first_static")
    assert "input_item(of=skus, at=[0], name='skus')" in source, source
    assert "input_item(of=cfg, at=['region'], name='cfg')" in source, source
    assert "shape" not in warned, warned
    inputs = {"skus": ["A1", "B2", "C3"], "cfg": {"region": "B2"}}
    assert arun(graph(**inputs)) == arun(sku_first(**inputs)) == {"first": 10, "region": 20}
    with pytest.raises(RunFailed, match=r"input skus has no element skus\[0\]"):
        arun(graph(skus=[], cfg={"region": "B2"}))


def test_equal_elements_and_equal_outputs_keep_their_places(session: Session) -> None:
    """``['A1', 'A1']``: the loop's two calls take elements 0 and 1, and the two equal prices returned are each
    call's (each was traced alone, to the latest equal value: both read the second)."""
    run = finished_run(sku_pricer, order_id="o1", skus=["A1", "A1", "B2"])
    graph, source, _ = promoted(run, "dup_static")
    assert "input_item(of=skus, at=[1], length=3, name='skus')" in source, source
    inputs = {"order_id": "o1", "skus": ["B2", "C3", "A1"]}
    assert arun(graph(**inputs)) == arun(sku_pricer(**inputs)) == {"prices": [20, 30, 10]}


@ag.tool(outputs=["n"])
def echo_n(n: int) -> dict[str, int]:
    return {"n": n}


def test_a_value_equal_to_an_element_the_code_never_takes_is_no_element(session: Session) -> None:
    """A count computed in Python that equals an item of a list input the code only sums is no element of it: taken
    for ``sizes[1]``, the graph would return 2 for three words, where the agent returns 3."""

    @ag.graph_fn(outputs=["n", "total"])
    async def counter(sizes: list[int], words: list[str]) -> dict[str, int]:
        r = await echo_n(len(words))
        return {"n": r["n"], "total": sum(sizes)}

    run = finished_run(counter, sizes=[1, 2], words=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromotionWarning)
        source = run.promote("counter_static")
    ns: dict[str, Any] = {"ag": ag, "echo_n": echo_n}
    exec(source, ns)
    assert "input_item" not in source and "echo_n_1_n = 2" in source, source
    with pytest.raises(ag.UsageError, match="echo_n_1_n"):
        arun(ns["counter_static"](sizes=[1, 2], words=["a", "b", "c"]))


SKUS = st.lists(st.sampled_from(["A1", "B2", "C3", "Z9"]), min_size=1, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ran=SKUS, other=SKUS)
def test_a_promoted_loop_gives_the_agents_result_or_names_the_shape(
    session: Session, ran: list[str], other: list[str]
) -> None:
    """Whatever the run's list and the list the graph is called with: the agent's result when they have as many
    elements, else an error naming the shape, never another result."""
    run = finished_run(sku_pricer, order_id="o1", skus=ran)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromotionWarning)
        source = run.promote("prop_static")
    ns: dict[str, Any] = {"ag": ag, "lookup_price": lookup_price}
    exec(source, ns)
    if len(other) == len(ran):
        assert arun(ns["prop_static"](order_id="o2", skus=other)) == arun(sku_pricer(order_id="o2", skus=other)), source
    else:
        with pytest.raises(RunFailed, match=rf"looped over {len(ran)} element\(s\) of skus"):
            arun(ns["prop_static"](order_id="o2", skus=other))
