"""Which pages draw a run's widget: views are counted per page, and a view gone quiet stops counting."""

from __future__ import annotations

from aether_nb.notebook.page_views import STALE_S, PageViews, page_of


def test_views_are_counted_by_page_and_forgotten_once_they_go() -> None:
    views = PageViews(clock=lambda: 0.0)
    views.report("tab-1", "a")
    views.report("tab-1", "a")  # (said again: still one view)
    views.report("tab-2", "b")
    assert (views.count("tab-1"), views.count("tab-2"), views.count("tab-3"), views.count()) == (1, 1, 0, 2)
    views.gone("tab-1", "a")
    views.gone("tab-1", "never-drawn")
    assert (views.count("tab-1"), views.count()) == (0, 1)


def test_a_view_that_stops_reporting_is_not_counted() -> None:
    """Its page was closed, reloaded or frozen without a word: when in doubt the cell draws the widget itself."""
    now = [0.0]
    views = PageViews(clock=lambda: now[0])
    views.report("tab-1", "quiet")
    views.report("tab-1", "reporting")
    now[0] = STALE_S * 0.8
    views.report("tab-1", "reporting")
    now[0] = STALE_S * 1.2
    assert views.count("tab-1") == 1


def test_the_page_of_a_message_is_its_client_session() -> None:
    assert page_of({"header": {"session": "s-1", "msg_id": "m"}}) == "s-1"
    assert page_of({"header": {}}) is None
    assert page_of(None) is None
