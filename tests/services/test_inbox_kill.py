"""A message taken from the inbox is read once even when the process dies right after the answer's write.

``receive()`` takes a queued message by answering its wait with it and deleting it from the run's inbox (KV scope
``inbox:<run_id>``). Those two writes must reach the store together: written in two batches, a process killed
between them left the wait answered and the message still queued, so the resumed run replayed it from the journal
for one ``receive()`` and read it *again* from the inbox for the next one (and the last message was never read).

Deterministic: the child's store kills its own process (SIGKILL) right after the first durable write that holds a
``receive()`` wait's answer: the exact point between the two writes, when they are two. A fresh process resumes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, os, signal, sys
sys.path.insert(0, sys.argv[4])
import aether_nb as ag
from aether_nb.services.channel import post_message, queued_messages
from aether_nb.store.duckdb import DuckDBStore

DB, MODE, DURABILITY = sys.argv[1], sys.argv[2], sys.argv[3]


class KilledAfterTheAnswer(DuckDBStore):
    # Dies (SIGKILL: no exit hook, nothing more written) once a receive() wait's answer is durably in the store.
    def write_history(self, batch, *, durable=True):
        out = super().write_history(batch, durable=durable)
        if any(w.status == "answered" and (w.meta or {}).get("message") for w in batch.waits):
            if durable:
                os.kill(os.getpid(), signal.SIGKILL)
        return out


store = KilledAfterTheAnswer(DB) if MODE == "start" else DB
ag.configure(store=store, durability=DURABILITY, channel=ag.ConsoleChannel(out=open(os.devnull, "w")))


@ag.graph_fn(name="inbox_kill", outputs=["heard"])
async def agent(*, context):
    ch = context.channel()
    await ch.ask_text("Ready?")  # the messages are written meanwhile: they queue in the inbox
    return {"heard": [await ch.receive(), await ch.receive(), await ch.receive()]}


async def main():
    run = agent.start(run_id="inbox-kill")
    if MODE == "start":
        await run.wait_for("waiting", timeout=30)
        for text in ("m1", "m2", "m3"):
            print(await post_message(run, text), flush=True)
        await run.answer("yes")  # the agent goes on to receive(): it takes m1, and the process dies
        await asyncio.wait_for(run, 30)
        print("NOT KILLED", flush=True)
        return
    heard = (await asyncio.wait_for(run, 30))["heard"]
    left = [m["text"] for _, m in queued_messages(ag.store(), run.id)]
    print("OUT", json.dumps({"heard": heard, "left": left}), flush=True)


asyncio.run(main())
"""


def _child(script: Path, db: Path, mode: str, durability: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), str(db), mode, durability, str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_a_queued_message_is_read_once_when_the_process_dies_after_taking_it(tmp_path: Path, durability: str) -> None:
    script = tmp_path / "agent.py"
    script.write_text(SCRIPT)
    db = tmp_path / "nb.aether.duckdb"

    first = _child(script, db, "start", durability)
    assert first.stdout.split() == ["queued"] * 3, first.stderr
    assert first.returncode == -9, f"the child was to die after the answer's write: {first.stdout}{first.stderr}"

    second = _child(script, db, "resume", durability)
    assert second.returncode == 0, second.stderr
    out = json.loads(second.stdout.split("OUT ", 1)[1].splitlines()[0])
    assert out == {"heard": ["m1", "m2", "m3"], "left": []}, "each message read once, in order, none left behind"
