"""``channel.progress(...)`` refuses totals and steps a progress bar cannot show (NaN, infinities, negative steps),
where they are given, with a UsageError."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun, default_session

NOT_A_COUNT = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, "3", None]),
    st.floats(max_value=-1e-9, allow_nan=False),
    st.integers(max_value=-1),
)


@ag.graph_fn(outputs=["said"])
async def bar(total: Any, current: Any, inc: Any, *, context: ag.NodeContext) -> dict[str, Any]:
    try:
        async with context.channel().progress("Indexing", total=total) as p:
            await p.update(current=current, inc=inc)
    except ag.UsageError as exc:
        return {"said": str(exc)}
    return {"said": None}


@settings(max_examples=30, deadline=None)
@given(total=NOT_A_COUNT.filter(lambda v: v is not None) | st.just(0))
def test_a_total_that_is_no_positive_finite_number_is_refused(total: Any) -> None:
    with default_session():
        said = arun(bar(total=total, current=None, inc=1))["said"]
    assert said is not None and "total must be a positive, finite number" in said


@settings(max_examples=30, deadline=None)
@given(step=NOT_A_COUNT.filter(lambda v: v is not None), which=st.sampled_from(["current", "inc"]))
def test_a_step_that_is_no_finite_count_is_refused(step: Any, which: str) -> None:
    args = {"current": None, "inc": None, which: step}
    with default_session():
        said = arun(bar(total=10, **args))["said"]
    assert said is not None and f"update({which}=...)" in said


def test_valid_progress_still_works(session: Session) -> None:
    assert arun(bar(total=10, current=2, inc=0.5))["said"] is None
    assert arun(bar(total=None, current=None, inc=3))["said"] is None


@ag.graph_fn(outputs=["ok"])
async def ended(success: bool, *, context: ag.NodeContext) -> dict[str, Any]:
    async with context.channel().progress("Indexing", total=2) as p:
        await p.update(inc=1)
        await p.end(subtitle="Stopped early." if not success else "All done.", success=success)
    return {"ok": True}


@pytest.mark.parametrize("success", [True, False])
def test_end_says_done_or_stopped_once_with_its_subtitle(session: Session, success: bool) -> None:
    """AetherGraph's ``p.end(subtitle=..., success=...)``: it raised AttributeError."""

    async def main() -> list[Any]:
        run = ended.start(success=success)
        await run
        return [e for e in run.history if e.kind == "channel_message" and e.message_type == "progress"]

    bars = arun(main())
    finals = [e.content for e in bars if e.final]
    assert len(finals) == 1  # (leaving the block does not say it again)
    (final,) = finals
    assert final["subtitle"] == ("All done." if success else "Stopped early.")
    assert final["done"] is success and final.get("stopped", False) is (not success)
    assert final["current"] == 1


def test_end_refuses_odd_values(session: Session) -> None:
    @ag.graph_fn(outputs=["said"])
    async def odd(*, context: ag.NodeContext) -> dict[str, Any]:
        async with context.channel().progress("x") as p:
            try:
                await p.end(success="no")  # type: ignore[arg-type]
            except ag.UsageError as exc:
                return {"said": str(exc)}
        return {"said": None}

    assert "progress.end(success=...) takes True or False" in arun(odd())["said"]
