"""Exactly once, under random crashes: generated agents mixing tools, service calls, nested agents and questions
are crashed at random points, resumed (more than once), and must do every effect once and end as an uncrashed run.

A crash stops the event loop in the middle of the run (inside a tool or a custom service, before its effect) and
throws away everything the process held that was not yet written: the next "process" is a new Session over what
the first one had written to the store. ``durability="sync"`` is what makes "written" mean "every completed step";
``test_exactly_once_process.py`` does the same with a real SIGKILL and a DuckDB file.

Effects checked: external ones (a list outside aether_nb that tool bodies and a custom service append to), and the
store's own (memory records, KV values, artifacts).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services import install_builtin_services
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import ScriptedChannel


class Crash:
    """Where the current "process" dies: at the ``at``-th effect attempt (1-based), before the effect."""

    def __init__(self) -> None:
        self.at: int | None = None
        self.attempts = 0
        self.crashed = False

    async def point(self) -> None:
        self.attempts += 1
        if self.at is not None and self.attempts == self.at and not self.crashed:
            self.crashed = True
            asyncio.get_running_loop().stop()  # the process dies here: nothing after this is written
            await asyncio.Event().wait()


CRASH = Crash()
EFFECTS: list[str] = []  # external effects: what a tool or the custom service did to the world


@ag.tool(outputs=["v"])
async def act(tag: str) -> dict[str, str]:
    await CRASH.point()
    EFFECTS.append(tag)
    return {"v": tag.upper()}


@ag.tool(outputs=["v"])
def act_sync(tag: str) -> dict[str, str]:
    EFFECTS.append(tag)
    return {"v": tag[::-1]}


class Flaky(Exception):
    """What the flaky tool raises the first time (an API that times out once)."""


FLAKY: dict[str, int] = {}  # executions of the flaky tool per tag, in the current "world"


@ag.tool(outputs=["v"])
async def flaky(tag: str) -> dict[str, str]:
    await CRASH.point()
    FLAKY[tag] = FLAKY.get(tag, 0) + 1
    EFFECTS.append(f"flaky {tag}")
    if FLAKY[tag] == 1:
        raise Flaky(f"{tag} timed out")
    return {"v": tag}


class Ledger(ag.Service):
    async def post(self, tag: str) -> str:
        await CRASH.point()
        EFFECTS.append(tag)
        return f"posted {tag}"


async def interpret(ops: list[Any], prefix: str, context: ag.NodeContext) -> list[str]:
    """Run a generated program; returns what each op produced (a run's outputs, compared across crashes)."""
    out: list[str] = []
    mem, kv, arts = context.memory(), context.kv(), context.artifacts()
    for i, (kind, arg) in enumerate(ops):
        tag = f"{prefix}{i}"
        if kind == "tool":
            out.append((await act(tag))["v"])
        elif kind == "flaky":  # a failure the body handles: a resumed run takes the same path (it does not retry)
            try:
                out.append((await flaky(tag))["v"])
            except Flaky as exc:
                out.append(f"caught {exc}")
        elif kind == "sync_tool":
            out.append((await act_sync(tag))["v"])
        elif kind == "svc":
            out.append(await context.ledger().post(tag))
        elif kind == "mem":
            await mem.record("note", {"text": f"note {tag}"}, tags=[prefix or "root"])
            out.append(f"noted {tag}")
        elif kind == "search":
            hits = await mem.search("note", limit=50, mode="lexical")
            out.append(f"{len(hits)} notes")
        elif kind == "kv":
            await kv.set(f"k{tag}", out[-1] if out else tag)
            out.append(str(await kv.get(f"k{tag}")))
        elif kind == "art":
            art = await arts.save_text(f"text {tag}", name=f"a{tag}.txt")
            out.append(await arts.load_text(art.uri))
        elif kind == "ask":
            out.append(await context.channel().ask_text(f"q {tag}?"))
        elif kind == "say":
            await context.channel().send_text(f"said {tag}")
            out.append("said")
        elif kind == "nested":
            sub = await nested(ops=arg, prefix=f"{tag}.")
            out.extend(sub["out"])
    return out


@ag.graph_fn(outputs=["out"])
async def nested(ops: list[Any], prefix: str, *, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": await interpret(ops, prefix, context)}


@ag.graph_fn(outputs=["out"])
async def program(ops: list[Any], *, context: ag.NodeContext) -> dict[str, Any]:
    return {"out": await interpret(ops, "", context)}


LEAF = st.sampled_from(["tool", "sync_tool", "flaky", "svc", "mem", "search", "kv", "art", "ask", "say"]).map(
    lambda k: [k, 0]
)
OPS = st.lists(
    st.one_of(LEAF, st.lists(LEAF, min_size=1, max_size=3).map(lambda sub: ["nested", sub])), min_size=1, max_size=10
)


def _new_process(store: MemoryStore) -> Session:
    counter = itertools.count(1)
    channel = ScriptedChannel([lambda w: f"answer to {w.prompt}"] * 50)
    s = Session(store, id_factory=lambda: f"run-{next(counter)}")
    install_builtin_services(s, channel=channel)
    s.store.durability = "sync"
    s.services["ledger"] = Ledger()
    return s


def _execute(store: MemoryStore, ops: list[Any], *, crash_at: int | None) -> dict[str, Any] | None:
    """One process: start (or resume) run "p", until it ends or the process crashes. Returns the outputs if it
    ended."""
    s = _new_process(store)
    previous = session_mod.set_default_session(s)
    CRASH.at, CRASH.attempts, CRASH.crashed = crash_at, 0, False
    result: dict[str, Any] = {}

    async def main() -> None:
        run = program.start(ops=ops, run_id="p")
        result.update(await run)

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    except RuntimeError as exc:  # "Event loop stopped before Future completed": the crash
        assert CRASH.crashed, exc
        return None
    finally:
        session_mod.set_default_session(previous)
    assert not CRASH.crashed
    return result


def _store_effects(store: MemoryStore) -> dict[str, Any]:
    notes = sorted(r.data["text"] for r in store.memory_query("notebook", kinds=["note"]))
    keys = sorted(k for k, _ in store.kv_keys("notebook"))
    arts = sorted(a.name for a in store.artifact_list())
    said = sorted(r.text for r in store.memory_query("notebook", kinds=["chat"]) if r.text.startswith("said"))
    return {"notes": notes, "kv": keys, "artifacts": arts, "said": said}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, crashes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=3))
def test_every_effect_happens_once_across_crashes(ops: list[Any], crashes: list[int]) -> None:
    EFFECTS.clear()
    FLAKY.clear()
    reference_store = MemoryStore()
    reference = _execute(reference_store, ops, crash_at=None)
    assert reference is not None
    expected_effects = sorted(EFFECTS)

    kinds = [kind for k, arg in ops for kind in ([k] if k != "nested" else [a[0] for a in arg])]
    points = sum(1 for kind in kinds if kind in ("tool", "svc", "flaky"))
    EFFECTS.clear()
    FLAKY.clear()
    store = MemoryStore()
    outputs = None
    for n, at in enumerate(crashes):
        outputs = _execute(store, ops, crash_at=at)
        if n == 0:
            assert (outputs is None) == (at <= points)  # the crash did happen where it was asked for
        if outputs is not None:
            break
    if outputs is None:
        outputs = _execute(store, ops, crash_at=None)
    assert outputs == reference
    assert sorted(EFFECTS) == expected_effects  # each external effect once, none lost
    assert _store_effects(store) == _store_effects(reference_store)
    journal = store.load_journal("p")
    assert len({e.key for e in journal}) == len(journal)  # no step journaled twice
    # the history ends each step once, as the uncrashed run's does: a step replayed after a crash is stored only
    # when the crash lost its end, never a second time
    assert _ended(store) == _ended(reference_store)


def _ended(store: MemoryStore) -> dict[str, int]:
    """How many stored events end each node of run "p" done."""
    ends: dict[str, int] = {}
    for e in store.load_events("p"):
        if e["kind"] in ("node_ran", "node_finished") and e.get("status") == "DONE":
            ends[e["node_id"]] = ends.get(e["node_id"], 0) + 1
    return ends
