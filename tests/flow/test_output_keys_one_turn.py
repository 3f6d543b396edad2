"""``ainvoke(..., output_keys=...)`` stays one ``ainvoke`` turn, whose result picks the keys from every key of the
state (outside the output schema too, as LangGraph's).

Found in the thirty-second session: reading the call's result from the turn's stream made an agent's call a
``flow.<graph>.astream`` step, so an agent paused after such a call (its journal written as ``.ainvoke`` by the
version before) ran the whole turn again when resumed, its tools charged twice; the agent's step journaled every
chunk of the turn (megabytes for a long chain); and a node's nested ``inner.ainvoke(x, output_keys=[...])``
returned None when the node ran again after ``Command(resume=...)``.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import aether_nb as ag
from aether_nb.flow import END, START, Command, StateGraph, interrupt
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

CHARGES: list[str] = []
ASK_FOR_KEYS = {"on": False}


@ag.tool(outputs=["ok"])
async def okeys_charge(name: str) -> dict[str, bool]:
    CHARGES.append(name)
    return {"ok": True}


class _S(TypedDict, total=False):
    seen: Annotated[list[str], operator.add]


def _node(name: str) -> Any:
    async def fn(state: _S) -> dict[str, list[str]]:
        await okeys_charge(name)
        return {"seen": [name]}

    return fn


_turns = StateGraph(_S, name="okeys_turns")
for _n in "abc":
    _turns.add_node(_n, _node(_n))
_app = _turns.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END).compile()


@ag.graph_fn(outputs=["seen"])
async def okeys_agent(x: int, *, context: Any) -> dict[str, Any]:
    cfg = {"configurable": {"thread_id": "okeys"}}
    if ASK_FOR_KEYS["on"]:
        res = await _app.ainvoke({"seen": ["in"]}, cfg, output_keys=["seen"])
    else:  # (the step the version before journaled for that call: an ainvoke turn, its result picked after it)
        res = await _app.ainvoke({"seen": ["in"]}, cfg)
    await context.channel().ask_approval("go on?")
    return {"seen": res["seen"]}


def test_an_agent_paused_after_an_output_keys_call_resumes_without_running_the_turn_again(tmp_path: Path) -> None:
    """The agent's journal holds the call as ``flow.<graph>.ainvoke`` with the turn's result (what the version
    before wrote); resumed after a restart by the code that passes ``output_keys``, the body gets the result from
    the journal: no tool charges again, the input is not merged twice."""
    CHARGES.clear()
    path = str(tmp_path / "nb.aether.duckdb")
    outs = []
    for step in ("start", "answer"):
        ASK_FOR_KEYS["on"] = step == "answer"
        store = DuckDBStore(path)
        with default_session(store) as session:

            async def main(step: str = step) -> Any:
                if step == "start":
                    run = okeys_agent.start(x=1, run_id="okeys-agent-1")
                    await run.wait_for("waiting", timeout=30)
                    names = [e.name for e in session.store.load_journal("okeys-agent-1")]
                    assert "flow.okeys_turns.ainvoke" in names
                    return run.status
                run = ag.get_run("okeys-agent-1")
                await run.answer("Approve")
                out = await run
                snap = await _app.aget_state({"configurable": {"thread_id": "okeys"}})
                return out, snap.values["seen"]

            outs.append(arun(main(), timeout=60))
            session.flush()
        store.close()  # the kernel stops
    ASK_FOR_KEYS["on"] = False
    assert CHARGES == ["a", "b", "c"], "the turn ran again when the agent resumed"
    assert outs == ["waiting", ({"seen": ["in", "a", "b", "c"]}, ["in", "a", "b", "c"])]


class _Chain(TypedDict):
    log: Annotated[list[str], operator.add]
    n: int


class _Out(TypedDict):
    n: int


def _writer(i: int) -> Any:
    return lambda s: {"log": ["x" * 50], "n": i}


def _chain(count: int) -> Any:
    g = StateGraph(_Chain, output_schema=_Out, name=f"okeys_chain{count}")
    prev = START
    for i in range(count):
        g.add_node(f"n{i}", _writer(i))
        g.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    return g.compile()


@ag.graph_fn(outputs=["n", "logged"])
async def okeys_chain_agent(count: int, *, context: Any) -> dict[str, Any]:
    cfg = {"configurable": {"thread_id": f"chain{count}"}, "recursion_limit": 10_000}
    res = await _chain(count).ainvoke({"log": []}, cfg, output_keys=["log", "n"])
    return {"n": res["n"], "logged": len(res["log"])}


def test_an_agents_output_keys_call_journals_one_result_not_every_chunk(tmp_path: Path) -> None:
    """A 300-node chain called with ``output_keys`` (one of them outside the output schema) is one ``.ainvoke``
    step holding the turn's result: kilobytes, not every chunk of the turn (megabytes, quadratic in the chain)."""
    with default_session(DuckDBStore(str(tmp_path / "nb.aether.duckdb"))) as session:

        async def main() -> Any:
            run = okeys_chain_agent.start(count=300, run_id="okeys-chain")
            return await run

        assert arun(main(), timeout=120) == {"n": 299, "logged": 300}
        session.flush()
        steps = [e for e in session.store.load_journal("okeys-chain") if e.name.startswith("flow.")]
        session.store.close()
    assert [e.name for e in steps] == ["flow.okeys_chain300.ainvoke"]
    assert len(repr(steps[0].value)) < 200_000


class _Inner(TypedDict):
    log: Annotated[list[str], operator.add]
    n: int


_inner = StateGraph(_Inner, name="okeys_inner").add_node("s1", lambda s: {"log": ["s1"], "n": 7})
_inner_app = _inner.add_edge(START, "s1").compile()


def test_a_nested_output_keys_call_gives_its_result_again_when_the_node_runs_after_resume() -> None:
    """A node calls ``inner.ainvoke(x, output_keys=["n"])`` then ``interrupt()``: run again with the answer, the
    call gives ``{"n": 7}`` again (as LangGraph's), not None."""
    got: list[Any] = []

    async def node(s: _Inner) -> dict[str, list[str]]:
        got.append(await _inner_app.ainvoke({"log": ["in"]}, output_keys=["n"]))
        interrupt("go?")
        return {"log": ["o"]}

    app = StateGraph(_Inner, name="okeys_outer").add_node("o", node).add_edge(START, "o").compile()
    cfg = {"configurable": {"thread_id": "t"}}
    with default_session():
        arun(app.ainvoke({"log": []}, cfg))
        done = arun(app.ainvoke(Command(resume="y"), cfg))
    assert got == [{"n": 7}, {"n": 7}]
    assert done.status == "completed"
