"""A ``receive()`` whose taking of a queued message cannot be written tries again, and the agent reads it once.

``receive()`` takes the oldest queued message by answering its wait with it, the message leaving the inbox in the
same write. When that write fails (a full disk for a moment) both are taken back: the wait is open again and the
message still queued. Nothing offered it to the wait any more (a message posted later queues behind it, to keep the
order), so the agent waited in ``receive()`` until a restart; now the taking is tried again until the store can be
written, and each message is read once, in order.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.runtime.session import Session
from aether_nb.services.channel import post_message, queued_messages
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import HistoryBatch, RejectedRecord


class FailsTakingOnce(DuckDBStore):
    """Refuses (as a full disk does) the first write holding a ``receive()`` wait's answer."""

    failed = 0

    def write_history(self, batch: HistoryBatch, *, durable: bool = True) -> list[RejectedRecord]:
        if not self.failed and any(w.status == "answered" and (w.meta or {}).get("message") for w in batch.waits):
            self.failed += 1
            raise StorageError("No space left on device. Nothing of this write was kept", code="io")
        return super().write_history(batch, durable=durable)


async def _listen_three(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    await ch.ask_text("Ready?")  # the messages are written meanwhile: they queue in the inbox
    return {"heard": [await ch.receive(), await ch.receive(), await ch.receive()]}


def test_a_failed_take_of_a_queued_message_is_tried_again_and_each_message_is_read_once(
    session: Session, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailsTakingOnce(str(tmp_path / "nb.duckdb"))
    ag.configure(store=store, channel=ag.ConsoleChannel(out=open(os.devnull, "w")))  # noqa: SIM115
    agent = ag.graph_fn(name="listens", outputs=["heard"])(_listen_three)

    async def main() -> dict[str, Any]:
        run = agent.start()
        await run.wait_for("waiting", timeout=30)
        for text in ("m1", "m2", "m3"):
            assert await post_message(run, text) == "queued"
        await run.answer("yes")  # the agent goes on to receive(): taking m1 fails once
        out = await asyncio.wait_for(run, 60)  # (hung for good before)
        assert store.failed == 1
        assert queued_messages(ag.store(), run.id) == []
        return dict(out)

    out = asyncio.run(main())
    assert out["heard"] == ["m1", "m2", "m3"]
    assert "(receive_1) could not be written" in caplog.text  # (the failure happened, and was said)
