"""A @graphify graph runs the tool each node's call was built with, and refuses two different tools of one name.

Found by a tester: a factory ``make_fetcher(source)`` made ``weather`` and ``news``, both tools named ``fetch``
(the inner function's name). In one @graphify graph the ``weather`` node silently ran ``news``'s code
(``{'w': 'news: oslo', 'n': 'news: oslo'}``): a built graph finds its tools by name and code version, and both had
the same. With two bodies of one name the run said "redefined after graph was built; build the graph again", and
building again did not help. ``run_tools`` refuses such tools ("tool names must be unique"); a @graph_fn runs each.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


def _make_fetcher(source: str, calls: list[str]) -> Any:
    @ag.tool(outputs=["y"])
    def fetch(query: str) -> dict[str, str]:
        calls.append(source)
        return {"y": f"{source}: {query}"}

    return fetch


def test_two_tools_of_one_name_in_a_graph_are_a_build_error_saying_to_rename_one(session: Session) -> None:
    calls: list[str] = []
    weather, news = _make_fetcher("weather", calls), _make_fetcher("news", calls)

    @ag.graphify(name="digest", inputs=["q"], outputs=["w", "n"])
    def digest(q: Any) -> Any:
        w, n = weather(query=q), news(query=q)
        news(query=q, _id="news_again")
        return {"w": w.y, "n": n.y}

    with pytest.raises(ag.UsageError) as info:
        digest.build()
    message = info.value.message
    assert info.value.code == "build_errors"
    assert "two different tools are both named 'fetch'" in message and "_make_fetcher.<locals>.fetch" in message
    assert "@ag.tool(name=...)" in message and "a factory called twice?" in message
    assert message.count("two different tools") == 1  # (news called twice: said once)
    with pytest.raises(ag.UsageError, match="both named 'fetch'"):
        arun(digest(q="oslo"))
    assert calls == []  # refused before anything ran

    @ag.graph_fn(outputs=["w", "n"])
    async def digest_fn(q: str) -> dict[str, Any]:
        return {"w": (await weather(q))["y"], "n": (await news(q))["y"]}

    assert arun(digest_fn(q="oslo")) == {"w": "weather: oslo", "n": "news: oslo"}  # (kept: it runs each)


def test_a_graph_runs_the_tool_it_was_built_with_when_another_of_its_name_and_code_exists(session: Session) -> None:
    calls: list[str] = []
    weather = _make_fetcher("weather", calls)

    @ag.graphify(name="forecast", inputs=["q"], outputs=["w"])
    def forecast(q: Any) -> Any:
        return {"w": weather(query=q).y}

    built = forecast.build()
    _make_fetcher("news", calls)  # defined after: the same name and code, another closure
    assert arun(forecast(q="oslo")) == {"w": "weather: oslo"}
    assert arun(ag.run(built, {"q": "rome"})) == {"w": "weather: rome"}
    assert calls == ["weather", "weather"]


def test_a_body_calling_an_earlier_definition_of_a_reused_name_is_a_build_error(session: Session) -> None:
    namespace: dict[str, Any] = {"ag": ag}
    cell = 'def fetch(x):\n    return {"y": "%s:" + str(x)}\nfetch = ag.tool(outputs=["y"])(fetch)\n'
    exec(cell % "weather", namespace)
    weather = namespace["fetch"]
    exec(cell % "news", namespace)  # the name reused for other code
    news = namespace["fetch"]

    @ag.graphify(name="both", inputs=["x"], outputs=["a", "b"])
    def both(x: Any) -> Any:
        return {"a": weather(x=x).y, "b": news(x=x).y}

    @ag.graphify(name="only_weather", inputs=["x"], outputs=["a"])
    def only_weather(x: Any) -> Any:
        return {"a": weather(x=x).y}

    with pytest.raises(ag.UsageError) as info:
        both.build()
    assert "both named 'fetch'" in info.value.message and "@ag.tool(name=...)" in info.value.message
    with pytest.raises(ag.UsageError) as info:
        only_weather.build()  # (a run said "redefined after the graph was built: build it again", which never helped)
    assert "fetch_1: calls an earlier definition of tool 'fetch'" in info.value.message
    assert "Call the current fetch, or, if both are meant to exist, give each its own name" in info.value.message
