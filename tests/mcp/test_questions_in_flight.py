"""Several MCP calls in flight on one connection, and the server's questions among them.

A 2025-era question names no call, so aether_nb hands it to the oldest call in flight. What must hold whichever call
it lands on: a call whose answer came ends at once (journaled: a restart never repeats it) and the question moves to
a call that may own it; a run that stops passes it on rather than fail another run's call; a question the server
withdraws closes; time spent on a question never counts against any call's ``call_timeout_s``; and model calls do
not wait behind a person's question. (``tests/mcp/servers/asking.py`` is the server.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI, mcp_server
from tests.conftest import after, arun, run_script

SERVER = Path(__file__).parent / "servers" / "asking.py"


def asking(calls: Path, **options: Any) -> dict[str, Any]:
    return {"s": {"command": [sys.executable, str(SERVER), "--calls", str(calls)], **options}}


def events(calls: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in mcp_server.read_calls(calls) if e["event"] == kind]


async def until(check: Any, timeout: float = 20) -> bool:
    """Poll ``check()`` until it holds (True) or ``timeout`` passes (False): the run's state, observed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


AGENT = """
import asyncio, json, os, sys
import aether_nb as ag
DB, CALLS, SERVER, MODE = sys.argv[1:5]
ag.configure(store=DB)
ag.configure(mcp={"s": {"command": ["python", SERVER, "--calls", CALLS], "call_timeout_s": 60}})

@ag.graph_fn(outputs=["out"])
async def agent(*, context):
    s = context.mcp("s")
    a, b = await asyncio.gather(s.tools["ask"](tag="A"), s.tools["ask"](tag="B", delay=0.3))
    return {"out": [a["result"], b["result"]]}

async def until(check, timeout):
    for _ in range(int(timeout / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return False

def asked(calls):
    return sum(1 for line in open(calls) if '"event": "call"' in line) if os.path.exists(calls) else 0

async def main():
    if MODE == "start":
        run = agent.start(run_id="two-asks")
        await until(lambda: asked(CALLS) == 2 and len(run.waits) == 1, 30)
        await asyncio.sleep(0.5)  # B's question has come too (handed to A's call, the oldest)
        await run.answer("a", token=run.waits[0].token)
        await until(lambda: run.graph.node("s.ask_1").status == "DONE", 10)
        await until(lambda: [w.node_id for w in run.waits] == ["s.ask_2/ask_text_1"], 10)
        nodes = {n.id: n.status for n in run.graph.nodes}
        print("P1", json.dumps({"nodes": nodes, "waits": [[w.node_id, w.prompt] for w in run.waits]}), flush=True)
        ag.session().flush()
        os._exit(0)  # a killed kernel, with B's question open
    run = ag.get_run("two-asks")
    asked_now = []
    while not run.done and await until(lambda: run.waits or run.done, 20) and not run.done:
        wait = run.waits[0]
        asked_now.append([wait.node_id, wait.prompt])
        await run.answer("b", token=wait.token)
        await until(lambda: not run.waits or run.waits[0].token != wait.token, 10)
    out = await asyncio.wait_for(run, 30)
    print("P2", json.dumps({"out": out, "asked": asked_now}), flush=True)
    await ag.mcp.close_all()

asyncio.run(main())
"""


def test_a_call_answered_while_it_holds_another_calls_question_ends_at_once_and_a_restart_never_repeats_it(
    tmp_path: Path,
) -> None:
    script, db, calls = tmp_path / "agent.py", tmp_path / "nb.duckdb", tmp_path / "calls.jsonl"
    script.write_text(AGENT)
    first = after(run_script(script, str(db), str(calls), str(SERVER), "start"), "P1")
    # A's answer came: its node is done at once (journaled), B's question moved from A's node to B's own
    assert first["nodes"]["s.ask_1"] == "DONE"
    assert first["nodes"]["s.ask_1/ask_text_2"] == "SKIPPED"  # (moved, not stopped: see test_shared_questions)
    assert first["waits"] == [["s.ask_2/ask_text_1", "s asks: Value for B?"]]
    second = after(run_script(script, str(db), str(calls), str(SERVER), "resume"), "P2")
    assert second["out"] == {"out": ["A=a", "B=b"]}
    assert second["asked"] == [["s.ask_2/ask_text_1", "s asks: Value for B?"]]  # asked once, under B's node
    assert [e["tag"] for e in events(calls, "call")] == ["A", "B", "B"]  # A ran once; B again after the restart
    assert [(e["tag"], e["value"]) for e in events(calls, "answer")] == [("A", "a"), ("B", "b")]


@ag.graph_fn(outputs=["out"])
async def sleeper(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": (await context.mcp("s").tools["sleep"](seconds=30))["result"]}


@ag.graph_fn(outputs=["out"])
async def asker(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": (await context.mcp("s").tools["ask"](tag="B"))["result"]}


def test_cancelling_a_run_passes_the_question_it_holds_to_another_runs_call_instead_of_failing_it(
    session: Session, calls: Path
) -> None:
    ag.configure(mcp=asking(calls, call_timeout_s=60))

    async def main() -> tuple[list[Any], list[Any], dict[str, Any], str]:
        await ag.mcp.servers()["s"].connect()
        a = sleeper.start()
        assert await until(lambda: len(events(calls, "call")) == 1)
        b = asker.start()
        assert await until(lambda: bool(a.waits))  # B's question, handed to A's call (the oldest in flight)
        held = [(w.node_id, w.prompt) for w in a.waits]
        a.cancel()
        await until(lambda: bool(b.waits) or b.done)
        moved = [(w.node_id, w.prompt) for w in b.waits]
        if b.waits:
            await b.answer("hello")
        out: dict[str, Any] = await asyncio.wait_for(b, 20)
        await ag.mcp.close_all()
        return held, moved, out, a.status

    held, moved, out, a_status = arun(main(), timeout=60)
    assert held == [("s.sleep_1/ask_text_1", "s asks: Value for B?")]
    assert a_status == "cancelled"
    assert moved == [("s.ask_1/ask_text_1", "s asks: Value for B?")]
    assert out == {"out": "B=hello"}


@ag.graph_fn(outputs=["out"])
async def giver_up(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": (await context.mcp("s").tools["ask_giveup"](tag="G", wait=1.0))["result"]}


def test_a_question_the_server_withdraws_closes_at_once_and_its_next_question_is_shown(
    session: Session, calls: Path
) -> None:
    ag.configure(mcp=asking(calls, call_timeout_s=60))

    async def main() -> tuple[list[Any], list[Any], dict[str, Any], ag.Run]:
        run = giver_up.start()
        assert await until(lambda: bool(run.waits))
        first = [w.prompt for w in run.waits]
        assert await until(lambda: bool(events(calls, "gave_up")))
        # (the withdrawn question closes before the next one opens: wait for the next, not for a change)
        assert await until(lambda: bool(run.waits) and [w.prompt for w in run.waits] != first)
        then = [(w.node_id, w.prompt) for w in run.waits]
        await run.answer("u1", token=run.waits[0].token)
        out: dict[str, Any] = await asyncio.wait_for(run, 20)
        await ag.mcp.close_all()
        return first, then, out, run

    first, then, out, run = arun(main(), timeout=60)
    assert first == ["s asks: Quick, G?"]
    assert then == [("s.ask_giveup_1/ask_text_2", "s asks: Second chance, G?")]
    assert out == {"out": "second:u1"}
    assert run.graph.node("s.ask_giveup_1/ask_text_1").status == "CANCELLED"


@ag.graph_fn(outputs=["out"])
async def two_askers(*, context: ag.NodeContext) -> dict[str, Any]:
    s = context.mcp("s")
    both = await asyncio.gather(s.tools["ask"](tag="A"), s.tools["ask"](tag="B", delay=0.2), return_exceptions=True)
    return {"out": [r["result"] if isinstance(r, dict) else f"{type(r).__name__}: {r}" for r in both]}


def test_a_call_whose_question_waits_behind_another_never_times_out_meanwhile(session: Session, calls: Path) -> None:
    ag.configure(mcp=asking(calls, call_timeout_s=2))

    async def main() -> tuple[list[Any], dict[str, Any]]:
        await ag.mcp.servers()["s"].connect()
        run = two_askers.start()
        assert await until(lambda: bool(run.waits))
        await asyncio.sleep(3.5)  # a person thinking about A's question, past B's call_timeout_s
        asked = [run.waits[0].prompt]
        await run.answer("a", token=run.waits[0].token)
        await until(lambda: bool(run.waits) or run.done)
        if run.waits:
            asked.append(run.waits[0].prompt)
            await run.answer("b", token=run.waits[0].token)
        out: dict[str, Any] = await asyncio.wait_for(run, 20)
        await ag.mcp.close_all()
        return asked, out

    asked, out = arun(main(), timeout=60)
    assert out == {"out": ["A=a", "B=b"]}
    assert asked == ["s asks: Value for A?", "s asks: Value for B?"]


@ag.graph_fn(outputs=["out"])
async def asks_and_samples(*, context: ag.NodeContext) -> dict[str, Any]:
    s = context.mcp("s")
    calls = [s.tools["ask"](tag="Q"), *(s.tools["sample"](tag=f"S{i}") for i in range(2))]
    return {"out": [r["result"] for r in await asyncio.gather(*calls)]}


def test_model_calls_of_the_server_do_not_wait_behind_a_persons_question(session: Session, calls: Path) -> None:
    ag.configure(mcp=asking(calls, call_timeout_s=60))

    async def main() -> tuple[list[Any], dict[str, Any]]:
        with FakeOpenAI(rules=lambda body: {"text": "echo " + body["messages"][-1]["content"]}) as fake:
            configure_llm(session, {"base_url": fake.base_url, "model": "fake"})
            run = asks_and_samples.start()
            assert await until(lambda: bool(run.waits))
            await until(lambda: len(events(calls, "sampled")) == 2, timeout=10)  # (old: queued behind Q)
            sampled = [e["tag"] for e in events(calls, "sampled")]
            await run.answer("q")
            out: dict[str, Any] = await asyncio.wait_for(run, 20)
        await ag.mcp.close_all()
        return sampled, out

    sampled, out = arun(main(), timeout=60)
    assert sorted(sampled) == ["S0", "S1"]
    assert out == {"out": ["Q=q", "S0:echo Say S0", "S1:echo Say S1"]}


@ag.graph_fn(outputs=["out"])
async def asks_once(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": (await context.mcp("s").tools["ask"](tag="A"))["result"]}


@ag.graph_fn(outputs=["out"])
async def plain_question(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": await context.channel().ask_text("plain?")}


def test_a_run_whose_mcp_call_is_in_flight_stays_in_memory_so_the_tool_is_called_once(
    session: Session, calls: Path
) -> None:
    ag.configure(mcp=asking(calls, call_timeout_s=60), max_live_waiting=1)

    async def main() -> tuple[bool, dict[str, Any], list[Any]]:
        a = asks_once.start()
        assert await until(lambda: bool(a.waits))  # the server's question: A's MCP call is in flight
        b = plain_question.start()  # a second waiting run, beyond max_live_waiting=1
        assert await until(lambda: bool(b.waits))
        await asyncio.sleep(0.5)
        evicted = a.evicted
        await a.answer("va")
        out: dict[str, Any] = await asyncio.wait_for(a, 20)
        asked_again = [w.prompt for w in a.waits]
        await b.answer("x")
        await asyncio.wait_for(b, 20)
        await ag.mcp.close_all()
        return evicted, out, asked_again

    evicted, out, asked_again = arun(main(), timeout=60)
    assert not evicted
    assert out == {"out": "A=va"} and asked_again == []
    assert [e["tag"] for e in events(calls, "call")] == ["A"]
