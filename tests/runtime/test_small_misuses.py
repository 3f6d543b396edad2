"""Small public calls given the wrong thing raise aether_nb errors that say what to do, not bare Python ones.

Found by a tester: ``run.graph.node("nope")`` raised a ``KeyError``, ``ag.effect(int)`` (and ``ag.pure(int)``)
Python's "cannot set '__aether_effect__' attribute of immutable type 'int'".
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import finished_run


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(outputs=["y"])
async def agent(x: int) -> dict[str, Any]:
    return await double(x)  # type: ignore[no-any-return]


@ag.graph_fn(outputs=["y"])
async def bare(x: int) -> dict[str, int]:
    return {"y": x}


def test_an_unknown_node_id_is_a_usage_error_naming_the_known_ones(session: Session) -> None:
    run = finished_run(agent, x=1)
    with pytest.raises(ag.UsageError, match=r"no node 'nope' in run run-1; its nodes: double_1\.") as info:
        run.graph.node("nope")
    assert "`[n.id for n in run.graph.nodes]` lists them" in str(info.value)
    assert isinstance(info.value, KeyError)  # (as before: `except KeyError` keeps working)
    with pytest.raises(ag.UsageError, match="it has no nodes yet"):
        finished_run(bare, x=1).graph.node("double_1")
    with pytest.raises(ag.UsageError, match="no node"):
        run.graph.node(["unhashable"])  # type: ignore[arg-type]
    assert run.graph.node("double_1").outputs == {"y": 2}


@pytest.mark.parametrize("mark", [ag.effect, ag.pure, ag.effect(name="named")])
@pytest.mark.parametrize("target", [int, len])
def test_effect_and_pure_refuse_what_cannot_carry_their_mark(mark: Any, target: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"@ag\.(effect|pure)") as info:
        mark(target)
    assert "method" in str(info.value)


def test_effect_and_pure_still_mark_methods() -> None:
    class Ledger:
        @ag.effect(name="post_entry")
        def post(self, amount: int) -> int:
            return amount

        @ag.pure
        def total(self) -> int:
            return 0

    assert Ledger().post(3) == 3 and Ledger().total() == 0
