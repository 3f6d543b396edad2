"""``channel.progress(...)`` refuses totals and steps a progress bar cannot show (NaN, infinities, negative steps),
where they are given, with a UsageError."""

from __future__ import annotations

import math
from typing import Any

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
