"""``agent.sync()`` inside a running loop: refused by default, allowed by the nested_sync opt-in (nest-asyncio2),
and refused in a Jupyter kernel even with it (tests/notebook covers that case in a real kernel)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session


@ag.tool(outputs=["y"])
async def double(x: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"y": x * 2}


@ag.graph_fn(outputs=["y"])
async def agent(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    return await double(x)


def sync_callback() -> dict[str, Any]:
    """A synchronous function some library calls from inside async code (a GUI or web callback)."""
    return agent.sync(x=21)


def test_sync_in_a_running_loop_is_refused_and_names_the_opt_in(session: Session) -> None:
    async def main() -> None:
        with pytest.raises(ag.UsageError, match="nested_sync=True") as info:
            sync_callback()
        assert info.value.code == "use_await"

    asyncio.run(main())


NESTED = """
import asyncio
import aether_nb as ag

@ag.tool(outputs=["y"])
async def double(x: int) -> dict:
    await asyncio.sleep(0)
    return {"y": x * 2}

@ag.graph_fn(outputs=["y"])
async def agent(x: int, *, context):
    return await double(x)

def sync_callback():
    return agent.sync(x=21)

async def main():
    other = asyncio.create_task(asyncio.sleep(0, result="other task"))
    out = sync_callback()  # blocks this coroutine, not the loop's other tasks
    print(out, await other)

ag.configure(nested_sync=True)
asyncio.run(main())
"""


def test_nested_sync_runs_the_agent_inside_the_running_loop(tmp_path: Path) -> None:
    """In a fresh interpreter: nest-asyncio2 patches asyncio for the whole process, which no other test should see."""
    script = tmp_path / "nested.py"
    script.write_text(NESTED)
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "{'y': 42} other task" in res.stdout


def test_nested_sync_takes_a_bool_and_configure_returns_nothing(session: Session) -> None:
    with pytest.raises(ag.UsageError, match="True or False"):
        ag.configure(nested_sync="yes")  # type: ignore[arg-type]
    assert ag.configure(max_concurrency=3) is None
