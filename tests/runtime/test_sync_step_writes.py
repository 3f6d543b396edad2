"""A ``"sync"``-durability step whose record could not be written: the step ran, so its record is kept and retried.

A step's effect happens in its body (a shipment, a payment); its journal entry only records it. When the write
fails, taking the entry back would make a resume run the step again (the effect twice), so it stays pending and is
written once the store can be written. The body was told the store's own error ("Nothing of this write was kept
... write again"), which invited a second call: it is now told the step ran and is kept (``step_not_written``).
"""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.runtime import session as session_mod
from tests.conftest import arun
from tests.runtime.test_history_claims import DISK_FULL, FlakyStore, flaky  # noqa: F401  (the fixture)

shipped: list[int] = []


@ag.tool(outputs=["y"])
def ship(n: int) -> dict[str, int]:
    shipped.append(n)
    return {"y": n}


def test_a_sync_step_whose_write_failed_is_kept_and_the_body_told_it_ran(flaky: FlakyStore) -> None:  # noqa: F811
    session = session_mod.default_session()
    session.store.durability = "sync"
    shipped.clear()

    @ag.graph_fn(outputs=["told", "y"])
    async def agent() -> dict[str, Any]:
        told = []
        flaky.broken = StorageError(DISK_FULL, code="io")
        try:
            await ship(1)
        except StorageError as exc:
            told.append((exc.code, exc.message))
        flaky.broken = None  # space is back
        return {"told": told, "y": (await ship(2))["y"]}

    async def main() -> ag.Run:
        run = agent.start()
        await run
        await session.store.barrier()  # what stayed pending is written
        return run

    run = arun(main())
    session.flush()
    assert run.outputs is not None
    ((code, message),) = run.outputs["told"]
    assert code == "step_not_written" and "ran" in message and "do not call it again" in message, message
    assert "No space left" in message
    assert shipped == [1, 2]
    assert [(e.key, e.value) for e in flaky.load_journal(run.id)] == [("ship_1", {"y": 1}), ("ship_2", {"y": 2})]
    assert {n.node_id: n.status for n in flaky.list_nodes(run.id)} == {"ship_1": "DONE", "ship_2": "DONE"}
