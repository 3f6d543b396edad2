"""Fixtures for the browser tier: one JupyterLab server and one Chromium per session, a fresh page per test."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labdriver import CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer, OpenNotebook, open_notebook, start_lab, trace
from playwright.sync_api import BrowserContext, sync_playwright

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


SCRIPTED = "AETHER_NB_SCRIPTED"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A server whose notebooks wait for a person: questions must be answered in the widget."""
    with start_lab(tmp_path_factory.mktemp("jupyterlab"), env={SCRIPTED: None}) as server:
        yield server


@pytest.fixture(scope="session")
def scripted_lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A server with ``AETHER_NB_SCRIPTED=1``: ``answer_or_wait`` in its notebooks answers from the script."""
    with start_lab(tmp_path_factory.mktemp("jupyterlab-scripted"), env={SCRIPTED: "1"}) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def open_page(request: pytest.FixtureRequest, browser_context: BrowserContext) -> Iterator[OpenNotebook]:
    """``open_page(server, name, cells=None, ui="lab")``: open a notebook (written from ``cells``, or already in the
    server root) in a new page. At teardown: a screenshot per page, the page closed, its kernel shut down."""
    opened: list[LabPage] = []
    label = re.sub(r"[^\w.-]+", "_", request.node.name)

    def _open(server: LabServer, name: str, cells: list[str] | None = None, *, ui: str = "lab") -> LabPage:
        lab = open_notebook(server, browser_context, name, cells, ui=ui)
        opened.append(lab)
        return lab

    yield _open
    for index, lab in enumerate(opened):
        try:
            trace(f"teardown: screenshot of {lab.name}")
            lab.screenshot(f"{label}_{index}")
        finally:
            trace("teardown: page closed, kernel shut down")
            lab.page.close()
            lab.server.shutdown_kernel(lab.name)
            trace("teardown: done")


@pytest.fixture
def notebook(
    request: pytest.FixtureRequest, lab_server: LabServer, open_page: OpenNotebook
) -> Callable[[list[str]], LabPage]:
    """Open a notebook made of the given code cells on ``lab_server``; screenshot and close its page at teardown."""
    label = re.sub(r"[^\w.-]+", "_", request.node.name)
    count = 0

    def _open(cells: list[str]) -> LabPage:
        nonlocal count
        count += 1
        return open_page(lab_server, f"{label}_{count - 1}.ipynb", cells)

    return _open
