"""An answer the channel took is kept when a cancel that only moves its question lands while the answer's chat
turn is written: in ``"sync"`` durability the turn's step waits for its journal entry, and a store that failed
that write once keeps it waiting for the retry. Before, the moving cancel cut the turn there: the asking code got
the cancel instead of the answer, and the question was asked again under another call."""

from __future__ import annotations

import asyncio
from typing import Any

import aether_nb as ag
from aether_nb.runtime.step_cancels import MOVED
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, RejectedRecord
from tests.conftest import arun, default_session
from tests.runtime.test_moved_after_answer import AnswersAtOnce, ask_moved_aside


class HiccupAtAnswerTurn(MemoryStore):
    """Fails once the first write holding the answer's chat turn (a ``send`` step after the wait) and has the
    writing task cancelled with ``MOVED`` by the next loop callback: it lands in the turn's barrier."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_wait = False
        self.cut: asyncio.Task[Any] | None = None

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if any(e.kind == "wait" for e in batch.journal):
            self.seen_wait = True
        elif self.seen_wait and self.cut is None and any(e.kind == "send" for e in batch.journal):
            task = asyncio.current_task()
            assert task is not None
            self.cut = task
            task.get_loop().call_soon(task.cancel, MOVED)
            raise OSError("a transient store error")
        return super().write_history(batch, durable=durable)


def test_a_moving_cancel_while_the_answers_chat_turn_is_written_keeps_the_answer() -> None:
    store = HiccupAtAnswerTurn()
    with default_session(store) as session:
        session.store.durability = "sync"
        adapter = AnswersAtOnce()
        install_builtin_services(session, channel=adapter)

        @ag.graph_fn(outputs=["name"])
        async def asks_once(*, context: ag.NodeContext) -> dict[str, Any]:
            return {"name": await ask_moved_aside(context)}

        async def main() -> Any:
            run = asks_once.start()
            await run
            return run

        run = arun(main(), timeout=20)
        session.flush()
        assert store.cut is not None  # (the cancel did land in the answer's turn)
        assert run.outputs == {"name": "Ada"}
        assert adapter.shown == ["Your name?"]  # asked once
        assert [w.status for w in session.store.list_waits(run.id, status=None)] == ["answered"]
