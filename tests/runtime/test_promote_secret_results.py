"""An agent that gets its key from ``aether_nb.tools.read_env`` or from a login tool promotes.

A result holding a secret is deliberately never journaled, and promotion refused such a run ("no journaled outputs
(not durable)") without saying what to do. Now the call is a node of the promoted graph that runs again when the
graph runs (``read_env_1 = read_env(name=...)``, ``login_1 = login(...)``), its output feeding references; the key
never lands in the source.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.tools import read_env
from tests.conftest import arun

KEY = "sk-proj-" + "T5zzzzyyyyxxxxwwwwvvvvuuuu2222"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
USED: list[str] = []


@ag.tool(outputs=["forecast"])
def forecast(city: str, api_key: str) -> dict[str, str]:
    USED.append(api_key)
    return {"forecast": f"{city}: 12 C"}


@ag.tool(outputs=["token"])
def login(user: str) -> dict[str, str]:
    return {"token": TOKEN}


@ag.graph_fn(outputs=["f"])
async def via_read_env(city: str) -> dict[str, str]:
    k = await read_env(name="SHOP_API_KEY")
    r = await forecast(city, k["value"])
    return {"f": r["forecast"]}


@ag.graph_fn(outputs=["f"])
async def via_login(city: str, user: str) -> dict[str, str]:
    t = await login(user)
    r = await forecast(city, t["token"])
    return {"f": r["forecast"]}


def promote_and_run(agent: Any, inputs: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], list[str]]:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any], list[str]]:
        run = agent.start(**inputs)
        await run
        source = run.promote(f"{agent.name}_static")
        namespace: dict[str, Any] = {"ag": ag, "forecast": forecast, "login": login, "read_env": read_env}
        exec(source, namespace)  # as a notebook cell runs it
        USED.clear()
        other = {**inputs, "city": "Bergen"}
        got = await namespace[f"{agent.name}_static"](**other)
        return source, got, await agent(**other), list(USED)

    return arun(main())


def test_a_key_read_with_read_env_is_read_again_by_the_promoted_graph(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_API_KEY", KEY)
    source, got, agent_got, used = promote_and_run(via_read_env, {"city": "Oslo"})
    assert KEY not in source, source
    assert "read_env_1 = _ag_read_env(name='SHOP_API_KEY')" in source, source
    assert "forecast_1 = forecast(city=city, api_key=read_env_1.value)" in source, source
    assert got == agent_got == {"f": "Bergen: 12 C"}
    assert used == [KEY, KEY]  # the promoted graph and the agent passed the key they read


def test_a_token_a_tool_returned_comes_from_that_tool_again(session: Session) -> None:
    source, got, agent_got, used = promote_and_run(via_login, {"city": "Oslo", "user": "ada"})
    assert TOKEN not in source, source
    assert "login_1 = login(user=user)" in source, source
    assert "forecast_1 = forecast(city=city, api_key=login_1.token)" in source, source
    assert got == agent_got == {"f": "Bergen: 12 C"}
    assert used == [TOKEN, TOKEN]
