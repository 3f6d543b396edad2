"""A failed run's traceback starts at the user's code (aether_nb.runtime.tracebacks)."""

from __future__ import annotations

import traceback

import pytest

import aether_nb as ag
from aether_nb.errors import RunFailed
from aether_nb.runtime.session import Session
from tests.conftest import arun

RUNTIME_PARTS = ("aether_nb/", "asyncio/", "concurrent/futures/", "threading.py")


@ag.tool(outputs=["y"])
def sync_boom(x: int) -> dict[str, int]:
    raise ValueError(f"bad {x}")


@ag.tool(outputs=["y"])
async def async_boom(x: int) -> dict[str, int]:
    raise ValueError(f"bad {x}")


@pytest.mark.parametrize("tool", [sync_boom, async_boom], ids=["sync", "async"])
def test_the_node_and_the_run_keep_only_the_users_frames(session: Session, tool: ag.Tool) -> None:
    @ag.graph_fn(outputs=["y"])
    async def agent() -> dict[str, int]:
        return await tool(1)

    with pytest.raises(RunFailed) as info:
        arun(agent())
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)
    files = [frame.filename for frame in traceback.extract_tb(cause.__traceback__)]
    assert files and all(__file__ == f for f in files), files
    node_tb = ag.runs()[0].graph.node(f"{tool.name}_1").error["traceback"]
    assert "ValueError: bad 1" in node_tb
    assert not any(part in node_tb for part in RUNTIME_PARTS), node_tb
