"""The user writes to an agent: ``receive()`` reads the next message, once, in this process or after a restart.

Messages written while the agent is in ``receive()`` answer that wait; messages written at any other time wait in
the run's inbox. Both are journaled like answers: a resumed run reads the same message at the same step.
The restart cases run in fresh processes on one DuckDB file (the first dies with ``os._exit``, like a killed
kernel).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.channel import post_message, queued_messages
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun


@ag.graph_fn(outputs=["heard"])
async def listener(n: int, *, context: ag.NodeContext) -> dict[str, Any]:
    ch = context.channel()
    heard = []
    for _ in range(n):
        heard.append(await ch.receive())
    return {"heard": heard}


def test_a_message_written_while_the_agent_listens_is_delivered(session: Session) -> None:
    async def main() -> None:
        run = listener.start(n=1)
        await run.wait_for("waiting", timeout=5)
        assert [w.meta for w in run.waits] == [{"message": True}]
        assert await post_message(run, "hello") == "delivered"
        assert await run == {"heard": ["hello"]}

    arun(main())


def test_messages_written_before_the_agent_listens_wait_in_order(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(outputs=["heard"])
    async def busy(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.channel().ask_text("first things first?")
        ch = context.channel()
        return {"heard": [await ch.receive(), await ch.receive()]}

    async def main() -> None:
        run = busy.start()
        await channel.wait_for(lambda c: bool(c.unanswered))
        assert await post_message(run, "one") == "queued"
        assert await post_message(run, "two") == "queued"
        assert [m["text"] for _, m in queued_messages(session.store, run.id)] == ["one", "two"]
        await run.answer("ok")
        assert await run == {"heard": ["one", "two"]}
        assert queued_messages(session.store, run.id) == [], "each message is read once"
        said = [(m.role, m.text, m.content.get("turn")) for m in channel.messages if m.content.get("turn")]
        assert ("user", "one", "message") in said and ("user", "two", "message") in said

    arun(main())


def test_messages_are_validated_and_a_finished_run_takes_none(session: Session) -> None:
    async def main() -> None:
        run = listener.start(n=1)
        await run.wait_for("waiting", timeout=5)
        for bad in ["", "   ", None, 3]:
            with pytest.raises(ag.UsageError, match="non-empty string"):
                await post_message(run, bad)  # type: ignore[arg-type]
        await post_message(run, "x")
        await run
        with pytest.raises(ag.UsageError, match="reads no more messages"):
            await post_message(run, "too late")
        stopping = listener.start(n=2)
        await stopping.wait_for("waiting", timeout=5)
        stopping.cancel()  # (its task has not ended yet: a message queued now was "queued", never to be read)
        with pytest.raises(ag.UsageError, match="is being stopped: it reads no more messages") as info:
            await post_message(stopping, "too late")
        assert info.value.code == "run_done"
        assert queued_messages(session.store, stopping.id) == []
        with pytest.raises(ag.RunCancelled):
            await stopping

    arun(main())


def test_a_secret_is_never_queued_in_the_store(session: Session, channel: ScriptedChannel) -> None:
    @ag.graph_fn(outputs=["heard"])
    async def busy(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.channel().ask_text("first?")
        return {"heard": await context.channel().receive()}

    async def main() -> None:
        run = busy.start()
        await channel.wait_for(lambda c: bool(c.unanswered))
        with pytest.raises(ag.UsageError, match="secret") as info:
            await post_message(run, "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD")
        assert info.value.code == "secret_message"
        assert queued_messages(session.store, run.id) == []
        run.cancel()

    arun(main())


def test_receive_times_out_with_wait_timeout(session: Session) -> None:
    said: list[str] = []

    @ag.graph_fn(outputs=["got"])
    async def impatient(*, context: ag.NodeContext) -> dict[str, Any]:
        try:
            return {"got": await context.channel().receive(timeout_s=0.05)}
        except ag.WaitTimeout as exc:
            said.append(str(exc))
            return {"got": None}

    assert arun(impatient()) == {"got": None}
    # (it said "nobody answered 'human'": the kind of the wait, not a question anybody was asked)
    assert said[0].startswith("no message came to context.channel().receive() within 0.05 s"), said


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1).filter(str.strip), min_size=1, max_size=6), st.integers(min_value=0, max_value=6))
def test_every_message_is_read_once_in_order_however_writes_and_reads_interleave(
    session: Session, texts: list[str], early: int
) -> None:
    """Some messages are written before the agent listens (queued), the rest while it listens (delivered)."""

    async def main() -> None:
        run = listener.start(n=len(texts))
        await run.wait_for("waiting", timeout=5)
        cut = min(early, len(texts))
        outcomes = []
        for text in texts[:cut]:
            outcomes.append(await post_message(run, text))
        for text in texts[cut:]:
            await run.wait_for("waiting", timeout=5)
            outcomes.append(await post_message(run, text))
        assert await run == {"heard": texts}
        assert queued_messages(session.store, run.id) == []
        assert outcomes[0] == "delivered", "the first message answers the receive() the agent is in"

    arun(main())


SCRIPT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.services.channel import post_message, queued_messages

DB, COUNTER, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ag.configure(store=DB)

@ag.tool(outputs=["y"])
def charge(x: int) -> dict:
    with open(COUNTER, "a") as f:
        f.write("charged\\n")
    return {"y": x}

@ag.graph_fn(outputs=["first", "second"])
async def agent(*, context):
    ch = context.channel()
    first = await ch.receive()
    await charge(1)
    await ch.ask_text("Go on?")
    second = await ch.receive()
    return {"first": first, "second": second}

async def main():
    if MODE == "start":
        run = agent.start(run_id="inbox-1")
        await run.wait_for("waiting", timeout=30)
        print(await post_message(run, "alpha"), flush=True)     # delivered: the agent listens
        while not run.waits or run.waits[0].kind != "text":
            await run.wait_for("waiting", timeout=30)
            await asyncio.sleep(0)
        print(await post_message(run, "beta"), flush=True)      # queued: it waits on ask_text
        os._exit(0)
    run = ag.get_run("inbox-1")
    print("QUEUED", json.dumps([m["text"] for _, m in queued_messages(ag.store(), run.id)]), flush=True)
    await run.answer("yes")
    print("OUT", json.dumps(await run), flush=True)

asyncio.run(main())
"""


def _run(script: Path, *args: str) -> str:
    res = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_messages_survive_a_restart_and_are_read_once(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(SCRIPT)
    db, counter = tmp_path / "nb.aether.duckdb", tmp_path / "count.txt"
    first = [
        line for line in _run(script, str(db), str(counter), "start").splitlines() if line in ("delivered", "queued")
    ]
    assert first == ["delivered", "queued"]
    out = _run(script, str(db), str(counter), "resume")
    assert 'QUEUED ["beta"]' in out, "the queued message survived the process"
    assert 'OUT {"first": "alpha", "second": "beta"}' in out, "the journaled message was replayed, the queued one read"
    assert counter.read_text().splitlines() == ["charged"], "the step after the first message ran once"
