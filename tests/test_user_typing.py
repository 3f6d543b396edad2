"""What a user's ``mypy --strict`` sees of decorated tools, agents and graphs (API.md-style code).

Correct code must type-check cleanly (no ``untyped-decorator``, no false alarm on an injected context), and a tool's
or an agent's wrong inputs must be reported at the call, not hidden behind ``Any``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """
import asyncio
from typing import Any

import aether_nb as ag


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.tool
async def shout(text: str, times: int = 1) -> str:
    return text.upper() * times


@ag.tool
def log_step(context: ag.NodeContext, note: str) -> None:  # a context written first is not an input
    context.logger().info(note)


@ag.graph_fn(name="demo", outputs=["answer"])
async def demo(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    d = await double(x)
    await shout("hi")
    await log_step("doubled")
    await context.channel().send_text(f"Answer: {d['y']}")
    return {"answer": d["y"]}


@ag.graph_fn
async def add(context: ag.NodeContext, a: int, b: int = 1) -> dict[str, int]:
    return {"sum": a + b}


@ag.graphify(name="pipeline", inputs=["x"], outputs=["answer"])
def pipeline(x: int) -> dict[str, object]:
    d1 = double(x=x)
    d2 = double(x=d1.y, _id="second", _after=[d1])
    return {"answer": d2.y}


class Approve(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
        return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?")

    async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"decision": payload["choice"]}


Renamed = ag.tool(name="approve2")(Approve)


def annotate(t: ag.Tool, g: ag.GraphFn, p: ag.GraphifyFn) -> str:
    return t.name + g.name + p.name


async def main() -> None:
    out: dict[str, Any] = await demo(x=21)
    run: ag.Run = demo.start(x=21, run_id="ada")
    await run
    total: dict[str, Any] = await add(a=1) | await add(2, b=3)
    task = asyncio.create_task(add(a=4))
    await task
    again = add.start(a=5)
    both = add.start(a=5, run_id="r1", resume_mode="failed_nodes")
    print(out, total, again, both, Renamed, await pipeline(x=5), pipeline.build())


def script() -> dict[str, Any]:
    return add.sync(a=1)
"""

# Each wrong line ends with the error code mypy must report on it.
BAD = """
from typing import Any

import aether_nb as ag


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.graph_fn
async def add(context: ag.NodeContext, a: int, b: int = 1) -> dict[str, int]:
    return {"sum": a + b}


async def main() -> None:
    double("not an int")  # E: call-overload
    double(x=1, y=2)  # E: call-overload
    add.start(a="not an int")  # E: call-overload
    add.start(a=1, run_id=5)  # E: call-overload
    add.sync(a=1, c=2)  # E: call-arg
    await add(b=2)  # E: call-arg
    n: int = await add(a=1)  # E: assignment
    print(n)
"""


@pytest.mark.timeout(900)
def test_decorated_functions_are_typed_for_a_users_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    mypy = Path(sys.executable).with_name("mypy")
    done = subprocess.run(
        [str(mypy), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "good.py", "bad.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=840,
    )
    errors = [line for line in done.stdout.splitlines() if ": error: " in line]
    good = [e for e in errors if e.startswith("good.py")]
    assert good == [], "correct API.md-style code is refused:\n" + done.stdout + done.stderr
    found = {(int(m[1]), m[2]) for e in errors if (m := re.match(r"bad\.py:(\d+): error: .*\[([\w-]+)\]$", e))}
    expected = {(n, m[1]) for n, line in enumerate(BAD.splitlines(), 1) if (m := re.search(r"# E: ([\w-]+)$", line))}
    assert expected <= found, f"wrong calls not reported: {sorted(expected - found)}\n{done.stdout}{done.stderr}"
    assert found <= expected, f"unexpected errors: {sorted(found - expected)}\n{done.stdout}"
