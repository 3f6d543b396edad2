"""A state graph's turn run by an agent's body is a step of the agent's run: a resumed agent does not run it again.

Found in the twenty-ninth session: an agent that ran ``await app.ainvoke(...)`` and then asked a person ran the
whole turn again (its tool calls included) when it was answered after a restart; the turn left nothing in the
agent's journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

CHARGES: list[int] = []


@ag.tool(outputs=["n"])
async def turn_charge(x: int) -> dict[str, int]:
    CHARGES.append(x)
    return {"n": x + 1}


class _S(TypedDict):
    x: int


async def _node(state: _S) -> dict[str, int]:
    return {"x": (await turn_charge(state["x"]))["n"]}


_app = StateGraph(_S, name="turn_in_agent").add_node("n", _node).add_edge(START, "n").add_edge("n", END).compile()


@ag.graph_fn(outputs=["y", "status"])
async def agent_with_a_turn(x: int, *, context: Any) -> dict[str, Any]:
    res = await _app.ainvoke({"x": x}, {"configurable": {"thread_id": "turn-in-agent"}})
    await context.channel().ask_approval("go on?")
    return {"y": res["x"], "status": res.status}


def test_a_turn_in_an_agents_body_runs_once_across_a_restart(tmp_path: Path) -> None:
    CHARGES.clear()
    path = str(tmp_path / "nb.aether.duckdb")
    outs = []
    for step in ("start", "answer"):
        store = DuckDBStore(path)
        with default_session(store) as session:

            async def main(step: str = step) -> Any:
                if step == "start":
                    run = agent_with_a_turn.start(x=1, run_id="turn-agent-1")
                    await run.wait_for("waiting", timeout=30)
                    return run.status
                run = ag.get_run("turn-agent-1")
                await run.answer("Approve")
                return await run

            outs.append(arun(main(), timeout=60))
            session.flush()
        store.close()  # the kernel stops
    assert outs == ["waiting", {"y": 2, "status": "completed"}]
    assert CHARGES == [1], "the turn's tool ran again when the agent resumed"
    store = DuckDBStore(path, read_only=True)
    try:
        turns = store.sql("select count(*) from runs where graph = 'turn_in_agent'").rows
        assert turns == [(1,)]
    finally:
        store.close()


def test_a_turn_outside_any_run_is_no_step() -> None:
    CHARGES.clear()
    with default_session():
        res = arun(_app.ainvoke({"x": 5}, {"configurable": {"thread_id": "plain"}}))
    assert res["x"] == 6 and res.status == "completed" and CHARGES == [5]
