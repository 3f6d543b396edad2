"""A notebook agent whose MCP tool asks a question, and a kernel restart while the question is open.

Process 1: a graph_fn asks the (fake) model, which calls ``book`` on ``kitchen.py`` (a server written with the
SDK's decorators); the server asks how many seats (``ctx.elicit``), which becomes a question of the run; the
process dies (``os._exit``, like a killed kernel) with the question open. The MCP session that asked died with it.

Process 2: same agent, same server; the user answers. The ``kitchen.book`` node runs again: the server is called
again (the documented cost: whatever the tool did before asking happens again), asks the same question, gets the
answer given meanwhile from the journal without asking the user twice, asks its next question, and books once.
The model call made before the restart replays from the journal.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_script
from tests.mcp.conftest import starts
from tests.mcp.test_foreign_servers import SERVERS, events

AGENT = """
import asyncio, json, os, sys
import aether_nb as ag
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI

DB, CALLS, SERVER, MODE = sys.argv[1:5]
ag.configure(store=DB)
ag.configure(mcp={"kitchen": {"command": ["python", SERVER, "--calls", CALLS], "call_timeout_s": 60}})

@ag.graph_fn(outputs=["text"])
async def travel(request: str, *, context):
    kitchen = context.mcp("kitchen")
    await kitchen.connect()
    result = await context.llm().run_tools(request, tools=[kitchen.tools["book"]])
    return {"text": result.text}

async def window_question(run):
    while not any("window" in (w.prompt or "") for w in run.waits):
        await asyncio.sleep(0.05)   # the run's state, observed; bounded by the wait_for below
    return next(w for w in run.waits if "window" in (w.prompt or ""))

async def main():
    script = [{"tool_calls": [{"name": "book", "arguments": {"flight": "AB1"}}]}] if MODE == "start" else []
    with FakeOpenAI(script=[*script, "Booked."]) as fake:
        configure_llm(ag.session(), {"base_url": fake.base_url, "model": "fake"})
        if MODE == "start":
            run = travel.start(request="Book AB1", run_id="trip-1")
            await run.wait_for("waiting", timeout=60)
            print("WAITING", json.dumps([w.prompt for w in run.waits]), flush=True)
            os._exit(0)   # a killed kernel: no cleanup at all
        run = ag.get_run("trip-1")
        await run.answer("2")
        wait = await asyncio.wait_for(window_question(run), 60)
        await run.answer("Yes", token=wait.token)
        out = await asyncio.wait_for(run, 60)
        llm_nodes = [n.replayed for n in run.graph.nodes if n.kind == "llm"]
        book = run.graph.node("run_tools_1/kitchen.book_1")
        asks = [n.id for n in run.graph.nodes if n.id.startswith(book.id + "/")]
        print("OUT", json.dumps({"out": out, "llm_replayed": llm_nodes, "book": book.status, "asks": asks,
                                 "chat_requests": len(fake.chat_requests)}), flush=True)
        await ag.mcp.close_all()

asyncio.run(main())
"""


def test_a_question_from_an_mcp_tool_survives_a_restart_and_the_booking_happens_once(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    db, calls = tmp_path / "nb.aether.duckdb", tmp_path / "calls.jsonl"
    server = str(SERVERS / "kitchen.py")

    out1 = run_script(script, str(db), str(calls), server, "start", timeout=150)
    prompts = json.loads(out1.split("WAITING ", 1)[1].splitlines()[0])
    assert prompts == ["kitchen asks: How many seats on AB1?\nHow many seats"]
    assert [e["tool"] for e in events(calls, "call")] == ["book"] and events(calls, "elicit") == []

    out2 = run_script(script, str(db), str(calls), server, "resume", timeout=150)
    result = json.loads(out2.split("OUT ", 1)[1].splitlines()[0])
    assert result["out"] == {"text": "Booked."}
    assert result["book"] == "DONE"
    # the server's questions are waits of the tool's node
    assert result["asks"] == ["run_tools_1/kitchen.book_1/ask_text_1", "run_tools_1/kitchen.book_1/ask_choices_1"]
    # the model's tool call was not paid for twice; only the turn after the tool was asked of the model
    assert result["llm_replayed"][0] is True and result["chat_requests"] == 1
    # the server was called again in the new process (its session was gone) and booked exactly once
    assert starts(calls) == 2
    assert [e["tool"] for e in events(calls, "call")] == ["book", "book"]
    assert events(calls, "elicit") == [{"event": "elicit", "action": "accept", "data": {"seats": 2, "window": True}}]
