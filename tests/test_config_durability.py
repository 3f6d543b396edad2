"""``ag.configure(durability="sync")`` in the middle of work: "sync" promises every completed step durable before
the code continues, so switching to it writes what the default mode had left pending (before, the steps completed
just before the switch stayed in memory, to run again if the process was then killed)."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, default_session


def test_switching_to_sync_durability_writes_the_steps_completed_before_it() -> None:
    store = MemoryStore()
    with default_session(store) as session:
        session.store.durability = "async"
        seen: dict[str, list[str]] = {}

        @ag.tool(outputs=["v"])
        async def charge(x: int) -> dict[str, Any]:
            return {"v": x}

        @ag.graph_fn(outputs=["out"])
        async def agent() -> dict[str, Any]:
            await charge(1)
            seen["before"] = [e.key for e in store.load_journal("w")]
            ag.configure(durability="sync")
            seen["after"] = [e.key for e in store.load_journal("w")]
            return {"out": 1}

        async def main() -> Any:
            return await agent.start(run_id="w")

        arun(main(), timeout=20)
        assert not any("charge" in k for k in seen["before"])  # (the default mode had not written it yet)
        assert any("charge" in k for k in seen["after"])
