"""A user's agent in a real kernel, across a kernel restart: every effect happens once.

The agent uses what a notebook agent uses: an LLM with tool calls (the OpenAI client against FakeOpenAI, which
runs in this test process, so it counts requests across kernels), a tool that fails and whose error goes back to
the model, memory, KV, an artifact, a custom service, a chat message and an approval. The kernel is restarted
while the run waits for the approval; the definitions are run again, the run is found in the notebook's DuckDB
store and answered. Afterwards every effect has happened once: the LLM was called once per turn, the tools' side
effects (lines in a file) are there once, the memory note and the artifact once, the message was not said twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from aether_nb.testing import FakeOpenAI
from tests.kernel_client import CellResult, Kernel

pytestmark = pytest.mark.kernel

PRELUDE = r"""
%load_ext aether_nb
import json, aether_nb as ag
ag.configure(llm={"base_url": "BASE_URL", "model": "fake", "api_key": "x"})
EFFECTS = "EFFECTS_FILE"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\n")
"""
"""The first lines of every notebook here: the extension, the fake model, and the effects file tools append to."""

DEFINITIONS = (
    PRELUDE
    + r"""

@ag.tool
def lookup(city: str) -> dict:
    "Weather for a city."
    effect(f"lookup {city}")
    return {"result": f"sunny in {city}"}

@ag.tool
def book(city: str) -> dict:
    "Book a trip (fails: no flights)."
    effect(f"book {city}")
    raise RuntimeError("no flights today")

class Ledger(ag.Service):
    async def charge(self, amount: int) -> str:
        effect(f"charge {amount}")
        return f"charged {amount}"

ag.register_context_service("ledger", Ledger())

@ag.graph_fn(outputs=["reply", "approved", "charged"])
async def trip(city: str, *, context):
    llm = context.llm()
    result = await llm.run_tools([{"role": "user", "content": f"plan a trip to {city}"}], tools=[lookup, book])
    await context.memory().record("note", {"text": f"planned {city}"})
    await context.kv().set("last_city", city)
    art = await context.artifacts().save_text(result.text, name="plan.txt")
    await context.channel().send_text(f"plan saved as {art.name}")
    approved, _ = await context.channel().ask_approval(f"Pay for {city}?")
    charged = await context.ledger().charge(100) if approved else "not charged"
    return {"reply": result.text, "approved": approved, "charged": charged}
"""
)

COUNTS = r"""
st = ag.store()
print("NOTES", st.sql("select count(*) from memory where kind = 'note'").rows[0][0])
print("ARTS", st.sql("select count(*) from artifacts where name = 'plan.txt'").rows[0][0])
print("SAID", st.sql("select count(*) from memory where kind = 'chat' and text like 'plan saved%'").rows[0][0])
"""


def _restart_and_approve(kernel: Kernel, defs: str, run_id: str, *, then: str = "") -> tuple[CellResult, Any]:
    """Restart the kernel (killing it), define everything again, find the run, approve its wait and await it: the
    cell's result (it prints ``STATUS`` with the run's open prompts) and the run's outputs."""
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(defs)
    res = kernel.ok(
        f"run = ag.get_run({run_id!r})\n"
        "print('STATUS', run.status, [w.prompt for w in run.waits])\n"
        "await run.answer(True)\n"
        f"print('OUT', json.dumps(await run))\n{then}"
    )
    return res, json.loads(res.stdout.split("OUT ", 1)[1].splitlines()[0])


def test_a_waiting_agent_survives_a_kernel_restart_and_does_everything_once(kernel: Kernel, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    calls = [{"name": "lookup", "arguments": {"city": "Oslo"}}, {"name": "book", "arguments": {"city": "Oslo"}}]
    script = [{"tool_calls": calls}, "Sunny in Oslo; booking failed, try tomorrow."]
    with FakeOpenAI(script=script) as fake:
        defs = DEFINITIONS.replace("BASE_URL", fake.base_url).replace("EFFECTS_FILE", str(effects))
        kernel.ok(defs)
        res = kernel.ok("run = trip.start(city='Oslo', run_id='trip-1')\nawait run.wait_for('waiting', timeout=60)")
        # the model's two tool calls run concurrently (each in its thread): their lines come in either order
        assert sorted(effects.read_text().splitlines()) == ["book Oslo", "lookup Oslo"]
        assert len(fake.chat_requests) == 2  # the model asked for tools, then answered after seeing the failure
        second = fake.chat_requests[1]["messages"]
        assert any("no flights today" in json.dumps(m) for m in second)  # the tool's error went back to the model

        res, out = _restart_and_approve(kernel, defs, "trip-1")
        assert "STATUS waiting ['Pay for Oslo?']" in res.stdout
        reply = "Sunny in Oslo; booking failed, try tomorrow."
        assert out == {"reply": reply, "approved": True, "charged": "charged 100"}
        lines = effects.read_text().splitlines()
        assert sorted(lines[:2]) == ["book Oslo", "lookup Oslo"] and lines[2:] == ["charge 100"]  # nothing twice
        assert len(fake.chat_requests) == 2  # the model was not called again
        counts = kernel.ok(COUNTS)
        assert "NOTES 1" in counts.stdout and "ARTS 1" in counts.stdout and "SAID 1" in counts.stdout
        assert "plan saved" not in res.stdout  # the message was not said again after the restart


DIES = r"""
run = trip.start(city='Bergen', run_id='trip-2')
await run.wait_for('waiting', timeout=60)
import os
os._exit(1)  # the kernel dies (a crash, the OOM killer): no exit hook, no close, the history log not applied
"""


def test_a_kernel_that_dies_while_a_run_waits_resumes_it_from_the_history_log(kernel: Kernel, tmp_path: Path) -> None:
    """The same agent, but the kernel process dies right after the run says it waits (the store's log not yet
    applied to its tables, as after any crash within a second of a write): the next kernel finds the run waiting,
    from the log's segments, and every effect happens once."""
    effects = tmp_path / "effects.txt"
    calls = [{"name": "lookup", "arguments": {"city": "Bergen"}}]
    script = [{"tool_calls": calls}, "Rain in Bergen."]
    with FakeOpenAI(script=script) as fake:
        defs = DEFINITIONS.replace("BASE_URL", fake.base_url).replace("EFFECTS_FILE", str(effects))
        kernel.ok(defs)
        location = kernel.ok("print('STORE', ag.store().location)").stdout.split("STORE ", 1)[1].strip()
        kernel.kc.execute(DIES)  # never answers: its kernel is gone
        process = getattr(kernel.km.provisioner, "process", None)  # (the local provisioner's Popen)
        assert process is not None
        assert process.wait(timeout=90) == 1, "the kernel did not die"
        segments = sorted(Path(location + ".history-log").glob("*.seg"))
        assert segments and any(p.stat().st_size > 100 for p in segments), "the run's wait was not in the log"
        then = (
            "ag.store().sql('select 1')\n"  # applies what is left
            "import glob\nprint('LEFT', len(glob.glob(ag.store().location + '.history-log/*')))"
        )
        res, out = _restart_and_approve(kernel, defs, "trip-2", then=then)
        assert "STATUS waiting ['Pay for Bergen?']" in res.stdout
        assert out == {"reply": "Rain in Bergen.", "approved": True, "charged": "charged 100"}
        assert effects.read_text().splitlines() == ["lookup Bergen", "charge 100"]  # nothing twice
        assert len(fake.chat_requests) == 2  # the model was not called again
        counts = kernel.ok(COUNTS)
        assert "NOTES 1" in counts.stdout and "ARTS 1" in counts.stdout and "SAID 1" in counts.stdout
        # the segments left by the dead kernel were applied at the open and deleted; sql() applied the rest
        assert "LEFT 0" in res.stdout


SUPPORT = (
    PRELUDE
    + r"""
import os

@ag.tool
def stock(item: str) -> dict:
    "Items in stock (the warehouse API times out the first time it is called)."
    first = not os.path.exists(EFFECTS) or "stock" not in open(EFFECTS).read()
    effect(f"stock {item}")
    if first:
        raise TimeoutError("warehouse API timed out")
    return {"result": 3}

@ag.tool
async def refund(order: str, *, context) -> dict:
    "Refund an order once a person approves."
    approved, _ = await context.channel().ask_approval(f"Refund {order}?")
    effect(f"refund {order} {approved}")
    return {"result": approved}

@ag.graph_fn(outputs=["reply"])
async def support(q: str, *, context):
    result = await context.llm().run_tools([{"role": "user", "content": q}], tools=[stock, refund])
    return {"reply": result.text}
"""
)


def test_an_agent_waiting_inside_its_tool_loop_after_a_tool_failed_is_not_sent_elsewhere(
    kernel: Kernel, tmp_path: Path
) -> None:
    """The model saw a tool's error, then asked for a tool that waits for an approval; the kernel restarts. The
    failed tool is not called again (it would succeed now: the model's next request would differ from the
    journaled one, and the run failed with ReplayMismatch on the old code)."""
    effects = tmp_path / "effects.txt"
    script = [
        {"tool_calls": [{"name": "stock", "arguments": {"item": "lamp"}}]},
        {"tool_calls": [{"name": "refund", "arguments": {"order": "A"}}]},
        "Order A refunded.",
    ]
    with FakeOpenAI(script=script) as fake:
        defs = SUPPORT.replace("BASE_URL", fake.base_url).replace("EFFECTS_FILE", str(effects))
        kernel.ok(defs)
        kernel.ok("run = support.start(q='refund A', run_id='support-1')\nawait run.wait_for('waiting', timeout=60)")
        assert effects.read_text().splitlines() == ["stock lamp"]
        assert len(fake.chat_requests) == 2
        assert "warehouse API timed out" in json.dumps(fake.chat_requests[1]["messages"])

        res, out = _restart_and_approve(kernel, defs, "support-1")
        assert "STATUS waiting ['Refund A?']" in res.stdout
        assert out == {"reply": "Order A refunded."}
        assert effects.read_text().splitlines() == ["stock lamp", "refund A True"]  # the failed call once
        assert len(fake.chat_requests) == 3  # each model turn once


SLOW_BOOKING = r"""
%load_ext aether_nb
import os, threading, aether_nb as ag
EFFECTS = "EFFECTS_FILE"
STARTED = "EFFECTS_FILE.started"

@ag.tool(outputs=["ref"])
def book(city: str) -> dict:
    open(STARTED, "w").close()
    threading.Event().wait(1.5)  # a slow booking service (ending within the old kernel's few seconds)
    with open(EFFECTS, "a") as f:
        f.write(f"book {city} in {os.getpid()}\n")
    return {"ref": "R-" + city}

@ag.graph_fn(outputs=["ref"])
async def travel(city: str, *, context):
    return {"ref": (await book(city))["ref"]}
"""


def test_a_sync_tool_running_when_jupyterlab_restarts_the_kernel_is_not_run_again(
    kernel: Kernel, tmp_path: Path
) -> None:
    """JupyterLab's Restart asks the kernel to shut down: its loop stops, but Python waits for the running tool's
    thread before the process ends, so the booking happened after the stop, unjournaled, and the resumed run
    booked again (found by a tester, in JupyterLab and Notebook 7). The body's thread journals it now."""
    effects = tmp_path / "effects.txt"
    defs = SLOW_BOOKING.replace("EFFECTS_FILE", str(effects))
    kernel.ok(defs)
    kernel.ok('t = travel.start("Oslo", run_id="slow-1")\nag.session().flush()')  # (the run is in the store)
    deadline = time.monotonic() + 30
    while not Path(f"{effects}.started").exists():  # the body is under way in its thread
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    kernel.km.restart_kernel(now=False)  # graceful, as JupyterLab's Restart (the old kernel gets a few seconds)
    kernel.kc.wait_for_ready(60)
    kernel.ok(defs)
    res = kernel.ok('r = await ag.get_run("slow-1")\nprint("OUT", r)')
    assert "OUT {'ref': 'R-Oslo'}" in res.stdout, res.stdout
    booked = effects.read_text().splitlines()
    assert len(booked) == 1, booked  # it booked in the old kernel only
