"""What a @graphify body may be, and the inputs its signature gives a graph.

Found by a tester: a generator body (``yield`` instead of ``return``) built an empty graph, and the run "succeeded"
with the un-run generator as its output (@tool and @graph_fn refuse generator functions); ``def pipeline(x,
factor=2)`` without ``inputs=`` made ``factor`` required, so ``await pipeline(x=5)`` failed "missing ['factor']"
although the docstring says the inputs default to the function's parameters.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun

ran: list[int] = []


@ag.tool(outputs=["y"])
def scale(x: int, factor: int) -> dict[str, int]:
    ran.append(x)
    return {"y": x * factor}


def test_a_generator_body_is_refused_at_decoration() -> None:
    def pipeline(x: Any) -> Any:
        yield {"answer": scale(x=x, factor=2).y}

    async def agen(x: Any) -> Any:
        yield {"answer": x}

    with pytest.raises(ag.UsageError) as info:
        ag.graphify(outputs=["answer"])(pipeline)
    assert info.value.code == "graphify_generator"
    assert "pipeline is a generator function" in info.value.message and "`return {...}` instead" in info.value.message
    with pytest.raises(ag.UsageError, match="agen is an async generator function"):
        ag.graphify(agen)
    with pytest.raises(ag.UsageError, match="use @graph_fn for async agents"):  # (as before)

        @ag.graphify
        async def coro(x: Any) -> Any:
            return {"answer": x}


def test_a_parameters_default_is_the_inputs_default(session: Session) -> None:
    @ag.graphify(name="scaled", outputs=["answer"])
    def scaled(x: Any, factor: Any = 2, limit: Any = ag.REQUIRED) -> Any:
        return {"answer": scale(x=x, factor=factor).y}

    assert (scaled.required, scaled.optional) == (["x", "limit"], {"factor": 2})
    assert scaled.build().optional == {"factor": 2}
    assert arun(scaled(x=5, limit=1)) == {"answer": 10}
    assert arun(scaled(x=5, factor=3, limit=1)) == {"answer": 15}
    with pytest.raises(ag.UsageError, match=r"missing \['x'\]"):
        arun(scaled(limit=1))


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("def p(*xs):\n    return {'a': xs}", "*xs cannot take a graph input"),
        ("def p(**kw):\n    return {'a': kw}", "**kw does not say which inputs the graph takes"),
        ("def p(x, /):\n    return {'a': x}", "positional-only parameter 'x' cannot take a graph input"),
    ],
)
def test_parameters_a_graph_cannot_pass_by_name_are_refused_at_decoration(source: str, says: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ag.UsageError, match=r"@graphify p: " + says.replace("*", r"\*")) as info:
        ag.graphify(namespace["p"])
    assert info.value.code == "graphify_signature"


def test_a_body_taking_kwargs_with_its_inputs_named_still_builds(session: Session) -> None:
    @ag.graphify(inputs=["x"], outputs=["answer"])
    def by_name(**kw: Any) -> Any:
        return {"answer": scale(x=kw["x"], factor=3).y}

    assert arun(by_name(x=2)) == {"answer": 6}
