"""RunWidget renders its graph in a real JupyterLab."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from labdriver import LabPage

pytestmark = pytest.mark.browser

GRAPH = {
    "run_id": "run-1",
    "name": "double_then_fail",
    "status": "FAILED",
    "nodes": [
        {
            "id": "double_1",
            "name": "double",
            "kind": "tool",
            "status": "DONE",
            "parent": None,
            "started_at": 100.0,
            "ended_at": 100.25,
        },
        {
            "id": "explode_2",
            "name": "explode",
            "kind": "tool",
            "status": "FAILED",
            "parent": None,
            "started_at": 100.25,
            "ended_at": None,
        },
    ],
    "edges": [["double_1", "explode_2"]],
}


def test_run_widget_renders_nodes_and_status(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook([f"from aether_nb.notebook.widget import RunWidget\nRunWidget(graph={GRAPH!r})"])
    lab.run_all()
    page = lab.page

    done = page.locator('.aether-run [data-node-id="double_1"][data-status="DONE"]')
    done.wait_for(timeout=30_000)
    assert page.locator('.aether-run [data-node-id="explode_2"]').get_attribute("data-status") == "FAILED"
    header = page.locator(".aether-run [data-run-status]")
    assert header.get_attribute("data-run-status") == "FAILED"
    assert header.inner_text() == "double_then_fail · FAILED"
    assert "250 ms" in done.inner_text()
