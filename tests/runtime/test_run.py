"""Run: what the handle says of a run nothing executes (cut off by a restart, or waiting in the store), and its own
methods refuse arguments they cannot use with a UsageError saying what to pass."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.status import CUT_OFF, cut_off
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, default_session

HANGING: list[asyncio.Event] = []  # one per loop (an event is bound to the loop that first waits on it)


@ag.tool
async def hang() -> None:
    HANGING[-1].set()
    await asyncio.Event().wait()  # still going when the "kernel" stops


@ag.graph_fn
async def cut_short() -> None:
    await hang()


def test_wait_for_on_a_run_cut_off_by_a_restart_says_so_and_how_to_go_on() -> None:
    """``run.wait_for("waiting")`` on a run cut off by a restart said "run cut is running and not executing, so it
    will not become waiting": two states at once, nothing to do, and not the words ``%aether runs`` uses."""
    store = MemoryStore()
    with default_session(store) as first:

        async def start() -> None:
            HANGING.append(asyncio.Event())
            cut_short.start(run_id="cut")
            await asyncio.wait_for(HANGING[-1].wait(), 5)
            await first.store.barrier()

        arun(start())  # the loop ends with the run in its tool: the kernel stopped
    with default_session(store):  # the kernel restarted: only the store is left

        async def look() -> None:
            run = ag.get_run("cut")
            assert (run.status, run.live) == ("running", False)  # its stored status stays
            assert cut_off(run.status, run.live)
            with pytest.raises(ag.UsageError) as waiting:
                await run.wait_for("waiting")
            assert waiting.value.code == "not_executing"
            assert waiting.value.message == (
                f"run cut was {CUT_OFF}: its status still says running but nothing executes it now, so it will not "
                "become waiting. `run.resume()` (or `%aether resume cut`) goes on from its last completed step, then "
                "`await run.wait_for('waiting')`; `await run` resumes it and returns its outputs"
            )
            assert "cut off (the kernel stopped while it ran)" in waiting.value.message  # as %aether runs says
            with pytest.raises(ag.UsageError, match=r"so it will not finish\. `await run` resumes it"):
                await run.wait_for()
            HANGING.append(asyncio.Event())
            run.resume()  # as the message says
            await asyncio.wait_for(HANGING[-1].wait(), 5)
            assert await run.wait_for("running") == "running" and run.live
            run.cancel()
            with pytest.raises(ag.UsageError, match=r"run cut has ended \(cancelled\), so it will not become wai"):
                await run.wait_for("waiting")

        arun(look())


@ag.graph_fn
async def nothing() -> None:
    return None


@pytest.mark.parametrize(
    ("args", "kw", "said"),
    [
        ((["waiting"],), {}, "separate strings"),
        (({"waiting"},), {}, "separate strings"),
        (("waiting", None), {}, "separate strings"),
        ((), {"timeout": float("nan")}, "timeout="),
        ((), {"timeout": -1}, "timeout="),
        ((), {"timeout": "5"}, "timeout="),
        ((), {"timeout": True}, "timeout="),
    ],
)
def test_wait_for_refuses_what_is_not_a_status_or_a_timeout(
    session: Session, args: tuple[Any, ...], kw: dict[str, Any], said: str
) -> None:
    async def main() -> None:
        run = nothing.start()
        try:
            with pytest.raises(ag.UsageError, match=said):
                await run.wait_for(*args, **kw)
        finally:
            await run

    arun(main())


def test_wait_for_still_takes_statuses_and_timeouts(session: Session) -> None:
    async def main() -> str:
        run = nothing.start()
        return await run.wait_for("succeeded", "failed", timeout=5)

    assert arun(main()) == "succeeded"


def test_a_failed_runs_error_masks_the_secrets_its_message_held(session: Session) -> None:
    """``print(run.error)`` showed a key the failing tool put in its message, where ``str(RunFailed)``, the widget
    and the store masked it (a scratch tester's notebook: the key ended up in the saved .ipynb)."""
    key = "sk-" + "Zx9" * 15

    @ag.tool(outputs=["y"])
    def charges(x: int) -> dict[str, int]:
        raise ValueError(f"the gateway refused key {key}")

    @ag.graph_fn(name="charges_once", outputs=["y"])
    async def agent(x: int) -> dict[str, int]:
        return await charges(x)

    async def main() -> ag.Run:
        run = agent.start(x=1)
        with pytest.raises(ag.RunFailed):
            await run
        return run

    run = arun(main())
    assert run.error is not None and "the gateway refused key" in run.error
    assert key not in run.error and "[REDACTED]" in run.error
