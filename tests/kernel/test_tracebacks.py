"""What a cell shows when aether_nb itself says no: the verdict, not the runtime's frames."""

from __future__ import annotations

import re

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_verdict_on_the_agents_return_value_shows_without_the_runtimes_frames(kernel: Kernel) -> None:
    """The run failed because the agent returned an output it did not declare: the cell showed the frames of
    run.py, graph_fn.py and tools.py above the message, none of them the person's."""
    kernel.ok("%load_ext aether_nb\nimport aether_nb as ag")
    res = kernel.run(
        "@ag.graph_fn(name='keeper', outputs=['uri'])\n"
        "async def keeper(*, context):\n"
        "    return {'uri': 'x', 'listed': []}\n"
        "await keeper()\n"
    )
    assert res.error is not None
    shown = ANSI.sub("", "\n".join(res.error["traceback"]))
    assert "returned undeclared output(s) ['listed']" in shown
    assert "aether_nb/runtime" not in shown and "aether_nb/notebook" not in shown, shown
    assert "await keeper()" in shown, "the cell's own line stays"
