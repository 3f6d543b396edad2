"""A resume runs with the options its run started with, and says so when the caller asks for others.

Found by a scratch tester: ``start(run_id=R, max_concurrency=6)`` on an unfinished run, and ``stop_on_first_error=
False`` on a ``resume_mode="failed_nodes"`` resume, were silently ignored (the stored options were used).
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.tools import ask_approval
from tests.conftest import arun

BROKEN = {"on": True}


@ag.tool(outputs=["v"])
async def go_step(x: int) -> dict[str, int]:
    if BROKEN["on"]:
        raise RuntimeError("not yet")
    return {"v": x}


@ag.graphify(name="go_flaky", inputs=["x"], outputs=["v"])
def go_flaky(x: Any) -> dict[str, Any]:
    return {"v": go_step(x=x).v}


def test_a_failed_nodes_resume_with_other_options_is_refused_and_says_how(session: Session) -> None:
    BROKEN["on"] = True

    async def main() -> Any:
        with pytest.raises(ag.RunFailed):
            await go_flaky.start(x=2, run_id="F", max_concurrency=1)
        BROKEN["on"] = False
        with pytest.raises(ag.UsageError, match="started with stop_on_first_error=True") as err:
            go_flaky.start(x=2, run_id="F", resume_mode="failed_nodes", stop_on_first_error=False)
        assert err.value.code == "options_changed" and "start a new run" in str(err.value)
        with pytest.raises(ag.UsageError, match="max_concurrency=6 would be ignored"):
            go_flaky.start(x=2, run_id="F", resume_mode="failed_nodes", max_concurrency=6)
        same = go_flaky.start(x=2, run_id="F", resume_mode="failed_nodes", max_concurrency=1)
        return await same

    assert arun(main()) == {"v": 2}


@ag.graphify(name="go_asks", inputs=["x"], outputs=["ok"])
def go_asks(x: Any) -> dict[str, Any]:
    return {"ok": ask_approval(prompt="go?").approved}


def test_an_unfinished_run_resumed_with_another_cap_is_refused(session: Session) -> None:
    async def main() -> Any:
        run = go_asks.start(x=1, run_id="W", max_concurrency=1)
        await run.wait_for("waiting")
        with pytest.raises(ag.UsageError, match="started with max_concurrency=1"):
            go_asks.start(x=1, run_id="W", max_concurrency=6)
        assert go_asks.start(x=1, run_id="W") is run  # no options: the run as it is
        await run.answer("Approve")
        result = await run
        assert go_asks.start(x=1, run_id="W", max_concurrency=6) is run  # finished: nothing runs, nothing ignored
        return result

    assert arun(main()) == {"ok": True}
