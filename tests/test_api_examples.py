"""Every example of shared/API.md for agents, runs, context services and waits, run as written.

(LLM examples belong to the LLM service; static and state graphs to their own modules.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.testing import ScriptedChannel
from tests.conftest import arun

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@ag.tool(outputs=["y"])  # @ag.tool with no arguments: one output named "result"
def double(x: int) -> dict:  # type: ignore[type-arg]
    return {"y": x * 2}


@ag.graph_fn(name="demo", outputs=["answer"])  # name defaults to the function's name; inputs from the signature
async def demo(x: int, *, context: ag.NodeContext):  # type: ignore[no-untyped-def]
    d = await double(x)  # inside a run every tool call is awaited and becomes a node
    await context.channel().send_text(f"Answer: {d['y']}")
    return {"answer": d["y"]}


def test_agents_and_tools(session: Session, channel: ScriptedChannel) -> None:
    async def cell() -> None:
        out = await demo(x=21)
        assert out == {"answer": 42}
        run = demo.start(x=21)
        assert isinstance(run, ag.Run)
        out = await run
        assert out == {"answer": 42}
        with pytest.raises(ag.UsageError, match="use `await demo"):
            demo.sync(x=21)

    arun(cell())
    assert demo.sync(x=21) == {"answer": 42}  # scripts only (no running loop)
    assert channel.texts == ["Answer: 42"] * 3
    # Outside any run or build, a sync tool called directly runs and returns its dict
    assert double(4) == {"y": 8}

    @ag.tool
    async def atool(x: int) -> int:
        return x

    coro = atool(1)  # an async tool returns a coroutine
    assert asyncio.iscoroutine(coro) and arun(coro) == {"result": 1}


@ag.graph_fn(outputs=["name", "approved"])
async def onboarding(*, context: ag.NodeContext) -> dict[str, Any]:
    name = await context.channel().ask_text("Your name?")
    approved, _ = await context.channel().ask_approval("Proceed?")
    return {"name": name, "approved": approved}


def test_runs(session: Session) -> None:
    async def cell() -> None:
        run = onboarding.start()
        await run.wait_for("waiting")
        assert run.id and run.status == "waiting"
        assert run.outputs is None  # dict once succeeded, else None
        (w,) = run.waits  # pending waits: Wait(token, kind, prompt, options, node_id)
        assert (w.kind, w.prompt, w.options, w.node_id) == ("text", "Your name?", None, "ask_text_1")
        assert w.token
        assert ag.runs(status="waiting") == [run]  # what the store knows, newest first
        assert ag.get_run(run.id) is run
        await run.answer("Ada")  # answer the only pending wait (or token=...); payloads are validated
        while len(run.waits) != 1 or run.waits[0].kind != "approval":
            await asyncio.sleep(0)
        await run.answer(True, token=run.waits[0].token)
        assert await run == {"name": "Ada", "approved": True}
        assert run.outputs == {"name": "Ada", "approved": True}
        g = run.graph  # RunGraph: nodes (id, name, kind, status, inputs, outputs, error, ...), edges
        n = g.nodes[0]
        assert (n.id, n.name, n.kind, n.status) == ("ask_text_1", "ask_text", "wait", "DONE")
        assert n.error is None and n.started_at is not None and n.ended_at is not None
        assert n.inputs["prompt"] == "Your name?" and n.outputs == "Ada"
        assert g.edges == [("ask_text_1", "ask_approval_1")]
        kinds = [event.kind async for event in run.events()]  # typed, immutable events
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished"

        run2 = onboarding.start()
        run2.cancel()
        with pytest.raises(ag.RunCancelled):
            await run2

        r = demo.start(x=21, run_id="ada-onboarding")  # idempotent
        assert await r == {"answer": 42}
        assert demo.start(x=21, run_id="ada-onboarding") is r
        with pytest.raises(ag.UsageError):
            demo.start(x=22, run_id="ada-onboarding")  # other inputs under the same id

    arun(cell())


class MaterialsService(ag.Service):
    def __init__(self) -> None:
        super().__init__()
        self.table = {"BK7": {550.0: 1.5168}}

    def get_n(self, name: str, wl: float) -> float:
        row = self.table[name]
        return row[min(row, key=lambda k: abs(k - wl))]


def test_context_services(session: Session, channel: ScriptedChannel, tmp_path: Any) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("a\n1\n")
    channel.add_answers("Ada", "red", "Approve", [str(csv)])
    ag.register_context_service("materials", MaterialsService())
    seen: dict[str, Any] = {}

    @ag.graph_fn
    async def services(*, context: ag.NodeContext) -> None:
        ch = context.channel()
        await ch.send_text("hi")
        await ch.send_image(PNG, alt="plot")
        await ch.send_file(csv)
        await ch.send_markdown("**bold**")
        name = await ch.ask_text("Your name?")  # -> str
        pick = await ch.ask_choices("Colour?", ["red", "blue"])
        approved, choice = await ch.ask_approval("Proceed?")
        files = await ch.ask_files("Upload data", accept=[".csv"])
        async with ch.stream() as s:
            await s.delta("tok")
            await s.delta("en")
        async with ch.progress("Indexing", total=100) as p:
            await p.update(inc=1)
        seen.update(name=name, pick=pick, approved=approved, choice=choice, files=files)

        mem = context.memory()
        await mem.record("note", {"text": "the quick brown fox"}, tags=["x"])
        seen["recent"] = await mem.recent(kinds=["note"], limit=10)
        seen["search"] = await mem.search("brown fox", limit=5, mode="lexical")
        seen["chat"] = await mem.recent_chat(limit=20)

        kv = context.kv()
        await kv.set("k", {"v": 1}, ttl_s=None)
        seen["kv"] = await kv.get("k", default=None)
        seen["keys"] = await kv.keys("k")
        await kv.delete("k")
        seen["kv_after"] = await kv.get("k", default="gone")

        arts = context.artifacts()
        a = await arts.save_text("...", name="notes.txt", labels={"stage": "draft"})
        j = await arts.save_json({"n": 1})
        b = await arts.save_bytes(PNG, mime="image/png")
        f = await arts.save_file(csv)
        seen["art"] = a
        seen["loaded"] = (
            await arts.load_text(a.uri),
            await arts.load_json(j.uri),
            await arts.load_bytes(b.uri),
            await arts.load_text(f.uri),
        )
        seen["listed"] = await arts.list(labels={"stage": "draft"})

        log = context.logger()
        assert isinstance(log, logging.Logger)
        log.info("logged %s", "here")
        seen["n"] = context.materials().get_n("BK7", 551)
        seen["svc"] = context.svc("materials") is context.materials()

    arun(services())
    assert seen["name"] == "Ada"
    assert seen["pick"] == ag.ChoiceResult(choice="red", index=0)
    assert (seen["approved"], seen["choice"]) == (True, "Approve")
    (fref,) = seen["files"]
    assert isinstance(fref, ag.FileRef) and fref.name == "data.csv" and fref.artifact_uri.startswith("artifact://")
    assert [m.type for m in channel.messages if m.final and "turn" not in m.content] == [
        "text",
        "image",
        "file",
        "markdown",
        "stream",
        "progress",
    ]
    assert channel.texts[-1] == "token"
    assert ("assistant", "Your name?") in channel.transcript and ("user", "Ada") in channel.transcript
    assert [e.data for e in seen["recent"]] == [{"text": "the quick brown fox"}]
    assert seen["search"][0].text == "the quick brown fox"
    assert {e.text for e in seen["chat"]} >= {"hi", "Ada", "token"}
    assert (seen["kv"], seen["keys"], seen["kv_after"]) == ({"v": 1}, ["k"], "gone")
    a = seen["art"]
    assert isinstance(a, ag.Artifact) and (a.kind, a.mime, a.size) == ("text", "text/plain", 3)
    assert seen["loaded"] == ("...", {"n": 1}, PNG, "a\n1\n")
    assert [x.id for x in seen["listed"]] == [a.id]
    assert seen["n"] == 1.5168 and seen["svc"] is True
    run = ag.runs()[0]
    assert any(e.kind == "log" and e.message == "logged here" for e in run.history)


class Approve(ag.DualStageTool, outputs=["decision"]):
    async def setup(self, amount: float, *, context: ag.NodeContext) -> ag.WaitSpec:
        return ag.WaitSpec(
            kind="approval",
            prompt=f"Pay {amount}?",
            schema={"type": "object", "required": ["choice"]},
            timeout_s=3600,
        )

    async def on_resume(self, payload: Any, *, context: ag.NodeContext) -> dict[str, Any]:
        return {"decision": payload["choice"]}


def test_waits_that_outlive_the_kernel(session: Session) -> None:
    @ag.graph_fn(outputs=["decision"])
    async def pay(amount: float) -> dict[str, Any]:
        return await Approve(amount=amount)

    async def cell() -> None:
        run = pay.start(amount=3.5)
        await run.wait_for("waiting")
        (w,) = run.waits
        assert w.prompt == "Pay 3.5?" and w.deadline is not None
        await run.answer("Reject")
        assert await run == {"decision": "Reject"}

    arun(cell())


def test_register_context_service_rejects_builtin_names() -> None:
    with pytest.raises(ag.UsageError, match="built-in"):
        ag.register_context_service("channel", object())
