"""ToolNode refuses two tools with one name (LangGraph's silently keeps the last: every call reached one of them)."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import UsageError
from aether_nb.flow import ToolNode


def _make_fetcher(source: str) -> Any:
    """A factory making tools: each tool is named after the inner function, ``fetch``."""

    @ag.tool(outputs=["y"])
    def fetch(query: str) -> dict[str, str]:
        """Fetch from a source."""
        return {"y": f"{source}: {query}"}

    return fetch


def test_two_tools_with_one_name_are_refused_with_the_fix() -> None:
    weather, news = _make_fetcher("weather"), _make_fetcher("news")
    with pytest.raises(UsageError) as info:
        ToolNode([weather, news])
    text = str(info.value)
    assert "'fetch'" in text and "name=" in text


def test_plain_functions_with_one_name_are_refused() -> None:
    def make(n: int) -> Any:
        def lookup(q: str) -> str:
            return f"{n}{q}"

        return lookup

    with pytest.raises(UsageError, match="two tools are named 'lookup'"):
        ToolNode([make(1), make(2)])


def test_distinct_names_and_a_tool_listed_twice_are_accepted() -> None:
    weather = _make_fetcher("weather")
    news = ag.tool(outputs=["y"], name="fetch_news")(lambda query: {"y": query})
    node = ToolNode([weather, news, weather])
    assert sorted(node.tools) == ["fetch", "fetch_news"]
