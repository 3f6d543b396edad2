"""A thread paused at interrupt() resumes in a new process from the DuckDB store; completed steps replay."""

from __future__ import annotations

import dataclasses
import json
import operator
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import HistoryBatch, RejectedRecord
from tests.conftest import arun

PRELUDE = """
import asyncio, json, operator, os, sys
from typing import Annotated, TypedDict
import aether_nb as ag
from aether_nb.flow import END, START, AgentState, Command, Send, StateGraph, interrupt

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

def log(line):
    with open(COUNTER, "a") as f:
        f.write(line + "\\n")
"""
"""What every script run by :func:`_processes` starts with: its arguments, the store, a counter file to log to."""

SCRIPT = (
    PRELUDE
    + """
@ag.tool(outputs=["receipt"])
def charge(amount: int) -> dict:
    log("charged")
    return {"receipt": f"r-{amount}"}

async def pay(state: AgentState):
    log("pay started")
    receipt = (await charge(42))["receipt"]
    answer = interrupt({"receipt": receipt}, message="Confirm?")
    return [{"role": "assistant", "content": f"{receipt} {answer}"}]

g = StateGraph(AgentState, name="payflow")
g.add_node("pay", pay)
g.add_edge(START, "pay")
app = g.compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"messages": ["pay please"]}, config=cfg)
        print("PAUSED", res.status, res.interrupts[0].value["receipt"], flush=True)
        os._exit(0)
    snap = await app.aget_state(cfg)
    print("STATE", snap.status, list(snap.next), flush=True)
    res = await app.ainvoke({"resume": MODE}, config=cfg)
    print("OUT", json.dumps([res.status, [m["content"] for m in res.messages], res.run_id]), flush=True)
    print("HISTORY", len(await app.aget_state_history(cfg)), flush=True)

asyncio.run(main())
"""
)


def test_a_thread_paused_at_interrupt_resumes_in_a_new_process(tmp_path: Path) -> None:
    run, counter = _processes(tmp_path / "payflow.py", SCRIPT, tmp_path / "flow.duckdb")

    assert "PAUSED interrupted r-42" in run("start")
    out = run("yes")
    assert "STATE interrupted ['pay']" in out
    status, messages, run_id = json.loads(out.split("OUT ", 1)[1].splitlines()[0])
    assert (status, messages, run_id) == ("completed", ["pay please", "r-42 yes"], "payflow-t1-1")
    assert "HISTORY 3" in out  # the turn's input checkpoint, START's, and the one after its only superstep
    # the node ran again in the new process, but the tool call before the interrupt was replayed
    assert Path(counter).read_text().splitlines() == ["pay started", "charged", "pay started"]


SUBGRAPH_SCRIPT = (
    PRELUDE
    + """
@ag.tool(outputs=["price"])
def quote(item: str) -> dict:
    log(f"quote {item}")
    return {"price": len(item)}

class Item(TypedDict, total=False):
    item: str
    lines: Annotated[list, operator.add]

async def price(state: Item):
    p = (await quote(state["item"]))["price"]
    ok = interrupt(f"buy {state['item']} for {p}?")
    return {"lines": [f"{state['item']}={p}:{ok}"]}

sub = StateGraph(Item, name="pricing").add_node("price", price).add_edge(START, "price").compile()

class Order(TypedDict, total=False):
    items: list
    lines: Annotated[list, operator.add]

g = StateGraph(Order, name="order")
g.add_node("pricing", sub)
g.add_conditional_edges(START, lambda s: [Send("pricing", {"item": i}) for i in s["items"]])
app = g.compile()
cfg = {"configurable": {"thread_id": "o1"}}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"items": ["tea", "coffee"]}, cfg)
        print("PAUSED", json.dumps(sorted(i.value for i in res["__interrupt__"])), flush=True)
        os._exit(0)
    state = await app.aget_state(cfg)
    answers = {i.id: "yes" for i in state.interrupts}
    res = await app.ainvoke(Command(resume=answers), cfg)
    print("OUT", json.dumps(sorted(res["lines"])), flush=True)

asyncio.run(main())
"""
)


def test_send_fan_out_to_a_subgraph_paused_in_two_tasks_resumes_in_a_new_process(tmp_path: Path) -> None:
    run, counter = _processes(tmp_path / "order.py", SUBGRAPH_SCRIPT, tmp_path / "order.duckdb")

    assert 'PAUSED ["buy coffee for 6?", "buy tea for 3?"]' in run("start")
    out = run("resume")
    assert json.loads(out.split("OUT ", 1)[1].splitlines()[0]) == ["coffee=6:yes", "tea=3:yes"]
    # each quote ran once: the new process replayed them from the journal
    assert sorted(Path(counter).read_text().splitlines()) == ["quote coffee", "quote tea"]


BREAKPOINT_SCRIPT = (
    PRELUDE
    + """
class S(TypedDict, total=False):
    amount: int
    steps: Annotated[list, operator.add]

def draft(state: S):
    log("draft")
    return {"steps": ["draft"], "amount": 100}

def send(state: S):
    log("send")
    return {"steps": [f"sent {state['amount']}"]}

g = StateGraph(S, name="mail")
g.add_node("draft", draft).add_node("send", send).add_edge(START, "draft").add_edge("draft", "send")
app = g.compile(interrupt_before=["send"])
cfg = {"configurable": {"thread_id": "m1"}}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"steps": []}, cfg)
        print("PAUSED", res.status, list(res.next), flush=True)
        os._exit(0)
    await app.aupdate_state(cfg, {"amount": 42})
    res = await app.ainvoke(None, cfg)
    print("OUT", json.dumps([res.status, res["steps"]]), flush=True)

asyncio.run(main())
"""
)


def test_a_breakpoint_edited_and_continued_in_a_new_process(tmp_path: Path) -> None:
    run, counter = _processes(tmp_path / "mail.py", BREAKPOINT_SCRIPT, tmp_path / "mail.duckdb")

    assert "PAUSED interrupted ['send']" in run("start")
    out = run("resume")
    assert json.loads(out.split("OUT ", 1)[1].splitlines()[0]) == ["completed", ["draft", "sent 42"]]
    assert Path(counter).read_text().splitlines() == ["draft", "send"]  # draft did not run again


CRASH_SCRIPT = (
    PRELUDE
    + """
class S(TypedDict, total=False):
    seen: Annotated[list, operator.add]

def node(name):
    def fn(state: S):
        log(name)
        if name == "c" and MODE == "start":
            ag.session().flush()  # a and b, with their checkpoints, are in the store
            os._exit(0)  # the process dies inside c
        return {"seen": [name]}
    return fn

g = StateGraph(S, name="crashy")
for n in "abcd":
    g.add_node(n, node(n))
g.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c").add_edge("c", "d")
app = g.compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        await app.ainvoke({"seen": []}, config=cfg)
        return
    snap = await app.aget_state(cfg)
    ckpt = snap.config["configurable"]["checkpoint_id"]
    print("STATE", json.dumps([list(snap.next), snap.values["seen"], ckpt]), flush=True)
    res = await app.ainvoke(None, config=cfg)
    print("OUT", json.dumps([res.status, res["seen"]]), flush=True)
    hist = [[s.config["configurable"]["checkpoint_id"], list(s.next)] for s in await app.aget_state_history(cfg)]
    print("HISTORY", json.dumps(hist), flush=True)

asyncio.run(main())
"""
)


def test_a_process_dying_mid_turn_leaves_every_written_checkpoint_readable(tmp_path: Path) -> None:
    """A superstep's checkpoint is one KV row: the thread's stored record is not rewritten at each superstep, so a
    new process must find the checkpoints written after it (the head, their numbering, the last loop checkpoint)
    rather than take an older head or reuse a checkpoint id."""
    run, counter = _processes(tmp_path / "crashy.py", CRASH_SCRIPT, tmp_path / "crash.duckdb")

    run("start")
    out = run("go")
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if " " in line}
    assert lines["STATE"] == [["c"], ["a", "b"], "00000004"]  # input, START's, after a, after b
    assert lines["OUT"] == ["completed", ["a", "b", "c", "d"]]
    assert lines["HISTORY"] == [
        ["00000006", []],
        ["00000005", ["d"]],
        ["00000004", ["c"]],
        ["00000003", ["b"]],
        ["00000002", ["a"]],
        ["00000001", ["__start__"]],
    ]
    assert Path(counter).read_text().splitlines() == ["a", "b", "c", "c", "d"]  # only the node that died re-ran


LOOP_SCRIPT = (
    PRELUDE
    + """
class Round(TypedDict):
    n: int

def ask(state: Round):
    interrupt(f"round {state['n']}: go on?")
    return {"n": state["n"] + 1}

g = StateGraph(Round, name="rounds")
g.add_node("ask", ask)
g.add_node("work", lambda s: {})
g.add_edge(START, "ask")
g.add_edge("ask", "work")
g.add_conditional_edges("work", lambda s: "ask" if s["n"] < 10 else END)
app = g.compile()
cfg = {"configurable": {"thread_id": "t1"}, "recursion_limit": 4}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"n": 0}, cfg)
        for _ in range(5):
            res = await app.ainvoke(Command(resume="go"), cfg)
        print("PAUSED", res.status, res["n"], flush=True)
        os._exit(0)
    answers = 0
    res = await app.ainvoke(Command(resume="go"), cfg)
    answers += 1
    while "__interrupt__" in res:
        res = await app.ainvoke(Command(resume="go"), cfg)
        answers += 1
    print("OUT", json.dumps([res.status, res["n"], answers]), flush=True)

asyncio.run(main())
"""
)


def test_a_turn_resumed_after_a_restart_counts_its_recursion_limit_per_call(tmp_path: Path) -> None:
    """A loop asking at every round, its limit (4) far below the turn's supersteps: each resuming call gets its
    own budget (as LangGraph), also when a new process replays the rounds answered before the restart."""
    run, _ = _processes(tmp_path / "rounds.py", LOOP_SCRIPT, tmp_path / "flow.duckdb")

    assert "PAUSED interrupted 5" in run("start")
    out = run("resume")
    assert json.loads(out.split("OUT ", 1)[1].splitlines()[0]) == ["completed", 10, 5]


def _processes(script: Path, source: str, db: Path) -> tuple[Callable[[str], str], str]:
    """``run(mode)``: ``source`` run as ``script`` in a fresh interpreter with the DuckDB file ``db`` and a counter
    file (returned) shared by every process; returns its stdout, failing with its stderr when it fails."""
    script.write_text(source)
    counter = str(script.parent / "count.txt")

    def run(mode: str) -> str:
        res = subprocess.run(
            [sys.executable, str(script), str(db), counter, mode], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    return run, counter


class _OlderJournalKeys(DuckDBStore):
    """A DuckDB store that journals a graph's reloads as aether_nb did before they were keyed by superstep: the
    reload after a superstep's waits and the one after a breakpoint in one count, ``reload_<n>`` (the only
    difference in what that version wrote for these runs)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.count: dict[str, int] = {}

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        journal = []
        for e in batch.journal:
            if e.name == "reload" and re.fullmatch(r"reload_(at_)?\d+", e.key):
                self.count[e.run_id] = n = self.count.get(e.run_id, 0) + 1
                e = dataclasses.replace(e, key=f"reload_{n}")
            journal.append(e)
        return super().write_history(dataclasses.replace(batch, journal=journal))


def test_a_turn_paused_at_a_breakpoint_by_the_older_journal_keys_resumes_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two nodes answered at ``interrupt()`` (each superstep then reads the state again), then a breakpoint:
    journaled with the older keys, the run resumes under this version in a new session without a ReplayMismatch,
    and neither the tool before the first question nor any asking node runs again; the send runs once."""
    from aether_nb.flow import START, Command, StateGraph, interrupt
    from aether_nb.flow.tasks import TaskRunner
    from aether_nb.runtime import session as session_mod
    from tests.conftest import make_session

    # the older version read the state again after every answered superstep (a newer one takes the node's own
    # read when it has one, see TaskRunner.reread): its journal holds those reads
    monkeypatch.setattr(TaskRunner, "reread", lambda self, tasks: None)

    effects: list[str] = []

    class S(TypedDict, total=False):
        steps: Annotated[list[str], operator.add]

    def build() -> Any:
        @ag.tool(outputs=["receipt"])
        def charge(n: int) -> dict[str, Any]:
            effects.append("charge")
            return {"receipt": f"r{n}"}

        async def pay(s: S) -> dict[str, Any]:
            effects.append("pay")
            receipt = (await charge(1))["receipt"]
            return {"steps": [f"pay {receipt} {interrupt('pay?')}"]}

        def check(s: S) -> dict[str, Any]:
            effects.append("check")
            return {"steps": [f"check {interrupt('check?')}"]}

        def send(s: S) -> dict[str, Any]:
            effects.append("send")
            return {"steps": ["send"]}

        g = StateGraph(S, name="older")
        g.add_node("pay", pay).add_node("check", check).add_node("send", send)
        g.add_edge(START, "pay").add_edge("pay", "check").add_edge("check", "send")
        return g.compile(interrupt_before=["send"])

    db = str(tmp_path / "older.duckdb")
    cfg = {"configurable": {"thread_id": "t"}}
    older = _OlderJournalKeys(db)
    first, _ = make_session(older)
    previous = session_mod.set_default_session(first)
    try:
        app = build()

        async def before_upgrade() -> Any:
            assert (await app.ainvoke({"steps": []}, cfg)).status == "interrupted"
            assert (await app.ainvoke(Command(resume="yes"), cfg)).status == "interrupted"
            return await app.ainvoke(Command(resume="ok"), cfg)

        paused = arun(before_upgrade())
        assert paused.status == "interrupted" and list(paused.next) == ["send"]
        keys = [e.key for e in older.load_journal(paused.run_id) if e.name == "reload" and "/" not in e.key]
        assert keys == ["reload_1", "reload_2"]  # the store holds the older keys
        first.store.close()
        monkeypatch.undo()

        second, _ = make_session(DuckDBStore(db))
        session_mod.set_default_session(second)
        effects.clear()
        app = build()
        res = arun(app.ainvoke(None, cfg))
        assert res.status == "completed"
        assert res["steps"] == ["pay r1 yes", "check ok", "send"]
        assert effects == ["send"]
        second.store.close()
    finally:
        session_mod.set_default_session(previous)


@pytest.mark.parametrize("edit", [False, True])
def test_a_superstep_after_an_answer_merges_onto_the_state_its_task_read_also_when_replayed(
    tmp_path: Path, edit: bool
) -> None:
    """A node asks, the state is edited while it waits, the answer comes: the node runs again on the edited
    state, and its superstep merges onto that same state (the node's own read after the wait, journaled, not a
    second read). A new process resuming the next question replays that superstep from the journal and gets
    the very same state: the edit is kept, nothing runs twice."""
    from aether_nb.flow import START, Command, StateGraph, interrupt
    from aether_nb.runtime import session as session_mod
    from tests.conftest import make_session

    effects: list[str] = []

    class S(TypedDict, total=False):
        log: Annotated[list[str], operator.add]
        note: str

    def build() -> Any:
        def ask_a(s: S) -> dict[str, Any]:
            answer = interrupt("a?")
            effects.append(f"a {answer}")
            return {"log": [f"a {s.get('note')} {answer}"]}

        def ask_b(s: S) -> dict[str, Any]:
            answer = interrupt("b?")
            effects.append(f"b {answer}")
            return {"log": [f"b {s.get('note')} {answer}"]}

        g = StateGraph(S, name="reread")
        g.add_node("ask_a", ask_a).add_node("ask_b", ask_b)
        g.add_edge(START, "ask_a").add_edge("ask_a", "ask_b")
        return g.compile()

    db = str(tmp_path / "reread.duckdb")
    cfg = {"configurable": {"thread_id": "t"}}
    first, _ = make_session(DuckDBStore(db))
    previous = session_mod.set_default_session(first)
    try:
        app = build()

        async def before_restart() -> Any:
            assert (await app.ainvoke({"log": []}, cfg)).status == "interrupted"
            if edit:
                await app.aupdate_state(cfg, {"note": "edited"})
            return await app.ainvoke(Command(resume="yes"), cfg)

        paused = arun(before_restart())
        note = "edited" if edit else None
        assert paused.status == "interrupted" and paused["log"] == [f"a {note} yes"]
        assert (paused.state or {}).get("note") == note
        # one read of the state per answer: the node's own (the superstep does not read it a second time)
        reads = [e.key for e in first.store.load_journal(paused.run_id) if e.name == "reload"]
        assert reads == ["ask_a_1/reload_1"]
        first.store.close()

        second, _ = make_session(DuckDBStore(db))
        session_mod.set_default_session(second)
        app = build()
        res = arun(app.ainvoke(Command(resume="ok"), cfg))
        assert res.status == "completed"
        assert res["log"] == [f"a {note} yes", f"b {note} ok"] and (res.state or {}).get("note") == note
        assert effects == ["a yes", "b ok"]  # each node ran once with its answer
        history = list(app.get_state_history(cfg))
        assert [h.values.get("note") for h in history][:2] == [note, note]
        second.store.close()
    finally:
        session_mod.set_default_session(previous)


REREAD_SCRIPT = (
    PRELUDE
    + """
class S(TypedDict, total=False):
    log: Annotated[list, operator.add]
    note: str

def ask(state: S):
    answer = interrupt("go on?")
    log(f"ask {state.get('note')} {answer}")
    return {"log": [f"ask {answer}"]}

def work(state: S):
    log(f"work {state.get('note')}")
    if MODE == "start":
        ag.session().flush()  # what the run did is in the file...
        os._exit(0)  # ...and the kernel dies while this node runs
    return {"log": ["work"]}

g = StateGraph(S, name="reread")
g.add_node("ask", ask).add_node("work", work)
g.add_edge(START, "ask").add_edge("ask", "work")
app = g.compile()
cfg = {"configurable": {"thread_id": "t"}}

async def main():
    if MODE == "start":
        assert (await app.ainvoke({"log": []}, cfg)).status == "interrupted"
        await app.aupdate_state(cfg, {"note": "edited"})  # while the node waits
        await app.ainvoke(Command(resume="yes"), cfg)
        return
    res = await app.ainvoke(None, cfg)
    print("OUT", json.dumps([res.status, res["log"], res.state.get("note")]), flush=True)

asyncio.run(main())
"""
)


def test_a_run_killed_after_an_answered_superstep_replays_it_onto_the_edited_state(tmp_path: Path) -> None:
    """The state is edited while a node waits; the answer comes, the node runs again on the edited state and its
    superstep merges onto that state; the kernel dies in the next node. The new process replays the answered
    superstep from the journal onto the same edited state (the node's journaled read after its wait), so the
    node that died sees the edit again, and the node that asked does not run again."""
    run, counter = _processes(tmp_path / "reread.py", REREAD_SCRIPT, tmp_path / "reread.duckdb")
    run("start")
    assert Path(counter).read_text().splitlines() == ["ask edited yes", "work edited"]
    out = run("again")
    status, log_, note = json.loads(out.split("OUT ", 1)[1].splitlines()[0])
    assert (status, log_, note) == ("completed", ["ask yes", "work"], "edited")
    assert Path(counter).read_text().splitlines() == ["ask edited yes", "work edited", "work edited"]


def test_an_interrupt_answered_after_a_restart_says_it_was_answered(tmp_path: Path) -> None:
    """A thread paused at ``interrupt()``, answered through its run in a new session (as the widget rebuilt after
    a kernel restart does): the run's events say the wait was answered, with the answer, under the token of the
    wait it opened (the widget shows the answer under its question from that event)."""
    from aether_nb.flow import START, StateGraph, interrupt
    from aether_nb.runtime import session as session_mod
    from tests.conftest import make_session

    class S(TypedDict, total=False):
        trail: Annotated[list[str], operator.add]

    def build() -> Any:
        def approve(s: S) -> dict[str, Any]:
            return {"trail": [interrupt("ship it?")]}

        return StateGraph(S, name="asked").add_node("approve", approve).add_edge(START, "approve").compile()

    db = str(tmp_path / "asked.duckdb")
    cfg = {"configurable": {"thread_id": "t"}}
    first, _ = make_session(DuckDBStore(db))
    previous = session_mod.set_default_session(first)
    try:
        paused = arun(build().ainvoke({"trail": []}, cfg))
        assert paused.status == "interrupted"
        first.store.close()

        second, _ = make_session(DuckDBStore(db))
        session_mod.set_default_session(second)
        build()
        run = ag.get_run(paused.run_id)

        async def answer() -> Any:
            await run.answer("yes")
            return await run

        arun(answer())
        assert run.status == "succeeded"
        opened = [e.token for e in run.event_log if e.kind == "wait_opened"]
        answered = [(e.token, e.answer) for e in run.event_log if e.kind == "wait_answered"]
        assert len(opened) == 1 and answered == [(opened[0], "yes")]
        stored = [e for e in second.store.load_events(run.id) if e.get("kind") == "wait_answered"]
        assert [(e["token"], e["answer"]) for e in stored] == [(opened[0], "yes")]
        second.store.close()
    finally:
        session_mod.set_default_session(previous)


GOTO_SCRIPT = (
    PRELUDE
    + """
class S(TypedDict):
    log: Annotated[list, operator.add]

def node(name):
    def fn(s: S):
        log(name)
        return {"log": [name]}
    return fn

g = StateGraph(S, name="gotoflow")
g.add_node("ask", lambda s: {"log": [interrupt("approve?")]})
g.add_node("other", node("other"))
g.add_node("fin", node("fin"))
g.add_edge(START, "ask")
g.add_edge("ask", "fin")
app = g.compile()
cfg = {"thread_id": "t1"}

async def main():
    if MODE == "start":
        res = await app.ainvoke({"log": []}, config=cfg)
        print("PAUSED", res.status, flush=True)
    elif MODE == "goto":
        res = await app.ainvoke(Command(goto="other"), config=cfg)
        print("STILL", res.status, list((await app.aget_state(cfg)).next), flush=True)
    else:
        res = await app.ainvoke(Command(resume=MODE), config=cfg)
        print("OUT", json.dumps([res.status, res["log"]]), flush=True)
    os._exit(0)

asyncio.run(main())
"""
)


def test_a_goto_given_at_an_interrupt_runs_once_when_another_process_answers(tmp_path: Path) -> None:
    """``Command(goto="other")`` at an interrupt() pause, the process exits, a new one resumes the pause: ``other``
    runs in the superstep the answer resumes (as LangGraph), once; replaying the turn again runs nothing twice."""
    run, counter = _processes(tmp_path / "gotoflow.py", GOTO_SCRIPT, tmp_path / "flow.duckdb")
    assert "PAUSED interrupted" in run("start")
    assert "STILL interrupted ['ask']" in run("goto")  # (as LangGraph's: the paused checkpoint keeps its own tasks)
    out = run("R")
    assert json.loads(out.split("OUT ", 1)[1].splitlines()[0]) == ["completed", ["R", "other", "fin"]]
    assert Path(counter).read_text().splitlines() == ["other", "fin"]
