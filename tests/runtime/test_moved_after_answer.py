"""A cancel that moves a question (``MOVED``) landing after its wait took the answer never loses that answer.

An MCP server's question is held by a call; when that call's own reply comes, the question moves to another call
(its waiting step is cancelled with ``MOVED``). A wait that already has its answer still has to finish its step:
take back its concurrency slot (``slots.retake()``, when a cap is set and another body took the slot meanwhile) and,
in ``durability="sync"``, wait for its journal entry to be durable (the step's barrier). A moving cancel landing
there cut the step: the asking code never got the answer (the question was moved and asked again, the answer given
once was stored on a wait nobody read) and the step showed SKIPPED although it had its answer. Now the cancel is
withdrawn, as it is when it lands while the answer is being written: the step finishes with the answer (and keeps
its slot cap), the question does not move.

The cancels here are placed on state (a write of the wait's journal entry, a body waiting for the cap's unit), not
on time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.errors import UsageError
from aether_nb.runtime.session import Session
from aether_nb.runtime.session_cap import Permit, SessionCap
from aether_nb.runtime.slots import session_limit
from aether_nb.runtime.step_cancels import MOVED, moved
from aether_nb.runtime.waits import Wait
from aether_nb.services import install_builtin_services
from aether_nb.services.channel import Message, Respond
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, RejectedRecord
from tests.conftest import arun, default_session
from tests.runtime.test_sync_limits import turns


class AnswersAtOnce:
    """A chat adapter that answers every question as it is shown (the person typed it right away)."""

    def __init__(self, answer: str = "Ada") -> None:
        self.answer = answer
        self.shown: list[str | None] = []

    def deliver(self, message: Message) -> None:
        pass

    async def present(self, wait: Wait, respond: Respond) -> None:
        self.shown.append(wait.prompt)
        respond(self.answer)


async def ask_moved_aside(context: ag.NodeContext) -> str:
    """Ask for a name as an MCP call's question handler does: a moving cancel ends the asking (the question goes on
    under another call), and is withdrawn by the handler (``task.uncancel()``)."""
    try:
        return await context.channel().ask_text("Your name?")
    except asyncio.CancelledError as exc:
        if not moved(exc):
            raise
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
        return "(moved)"


class HiccupAtWaitEntry(MemoryStore):
    """A memory store whose first write of a wait step's journal entry fails (a transient store error: the history
    stays pending and is written again), and that has the writing task (the asking one) cancelled with ``MOVED`` by
    the next loop callback: the cancel lands while that task awaits the step's barrier (``"sync"`` durability waits
    there until the entry is written; with no failure it is written before the barrier, which returns at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.cut: asyncio.Task[Any] | None = None

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if self.cut is None and any(entry.kind == "wait" for entry in batch.journal):
            task = asyncio.current_task()
            assert task is not None
            self.cut = task
            task.get_loop().call_soon(task.cancel, MOVED)
            raise OSError("the disk hiccuped")
        return super().write_history(batch, durable=durable)


def test_a_moving_cancel_at_the_sync_barrier_of_an_answered_wait_keeps_the_answer() -> None:
    store = HiccupAtWaitEntry()
    with default_session(store) as session:
        session.store.durability = "sync"
        adapter = AnswersAtOnce()
        install_builtin_services(session, channel=adapter)

        @ag.graph_fn(outputs=["name"])
        async def asks_once(*, context: ag.NodeContext) -> dict[str, Any]:
            return {"name": await ask_moved_aside(context)}

        async def main() -> ag.Run:
            run = asks_once.start()
            await run
            return run

        run = arun(main(), timeout=20)
        assert store.cut is not None, "the cancel was never placed at the wait's barrier"
        session.flush()
        assert run.outputs == {"name": "Ada"}  # (was "(moved)": the answer taken and journaled never reached the code)
        (wait,) = session.store.list_waits(run.id, status=None)
        assert wait.status == "answered"
        (node,) = [n for n in run.graph.nodes if n.id.startswith("ask_text")]
        assert node.status == "DONE"
        assert adapter.shown == ["Your name?"]  # asked once
        assert run.status == "succeeded"


class WatchedCap(SessionCap):
    """The session's cap, telling when the watched task has to wait for a unit (every unit is held)."""

    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self.watch: asyncio.Task[Any] | None = None
        self.waiting = asyncio.Event()

    async def take(self) -> Permit:
        if self.watch is not None and asyncio.current_task() is self.watch and self.locked():
            self.waiting.set()
        return await super().take()


def test_a_moving_cancel_while_an_answered_wait_waits_for_its_slot_keeps_the_answer_and_the_cap(
    session: Session,
) -> None:
    """Cap 1: the asking tool gives its slot back while it waits, another tool takes it; the answer comes and the
    asking tool waits for the slot again; the moving cancel lands then. It used to cut the step (the code saw the
    question move, its answer lost); now the answer is kept and the code goes on only once it holds the slot."""
    adapter = AnswersAtOnce()
    install_builtin_services(session, channel=adapter)
    ag.configure(max_concurrency=1)
    cap = WatchedCap(1)
    session.config["global_slots"] = cap
    gate = asyncio.Event()
    other_done = asyncio.Event()

    @ag.tool(outputs=["name", "after_other"])
    async def asker(*, context: ag.NodeContext) -> dict[str, Any]:
        cap.watch = asyncio.current_task()
        name = await ask_moved_aside(context)
        return {"name": name, "after_other": other_done.is_set()}

    @ag.tool(outputs=["ok"])
    async def other() -> dict[str, Any]:
        await gate.wait()
        other_done.set()
        return {"ok": True}

    @ag.graph_fn(outputs=["name", "after_other"])
    async def two_calls() -> dict[str, Any]:
        asked, _ = await asyncio.gather(asker(), other())
        return dict(asked)

    async def main() -> ag.Run:
        run = two_calls.start()
        await cap.waiting.wait()  # answered, waiting for the unit `other` holds
        assert cap.watch is not None
        cap.watch.cancel(MOVED)
        gate.set()  # (`other` ends after the cancel reached the waiting task: its wake-up was queued first)
        await run
        return run

    run = arun(main(), timeout=20)
    session.flush()
    assert run.outputs == {"name": "Ada", "after_other": True}  # (was "(moved)")
    (wait,) = session.store.list_waits(run.id, status=None)
    assert wait.status == "answered"
    statuses = {n.name: n.status for n in run.graph.nodes}
    assert statuses["ask_text"] == "DONE"
    assert adapter.shown == ["Your name?"]
    assert not cap.locked()  # every unit given back


class Desk:
    """A chat adapter a test answers from: the question each tool has open now, and the answers it accepted."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[int, Respond]] = {}  # tool -> (question number, how to answer it)
        self.accepted: set[tuple[int, int]] = set()
        self.changed = asyncio.Event()

    def deliver(self, message: Message) -> None:
        pass

    async def present(self, wait: Wait, respond: Respond) -> None:
        _, tool, _, question = str(wait.prompt).split()
        self.open[int(tool)] = (int(question), respond)
        self.changed.set()

    def answer(self, tool: int) -> None:
        held = self.open.pop(tool, None)
        if held is None:
            return
        question, respond = held
        try:
            respond(f"{tool}.{question}")
        except UsageError as exc:
            assert exc.code == "wait_closed", exc  # (its question had moved on: refused to the giver, never dropped)
        else:
            self.accepted.add((tool, question))


ACTIONS = st.tuples(
    st.integers(min_value=0, max_value=3),  # the tool
    st.sampled_from(["answer", "move", "answer and move", "move and answer", "answer, later move", "stop it"]),
    st.integers(min_value=0, max_value=6),  # loop turns before (between, for "later")
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    asks=st.lists(st.integers(min_value=1, max_value=2), min_size=2, max_size=4),
    cap=st.integers(min_value=1, max_value=2),
    actions=st.lists(ACTIONS, max_size=12),
    durability=st.sampled_from(["async", "sync"]),
    nested=st.sets(st.integers(min_value=0, max_value=3)),
    work=st.lists(st.integers(min_value=0, max_value=8), min_size=4, max_size=4),
)
def test_random_answers_and_cancels_never_lose_an_answer_exceed_the_cap_or_leak_a_slot(
    asks: list[int],
    cap: int,
    actions: list[tuple[int, str, int]],
    durability: str,
    nested: set[int],
    work: list[int],
) -> None:
    """Tools gathered under the session's cap ask questions; answers, moving cancels (caught as an MCP call's
    question handler does) and plain cancels come at random loop turns. Whatever the order: every answer accepted
    reaches the code that asked, no more than ``cap`` tool bodies run their code at once, and every unit of the cap
    is given back at the end."""
    with default_session() as session:
        desk = Desk()
        install_builtin_services(session, channel=desk)
        ag.configure(max_concurrency=cap)
        session.store.durability = durability
        tasks: dict[int, asyncio.Task[Any]] = {}
        got: set[tuple[int, int]] = set()
        stopped: set[int] = set()
        running = [0, 0]  # now, peak

        def enter() -> None:
            running[0] += 1
            running[1] = max(running)

        @ag.tool(outputs=["answer"])
        async def nested_ask(i: int, j: int, *, context: ag.NodeContext) -> dict[str, Any]:
            return {"answer": await context.channel().ask_text(f"tool {i} question {j}")}

        @ag.tool(outputs=["v"])
        async def asking(i: int, n: int, *, context: ag.NodeContext) -> dict[str, Any]:
            tasks[i] = asyncio.current_task()  # type: ignore[assignment]
            j = 0
            while True:
                enter()  # its code runs (``work[i]`` loop turns), in the cap
                try:
                    await turns(work[i])
                finally:
                    running[0] -= 1
                if j == n:
                    return {"v": "done"}
                try:
                    if i in nested:  # (asked by a tool it calls: a body nested in its slot)
                        await nested_ask(i, j)
                    else:
                        await context.channel().ask_text(f"tool {i} question {j}")
                except asyncio.CancelledError as exc:
                    if not moved(exc):
                        raise
                    task = asyncio.current_task()
                    assert task is not None
                    task.uncancel()  # (its question goes on elsewhere: this code ends, holding nothing)
                    return {"v": "moved"}
                got.add((i, j))
                j += 1

        @ag.graph_fn(outputs=["vs"])
        async def fan() -> dict[str, Any]:
            outs = await asyncio.gather(*(asking(i, n) for i, n in enumerate(asks)), return_exceptions=True)
            return {"vs": [o["v"] if isinstance(o, dict) else type(o).__name__ for o in outs]}

        async def main() -> ag.Run:
            run = fan.start()
            done = asyncio.ensure_future(run.wait_for())
            cut: set[int] = set()  # (the MCP layer cancels a call's question handler once)
            for tool, what, hops in actions:
                later = what.startswith("answer, later")
                await turns(0 if later else hops)
                if tool >= len(asks):
                    continue
                for step in what.replace(", later ", " and ").split(" and "):
                    task = tasks.get(tool)
                    if step == "answer":
                        desk.answer(tool)
                        if later:  # (the answer is taken, and the wait's step finishes meanwhile)
                            await turns(hops)
                    elif task is not None and not task.done() and tool not in cut:
                        cut.add(tool)
                        if step == "stop it":
                            stopped.add(tool)  # (its code gives up on what it awaits: an answer may go unread)
                        task.cancel(MOVED if step == "move" else None)
            while not done.done():  # then every question still open is answered
                for tool in list(desk.open):
                    desk.answer(tool)
                desk.changed.clear()
                changed = asyncio.ensure_future(desk.changed.wait())
                await asyncio.wait({done, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
            return run

        run = arun(main(), timeout=20)
        assert run.status == "succeeded", run.error
        lost = {(tool, question) for tool, question in desk.accepted - got if tool not in stopped}
        assert not lost, f"answers accepted that never reached the code that asked: {lost}"
        assert running[1] <= cap, f"{running[1]} tool bodies ran at once under a cap of {cap}"
        limit = session_limit(session.config)
        assert limit is not None

        async def every_unit_free() -> None:
            for _ in range(cap):
                assert not limit.locked(), "a unit of the cap was never given back"
                await limit.take()

        arun(every_unit_free(), timeout=5)
