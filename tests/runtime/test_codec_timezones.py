"""Dates keep their time zone through the store (README: "dates are tagged and restored exactly"): a fixed offset
with a name of its own came back named ``UTC+01:00``, and an offset finer than a minute came back as UTC (another
instant), because only ``isoformat()`` was stored."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aether_nb.runtime.codec import decode, encode


def _stored(value: dt.datetime) -> dt.datetime:
    """``value`` as it reads back from the store's JSON text (a new process decodes exactly this)."""
    back: dt.datetime = decode(json.loads(json.dumps(encode(value))))
    return back


def _same_zone(a: dt.datetime, b: dt.datetime) -> bool:
    return a == b and a.utcoffset() == b.utcoffset() and a.tzname() == b.tzname() and a.isoformat() == b.isoformat()


@pytest.mark.parametrize(
    "tz",
    [
        dt.timezone(dt.timedelta(hours=1), "CET"),
        dt.timezone(dt.timedelta(microseconds=5)),
        dt.timezone(dt.timedelta(hours=-3, seconds=-7), "odd"),
        dt.timezone(dt.timedelta(0), "GMT"),
        dt.timezone(dt.timedelta(hours=5, minutes=30)),
        dt.UTC,
    ],
    ids=["named", "microseconds", "negative-seconds-named", "zero-named", "plain", "utc"],
)
def test_a_fixed_offset_keeps_its_name_and_its_exact_offset(tz: dt.timezone) -> None:
    when = dt.datetime(2024, 1, 1, 9, 30, 15, 250, tzinfo=tz)
    back = _stored(when)
    assert _same_zone(back, when), (back.isoformat(), back.tzname(), when.isoformat(), when.tzname())


def test_a_plain_offset_is_stored_as_before() -> None:
    when = dt.datetime(2024, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert encode(when) == {"__aether__": "datetime", "v": "2024-01-01T09:00:00+02:00"}


@given(
    st.datetimes(),
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)),
    st.one_of(st.none(), st.text(min_size=1, max_size=8)),
)
def test_any_fixed_offset_round_trips(naive: dt.datetime, offset: dt.timedelta, name: str | None) -> None:
    tz = dt.timezone(offset) if name is None else dt.timezone(offset, name)
    when = naive.replace(tzinfo=tz)
    assert _same_zone(_stored(when), when)
