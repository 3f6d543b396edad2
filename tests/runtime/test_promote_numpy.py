"""``run.promote()`` of runs that passed NumPy arrays: values compared as one truth value (an array's ``==`` is an
array: the promotion failed with a bare ValueError). An array a tool returned is traced to that tool's output; one
the agent's code computed is a UsageError saying to compute it in a tool."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.runtime.promote_trace import trivial, values_equal
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["arr"])
def np_range(n: int) -> dict[str, Any]:
    return {"arr": np.arange(n)}


@ag.tool(outputs=["total"])
def np_total(xs: Any) -> dict[str, Any]:
    return {"total": float(np.sum(xs))}


@ag.graph_fn(outputs=["count", "arr"])
async def returns_an_array(n: int) -> dict[str, Any]:
    made = await np_range(n)
    return {"count": n, "arr": made["arr"]}


@ag.graph_fn(outputs=["total"])
async def passes_an_array_on(n: int) -> dict[str, Any]:
    made = await np_range(n)
    summed = await np_total(made["arr"])
    return {"total": summed["total"]}


@ag.graph_fn(outputs=["total"])
async def computes_an_array(n: int) -> dict[str, Any]:
    summed = await np_total(np.linspace(0.0, 1.0, n))
    return {"total": summed["total"]}


def promoted(agent: Any, **inputs: Any) -> str:
    async def main() -> str:
        run = agent.start(**inputs)
        await run
        source: str = run.promote()
        return source

    return arun(main())


def test_an_array_a_tool_returned_and_the_agent_returned_is_that_tools_output(session: Session) -> None:
    source = promoted(returns_an_array, n=3)
    assert "return {'count': n, 'arr': np_range_1.arr}" in source


def test_an_array_passed_from_one_tool_to_another_is_a_reference_to_the_first(session: Session) -> None:
    source = promoted(passes_an_array_on, n=4)
    assert "np_total_1 = np_total(xs=np_range_1.arr)" in source


def test_an_array_the_agents_code_computed_is_a_usage_error_saying_to_compute_it_in_a_tool(session: Session) -> None:
    with pytest.raises(ag.UsageError, match="compute it in a tool"):
        promoted(computes_an_array, n=3)


def test_values_are_compared_as_one_truth_value() -> None:
    a = np.arange(3)
    assert values_equal(a, np.arange(3)) and values_equal({"x": [a]}, {"x": [np.arange(3)]})
    assert not values_equal(a, np.arange(4)) and not values_equal(a, np.array([0, 1, 5]))
    assert not values_equal(a, [0, 1, 2]) and not values_equal(a, "array([0, 1, 2])")
    assert values_equal(np.float64(2.0), 2.0) and not values_equal([1, 2], [1.0, 2.0]) and not values_equal([1], (1,))
    assert not trivial(np.array([])) and not trivial(a) and trivial("") and trivial({}) and trivial(None)
