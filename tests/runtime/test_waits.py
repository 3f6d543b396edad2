"""Waits: asks answered by the scripted channel and by run.answer, concurrency, deadlines, validation, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ManualClock, ScriptedChannel
from tests.conftest import arun, default_session


async def until(predicate: Any, timeout: float = 5.0) -> None:
    """Wait for a run state to be reached: yields to the loop between checks, bounded by a timeout."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


@ag.graph_fn(outputs=["name", "approved"])
async def onboarding(*, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    name = await ch.ask_text("Your name?")
    approved, choice = await ch.ask_approval("Proceed?", options=["Yes", "No"])
    await ch.send_text(f"Hi {name}, approved={approved} ({choice})")
    return {"name": name, "approved": approved}


def test_asks_answered_by_the_scripted_channel(session: Session, channel: ScriptedChannel) -> None:
    channel.add_answers("Ada", "Yes")
    assert arun(onboarding()) == {"name": "Ada", "approved": True}
    assert [w.prompt for w in channel.prompts] == ["Your name?", "Proceed?"]
    assert channel.texts == ["Hi Ada, approved=True (Yes)"]
    run = ag.runs()[0]
    assert run.graph.node("ask_text_1").status == "DONE"
    assert run.graph.node("ask_text_1").kind == "wait"
    assert run.waits == []


def test_asks_answered_with_run_answer(session: Session, channel: ScriptedChannel) -> None:
    async def main() -> None:
        run = onboarding.start()
        await run.wait_for("waiting")
        (wait,) = run.waits
        assert (wait.kind, wait.prompt, wait.node_id) == ("text", "Your name?", "ask_text_1")
        assert run.graph.node("ask_text_1").status == "WAITING_HUMAN"
        await run.answer("Grace")
        await until(lambda: len(run.waits) == 1 and run.waits[0].kind == "approval")
        assert run.waits[0].options == ["Yes", "No"]
        await run.answer(False)
        assert await run == {"name": "Grace", "approved": False}

    arun(main())


def test_two_concurrent_asks_in_one_node(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(outputs=["a", "b"])
    async def both(*, context: ag.NodeContext) -> dict[str, str]:
        ch = context.channel()
        a, b = await asyncio.gather(ch.ask_text("first?"), ch.ask_text("second?"))
        return {"a": a, "b": b}

    async def main() -> None:
        run = both.start()
        await until(lambda: len(run.waits) == 2)
        first, second = sorted(run.waits, key=lambda w: w.prompt or "")
        assert first.token != second.token
        with pytest.raises(ag.UsageError, match="2 open waits") as raised:
            await run.answer("x")
        assert raised.value.code == "ambiguous_wait"
        assert f"token={first.token}" in str(raised.value) and f"token={second.token}" in str(raised.value)
        await run.answer("two", token=second.token)
        await run.answer("one", token=first.token)
        assert await run == {"a": "one", "b": "two"}
        with pytest.raises(
            ag.UsageError, match=f"run {run.id} has no open wait to answer: it has ended \\(succeeded\\)"
        ):
            await run.answer("three")

    arun(main())


def test_deadline_fails_the_wait_with_wait_timeout(session: Session, channel: ScriptedChannel) -> None:
    clock = ManualClock()
    session.clock = clock
    caught: list[str] = []

    @ag.graph_fn(outputs=["name"])
    async def impatient(*, context: ag.NodeContext) -> dict[str, str]:
        try:
            return {"name": await context.channel().ask_text("Name?", timeout_s=30)}
        except ag.WaitTimeout as exc:
            caught.append(exc.node_id or "")
            return {"name": "anonymous"}

    async def main() -> None:
        run = impatient.start()
        await until(lambda: clock.sleepers == 1)
        (wait,) = run.waits
        assert wait.deadline == clock.now() + 30
        clock.advance(29)
        await asyncio.sleep(0)
        assert run.status == "waiting"
        clock.advance(2)
        assert await run == {"name": "anonymous"}
        assert run.graph.node("ask_text_1").status == "FAILED_TIMEOUT"
        with pytest.raises(ag.UsageError, match=r"cannot take this answer: .* passed its deadline"):
            session.answer(wait.token, "late")

    arun(main())
    assert caught == ["ask_text_1"]


def test_uncaught_timeout_fails_the_run(session: Session) -> None:
    clock = ManualClock()
    session.clock = clock

    @ag.graph_fn
    async def agent(*, context: ag.NodeContext) -> None:
        await context.channel().ask_text("Name?", timeout_s=5)

    async def main() -> None:
        run = agent.start()
        await until(lambda: clock.sleepers == 1)
        clock.advance(6)
        with pytest.raises(ag.RunFailed) as info:
            await run
        assert isinstance(info.value.__cause__, ag.WaitTimeout)

    arun(main())


def test_bad_answer_is_rejected_and_the_wait_stays_open(session: Session) -> None:
    @ag.graph_fn(outputs=["pick"])
    async def picker(*, context: ag.NodeContext) -> dict[str, Any]:
        r = await context.channel().ask_choices("Colour?", ["red", "blue"])
        return {"pick": (r.choice, r.index)}

    async def main() -> None:
        run = picker.start()
        await run.wait_for("waiting")
        with pytest.raises(ag.InvalidAnswer, match="not one of"):
            await run.answer("green")
        with pytest.raises(ag.InvalidAnswer, match="out of range"):
            await run.answer(7)
        assert run.status == "waiting" and len(run.waits) == 1
        await run.answer("BLUE")
        assert await run == {"pick": ("blue", 1)}

    arun(main())


def test_wrong_token_is_rejected(session: Session) -> None:
    async def main() -> None:
        run = onboarding.start()
        await run.wait_for("waiting")
        with pytest.raises(ag.UsageError) as info:
            await run.answer("Ada", token="forged-token")
        assert info.value.code == "bad_token"
        with pytest.raises(ag.UsageError, match=r"a wait's token is a string .*got int") as info:
            await run.answer("Ada", token=123)  # (it said "no wait has this token")
        assert info.value.code == "bad_token"
        assert len(run.waits) == 1
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run

    arun(main())


def test_cancel_stops_a_running_agent(session: Session) -> None:
    started = asyncio.Event()

    @ag.tool
    async def slow() -> None:
        started.set()
        await asyncio.Event().wait()  # never set: only cancellation ends it

    @ag.graph_fn
    async def agent() -> None:
        await slow()

    async def main() -> None:
        run = agent.start()
        await asyncio.wait_for(started.wait(), 5)
        assert run.cancel() is True
        with pytest.raises(ag.RunCancelled):
            await run
        assert run.status == "cancelled"
        assert run.graph.node("slow_1").status == "CANCELLED"
        assert run.cancel() is False

    arun(main())


def test_cancel_closes_open_waits(session: Session) -> None:
    async def main() -> None:
        run = onboarding.start()
        await run.wait_for("waiting")
        token = run.waits[0].token
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        assert run.waits == []
        with pytest.raises(ag.UsageError, match=r"cannot take this answer: .* was cancelled when the run was stopped"):
            session.answer(token, "late")

    arun(main())


class Approve(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
        return ag.WaitSpec(
            kind="approval",
            prompt=f"Pay {amount}?",
            options=["Yes", "No", "Maybe"],
            timeout_s=3600,
        )

    async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"decision": payload["choice"]}


def test_dual_stage_tool_waits_on_its_own_node(session: Session) -> None:
    @ag.graph_fn(outputs=["decision"])
    async def pay(amount: float) -> dict[str, Any]:
        return await Approve(amount=amount)

    async def main() -> None:
        run = pay.start(amount=12.5)
        await run.wait_for("waiting")
        node = run.graph.node("Approve_1")
        assert node.status == "WAITING_HUMAN" and node.kind == "tool"
        (wait,) = run.waits
        assert (wait.prompt, wait.node_id) == ("Pay 12.5?", "Approve_1")
        with pytest.raises(ag.InvalidAnswer):
            await run.answer("Bogus")
        await run.answer("Maybe")
        assert await run == {"decision": "Maybe"}
        assert run.graph.node("Approve_1").status == "DONE"

    arun(main())


def test_dual_stage_tool_outside_a_run_is_a_usage_error() -> None:
    with pytest.raises(ag.UsageError, match="inside a run"):
        Approve(amount=1)


def test_wait_spec_with_schema_validates_answers(session: Session) -> None:
    class Submit(ag.DualStageTool, outputs=["value"]):
        async def setup(self) -> ag.WaitSpec:
            schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
            return ag.WaitSpec(kind="external", prompt="n?", schema=schema)

        async def on_resume(self, payload: Any) -> dict[str, Any]:
            return {"value": payload["n"]}

    @ag.graph_fn
    async def agent() -> dict[str, Any]:
        return await Submit()

    async def main() -> None:
        run = agent.start()
        await run.wait_for("waiting")
        assert run.graph.node("Submit_1").status == "WAITING_EXTERNAL"
        with pytest.raises(ag.InvalidAnswer, match="'n' is a required property"):
            await run.answer({"m": 1})
        await run.answer({"n": 3})
        assert await run == {"value": 3}

    arun(main())


def test_bad_wait_specs_fail_early() -> None:
    with pytest.raises(ag.UsageError, match="timeout_s"):
        ag.WaitSpec(kind="text", timeout_s=-1)
    with pytest.raises(ag.UsageError, match="not a valid JSON Schema"):
        ag.WaitSpec(schema={"type": 12})
    with pytest.raises(ag.UsageError, match="duplicates"):
        ag.WaitSpec(kind="choice", options=["a", "a"])


def test_files_answer_becomes_artifacts(session: Session, tmp_path: Any) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")

    @ag.graph_fn(outputs=["text"])
    async def upload(*, context: ag.NodeContext) -> dict[str, str]:
        (f,) = await context.channel().ask_files("Upload data", accept=[".csv"])
        return {"text": await context.artifacts().load_text(f.artifact_uri)}

    async def main() -> None:
        run = upload.start()
        await run.wait_for("waiting")
        with pytest.raises(ag.InvalidAnswer, match="csv"):
            await run.answer([("notes.txt", b"x")])
        await run.answer([str(data)])
        assert await run == {"text": "a,b\n1,2\n"}

    arun(main())


def test_a_files_answer_naming_a_path_the_system_refuses_is_an_invalid_answer(session: Session, tmp_path: Any) -> None:
    """A name too long for the file system (or a folder, or no such file) is the user's mistake, said in
    aether_nb's terms; the wait stays open for a good answer (found by the API fuzzer: an OSError escaped)."""
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")

    @ag.graph_fn(outputs=["n"])
    async def upload(*, context: ag.NodeContext) -> dict[str, int]:
        files = await context.channel().ask_files("Upload data")
        return {"n": len(files)}

    async def main() -> None:
        run = upload.start()
        await run.wait_for("waiting")
        for bad in ["x" * 5000, str(tmp_path), str(tmp_path / "missing.csv")]:
            with pytest.raises(ag.InvalidAnswer, match=r"readable file|is not a file") as caught:
                await run.answer([bad])
            assert len(str(caught.value)) < 400  # the path is shortened in the message
            assert run.status == "waiting"
        await run.answer([str(data)])
        assert await run == {"n": 1}

    arun(main())


def test_a_files_answer_given_as_records_is_checked_field_by_field(session: Session, tmp_path: Any) -> None:
    """A files answer given as records (what the widget sends after an upload) reached the agent as it was with
    ``size=-5``, NaN or ``"big"``, a blank name or a URI that is no artifact's (found by the API fuzzer)."""
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")

    @ag.graph_fn(outputs=["n"])
    async def upload(*, context: ag.NodeContext) -> dict[str, int]:
        return {"n": len(await context.channel().ask_files("Upload data"))}

    good = {"name": "a.csv", "size": 4, "mime": "text/csv", "artifact_uri": "artifact://abc"}
    bad = [
        {**good, "size": -5},
        {**good, "size": float("nan")},
        {**good, "size": "big"},
        {**good, "size": True},
        {**good, "name": " "},
        {**good, "mime": None},
        {**good, "artifact_uri": "/etc/passwd"},
    ]

    async def main() -> None:
        run = upload.start()
        await run.wait_for("waiting")
        for record in bad:
            with pytest.raises(ag.InvalidAnswer, match="file"):
                await run.answer([record])
            assert run.status == "waiting"
        await run.answer([good])
        assert await run == {"n": 1}

    arun(main())


def test_a_dual_stage_tool_past_its_deadline_is_failed_timeout_and_its_caller_is_not(session: Session) -> None:
    """The README says waits end ``FAILED_TIMEOUT`` at their deadline, DualStageTool included; its node ended
    ``FAILED`` (only wait-kind nodes counted). A graph_fn around it fails (its own status is not a timeout)."""
    clock = ManualClock()
    session.clock = clock

    @ag.tool(outputs=["decision"])
    class TimedApprove(ag.DualStageTool):
        async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
            return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?", timeout_s=5)

        async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
            return {"decision": payload["choice"]}

    @ag.graph_fn(name="pays_after_approval", outputs=["d"])
    async def pays(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"d": (await TimedApprove(amount=1))["decision"]}

    @ag.graph_fn(name="pays_outer", outputs=["d"])
    async def outer(*, context: ag.NodeContext) -> dict[str, Any]:
        return await pays()

    async def main() -> dict[str, str]:
        run = outer.start()
        await until(lambda: clock.sleepers == 1)
        clock.advance(6)
        with pytest.raises(ag.RunFailed):
            await run
        return {n.id: n.status for n in run.graph.nodes}

    statuses = arun(main())
    assert statuses["pays_after_approval_1/TimedApprove_1"] == "FAILED_TIMEOUT", statuses
    assert statuses["pays_after_approval_1"] == "FAILED", statuses


def test_a_durable_sleep_wakes_at_its_deadline_with_its_wake_up_stored(session: Session) -> None:
    """``WaitSpec(kind="time")`` put the node in WAITING_TIME, then its deadline failed the run ("nobody answered
    'time'"): there was no way to sleep durably. ``context.sleep(s)`` is a time wait whose deadline is its answer,
    stored like one (a resume after it does not sleep again)."""
    clock = ManualClock()
    session.clock = clock
    calls: list[str] = []

    @ag.tool(outputs=["n"])
    def ds_check(label: str) -> dict[str, int]:
        calls.append(label)
        return {"n": len(calls)}

    @ag.graph_fn(name="sleeps_between_checks", outputs=["n"])
    async def sleeper(*, context: ag.NodeContext) -> dict[str, int]:
        await ds_check("before")
        await context.sleep(3600)
        return await ds_check("after")

    @ag.graph_fn(name="sleeps_badly")
    async def bad(*, context: ag.NodeContext) -> None:
        await context.sleep(-1)

    async def main() -> tuple[str, list[str]]:
        run = sleeper.start(run_id="sleepy")
        await until(lambda: clock.sleepers == 1)
        assert run.status == "waiting" and run.graph.node("sleep_1").status == "WAITING_TIME"
        clock.advance(3601)
        assert await run == {"n": 2}
        stored = [w.status for w in session.store.list_waits("sleepy", status=None)]
        return run.graph.node("sleep_1").status, stored

    assert arun(main()) == ("DONE", ["answered"])
    assert calls == ["before", "after"]
    with pytest.raises(ag.RunFailed, match="positive number of seconds"):
        arun(bad())


@ag.graph_fn(outputs=["ok"])
async def ask_go(*, context: ag.NodeContext) -> dict[str, Any]:
    ok, _ = await context.channel().ask_approval("go?")
    return {"ok": ok}


def test_an_answer_that_lost_the_race_says_the_question_was_answered_and_what_to_do() -> None:
    """Two answers racing after a restart: the loser said "run dorm has no open wait to answer (status waiting)"
    ("waiting" beside "no open wait", and nothing to do): the first answer had been taken, the run not yet."""
    store = MemoryStore()
    with default_session(store):

        async def ask() -> None:
            await ask_go.start(run_id="dorm").wait_for("waiting")

        arun(ask())
    with default_session(store):  # the kernel restarted: only the store is left

        async def race() -> None:
            run = ag.get_run("dorm")
            token = run.waits[0].token
            first, second = await asyncio.gather(run.answer(True), run.answer(False), return_exceptions=True)
            assert first is None and isinstance(second, ag.UsageError), (first, second)
            assert second.code == "no_open_wait"
            assert second.message == (
                "run dorm has no open wait to answer: its question 'go?' (ask_approval_1) was already answered, and "
                "the run goes on with that answer: `await run` for its outputs, `run.waits` for what it asks next"
            )
            with pytest.raises(ag.UsageError) as late:  # the same, by the wait's token
                await run.answer(False, token=token)
            assert late.value.code == "wait_closed"
            assert "run dorm cannot take this answer: its question 'go?' (ask_approval_1) was already answered" in (
                late.value.message
            )
            assert await run == {"ok": True}

        arun(race())


def test_a_question_cancelled_by_a_failing_sibling_is_closed_when_the_run_fails(session: Session) -> None:
    """One task asks, its sibling fails and cancels the asking task (as a TaskGroup does), and the run fails. The
    question stayed open in the store, so ``%aether runs`` listed an open question on a failed run that nothing
    could answer (a state graph whose node asked beside a failing sibling showed it too)."""
    asked = asyncio.Event()

    @ag.tool(outputs=["ok"])
    async def check_stock() -> dict[str, bool]:
        await asked.wait()
        raise ConnectionError("inventory db unreachable")

    @ag.graph_fn(outputs=["ship"])
    async def order(*, context: ag.NodeContext) -> dict[str, Any]:
        ship = asyncio.ensure_future(context.channel().ask_approval("Ship the order?"))
        try:
            await check_stock()
        except ConnectionError:
            ship.cancel()  # (what a TaskGroup does to the other tasks when one fails: it waits for them to end)
            await asyncio.wait([ship])
            raise
        return {"ship": await ship}

    async def main() -> ag.Run:
        run = order.start()
        await run.wait_for("waiting")
        asked.set()
        with pytest.raises(ag.RunFailed):
            await run
        return run

    run = arun(main())
    assert run.status == "failed" and run.waits == []
    session.flush()
    assert session.store.list_waits(run.id, status="open") == []


def test_a_question_cancelled_by_a_failing_sibling_is_closed_at_once_while_the_run_goes_on(session: Session) -> None:
    """The agent catches the sibling's failure and asks something else. The first question stayed open until the
    run ended: evicted or restarted meanwhile, the run offered it again and its answer went nowhere."""

    @ag.tool(outputs=["ok"])
    async def check_stock() -> dict[str, bool]:
        raise ConnectionError("inventory db unreachable")

    @ag.graph_fn(outputs=["note"])
    async def order(*, context: ag.NodeContext) -> dict[str, Any]:
        channel = context.channel()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(channel.ask_text("Ship the order?"))
                tg.create_task(check_stock())
        except* ConnectionError:
            pass
        return {"note": await channel.ask_text("The stock is unknown: a note for the customer?")}

    async def main() -> tuple[list[str], list[str], dict[str, Any]]:
        run = order.start()
        second = "The stock is unknown: a note for the customer?"
        await until(lambda: second in [w.prompt for w in run.waits])
        prompts = [w.prompt for w in run.waits]
        stored = [w.prompt or "" for w in session.store.list_waits(run.id, status="open")]
        await run.answer("sorry")
        return prompts, stored, await run

    prompts, stored, out = arun(main())
    assert prompts == stored == ["The stock is unknown: a note for the customer?"], (prompts, stored)
    assert out == {"note": "sorry"}


def test_an_answer_after_the_deadline_is_refused_when_the_run_comes_back_after_a_restart() -> None:
    """A wait whose deadline passed while no process held its run (the kernel restarted) still reads open in the
    store; an answer to it was taken and the run succeeded, where awaiting it gave a WaitTimeout: the outcome
    depended on which came first. Now the answer is refused (``wait_expired``, saying what to do) and the run
    times out as it would have live."""
    store = MemoryStore()
    clock = ManualClock()

    @ag.graph_fn(name="asks_in_time", outputs=["name"])
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("Name?", timeout_s=60)}

    with default_session(store) as first:
        first.clock = clock

        async def start() -> None:
            run = asks.start(run_id="late-answer")
            await run.wait_for("waiting")

        arun(start())  # the loop ends with the run waiting: it is resumable, as after a kernel restart
    clock.advance(61)
    with default_session(store) as second:
        second.clock = clock

        async def come_back() -> None:
            run = ag.get_run("late-answer")
            assert len(run.waits) == 1  # (the store still reads it open: nothing held the run at its deadline)
            with pytest.raises(ag.UsageError, match=r"passed its deadline .*`await run` for its outcome") as caught:
                await run.answer("Ada")
            assert caught.value.code == "wait_expired"
            with pytest.raises(ag.RunFailed, match="WaitTimeout"):
                await run
            assert run.graph.node("ask_text_1").status == "FAILED_TIMEOUT"

        arun(come_back())


def test_an_approval_keeps_what_its_answer_says_besides_the_choice_and_its_schema_checks_it(session: Session) -> None:
    """API.md's DualStageTool asks an approval with a schema: fields the schema asks for beside ``choice`` (a
    reason) were dropped before the schema was checked, so a schema requiring one refused every answer, and an
    optional one never reached ``on_resume``; a schema's own ``choice`` enum was ignored for the default
    Approve / Reject. Now the answer keeps its other fields, the schema checks them, and its enum is the options."""
    schema = {
        "type": "object",
        "properties": {"choice": {"enum": ["yes", "no"]}, "reason": {"type": "string"}},
        "required": ["choice", "reason"],
    }

    class Approve(ag.DualStageTool, outputs=["decision", "reason"]):
        async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
            return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?", schema=schema, timeout_s=3600)

        async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
            return {"decision": payload["choice"], "reason": payload["reason"]}

    @ag.graph_fn(name="pays_with_reason", outputs=["d"])
    async def pay(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"d": await Approve(amount=3)}

    async def main() -> None:
        run = pay.start()
        await run.wait_for("waiting")
        (wait,) = run.waits
        assert wait.options == ["yes", "no"]
        with pytest.raises(ag.InvalidAnswer, match="'reason' is a required property"):
            await run.answer("yes")
        with pytest.raises(ag.InvalidAnswer, match="is not of type 'string'"):
            await run.answer({"choice": "no", "reason": 3})
        with pytest.raises(ag.InvalidAnswer, match="say which option"):
            await run.answer({"reason": "no pick"})
        await run.answer({"choice": "yes", "reason": "within budget"})
        assert await run == {"d": {"decision": "yes", "reason": "within budget"}}

    arun(main())
