"""Which pages draw a run's widget now: the rule "one live widget per run per page" (README, "In a notebook").

A second cell that shows or awaits a run whose widget is already on the page prints one line pointing to it. That
pointer is only true if a view of the widget is drawn *on the page whose cell is executing*: the kernel counted the
views of every page, and never forgot a view whose page went away without a word, so after a reload (before
JupyterLab autosaved), a closed-and-reopened tab or a second tab on the same kernel, ``%aether resume`` pointed at a
cell that showed nothing, and a waiting run had no control left to answer it.

A *page* is one browser tab's connection to the kernel: every message it sends carries that connection's client
session id (``header.session``), the execute request of a cell and the widget's comm messages alike; a reload, a
reopened tab and a second tab each connect anew, with another id. So a view is counted for its page only.

Each view of the widget (``js/lib/presence.ts``) says ``view`` when it is drawn, again every ``REPORT_S``, and
``unview`` when it goes: removed, dropped by JupyterLab when it draws the output again, or its page unloading. A
view not heard from for ``STALE_S`` (its page frozen or gone without a word) no longer counts: when in doubt the
cell draws the widget itself (a second widget of the run) rather than point at one that may not be there. Two tabs
on one kernel: the tab that shows the widget gets the pointer, the other tab draws its own live widget of the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from IPython import get_ipython

REPORT_S = 30.0
"""How often a drawn view says it is still drawn (``REPORT_MS`` in ``js/lib/presence.ts``)."""

STALE_S = 150.0
"""A view not heard from for this long is not counted: a hidden browser tab runs its timers at most once a
minute, so a view of a page that is merely in the background reports at least twice within it."""


class PageViews:
    """The views of one widget that report being drawn, by page (client session) and view key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}  # (page, view key) -> when it last said it is drawn

    def report(self, page: str, key: str) -> None:
        """A view of ``page`` is drawn (it was drawn just now, or says again that it still is)."""
        self._seen[(page, key)] = self._clock()

    def gone(self, page: str, key: str) -> None:
        """A view of ``page`` is no longer drawn."""
        self._seen.pop((page, key), None)

    def count(self, page: str | None = None) -> int:
        """How many views are drawn now on ``page`` (None: on any page), not counting views gone quiet."""
        now = self._clock()
        for stale in [seen for seen, at in self._seen.items() if now - at > STALE_S]:
            del self._seen[stale]
        return sum(1 for seen_on, _key in self._seen if page is None or seen_on == page)


def page_of(message: Any) -> str | None:
    """The page a kernel message came from: its header's client session id (None when it has none)."""
    header = message.get("header") if isinstance(message, dict) else None
    session = header.get("session") if isinstance(header, dict) else None
    return session if isinstance(session, str) and session else None


def _request() -> Any:
    """The request the kernel serves now, in this context (None outside a kernel)."""
    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    if callable(get_parent):
        try:
            return get_parent()
        except LookupError:  # (no request served yet in this context)
            return None
    return getattr(ip, "parent_header", None)


def current_page() -> str | None:
    """The page of the request the kernel serves now (the executing cell's page, or the page whose comm message is
    being handled); None outside a kernel."""
    return page_of(_request())


def current_cell() -> str | None:
    """The id of the cell whose execution the kernel serves now (JupyterLab and Notebook 7 send it), else None."""
    metadata = _request()
    metadata = metadata.get("metadata") if isinstance(metadata, dict) else None
    cell = metadata.get("cellId") if isinstance(metadata, dict) else None
    return cell if isinstance(cell, str) and cell else None
