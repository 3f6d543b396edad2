"""A state graph's turn run by an agent's body, across a kernel restart (two processes, one DuckDB file): every
effect happens once.

Found in the thirtieth session: ``async for chunk in app.astream(...)`` in a ``@graph_fn`` body was no step of the
agent's run, so the resumed agent ran the whole turn again (its tool calls included), or failed (a turn paused at
``interrupt()`` refused the input given again); and a turn (streamed or invoked) cut before the agent's step was
stored — the process killed mid-turn, or after the turn's end reached the store but before the step did, or a
failed turn the agent retried — was given its input again: merged into the thread once more, or a whole new turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import after, run_script

SCRIPT = """
import asyncio, dataclasses, json, operator, os, sys
from typing import Annotated, Any, TypedDict
import aether_nb as ag
from aether_nb.flow import END, START, Command, StateGraph, interrupt
from aether_nb.store.duckdb import DuckDBStore

DB, COUNTER, MODE, CASE, KIND, SM = sys.argv[1:7]


class CutAfterTheTurn(DuckDBStore):
    '''The process dies once the turn's end is in the store, before the agent's step is: the batch holding the
    step is written without it (and without the removal of the call's note, which goes with it).'''

    def write_history(self, batch):
        step = [e for e in batch.journal if e.name.startswith("flow.")]
        if not step:
            return super().write_history(batch)
        journal = [e for e in batch.journal if e not in step]
        kv = [r for r in batch.kv if not (r[0].startswith("flow-calls:") and r[4])]
        super().write_history(dataclasses.replace(batch, journal=journal, kv=kv))
        self.flush()
        os._exit(0)


ag.configure(store=CutAfterTheTurn(DB) if MODE == "start" and CASE == "after" else DB)


def log(line):
    with open(COUNTER, "a") as f:
        f.write(line + "\\n")


@ag.tool(outputs=["ok"])
def charge(name: str) -> dict:
    log(f"charge {name}")
    return {"ok": True}


@ag.tool(outputs=["ok"])
def took(label: str) -> dict:
    log(f"took {label}")
    return {"ok": True}


class S(TypedDict, total=False):
    seen: Annotated[list, operator.add]


def node(name):
    async def fn(state: S):
        await charge(name)
        if name == "b" and MODE == "start" and CASE == "cut":
            ag.session().flush()  # (the charge is in the store)
            os._exit(0)  # the kernel dies inside b
        if name == "b" and MODE == "start" and CASE == "fail":
            raise RuntimeError("b failed")
        if name == "b" and CASE == "interrupt":
            return {"seen": [f"b:{interrupt('b?')}"]}
        return {"seen": [name]}
    return fn


g = StateGraph(S, name="turns")
for n in "abc":
    g.add_node(n, node(n))
g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
app = g.compile()
CFG = {"configurable": {"thread_id": "t1"}}


def label(chunk):
    if SM == "values":
        return "+".join(chunk["seen"]) + (" ?" if "__interrupt__" in chunk else "")
    return ",".join(sorted(chunk))


@ag.graph_fn(outputs=["chunks", "thread"])
async def agent(x: int, *, context: Any) -> dict:
    chunks, threads = [], []

    async def turn(given):
        if KIND in ("ainvoke", "no-thread"):
            res = await (app.ainvoke(given) if KIND == "no-thread" else app.ainvoke(given, CFG))
            chunks.append(res.status)
            threads.append(res.thread_id)
            return
        async for chunk in app.astream(given, CFG, stream_mode=SM):
            chunks.append(label(chunk))
            await took(label(chunk))
            if CASE == "break":
                break

    await turn({"seen": ["in"]})
    if CASE == "interrupt":
        await turn(Command(resume=await context.channel().ask_text("b?")))
    else:
        await context.channel().ask_approval("go on?")
    return {"chunks": chunks, "thread": threads[0] if threads else "t1"}


async def main():
    if MODE == "start":
        run = agent.start(x=1, run_id="A1")
        await run.wait_for("waiting", "failed", timeout=60)
        if CASE == "break":  # (the turn the body left is stopped once the step is journaled)
            await ag.get_run("turns-t1-1").wait_for("cancelled", timeout=60)
        print("FIRST", json.dumps(run.status), flush=True)
        return
    run = agent.start(x=1, run_id="A1", **({"resume_mode": "failed_nodes"} if CASE == "fail" else {}))
    while (await run.wait_for("waiting", "succeeded", "failed", timeout=60)) == "waiting":
        await run.answer("yes" if CASE == "interrupt" else "Approve")
    out = await run
    cfg = {"configurable": {"thread_id": out["thread"]}}
    snap = await app.aget_state(cfg)
    history = [s.values.get("seen") for s in await app.aget_state_history(cfg)]
    print("OUT", json.dumps([out["chunks"], snap.values["seen"], list(snap.next), history]), flush=True)


asyncio.run(main())
"""


def _two_processes(tmp_path: Path, case: str, kind: str, stream_mode: str = "updates") -> tuple[Any, list[str]]:
    """The agent started in one process (which ends, or dies, as ``case`` says), resumed and answered in a
    second one: what the second printed, and every effect both made, in order."""
    script = tmp_path / "agent.py"
    script.write_text(SCRIPT)
    db, counter = str(tmp_path / "nb.aether.duckdb"), tmp_path / "effects.txt"
    args = (db, str(counter))
    run_script(script, *args, "start", case, kind, stream_mode)
    out = after(run_script(script, *args, "resume", case, kind, stream_mode), "OUT")
    return out, counter.read_text().splitlines()


ONCE = ["charge a", "took a", "charge b", "took b", "charge c", "took c"]
"""The effects of the streamed turn a→b→c (each node charges, the body notes each chunk it takes), each once."""

CLEAN_HISTORY = [["in", "a", "b", "c"], ["in", "a", "b"], ["in", "a"], ["in"], []]
"""The thread's checkpoints, newest first: the input given once (no checkpoint merging it again)."""


@pytest.mark.parametrize("case", ["plain", "cut", "after", "fail"])
def test_a_streamed_turn_in_an_agent_happens_once_across_a_restart(tmp_path: Path, case: str) -> None:
    """``plain``: the agent asks after the turn and is answered after a restart; ``cut``: the process dies inside
    node b; ``after``: it dies once the turn's end is stored, before the agent's step is; ``fail``: b fails, the
    agent fails, and is retried in the new process. Each time the body gets the turn's chunks once, in order
    (those it took before the cut replayed, then the rest of the turn), and nothing runs twice."""
    (chunks, seen, pending, history), effects = _two_processes(tmp_path, case, "astream")
    assert chunks == ["a", "b", "c"]
    assert (seen, pending, history) == (["in", "a", "b", "c"], [], CLEAN_HISTORY)
    assert effects == ONCE


@pytest.mark.parametrize(
    ("case", "kind"), [("cut", "ainvoke"), ("after", "ainvoke"), ("fail", "ainvoke"), ("cut", "no-thread")]
)
def test_an_invoked_turn_cut_before_its_step_was_stored_goes_on_without_its_input_again(
    tmp_path: Path, case: str, kind: str
) -> None:
    """The same cuts for ``await app.ainvoke(...)``: the call executed again goes on with the turn it started
    (from its journal and checkpoints), it does not give the thread its input again; a call whose config names no
    thread goes on on the new thread it started (not on another new one, where the whole turn ran again)."""
    (chunks, seen, pending, history), effects = _two_processes(tmp_path, case, kind)
    assert chunks == ["completed"]
    assert (seen, pending, history) == (["in", "a", "b", "c"], [], CLEAN_HISTORY)
    assert effects == ["charge a", "charge b", "charge c"]


def test_a_stream_cut_in_values_mode_gives_the_state_it_goes_on_from_once(tmp_path: Path) -> None:
    """A resumed turn's stream starts with the state it goes on from (as LangGraph's): the body took that chunk
    before the cut, so it does not get it (and act on it) again."""
    (chunks, seen, _, history), effects = _two_processes(tmp_path, "cut", "astream", "values")
    assert chunks == ["in", "in+a", "in+a+b", "in+a+b+c"]
    assert (seen, history) == (["in", "a", "b", "c"], CLEAN_HISTORY)
    assert effects == ["took in", "charge a", "took in+a", "charge b", "took in+a+b", "charge c", "took in+a+b+c"]


def test_a_stream_the_body_left_early_is_journaled_with_the_chunks_it_took(tmp_path: Path) -> None:
    """``break`` after the first chunk stops the turn (b never runs); the resumed body gets that chunk from the
    journal and leaves at it again: the stopped turn is not run, nor gone on with."""
    (chunks, seen, pending, _), effects = _two_processes(tmp_path, "break", "astream")
    assert (chunks, seen, pending) == (["a"], ["in", "a"], ["b"])
    assert effects == ["charge a", "took a"]


def test_a_streamed_turn_paused_at_interrupt_is_answered_by_the_agent_after_a_restart(tmp_path: Path) -> None:
    """The turn pauses at ``interrupt()`` (its last chunk says so); the agent asks the person and waits; after a
    restart the answer comes, the body gets the first stream from the journal and resumes the turn with the
    answer: b asks once, each node charges once."""
    (chunks, seen, pending, _), effects = _two_processes(tmp_path, "interrupt", "astream")
    assert chunks == ["a", "__interrupt__", "b", "c"]
    assert (seen, pending) == (["in", "a", "b:yes", "c"], [])
    assert effects == ["charge a", "took a", "charge b", "took __interrupt__", "took b", "charge c", "took c"]
