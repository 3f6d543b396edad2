"""LLM settings are checked where they are given (a profile, ``ag.configure(llm=...)``, a call's arguments), never
found wrong by a run later."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import LLMProfile, configure_llm
from aether_nb.services.llm_config import profile_from_env
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun

BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"base_url": 5}, "base_url"),
    ({"base_url": "localhost:8000/v1"}, "base_url"),
    ({"timeout_s": float("nan")}, "timeout_s"),
    ({"timeout_s": float("inf")}, "timeout_s"),
    ({"timeout_s": True}, "timeout_s"),
    ({"max_retries": True}, "max_retries"),
    ({"prices": {"m": {"input": "1.0", "output": 2.0}}}, "prices['m']['input']"),
    ({"prices": {"m": {"input": -5.0}}}, "prices['m']['input']"),
    ({"prices": {"m": {"output": float("nan")}}}, "prices['m']['output']"),
    ({"prices": {"m": {"inptu": 1.0}}}, "prices['m'] has unknown key(s) ['inptu']"),
    ({"prices": {"m": 1.0}}, "prices['m']"),
    ({"prices": [1]}, "prices"),
    ({"cache": "no"}, "cache"),
    ({"embed_memory": 1}, "embed_memory"),
    ({"api_key": 5}, "api_key"),
    ({"embed_model": ""}, "embed_model"),
    ({"name": "a\x00b"}, "name"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_SETTINGS)
def test_configure_refuses_a_bad_setting_naming_it(session: Session, bad: dict[str, Any], field: str) -> None:
    with pytest.raises(ag.UsageError, match=re.escape(f"LLMProfile.{field}")):
        ag.configure(llm={"model": "m", **bad})
    assert "llm_profiles" not in session.config or "default" not in session.config["llm_profiles"]


@given(
    usd=st.one_of(
        st.floats(max_value=-1e-9) | st.just(math.nan) | st.just(math.inf),
        st.text(max_size=3),
        st.booleans(),
        st.none(),
    )
)
def test_a_price_that_is_not_a_finite_non_negative_number_is_refused(usd: Any) -> None:
    with pytest.raises(ag.UsageError, match="USD per 1M tokens"):
        LLMProfile(prices={"m": {"input": usd}})


@given(usd=st.floats(min_value=0, max_value=1e6) | st.integers(min_value=0, max_value=10**6))
def test_valid_prices_are_kept_as_floats_and_priced(usd: float) -> None:
    profile = LLMProfile(prices={"m": {"input": usd, "output": usd}})
    cost = profile.cost("m", 1_000_000, 0)
    assert cost == pytest.approx(float(usd)) and isinstance(profile.prices["m"]["input"], float)


def test_a_later_change_to_the_prices_dict_does_not_reach_the_profile() -> None:
    prices = {"m": {"input": 1.0, "output": 2.0}}
    profile = LLMProfile(prices=prices)
    prices["m"]["input"] = "oops"  # type: ignore[assignment]
    assert profile.cost("m", 1_000_000, 0) == pytest.approx(1.0)


def test_a_bad_openai_base_url_in_the_environment_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000")
    with pytest.raises(ag.UsageError, match="environment's OPENAI_"):
        profile_from_env()


@ag.graph_fn
async def bad_calls(*, context: ag.NodeContext) -> dict[str, list[str]]:
    llm = context.llm()
    said = []
    for call in (
        lambda: llm.chat("hi", model=5),
        lambda: llm.chat("hi", model=""),
        lambda: llm.chat("hi", stream_to=5),
        lambda: llm.chat("hi", cache="no"),
        lambda: llm.run_tools("hi", tools=None),
        lambda: llm.run_tools("hi", tools="double"),
        lambda: llm.run_tools("hi", [], model=5),
    ):
        try:
            await call()
        except ag.UsageError as exc:
            said.append(str(exc))
    return {"result": said}


def test_bad_call_arguments_are_usage_errors_before_the_model_is_called(session: Session) -> None:
    with FakeOpenAI(rules=lambda body: "reply") as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "fake"})
        said = arun(bad_calls())["result"]
        assert len(said) == 7
        assert "model=" in said[0] and "stream_to=context.channel()" in said[2] and "cache=" in said[3]
        assert all("tools=" in s for s in said[4:6])
        assert fake.chat_requests == []
