"""What a text-only front end (a terminal, ``make demo``) reads of a run: what it did, as the widget's header says
it (it said ``0/0 nodes done`` for an agent that only used KV)."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.notebook.widget import RunView
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(name="counter", outputs=["visits"])
async def counter(*, context: ag.NodeContext) -> dict[str, Any]:
    kv = context.kv()
    visits = await kv.get("visits", default=0) + 1
    await kv.set("visits", visits)
    return {"visits": visits}


@ag.graph_fn(name="mixed", outputs=["y"])
async def mixed(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    await context.kv().set("x", x)
    return {"y": (await double(x))["y"]}


def _summary(agent: Any, **inputs: Any) -> str:
    async def main() -> str:
        run = agent.start(**inputs)
        view = RunView(run)
        await run
        view.flush()
        text = view.widget.text_summary()
        view.close()
        return str(text)

    return arun(main())


def test_a_service_only_run_says_its_calls_not_zero_nodes(session: Session) -> None:
    first = _summary(counter).splitlines()[0]
    assert first.startswith("run counter (") and first.endswith("): done, 2 service calls"), first


def test_a_run_with_steps_and_calls_says_both(session: Session) -> None:
    first = _summary(mixed, x=2).splitlines()[0]
    assert first.endswith("): done, 1/1 nodes done, 1 service call"), first
