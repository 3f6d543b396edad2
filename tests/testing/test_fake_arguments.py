"""The fakes of ``aether_nb.testing`` refuse garbage when they are made, not later inside the code under test."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import aether_nb as ag
from aether_nb.testing import FakeOpenAI, ManualClock, ScriptedChannel
from tests.conftest import arun


@pytest.mark.parametrize("start", ["now", None, math.nan, math.inf, True, np.array([1.0, 2.0])])
def test_manual_clock_takes_a_finite_time(start: Any) -> None:
    with pytest.raises(ag.UsageError, match="finite number"):
        ManualClock(start)


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, "5", None])
def test_manual_clock_advances_by_a_finite_amount_of_zero_or_more(seconds: Any) -> None:
    clock = ManualClock(100)
    with pytest.raises(ag.UsageError, match="advance"):
        clock.advance(seconds)
    assert clock.now() == 100


def test_manual_clock_refuses_to_sleep_until_nan() -> None:
    with pytest.raises(ag.UsageError, match="sleep_until"):
        arun(ManualClock().sleep_until(math.nan), timeout=5)  # (on the old code: never woken)


def test_manual_clock_still_takes_numpy_numbers() -> None:
    clock = ManualClock(np.float64(10))
    clock.advance(np.int64(5))
    assert clock.now() == 15


@pytest.mark.parametrize(
    "kwargs",
    [
        {"embed_dim": -5},
        {"embed_dim": 0},
        {"embed_dim": 2.5},
        {"embed_dim": "64"},
        {"embed_dim": True},
        {"chunk_delay_s": -1},
        {"chunk_delay_s": math.nan},
        {"model": ""},
        {"model": 5},
        {"rules": 5},
        {"script": "Hello!"},
    ],
)
def test_fake_openai_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ag.UsageError, match=next(iter(kwargs))):
        FakeOpenAI(**kwargs)


def test_fake_openai_takes_numpy_ints_and_checks_fail_next() -> None:
    fake = FakeOpenAI(embed_dim=np.int64(8))
    assert fake.embed_dim == 8
    with pytest.raises(ag.UsageError, match="400-599"):
        fake.fail_next(1, 600)
    with pytest.raises(ag.UsageError, match="fail_next"):
        fake.fail_next(-1)


@pytest.mark.parametrize("answers", [5, "abc", {"choice": "a"}, None])
def test_scripted_channel_takes_a_list_of_answers(answers: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"ScriptedChannel\(answers\) takes a list"):
        ScriptedChannel(answers)
    assert ScriptedChannel(a for a in ["x", "y"]).unanswered == []
