"""Exactly once across real crashes: a child process running an agent on a DuckDB file kills itself with SIGKILL
in the middle of the run (inside a tool, before its effect); the next process resumes the run; repeat.

With ``durability="sync"`` every effect (a line in a file, a memory record, a KV value, an artifact) happens once
and the outputs equal those of a run that never crashed. With the default ``"async"`` durability the store's own
effects still happen once (a memory record is written together with its journal entry), while an external effect
whose step was not yet written when the process died happens again: README, "Durability".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import asyncio, json, os, signal, sys
import aether_nb as ag
from aether_nb.testing import ScriptedChannel

DB, EFFECTS, OPS = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
CRASH_AT, DURABILITY = int(sys.argv[4]), sys.argv[5]
ag.configure(store=DB, durability=DURABILITY, channel=ScriptedChannel([lambda w: "yes"] * 50))
attempts = 0

def effect(tag):
    with open(EFFECTS, "a") as f:
        f.write(tag + "\n")

async def crash_point():
    global attempts
    attempts += 1
    if attempts == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)

@ag.tool(outputs=["v"])
async def act(tag: str) -> dict:
    await crash_point()
    effect(tag)
    return {"v": tag.upper()}

@ag.graph_fn(outputs=["out"])
async def program(ops: list, *, context):
    out = []
    for i, kind in enumerate(ops):
        tag = f"t{i}"
        if kind == "tool":
            out.append((await act(tag))["v"])
        elif kind == "mem":
            await context.memory().record("note", {"text": f"note {tag}"})
            out.append(f"{len(await context.memory().search('note', mode='lexical', limit=50))} notes")
        elif kind == "kv":
            await context.kv().set(tag, out[-1] if out else tag)
            out.append(await context.kv().get(tag))
        elif kind == "art":
            art = await context.artifacts().save_text(f"text {tag}", name=f"{tag}.txt")
            out.append(await context.artifacts().load_text(art.uri))
        elif kind == "ask":
            out.append(await context.channel().ask_text(f"{tag}?"))
    return {"out": out}

async def main():
    run = program.start(ops=OPS, run_id="p")
    print("OUT", json.dumps(await run), flush=True)
    st = ag.store()
    notes = sorted(r[0] for r in st.sql("select text from memory where kind = 'note'").rows)
    keys = sorted(r[0] for r in st.sql("select key from kv").rows)
    arts = sorted(r[0] for r in st.sql("select name from artifacts").rows)
    ends = {}  # stored events ending a node done, per node: each step's once, replayed or not
    for (data,) in st.sql("select data from events where run_id = 'p'").rows:
        e = json.loads(data)
        if e["kind"] in ("node_ran", "node_finished") and e.get("status") == "DONE":
            ends[e["node_id"]] = ends.get(e["node_id"], 0) + 1
    print("STORE", json.dumps({"notes": notes, "kv": keys, "artifacts": arts, "ends": ends}), flush=True)

asyncio.run(main())
"""

OPS = ["tool", "mem", "kv", "tool", "art", "ask", "tool", "mem", "kv", "tool", "art", "tool"]


def _process(tmp: Path, db: Path, effects: Path, crash_at: int, durability: str) -> str | None:
    script = tmp / "child.py"
    script.write_text(CHILD)
    res = subprocess.run(
        [sys.executable, str(script), str(db), str(effects), json.dumps(OPS), str(crash_at), durability],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if res.returncode == -9:  # SIGKILL: the crash
        return None
    assert res.returncode == 0, res.stderr
    return res.stdout


def _parse(stdout: str) -> tuple[dict[str, object], dict[str, object]]:
    out = json.loads(stdout.split("OUT ", 1)[1].splitlines()[0])
    store = json.loads(stdout.split("STORE ", 1)[1].splitlines()[0])
    return out, store


@pytest.mark.parametrize("crashes", [[1], [2, 1], [4, 2, 1], [5, 1]])
def test_sigkill_mid_run_then_resume_does_every_effect_once(tmp_path: Path, crashes: list[int]) -> None:
    reference = _process(tmp_path, tmp_path / "ref.duckdb", tmp_path / "ref.txt", 0, "sync")
    assert reference is not None
    ref_out, ref_store = _parse(reference)

    db, effects = tmp_path / "nb.duckdb", tmp_path / "effects.txt"
    for at in crashes:
        assert _process(tmp_path, db, effects, at, "sync") is None  # each process dies at its crash point
    final = _process(tmp_path, db, effects, 0, "sync")
    assert final is not None
    out, store = _parse(final)
    assert out == ref_out
    assert store == ref_store
    assert sorted(effects.read_text().split()) == sorted((tmp_path / "ref.txt").read_text().split())


def test_async_durability_keeps_the_stores_own_effects_once(tmp_path: Path) -> None:
    reference = _process(tmp_path, tmp_path / "ref.duckdb", tmp_path / "ref.txt", 0, "async")
    assert reference is not None
    ref_out, ref_store = _parse(reference)
    db, effects = tmp_path / "nb.duckdb", tmp_path / "effects.txt"
    assert _process(tmp_path, db, effects, 4, "async") is None
    final = _process(tmp_path, db, effects, 0, "async")
    assert final is not None
    out, store = _parse(final)
    assert out == ref_out and store == ref_store  # memory, KV and artifacts: once
    done = effects.read_text().split()
    assert set(done) == set((tmp_path / "ref.txt").read_text().split())  # every external effect happened
