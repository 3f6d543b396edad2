"""``TaskGraph.dumps()`` keeps a graph's constants as the runtime's codec stores values, and from_json restores them.

Found by a tester: a graph built with a numpy constant built and ran, but ``dumps()`` (the documented JSON round
trip) raised json's ``TypeError: Object of type ndarray is not JSON serializable``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.taskgraph import TaskGraph
from tests.conftest import arun


@ag.tool(outputs=["total"])
def total(values: Any, weight: Any, pair: Any) -> dict[str, float]:
    assert isinstance(values, np.ndarray) and type(weight) is np.float64 and pair == [1, 2]
    return {"total": float(np.sum(values)) * float(weight)}


@ag.graphify(name="weighed", inputs={"x": ag.REQUIRED, "scale": np.float64(1.5)}, outputs=["answer", "nan"])
def weighed(x: Any, scale: Any) -> Any:
    t = total(values=np.array([1.0, 2.0, 3.0]), weight=np.float64(2.0), pair=(1, 2))
    return {"answer": t.total, "nan": float("nan")}


def test_a_graph_with_numpy_constants_is_saved_and_loaded(session: Session) -> None:
    graph = weighed.build()
    text = graph.dumps()
    json.loads(text)  # plain JSON
    with pytest.raises(ag.UsageError) as refused:  # (a numpy array is pickled: loading it runs code the file names)
        TaskGraph.from_json(text)
    assert refused.value.code == "graph_pickled" and "allow_pickle=True" in refused.value.message
    loaded = TaskGraph.from_json(text, allow_pickle=True)
    spec = loaded.node("total_1")
    assert isinstance(spec.inputs["values"], np.ndarray) and spec.inputs["values"].tolist() == [1.0, 2.0, 3.0]
    assert type(spec.inputs["weight"]) is np.float64 and type(loaded.optional["scale"]) is np.float64
    assert loaded.to_json() == graph.to_json()
    out = arun(ag.run(loaded, {"x": 1}))
    assert out["answer"] == 12.0 and out["nan"] != out["nan"]


def test_a_constant_that_cannot_be_saved_is_a_usage_error_naming_its_node(session: Session) -> None:
    @ag.tool(outputs=["y"])
    def apply(fn: Any, x: Any) -> dict[str, Any]:
        return {"y": fn(x)}

    @ag.graphify(name="with_lambda", inputs=["x"], outputs=["y"])
    def with_lambda(x: Any) -> Any:
        return {"y": apply(fn=lambda v: v + 1, x=x).y}

    graph = with_lambda.build()
    assert arun(ag.run(graph, {"x": 1})) == {"y": 2}  # (it runs: only saving it is refused)
    with pytest.raises(ag.UsageError) as info:
        graph.dumps()
    assert info.value.code == "graph_not_saveable"
    assert "node apply_1's inputs" in info.value.message and "Pass that value as a graph input" in info.value.message


def test_a_graph_of_plain_and_numpy_scalar_constants_loads_without_pickles(session: Session) -> None:
    @ag.graphify(name="scalars", inputs={"x": ag.REQUIRED, "scale": np.float64(1.5)}, outputs=["y"])
    def scalars(x: Any, scale: Any) -> Any:
        return {"y": total(values=x, weight=np.float64(2.0), pair=(1, 2)).total}

    loaded = TaskGraph.from_json(scalars.build().dumps())  # (no pickle in it: no allow_pickle needed)
    assert type(loaded.optional["scale"]) is np.float64
    assert arun(ag.run(loaded, {"x": np.array([1.0, 2.0])})) == {"y": 6.0}
