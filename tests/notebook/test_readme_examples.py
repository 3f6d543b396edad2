"""The README's runnable examples, in a real kernel, each run twice in a row (a newcomer re-runs cells)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel
README = Path(__file__).resolve().parents[2] / "README.md"


def _block(section: str) -> str:
    text = README.read_text()
    start = text.index(f"## {section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block in README section {section!r}"
    return match.group(1)


def test_the_quick_example_and_the_static_graph_run_twice(kernel: Kernel) -> None:
    kernel.ok("%load_ext aether_nb")
    quick = _block("Quick example")
    static = _block("Static graphs and promotion")
    for attempt in range(2):
        res = kernel.ok(quick + "\nprint('OUT', await run, run.graph.edges)", timeout=90)
        assert "OUT {'answer': 42} [('double_1', 'ask_text_1')]" in res.stdout, (attempt, res.stdout)
        res = kernel.ok(static + "\nprint('CODE', 'def demo_static' in code)", timeout=90)
        assert "CODE True" in res.stdout, (attempt, res.stdout)
