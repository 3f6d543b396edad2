"""A checkpoint's stored form is vouched plain (:class:`PlainJSON`, which the store does not walk again) only when
it is: every field the store would refuse or write differently (NaN, a tuple holding a list, a str subclass, a
non-string key, a bool where an int goes) leaves the plain dict the store checks as before, and both forms store
the same text."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aether_nb.flow.checkpoint import Checkpoint
from aether_nb.store.values import PlainJSON, is_plain, plain_json


class _Str(str):
    pass


class _Color(enum.Enum):
    RED = 1


_ODD = st.one_of(
    st.floats(),  # NaN and infinities among them
    st.builds(_Str, st.text(max_size=3)),
    st.just(_Color.RED),
    st.tuples(st.lists(st.integers(), max_size=2)),
    st.integers(min_value=2**70, max_value=2**70 + 3),
)
_SCALARS = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.none(), st.booleans(), st.floats(allow_nan=False))
_JSONISH = st.recursive(
    st.one_of(_SCALARS, _ODD),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 2)), inner, max_size=3),
    ),
    max_leaves=6,
)
_NAMES = st.one_of(st.text(min_size=1, max_size=4), st.builds(_Str, st.text(min_size=1, max_size=3)))
_TASKS = st.lists(
    st.one_of(
        st.builds(lambda n: {"node": n}, _NAMES),
        st.builds(lambda n, a: {"node": n, "send": a}, _NAMES, _JSONISH),
    ),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(
    values=st.dictionaries(st.text(max_size=4), _JSONISH, max_size=3),
    tasks=_TASKS,
    step=st.one_of(st.integers(-1, 9), st.booleans()),
    created_at=st.one_of(st.floats(), st.integers(0, 9)),
    parent=st.one_of(st.none(), st.integers(1, 9), st.booleans()),
    run_id=st.one_of(st.none(), st.text(max_size=4), st.builds(_Str, st.text(max_size=3))),
    barriers=st.dictionaries(st.text(max_size=3), st.lists(_NAMES, max_size=2), max_size=2),
    writers=st.lists(_NAMES, max_size=2),
    metadata=st.dictionaries(st.text(max_size=3), _JSONISH, max_size=2),
    errors=st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), _ODD), max_size=2),
    turn_start=st.one_of(st.integers(0, 3), st.just(True)),
)
@example(
    values={"x": 1}, tasks=[{"node": "n1"}], step=1, created_at=1.5, parent=1, run_id="r", barriers={},
    writers=["n0"], metadata={}, errors={}, turn_start=0,
)  # fmt: skip
def test_a_checkpoint_is_vouched_plain_only_when_it_is(
    values: dict[str, Any],
    tasks: list[dict[str, Any]],
    step: Any,
    created_at: Any,
    parent: Any,
    run_id: Any,
    barriers: dict[str, list[str]],
    writers: list[str],
    metadata: dict[str, Any],
    errors: dict[str, Any],
    turn_start: Any,
) -> None:
    cp = Checkpoint(
        values=values, tasks=tuple(tasks), step=step, source="loop", run_id=run_id, created_at=created_at,
        parent=parent, barriers=barriers, writers=tuple(writers), metadata=metadata, errors=errors,
        turn_start=turn_start,
    )  # fmt: skip
    cp.id = 3
    try:
        data = cp.to_json()
    except Exception:  # (a value the codec cannot encode: no stored form either way)
        return
    unmarked = dict(data)
    if type(data) is PlainJSON:
        assert is_plain(unmarked), "vouched plain, but the store's own check refuses it"
        for key in ("step", "id"):
            assert type(unmarked[key]) is int
        assert unmarked["parent"] is None or type(unmarked["parent"]) is int
        assert type(unmarked["created_at"]) is int or math.isfinite(unmarked["created_at"])
    # what the store writes of either form is the same text
    mine, plain = plain_json(data), plain_json(unmarked)
    assert mine == plain
    if mine is not None:
        assert json.loads(mine) == json.loads(plain)


def test_a_superstep_checkpoint_is_vouched_plain() -> None:
    cp = Checkpoint(values={"x": 1}, tasks=({"node": "n1"},), step=1, source="loop", run_id="r", created_at=1.5)
    assert type(cp.to_json()) is PlainJSON
    nan = Checkpoint(values={"x": math.nan}, tasks=(), step=1, source="loop", run_id="r", created_at=1.5)
    assert type(nan.to_json()) is PlainJSON  # (a NaN value is encoded as the codec's tag: plain)
    when = Checkpoint(values={}, tasks=(), step=1, source="loop", run_id="r", created_at=math.nan)
    assert type(when.to_json()) is dict  # (a NaN time is not: the store checks it as before)
    meta = Checkpoint(
        values={}, tasks=(), step=1, source="loop", run_id="r", created_at=1.5, metadata={"k": _Color.RED}
    )
    assert type(meta.to_json()) is dict
