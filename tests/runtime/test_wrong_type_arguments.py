"""``@graph_fn(tags=...)`` and ``context.sleep(...)`` given a value of the wrong type raise a ``UsageError`` saying
what to pass (they raised ``'int' object is not iterable`` and ``int too large to convert to float``)."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@pytest.mark.parametrize("tags", [1, "demo", b"demo", [1], object()])
def test_graph_fn_tags_of_a_wrong_type_is_a_usage_error(tags: Any) -> None:
    with pytest.raises(ag.UsageError, match="tags= takes a list of strings"):

        @ag.graph_fn(tags=tags)
        async def agent() -> dict[str, Any]:
            return {}


def test_graph_fn_tags_from_any_iterable_of_strings_are_kept() -> None:
    @ag.graph_fn(tags=(t for t in ["a", "b"]))  # a generator: it was used up by the check, no tags kept
    async def agent() -> dict[str, Any]:
        return {}

    assert agent.tags == ["a", "b"]


@pytest.mark.parametrize("seconds", [10**400, -(10**400), float("nan"), float("inf"), 0, "5", True])
def test_context_sleep_of_a_number_out_of_range_or_not_a_number_is_a_usage_error(
    session: Session, seconds: Any
) -> None:
    @ag.graph_fn(name="sleeps")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        with pytest.raises(ag.UsageError, match="takes a positive number of seconds"):
            await context.sleep(seconds)
        return {"ok": True}

    assert arun(agent()) == {"ok": True}


@pytest.mark.parametrize("timeout", [10**400, -(10**400), float("nan"), 0, True, "5"])
def test_a_wait_timeout_that_is_no_positive_number_of_seconds_is_a_usage_error(timeout: object) -> None:
    """An int past a float's range (``10**400``) was a bare OverflowError."""
    from aether_nb.errors import UsageError
    from aether_nb.runtime.waits import WaitSpec

    with pytest.raises(UsageError, match="timeout_s must be a positive number of seconds"):
        WaitSpec(kind="text", prompt="name?", timeout_s=timeout)  # type: ignore[arg-type]
