"""Fixtures for the browser tier: one JupyterLab server and one Chromium per session, a fresh page per test."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labdriver import CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer, open_notebook, start_lab
from playwright.sync_api import BrowserContext, sync_playwright

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with start_lab(tmp_path_factory.mktemp("jupyterlab")) as server:
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
def notebook(
    request: pytest.FixtureRequest, lab_server: LabServer, browser_context: BrowserContext
) -> Iterator[Callable[[list[str]], LabPage]]:
    """Open a notebook made of the given code cells; screenshot and close its page at teardown."""
    opened: list[LabPage] = []
    label = re.sub(r"[^\w.-]+", "_", request.node.name)

    def _open(cells: list[str]) -> LabPage:
        lab = open_notebook(lab_server, browser_context, f"{label}_{len(opened)}.ipynb", cells)
        opened.append(lab)
        return lab

    yield _open
    for index, lab in enumerate(opened):
        try:
            lab.screenshot(f"{label}_{index}")
        finally:
            lab.page.close()
