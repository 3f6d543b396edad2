"""The depth check finds values that contain themselves (a scratch tester's finding, helper D of the
twenty-seventh session): it skipped a container it had seen ("the encoder reports it"), but the store's encoder
reports a cycle only when a history batch is written, where it dropped the record. Every caller of the check
(a wait's spec, a run's inputs, KV, memory, artifacts' JSON) refused nothing and lost the value later. It also
skipped a value met a second time *deeper* than the first, so a shared value hid its depth."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.checks import MAX_DEPTH, check_depth
from aether_nb.runtime.session import Session
from tests.conftest import arun


def _self_list() -> list[Any]:
    v: list[Any] = [1]
    v.append(v)
    return v


def _self_dict() -> dict[str, Any]:
    v: dict[str, Any] = {"a": 1}
    v["inner"] = {"list": [v]}
    return v


def _through_a_tuple() -> tuple[Any, ...]:
    t: tuple[Any, ...] = ([],)
    t[0].append(t)
    return t


@pytest.mark.parametrize(
    ("make", "where"),
    [(_self_list, "[1]"), (_self_dict, "['inner']['list'][0]"), (_through_a_tuple, "[0][0]")],
    ids=["list", "dict", "tuple"],
)
def test_a_value_that_contains_itself_is_refused_saying_where(make: Any, where: str) -> None:
    with pytest.raises(ag.UsageError, match="contains itself") as err:
        check_depth(make(), "v")
    assert err.value.code == "self_reference"
    from aether_nb.runtime.checks import nesting_problem

    problem = nesting_problem(make())
    assert problem is not None and problem.cycle and problem.where == where


def test_a_value_shared_by_two_keys_is_not_a_cycle() -> None:
    shared = {"x": [1, 2]}
    check_depth({"a": shared, "b": [shared, shared]}, "v")


def test_a_shared_value_cannot_hide_its_depth_behind_its_first_shallower_place() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 10):
        deep = [deep]
    # (12 levels more under "deeper"; the walk meets it under "shallow" first)
    value = {"deeper": [[[[[[[[[[[[deep]]]]]]]]]]]], "shallow": deep}
    with pytest.raises(ag.UsageError, match=r"nests too deep at \['deeper'\]") as err:
        check_depth(value, "v")
    assert err.value.code == "too_deep"


def test_a_shared_value_is_walked_again_only_when_met_deeper() -> None:
    """2**40 paths through one value each: the check still ends at once (each container walked per depth)."""
    value: Any = [0]
    for _ in range(40):
        value = [value, value]
    assert check_depth(value, "v") is value


@pytest.mark.parametrize("where", ["kv", "inputs", "memory", "save_json"])
def test_every_caller_refuses_a_value_that_contains_itself_at_the_call(session: Session, where: str) -> None:
    loop = _self_dict()

    @ag.graph_fn(outputs=["code"], name=f"stores_{where}")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        try:
            if where == "kv":
                await context.kv().set("k", loop)
            elif where == "memory":
                await context.memory().record("note", loop)
            else:
                await context.artifacts().save_json(loop, name="loop.json")
        except ag.UsageError as exc:
            return {"code": exc.code}
        return {"code": None}

    @ag.graph_fn(outputs=["x"], name="takes_x")
    async def takes(x: Any) -> dict[str, Any]:
        return {"x": 1}

    if where == "inputs":

        async def start() -> None:
            takes.start(x=loop)

        with pytest.raises(ag.UsageError, match="the inputs of takes_x contains itself") as err:
            arun(start())
        assert err.value.code == "self_reference"
        return
    assert arun(agent()) == {"code": "self_reference"}
    session.store.flush_history()  # (nothing was dropped)
