"""Concurrent branches that ask, resumed after a restart or after leaving memory: each question gets its own answer,
every effect happens once, and the history ends as the run did.

A replayed step returns at once where it first waited, so concurrent branches (``asyncio.gather`` of questions,
branches that ask after steps of their own) number their later calls in another order than the first execution
did. The run must still match each call with what that call did, not with what happened to carry its number.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ScriptedChannel

EFFECTS: list[str] = []


@ag.tool(outputs=["v"])
async def branch_act(tag: str, naps: int) -> dict[str, str]:
    for _ in range(naps):  # yields to the loop: how the branches interleave the first time
        await asyncio.sleep(0)
    EFFECTS.append(tag)
    return {"v": tag.upper()}


class BranchConfirm(ag.DualStageTool, outputs=["answer"]):
    """A tool node that asks (its question waits inside the node)."""

    async def setup(self, tag: str) -> Any:
        return ag.WaitSpec(kind="text", prompt=f"{tag}?")

    async def on_resume(self, payload: Any) -> dict[str, Any]:
        return {"answer": payload}


@ag.graph_fn(outputs=["out"])
async def branch_asker(tag: str, *, context: ag.NodeContext) -> dict[str, Any]:
    """A nested agent: a tool, then a question."""
    done = (await branch_act(f"{tag}.in", 1))["v"]
    return {"out": f"{done} {await context.channel().ask_text(f'{tag}?')}"}


async def branch(ops: list[list[Any]], name: str, context: ag.NodeContext) -> list[str]:
    out: list[str] = []
    for i, (kind, arg) in enumerate(ops):
        tag = f"{name}{i}"
        if kind == "tool":
            out.append((await branch_act(tag, arg))["v"])
        elif kind == "ask":
            out.append(await context.channel().ask_text(f"{tag}?"))
        elif kind == "say":
            await context.channel().send_text(f"said {tag}")
            out.append("said")
        elif kind == "mem":
            await context.memory().record("note", {"text": f"note {tag}"})
            out.append("noted")
        elif kind == "sub":
            out.append((await branch_asker(tag=tag))["out"])
        elif kind == "dual":
            out.append((await BranchConfirm(tag=tag))["answer"])
    return out


@ag.graph_fn(outputs=["out"])
async def together(branches: list[list[list[Any]]], *, context: ag.NodeContext) -> dict[str, Any]:
    outs = await asyncio.gather(*(branch(ops, f"b{i}.", context) for i, ops in enumerate(branches)))
    return {"out": list(outs)}


@ag.graph_fn(outputs=["out"])
async def asked_together(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    first, second = await asyncio.gather(ch.ask_text("First?"), ch.ask_text("Second?"))
    return {"out": [first, second]}


def _session(store: MemoryStore, *, evict: bool) -> Session:
    counter = itertools.count(1)
    s = Session(store, id_factory=lambda: f"run-{next(counter)}")
    install_builtin_services(s, channel=ScriptedChannel())  # no scripted answers: questions stay open
    # Every step durable before the body goes on: a "restart" here drops what was not written, and a step that
    # completed after the last write would run again (as documented), which is not what these tests look at.
    s.store.durability = "sync"
    if evict:
        s.max_live_waiting = 0  # a run parked on its questions leaves memory at once (when it can, Run.evictable)
    session_mod.set_default_session(s)
    return s


async def _parked(run: Run, open_waits: int) -> None:
    """Until the run has finished, or waits on ``open_waits`` questions with nothing else executing. Checked at
    each event and every 20 ms (a wait is listed once it is in the store, which no event follows), for 10 s."""
    changed = asyncio.Event()
    unsubscribe = run.subscribe(lambda _: changed.set()) if run.live else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    try:
        while not (
            run.done or (open_waits and run.status == "waiting" and len(run.waits) == open_waits and _idle(run))
        ):
            if loop.time() > deadline:
                raise AssertionError(f"run {run.id} never parked on {open_waits} questions: {run.status}, {run.waits}")
            changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.02)
    finally:
        if unsubscribe is not None:
            unsubscribe()


async def _left_memory(run: Run, *, required: bool = True) -> None:
    """Until the parked run has left memory (it does once its last follower unsubscribes, a loop turn later). Not
    ``required``: a run whose branch finished a step after its last question was asked stays (``Run.evictable``
    is checked when a run parks or loses its last follower), and is answered live."""
    for _ in range(100):
        if run.done or not run.live:
            return
        await asyncio.sleep(0)
    if required:
        raise AssertionError(f"run {run.id} stayed in memory while parked")


def _idle(run: Run) -> bool:
    return not run.live or run.evictable or all(n.status != "RUNNING" or n.kind != "tool" for n in run.graph.nodes)


def _expected(branches: list[list[list[Any]]]) -> list[list[str]]:
    out = []
    for i, ops in enumerate(branches):
        got = []
        for j, (kind, _) in enumerate(ops):
            tag = f"b{i}.{j}"
            answer = f"answer to {tag}?"
            got.append(
                {
                    "tool": tag.upper(),
                    "ask": answer,
                    "say": "said",
                    "mem": "noted",
                    "sub": f"{tag.upper()}.IN {answer}",
                    "dual": answer,
                }[kind]
            )
        out.append(got)
    return out


def _open_after(branches: list[list[list[Any]]], answered: set[str]) -> int:
    """How many questions are open once every branch ran up to its first unanswered one."""
    n = 0
    for i, ops in enumerate(branches):
        for j, (kind, _) in enumerate(ops):
            if kind in ("ask", "sub", "dual") and f"b{i}.{j}?" not in answered:
                n += 1
                break
    return n


_last_run: list[Run] = []  # the run one_process held (evict mode), for a test to look at


def _play(branches: list[list[list[Any]]], pick: Callable[[int], int], *, mode: str) -> tuple[Any, MemoryStore]:
    """Start the run, then answer one open question at a time (the ``pick``-th), each from a new "process" (a new
    session over the store, the old loop gone) or, with ``mode="evict"``, in one process where the parked run
    leaves memory before every answer. Returns the outputs."""
    store = MemoryStore()
    answered: set[str] = set()
    asks = sum(kind in ("ask", "sub", "dual") for ops in branches for kind, _ in ops)

    async def first() -> Run:
        run = together.start(branches=branches, run_id="c")
        await _parked(run, _open_after(branches, answered))
        return run

    async def answer_one(run: Run) -> None:
        waits = sorted(run.waits, key=lambda w: w.prompt)
        wait = waits[pick(len(waits)) % len(waits)]
        answered.add(wait.prompt)
        await run.answer(f"answer to {wait.prompt}", token=wait.token)
        await _parked(run, _open_after(branches, answered))

    if mode == "restart":
        _session(store, evict=False)
        run = asyncio.run(asyncio.wait_for(first(), 20))
        for _ in range(asks):
            _session(store, evict=False)  # the kernel restarted: only the store is left
            run = ag.get_run("c")
            asyncio.run(asyncio.wait_for(answer_one(run), 20))
        ag.session().flush()
        return ag.get_run("c").outputs, store

    async def one_process() -> Any:
        run = await first()
        for _ in range(asks):
            if run.done:
                break
            await _left_memory(run, required=False)  # parked, it left memory: the answer resumes it
            await answer_one(run)
        return await run

    _session(store, evict=True)
    outputs = asyncio.run(asyncio.wait_for(one_process(), 30))
    _last_run[:] = [ag.get_run("c")]
    ag.session().flush()
    return outputs, store


@pytest.fixture(autouse=True)
def _default_session() -> Any:
    previous = session_mod.set_default_session(None)
    EFFECTS.clear()
    yield
    session_mod.set_default_session(previous)


@pytest.mark.parametrize("mode", ["restart", "evict"])
@pytest.mark.parametrize("first", ["First?", "Second?"])
def test_questions_asked_together_each_get_their_own_answer(mode: str, first: str) -> None:
    """``gather(ask("First?"), ask("Second?"))``, one answered while no task holds the run: the resumed run must
    not fail with a ReplayMismatch (the answer's chat turn took the number of the other question's) and each
    question gets the answer given to it."""
    store = MemoryStore()
    s = _session(store, evict=mode == "evict")

    async def start() -> Run:
        run = asked_together.start(run_id="q")
        await _parked(run, 2)
        return run

    async def answer(run: Run, prompt: str) -> Any:
        (wait,) = [w for w in run.waits if w.prompt == prompt]
        await run.answer(prompt.lower().rstrip("?"), token=wait.token)
        await _parked(run, 1)
        return run

    second = "Second?" if first == "First?" else "First?"
    if mode == "restart":
        asyncio.run(start())
        for prompt in (first, second):
            s = _session(store, evict=False)  # the kernel restarted: only the store is left
            run = asyncio.run(answer(ag.get_run("q"), prompt))
    else:

        async def one_process() -> Run:
            run = await start()
            for prompt in (first, second):
                await _left_memory(run)  # parked, it left memory: the answer resumes it from the journal
                await answer(run, prompt)
            return run

        run = asyncio.run(one_process())
    s.flush()
    assert run.status == "succeeded", run.error
    assert run.outputs == {"out": ["first", "second"]}
    turns = sorted(m.text for m in store.memory_query("notebook", kinds=["chat"]))
    assert turns == ["First?", "Second?", "first", "second"]  # each question and answer said once


@pytest.mark.parametrize("mode", ["restart", "evict"])
def test_branches_that_ask_after_their_own_steps_get_their_own_answers(mode: str) -> None:
    """The second branch asks first the first time (its tool yields less); answered in the other order, each while
    no task holds the run, the replay interleaves the branches differently: the first branch's question must not
    take the second's stored wait (its prompt and answer), and no tool runs twice."""
    branches = [[["tool", 3], ["ask", 0], ["tool", 0]], [["tool", 0], ["ask", 0], ["say", 0]]]
    outputs, store = _play(branches, lambda n: 0, mode=mode)
    assert outputs == {"out": _expected(branches)}
    assert sorted(EFFECTS) == ["b0.0", "b0.2", "b1.0"]
    turns = sorted(m.text for m in store.memory_query("notebook", kinds=["chat"]))
    assert turns == ["answer to b0.1?", "answer to b1.1?", "b0.1?", "b1.1?", "said b1.2"]
    # the DAG of the run as the cell holds it is the one the store rebuilds: the replayed steps keep the edges they
    # ran with (the replay ran the branches in another order)
    live = ag.get_run("c") if mode == "restart" else _last_run[0]
    rebuilt = Run.from_store(_session(store, evict=False), store.get_run("c"))
    assert _dag(live) == _dag(rebuilt)
    assert _dag(live)["branch_act_1"][2] == () and _dag(live)["branch_act_2"][2] == ()  # ran side by side


def _dag(run: Run) -> dict[str, Any]:
    return {n.id: (n.status, n.replayed, n.parents, n.started_at, n.ended_at) for n in run.graph.nodes}


def test_an_answer_given_as_a_parked_run_could_leave_memory_is_not_lost() -> None:
    """A run parked on two questions, still in memory (a branch finished its last steps after the questions were
    asked, so it was not evicted then), gets one answer: the answer takes the wait off the live table a loop turn
    before its task reads it, and the wait step journals it after that. Leaving memory in either moment dropped the
    answer: the resumed run asked the question again and waited for an answer already given."""
    branches = [
        [["ask", 0]],
        [["tool", 1], ["ask", 0], ["mem", 0]],
        [["tool", 3], ["mem", 0], ["tool", 3], ["tool", 3]],
    ]
    order = iter([1, 0])  # "b1.1?" first
    outputs, store = _play(branches, lambda n: next(order), mode="evict")
    assert outputs == {"out": _expected(branches)}
    assert sorted(w.prompt for w in store.list_waits("c", status=None)) == ["b0.0?", "b1.1?"]  # each asked once


def test_a_run_left_waiting_and_cancelled_after_a_restart_ends_its_history() -> None:
    """Cancelling a run no task executes (after a restart, or parked out of memory) ends its history as a cancelled
    execution's would: its open waits closed, its waiting nodes cancelled, a final ``run_finished``. The DAG (and
    the widget) never shows a question still waiting beside a cancelled run."""
    store = MemoryStore()
    _session(store, evict=False)

    async def start() -> None:
        await _parked(asked_together.start(run_id="x"), 2)

    asyncio.run(start())
    s = _session(store, evict=False)
    run = ag.get_run("x")
    assert run.status == "waiting" and not run.live
    assert run.cancel()
    s.flush()
    for view in (run, Run.from_store(_session(store, evict=False), store.get_run("x"))):
        assert view.status == "cancelled"
        assert {n.id: n.status for n in view.graph.nodes} == {"ask_text_1": "CANCELLED", "ask_text_2": "CANCELLED"}
        assert view.history[-1].kind == "run_finished" and view.history[-1].status == "cancelled"  # type: ignore[attr-defined]
        assert [e.kind for e in view.history].count("wait_closed") == 2
    assert store.list_waits("x", status="open") == []


TAG = {"first": "a"}


@ag.graph_fn(outputs=["out"])
async def gathered(*, context: ag.NodeContext) -> dict[str, Any]:
    a, b = await asyncio.gather(branch_act(TAG["first"], 0), branch_act("b", 0))
    return {"out": [a["v"], b["v"], await context.channel().ask_text("ok?")]}


def test_a_changed_call_under_gather_still_fails_with_replay_mismatch() -> None:
    """Calls the scope's own code makes are numbered in program order, also when ``gather`` awaits them in tasks of
    its own: a call that changed before the resume is a ``ReplayMismatch`` (the body read something outside the
    journal), never a new step executed beside the one the journal holds."""
    store = MemoryStore()
    _session(store, evict=False)

    async def start() -> None:
        await _parked(gathered.start(run_id="g"), 1)

    asyncio.run(start())
    assert sorted(EFFECTS) == ["a", "b"]
    TAG["first"] = "z"  # (a global another cell changed)
    try:
        _session(store, evict=False)

        async def resume() -> Run:
            run = ag.get_run("g")
            await run.answer("yes")
            with contextlib.suppress(ag.RunFailed):
                await run
            return run

        run = asyncio.run(resume())
    finally:
        TAG["first"] = "a"
    assert run.status == "failed" and "ReplayMismatch" in (run.error or "")
    assert sorted(EFFECTS) == ["a", "b"]  # nothing ran again


OP = st.one_of(
    st.tuples(st.just("tool"), st.integers(min_value=0, max_value=3)),
    st.tuples(st.sampled_from(["ask", "say", "mem", "sub", "dual"]), st.just(0)),
).map(list)
BRANCHES = st.lists(st.lists(OP, min_size=1, max_size=4), min_size=2, max_size=3).filter(
    lambda bs: sum(kind in ("ask", "sub", "dual") for ops in bs for kind, _ in ops) >= 1
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branches=BRANCHES, picks=st.lists(st.integers(min_value=0, max_value=5), min_size=8, max_size=8), data=st.data())
def test_concurrent_branches_resumed_between_answers_do_everything_once(
    branches: list[list[list[Any]]], picks: list[int], data: st.DataObject
) -> None:
    """Generated branches of tools (yielding 0-3 times), questions (asked by the branch, by a nested agent after a
    tool of its own, by a tool node), messages and memory records, run together;
    the open questions answered one at a time in a generated order, the run restarted (or left memory) before
    each answer. Every question gets its own answer, each tool runs once, each message and record is kept once,
    and the journal holds each step once."""
    mode = data.draw(st.sampled_from(["restart", "evict"]))
    EFFECTS.clear()
    choices = iter(picks)
    outputs, store = _play(branches, lambda n: next(choices, 0), mode=mode)
    assert outputs == {"out": _expected(branches)}
    tools = [f"b{i}.{j}" for i, ops in enumerate(branches) for j, (k, _) in enumerate(ops) if k == "tool"]
    tools += [f"b{i}.{j}.in" for i, ops in enumerate(branches) for j, (k, _) in enumerate(ops) if k == "sub"]
    assert sorted(EFFECTS) == sorted(tools)
    said = sorted(m.text for m in store.memory_query("notebook", kinds=["chat"]) if m.text.startswith("said"))
    assert said == sorted(
        f"said b{i}.{j}" for i, ops in enumerate(branches) for j, (k, _) in enumerate(ops) if k == "say"
    )
    notes = sorted(r.data["text"] for r in store.memory_query("notebook", kinds=["note"]))
    assert notes == sorted(
        f"note b{i}.{j}" for i, ops in enumerate(branches) for j, (k, _) in enumerate(ops) if k == "mem"
    )
    journal = store.load_journal("c")
    assert len({e.key for e in journal}) == len(journal)  # no step journaled twice
    assert store.list_waits("c", status="open") == []
