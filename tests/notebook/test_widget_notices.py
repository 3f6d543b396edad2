"""The widget says what the run says about its history: not written yet (and written again), or dropped.

Issue 12: "the affected runs say so (status warning on the run, a notice in the widget)".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import aether_nb as ag
from aether_nb.errors import StorageError
from aether_nb.notebook.widget import RunView
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, RejectedRecord
from tests.conftest import arun, make_session


class FlakyStore(MemoryStore):
    """History writes fail while ``broken`` is set (a full disk, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: Exception | None = None

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        if self.broken is not None:
            raise self.broken
        return super().write_history(batch)


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyStore, Session]]:
    store = FlakyStore()
    s, _ = make_session(store)
    previous = session_mod.set_default_session(s)
    try:
        yield store, s
    finally:
        session_mod.set_default_session(previous)


@ag.tool(outputs=["y"])
async def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@ag.graph_fn(outputs=["y", "name"])
async def asks(*, context: ag.NodeContext) -> dict[str, object]:
    y = (await inc(1))["y"]
    return {"y": y, "name": await context.channel().ask_text("name?")}


def test_a_store_that_cannot_be_written_is_said_in_the_widget_until_it_recovers(
    flaky: tuple[FlakyStore, Session],
) -> None:
    store, session = flaky
    store.broken = OSError("No space left on device")
    notices: list[str] = []

    async def main() -> str:
        run = asks.start()
        view = RunView(run)
        # The wait cannot be made durable, so the ask fails the run (a prompt is never shown for a wait that a
        # restart would lose); the steps before it stay pending in memory, retried.
        status = await run.wait_for("waiting", "failed", timeout=10)
        notices.append(view.widget.notice)
        store.broken = None
        session.flush()
        view.flush()
        notices.append(view.widget.notice)
        view.close()
        return status

    assert arun(main()) == "failed"
    assert "cannot be written" in notices[0] and "No space left on device" in notices[0], notices
    assert notices[1] == "The store is written again: this run's history is saved.", notices
    assert [r.status for r in store.list_runs()] == ["failed"], "the pending history was written on recovery"


class PickyStore(MemoryStore):
    """Refuses the journal entry of ``inc`` (as a store refuses a value it cannot hold) and writes the rest."""

    def write_history(self, batch: HistoryBatch) -> list[RejectedRecord]:
        refused = [e for e in batch.journal if e.key.startswith("inc_")]
        batch.journal[:] = [e for e in batch.journal if e not in refused]
        return super().write_history(batch) + [
            RejectedRecord("journal", e.run_id, e.key, "value too odd to store", e.key) for e in refused
        ]


def test_history_the_store_refused_is_said_in_the_widget() -> None:
    store = PickyStore()
    s, _ = make_session(store, answers=["Ada"])
    previous = session_mod.set_default_session(s)

    async def main() -> tuple[dict[str, object], str]:
        run = asks.start()
        view = RunView(run)
        out = await run
        with pytest.raises(StorageError, match="dropped"):
            s.flush()  # flush says what was dropped since the last one
        view.flush()
        notice = view.widget.notice
        view.close()
        return out, notice

    try:
        out, notice = arun(main())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"y": 2, "name": "Ada"}, "the run itself goes on"
    assert "could not be stored" in notice and "value too odd to store" in notice and "run again" in notice, notice


@ag.graph_fn(outputs=["name"])
async def keyed(city: str, api_key: str, *, context: ag.NodeContext) -> dict[str, object]:
    return {"name": await context.channel().ask_text(f"Weather in {city}?")}


def test_a_run_with_a_secret_input_says_in_the_widget_that_a_restart_would_end_it(session: Session) -> None:
    """The person learns it while the run waits (and can start it another way), not after a restart."""

    async def main() -> str:
        run = keyed.start(city="Oslo", api_key="sk-proj-" + "Q7w" * 14)
        view = RunView(run)
        await run.wait_for("waiting", timeout=10)
        view.flush()
        notice = view.widget.notice
        view.close()
        run.cancel()
        return notice

    notice = arun(main())
    assert notice.startswith(
        "An input of this run holds a secret, which is never stored, so this run cannot be "
        "resumed after a kernel restart."
    ), notice
    assert "aether_nb.tools.read_env" in notice and "Q7w" not in notice


def test_the_widget_knows_a_run_with_a_secret_input_cannot_be_resumed_elsewhere(session: Session) -> None:
    """Its notes after a restart and in a saved notebook said "%aether resume RUN_ID", which refuses such a run:
    the widget carries why it cannot (``not_resumable``) for the front end to say instead; other runs carry ""."""

    async def main() -> tuple[str, str]:
        secret = keyed.start(city="Oslo", api_key="sk-proj-" + "Q7w" * 14)
        plain = keyed.start(city="Oslo", api_key=None)  # (a value under a credential-like name is one)
        views = [RunView(secret), RunView(plain)]
        await secret.wait_for("waiting", timeout=10)
        said = [v.widget.not_resumable for v in views]
        for view, run in zip(views, (secret, plain), strict=True):
            view.close()
            run.cancel()
        return said[0], said[1]

    secret_said, plain_said = arun(main())
    assert "cannot be resumed in a new process; start a new run" in secret_said and "Q7w" not in secret_said
    assert plain_said == ""


def test_a_finished_run_no_longer_says_its_secret_input_stops_a_resume(session: Session) -> None:
    """It kept "this run cannot be resumed after a kernel restart" once it had succeeded: nothing resumes it."""

    async def main() -> str:
        run = keyed.start(city="Oslo", api_key="sk-proj-" + "Q7w" * 14)
        view = RunView(run)
        await run.wait_for("waiting", timeout=10)
        (wait,) = run.waits
        await run.answer(wait.options[0] if wait.options else "yes")
        await run
        view.flush()
        notice = view.widget.notice
        view.close()
        return notice

    notice = arun(main())
    assert notice.startswith("An input of this run held a secret"), notice
    assert "cannot be resumed" not in notice and "Q7w" not in notice


def test_a_step_whose_result_holds_a_secret_is_said_as_such(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph that reads its key with read_env: the widget said "Part of this run's history could not be stored
    (the step is not journaled and runs again if the run is resumed.)", as if the store had failed."""
    from aether_nb.tools import read_env

    monkeypatch.setenv("SHOP_API_KEY", "sk-proj-" + "Zx9" * 12)

    @ag.tool(outputs=["n"])
    def key_length(key: str) -> dict[str, int]:
        return {"n": len(key)}

    @ag.graphify(name="keyed_graph", inputs=[], outputs=["n"])
    def keyed_graph():  # type: ignore[no-untyped-def]
        return {"n": key_length(key=read_env(name="SHOP_API_KEY").value).n}

    async def main() -> str:
        run = keyed_graph.start()
        view = RunView(run)
        await run
        view.flush()
        notice = view.widget.notice
        view.close()
        return notice

    notice = arun(main())
    assert notice.startswith(
        "The result of step read_env_1 held a secret (an API key or credential), which is never stored"
    ), notice
    assert "could not be stored" not in notice and "Zx9" not in notice
    # the run succeeded: nothing will resume it, so the notice no longer says the step would run again
    assert "runs again" not in notice and "redacted" in notice


def test_a_stopped_run_no_longer_says_its_secret_step_would_run_again(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped with the toolbar's button, the run can never be resumed, yet its notice still said "if this run is
    resumed after a restart, that step runs again" (a succeeded run already got the settled wording). A second
    view of the waiting run said nothing of the step at all."""
    monkeypatch.setenv("SHOP_API_KEY", "sk-proj-" + "Zx9" * 12)

    @ag.tool(outputs=["key"])
    def fetch_key() -> dict[str, str]:
        import os

        return {"key": os.environ["SHOP_API_KEY"]}

    @ag.graph_fn(name="keyed_then_asks", outputs=["ok"])
    async def keyed(*, context: ag.NodeContext) -> dict[str, bool]:
        await fetch_key()
        ok, _ = await context.channel().ask_approval("Go on?", options=["Yes", "No"])
        return {"ok": ok}

    async def main() -> tuple[str, str]:
        run = keyed.start()
        view = RunView(run)
        await run.wait_for("waiting", timeout=10)
        view.flush()
        waiting = view.widget.notice
        second = RunView(run)  # shown again (outputs cleared, the table's Resume): it said nothing of the step
        assert second.widget.notice == waiting
        second.close()
        run.cancel()
        await run.wait_for("cancelled", timeout=10)
        view.flush()
        stopped = view.widget.notice
        view.close()
        return waiting, stopped

    waiting, stopped = arun(main())
    assert "that step runs again, and so may the steps that used its result" in waiting, waiting
    assert "runs again" not in stopped and "held a secret" in stopped and "Zx9" not in stopped, stopped


def test_a_step_that_ran_again_after_a_restart_is_said_beside_the_resume(session: Session) -> None:
    """A step cut off by a stopped kernel runs again from its start on resume (``ran_again``): the widget said only
    "completed steps were replayed, not executed again" (true) and hid that one step ran twice."""
    from aether_nb.runtime.events import RunWarning

    async def main() -> str:
        run = asks.start()
        view = RunView(run)
        await run.wait_for("waiting", timeout=10)
        run.emit(
            RunWarning,
            node_id="inc_1",
            code="ran_again",
            message="step inc_1 was still running when the kernel stopped",
            detail={"step": "inc_1", "name": "inc"},
        )
        view.flush()
        notice = view.widget.notice
        view.close()
        run.cancel()
        return notice

    notice = arun(main())
    assert notice == (
        "Resumed from the store: completed steps were replayed, not executed again. Step inc_1 was still running "
        "when the kernel stopped, so it ran again from its start: anything it did before the stop may have happened "
        "twice."
    ), notice


BROKEN = {"on": True}


@ag.tool(outputs=["y"])
def flaky_average(x: int) -> dict[str, int]:
    if BROKEN["on"]:
        raise ZeroDivisionError("no rows")
    return {"y": x}


@ag.graph_fn(name="averages", outputs=["y"])
async def averages(x: int) -> dict[str, object]:
    return {"y": (await flaky_average(x))["y"]}


def test_a_failed_run_resumed_in_another_cell_says_it_failed_before(session: Session) -> None:
    """Its widget, in the cell whose await raised RunFailed, went on to "done · Resumed from the store" right above
    that cell's traceback (a scratch tester's notebook): the notice now says the error is from before the resume."""

    async def main() -> tuple[str, str]:
        run = averages.start(x=3, run_id="avg-1")
        view = RunView(run)
        with pytest.raises(ag.RunFailed):
            await run
        BROKEN["on"] = False
        again = averages.start(x=3, run_id="avg-1", resume_mode="failed_nodes")
        assert again is run
        await again
        view.flush()
        notice, status = view.widget.notice, run.status
        view.close()
        return notice, status

    try:
        notice, status = arun(main())
    finally:
        BROKEN["on"] = True
    assert status == "succeeded"
    assert notice == (
        "This run failed at flaky_average_1 and was resumed since: completed steps were replayed, not executed "
        "again, and the failed ones ran again. (An error shown with it above is from before the resume.)"
    ), notice
