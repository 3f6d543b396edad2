"""A tool's parameter left at its default is no value the agent computed (``run.promote()``).

The run records a call's inputs with the tool's defaults bound, so ``scale(x)`` of ``def scale(x, factor=3,
unit="kg")`` was promoted with ``factor`` and ``unit`` as computed inputs, and the promoted graph refused any other
``x`` (``stale_computed_inputs``) blaming code the user never wrote.
"""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def scale(x: int, factor: int = 3, unit: str = "kg") -> dict[str, str]:
    return {"y": f"{x * factor} {unit}"}


@ag.tool(outputs=["k"])
def pick(x: int) -> dict[str, int]:
    return {"k": 3 if x < 10 else 5}


@ag.graph_fn(outputs=["y"])
async def weigh(x: int) -> dict[str, str]:
    r = await scale(x)
    return {"y": r["y"]}


@ag.graph_fn(outputs=["y"])
async def weigh_picked(x: int) -> dict[str, str]:
    f = await pick(x)
    r = await scale(x, factor=f["k"], unit="kg")
    return {"y": r["y"]}


def promoted(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"ag": ag, "scale": scale, "pick": pick}
    exec(source, namespace)  # as a notebook cell runs it
    return namespace[name]


def test_a_parameter_left_at_its_default_stays_out_of_the_call(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
        run = weigh.start(x=2)
        await run
        source = run.promote("weigh_static")
        graph = promoted(source, "weigh_static")
        return source, await graph(x=2), await graph(x=5), await weigh(x=5)

    source, same, other, agent_other = arun(main())
    assert "scale_1 = scale(x=x)" in source, source
    assert "factor" not in source and "Computed in Python" not in source, source
    assert same == {"y": "6 kg"}
    assert other == agent_other == {"y": "15 kg"}


def test_a_passed_value_equal_to_the_default_keeps_its_origin(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any]]:
        run = weigh_picked.start(x=2)  # pick gives 3: the default of factor
        await run
        source = run.promote("picked_static")
        graph = promoted(source, "picked_static")
        return source, await graph(x=20), await weigh_picked(x=20)

    source, other, agent_other = arun(main())
    assert "scale_1 = scale(x=x, factor=pick_1.k, unit='kg')" in source, source
    assert other == agent_other == {"y": "100 kg"}
