"""aether_nb against MCP servers written as their SDK's docs show (tests/mcp/servers/), not by aether_nb.

``kitchen.py`` (``MCPServer`` decorators) has one of everything real servers do: structured and plain outputs,
mixed content, ``isError`` results, tools that raise, awkward schemas and names, progress, logs, a tool list that
changes, questions (``ctx.elicit``) and model calls (``ctx.session.create_message``) back to the client,
resources and prompts. Each test starts one server and checks many things through it, so the tier stays fast.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI, mcp_server
from tests.conftest import arun, make_session
from tests.mcp.conftest import starts

SERVERS = Path(__file__).parent / "servers"


def kitchen(calls: Path) -> list[str]:
    return [sys.executable, str(SERVERS / "kitchen.py"), "--calls", str(calls)]


def events(calls: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in mcp_server.read_calls(calls) if e["event"] == kind]


def test_outputs_errors_schemas_and_names_of_a_server_written_by_others(session: Session, calls: Path) -> None:
    async def main() -> None:
        k = await ag.mcp.connect("kitchen", command=kitchen(calls), call_timeout_s=30)
        try:
            tools = k.tools
            # structured output: the outputs as the server gave them, declared by its output schema
            weather = await tools["weather"](city="Oslo")
            assert weather == {"city": "Oslo", "celsius": 21.5, "conditions": ["sunny", "breezy"]}
            assert tools["weather"].outputs == ["city", "celsius", "conditions"]
            assert await tools["echo"](text="hi") == {"result": "hi"}  # no output schema: the text
            mixed = await tools["gallery"](topic="cats")
            assert mixed["result"] == "about cats"
            assert [b["type"] for b in mixed["content"]] == ["image", "resource", "resource_link"]
            assert mixed["content"][0]["mimeType"] == "image/png" and mixed["content"][0]["data"]
            assert mixed["content"][1]["resource"]["text"] == "notes on cats"
            assert mixed["content"][2]["uri"] == "notes://more"
            # isError, a ToolError and a plain exception are all tool errors (mcp_tool_error) with the server's text
            for name, arguments, text in [
                ("refuse", {"reason": "no"}, "refused: no"),
                ("fail", {"message": "bad input"}, "bad input"),
                ("explode", {"message": "boom"}, "Error executing tool explode"),
            ]:
                with pytest.raises(MCPError, match=text) as err:
                    await tools[name](**arguments)
                assert err.value.code == "mcp_tool_error"
            # nested model ($ref), enum, optional and default parameters; a dotted, dashed name
            draw = tools["geo.draw-shape"]
            assert draw.name == "kitchen.geo.draw-shape" and draw.llm_name == "geo_draw-shape"
            assert "$defs" in draw.schema
            out = await draw(shape={"kind": "circle", "center": {"x": 1, "y": 2}}, color="green")
            assert out == {"drawn": "circle", "color": "green", "label": None, "opacity": 1.0}
            with pytest.raises(ag.UsageError, match="'tri' is not one of"):
                await draw(shape={"kind": "tri", "center": {"x": 1, "y": 2}})
            with pytest.raises(ag.UsageError, match="opacity"):
                await draw(shape={"kind": "square", "center": {"x": 0, "y": 0}}, opacity=2)
            # a non-ASCII name: callable by the server's name, shown to models as a valid function name
            assert await tools["grüße"](name="Ada") == {"result": "Grüß dich, Ada"}
            assert tools["grüße"].llm_name.isascii()
            assert len(tools["verbose"].description) > 5000 and await tools["verbose"](n=4) == {"result": 8}
            # progress and log lines outside a run: the call still works (logs go to Python logging)
            assert await tools["crunch"](steps=3) == {"result": "crunched 3"}
            # the tool list changes while connected: the new tool is listed without asking
            assert "secret" not in tools
            assert await tools["unlock"]() == {"result": "unlocked"}
            assert await tools["secret"]() == {"result": "the secret"}
            assert "secret" in k.tools
            # resources and prompts, as JSON
            assert [(r["uri"], r["mimeType"]) for r in await k.resources()] == [("notes://topic", "text/plain")]
            assert [t["uriTemplate"] for t in await k.resource_templates()] == ["notes://{name}/summary"]
            topic = await k.read_resource("notes://topic")
            assert topic == [{"uri": "notes://topic", "mimeType": "text/plain", "text": "topic notes"}]
            assert (await k.read_resource("notes://ada/summary"))[0]["text"] == "summary of ada"
            with pytest.raises(MCPError, match="refused resources/read") as err:
                await k.read_resource("nowhere://at/all")
            assert err.value.code == "mcp_protocol"
            (review,) = await k.prompts()
            assert review["name"] == "review" and [a["name"] for a in review["arguments"]] == ["code", "language"]
            prompt = await k.get_prompt("review", {"code": "x = 1"})
            assert prompt["messages"] == [{"role": "user", "content": "Review this python code:\nx = 1"}]
            with pytest.raises(ag.UsageError, match="arguments are strings"):
                await k.get_prompt("review", {"code": 1})  # type: ignore[dict-item]
            # outside a run nobody can answer the server's questions or serve its model calls: a clear refusal
            for name, arguments, why in [
                ("book", {"flight": "AB1"}, "questions only inside a run"),
                ("summarize", {"text": "x"}, "sampling requests only inside a run"),
            ]:
                with pytest.raises(MCPError, match=why):
                    await tools[name](**arguments)
        finally:
            await k.close()

    arun(main(), timeout=90)
    called = [e["tool"] for e in events(calls, "call")]
    assert called.count("refuse") == 1 and called.count("secret") == 1 and "book" in called
    assert starts(calls) == 1


def test_a_tool_that_asks_is_a_question_in_the_run_and_its_model_calls_use_the_runs_llm(
    calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    session, channel = make_session(answers=["two", "2", "Yes"])
    from aether_nb.runtime import session as session_mod

    previous = session_mod.set_default_session(session)

    @ag.graph_fn(outputs=["booking", "summary", "crunch"])
    async def trip(flight: str, *, context: ag.NodeContext) -> dict[str, Any]:
        k = context.mcp("kitchen")
        booking = await k.tools["book"](flight=flight)
        summary = await k.tools["summarize"](text="a very long text")
        crunch = await k.tools["crunch"](steps=2)
        assert (await k.read_resource("notes://topic"))[0]["text"] == "topic notes"  # a journaled step in a run
        return {"booking": booking["result"], "summary": summary["result"], "crunch": crunch["result"]}

    try:
        with FakeOpenAI(script=["A short summary."]) as fake:
            configure_llm(session, {"base_url": fake.base_url, "model": "fake"})
            ag.configure(mcp={"kitchen": {"command": kitchen(calls), "call_timeout_s": 30}})

            async def main() -> ag.Run:
                run = trip.start(flight="AB1")
                out = await run
                await ag.mcp.close_all()
                assert out == {
                    "booking": "booked 2 seat(s) on AB1 by the window",
                    "summary": "A short summary.",
                    "crunch": "crunched 2",
                }
                return run

            run = arun(main(), timeout=90)
            (request,) = fake.chat_requests
    finally:
        session_mod.set_default_session(previous)
    # the questions were asked in the run's chat, one per field of the server's form; "two" was asked again
    asked = [text for role, text in channel.transcript if role != "user"]
    assert any("How many seats on AB1?" in t and "How many seats" in t for t in asked)
    assert any("does not fit" in t for t in asked)
    assert any("A window seat?" in t for t in asked)
    assert events(calls, "elicit") == [{"event": "elicit", "action": "accept", "data": {"seats": 2, "window": True}}]
    # the model call went through the run's LLM as a node of the tool's call
    assert request["messages"][-1] == {"role": "user", "content": "Summarize: a very long text"}
    assert request["max_tokens"] == 50
    names = {n.name for n in run.graph.nodes}
    assert {"kitchen.book", "kitchen.summarize", "kitchen.crunch", "mcp_read_resource"} <= names
    # log lines and progress landed on the node's log
    logs = [e for e in session.store.load_events(run.id) if e["kind"] == "log"]
    text = json.dumps(logs, default=str)
    assert "crunching 2 steps" in text and "crunch done" in text and "progress 2/2" in text


def lowlevel(calls: Path, *extra: str) -> list[str]:
    return [sys.executable, str(SERVERS / "lowlevel.py"), "--calls", str(calls), *extra]


def test_a_low_level_server_with_hand_written_schemas_a_hang_and_a_crash(session: Session, calls: Path) -> None:
    async def main() -> None:
        low = await ag.mcp.connect("low", command=lowlevel(calls), call_timeout_s=0.6)
        try:
            lookup = low.tools["lookup"]
            assert lookup.outputs == ["rows", "table"]
            assert "limit: int | None = None" in repr(lookup)
            assert await lookup(query={"key": 5}, table="users") == {
                "rows": [{"key": 5, "n": 0}, {"key": 5, "n": 1}],
                "table": "users",
            }
            out = await lookup(query={"key": "ada", "fuzzy": True}, table="orders", limit=1)
            assert out == {"rows": [{"key": "ada", "n": 0}], "table": "orders"}
            with pytest.raises(ag.UsageError, match="not valid under any of the given schemas"):
                await lookup(query={"key": 1.5}, table="users")  # anyOf inside a $ref, checked before sending
            with pytest.raises(ag.UsageError, match="is not one of"):
                await lookup(query={"key": 1}, table="nope")
            assert await low.tools["plain-text"]() == {"result": "plain words"}
            # 4 steps of 0.3 s take longer than call_timeout_s=0.6, but each progress report starts the count again
            assert await low.tools["count"](to=4, every=0.3) == {"result": "counted to 4"}
            # a server that never answers: a clear error in time, and the connection stays usable
            with pytest.raises(MCPError, match=r"did not answer the call of hang within call_timeout_s=0\.6 s") as err:
                await low.tools["hang"]()
            assert err.value.code == "mcp_timeout"
            assert await low.tools["plain-text"]() == {"result": "plain words"}
            # a server that dies mid-call: that call fails clearly, the next one starts the server again
            with pytest.raises(MCPError, match="went away during the call of die") as err:
                await low.tools["die"]()
            assert err.value.code == "mcp_connection"
            assert await low.tools["plain-text"]() == {"result": "plain words"}
        finally:
            await low.close()

    arun(main(), timeout=90)
    assert starts(calls) == 2


def test_a_question_over_streamable_http_from_a_low_level_server(calls: Path, tmp_path: Path) -> None:
    session, channel = make_session(answers=[1, "12", "3"])  # "medium", then the optional count (1 to 9)
    from aether_nb.runtime import session as session_mod

    previous = session_mod.set_default_session(session)

    @ag.graph_fn(outputs=["answer"])
    async def pick(*, context: ag.NodeContext) -> dict[str, Any]:
        out = await context.mcp("low").tools["ask-enum"]()
        return {"answer": json.loads(out["result"])}

    port = mcp_server.free_port()
    proc = subprocess.Popen(lowlevel(calls, "--http", str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        ag.configure(mcp={"low": {"url": f"http://127.0.0.1:{port}/mcp", "call_timeout_s": 30}})

        async def main() -> Any:
            run = pick.start()
            out = await run
            await ag.mcp.close_all()
            return out

        assert arun(main(), timeout=60) == {"answer": {"size": "M", "count": 3}}
    finally:
        session_mod.set_default_session(previous)
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    (choice, text, again) = channel.prompts
    assert choice.kind == "choice" and choice.options == ["small", "medium", "large"]
    assert "low asks: Which size?" in (choice.prompt or "")
    assert text.kind == "text" and "How many" in (text.prompt or "") and "leave out" in (text.prompt or "")
    assert "'12' does not fit: 12 is greater than the maximum of 9" in (again.prompt or "")  # checked by the form
    assert events(calls, "elicit") == [{"event": "elicit", "action": "accept", "data": {"size": "M", "count": 3}}]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{err}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")
        time.sleep(0.05)


def test_a_tool_node_runs_a_foreign_servers_awkward_tools_and_its_questions(calls: Path) -> None:
    from aether_nb.flow import END, START, AgentState, StateGraph, ToolNode, assistant_message, tool_call
    from aether_nb.runtime import session as session_mod

    session, channel = make_session(answers=["3", "No"])
    previous = session_mod.set_default_session(session)
    shape = {"shape": {"kind": "square", "center": {"x": 0, "y": 0}}, "tags": ["a"]}

    async def main() -> Any:
        k = await ag.mcp.connect("kitchen", command=kitchen(calls), call_timeout_s=30)
        turns: list[int] = []

        def model(state: AgentState) -> Any:
            turns.append(1)
            if len(turns) > 1:
                return [assistant_message("done")]
            calls_ = [
                tool_call(k.tools["geo.draw-shape"].llm_name, shape, id="c1"),
                tool_call(k.tools["grüße"].llm_name, {"name": "Ada"}, id="c2"),
                tool_call("refuse", {"reason": "policy"}, id="c3"),
                tool_call("book", {"flight": "CD2"}, id="c4"),
            ]
            return [assistant_message(None, tool_calls=calls_)]

        g = StateGraph(AgentState, name="foreign_tools")
        g.add_node("model", model)
        g.add_node("tools", ToolNode(list(k.tools.values())))
        g.add_edge(START, "model")
        g.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
        g.add_edge("tools", "model")
        try:
            return await g.compile(checkpointer="memory").ainvoke({"messages": []}, config={"thread_id": "t"})
        finally:
            await k.close()

    try:
        res = arun(main(), timeout=90)
    finally:
        session_mod.set_default_session(previous)
    results = {m["tool_call_id"]: m for m in res.messages if m.get("role") == "tool"}
    assert json.loads(results["c1"]["content"])["drawn"] == "square" and not results["c1"].get("is_error")
    assert "Grüß dich, Ada" in results["c2"]["content"]
    assert results["c3"].get("is_error") and "refused: policy" in results["c3"]["content"]
    assert "booked 3 seat(s) on CD2" in results["c4"]["content"] and not results["c4"].get("is_error")
    # the server's two questions were asked once each, whichever of the four calls in flight took them
    assert [w.kind for w in channel.prompts] == ["text", "choice"]
    assert events(calls, "elicit") == [{"event": "elicit", "action": "accept", "data": {"seats": 3, "window": False}}]
    draws = [e for e in events(calls, "call") if e["tool"] == "geo.draw-shape"]
    assert [d["arguments"] for d in draws] == [
        {
            "shape": {"kind": "square", "center": {"x": 0.0, "y": 0.0}, "size": 1.0},
            "color": "red",
            "label": None,
            "tags": ["a"],
        }
    ]


def test_stopping_a_run_while_the_servers_question_is_open_ends_the_call_and_keeps_the_connection(
    session: Session, calls: Path
) -> None:
    @ag.graph_fn(outputs=["booking"])
    async def trip(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"booking": (await context.mcp("kitchen").tools["book"](flight="EF3"))["result"]}

    async def main() -> None:
        k = await ag.mcp.connect("kitchen", command=kitchen(calls), call_timeout_s=30)
        try:
            run = trip.start()
            await run.wait_for("waiting", timeout=30)  # nobody answers: the question stays open
            (wait,) = run.waits
            assert "How many seats on EF3?" in (wait.prompt or "")
            assert run.cancel()
            assert await run.wait_for("cancelled", timeout=30) == "cancelled"
            assert k.connected
            assert await k.tools["echo"](text="still here") == {"result": "still here"}
        finally:
            await k.close()

    arun(main(), timeout=60)
    assert starts(calls) == 1  # the server did not crash: the same process answered the next call
    assert events(calls, "elicit") == []  # the question was never answered, so nothing was booked


def test_a_server_that_never_answers_its_listing_fails_connect_in_time(session: Session, calls: Path) -> None:
    async def main() -> None:
        # 4 s: the handshake shares the timeout, and a loaded machine can take over a second to start Python + mcp
        with pytest.raises(MCPError, match=r"did not answer tools/list within 4 s") as err:
            await ag.mcp.connect("mute", command=lowlevel(calls, "--hang-listing"), timeout_s=4)
        assert err.value.code == "mcp_timeout"
        await ag.mcp.close_all()

    arun(main(), timeout=30)
    assert starts(calls) == 1


def test_questions_logs_progress_and_a_changing_tool_list_over_streamable_http(calls: Path) -> None:
    session, channel = make_session(answers=["2", "No"])
    from aether_nb.runtime import session as session_mod

    previous = session_mod.set_default_session(session)

    @ag.graph_fn(outputs=["booking", "crunch", "secret"])
    async def trip(*, context: ag.NodeContext) -> dict[str, Any]:
        k = context.mcp("k")
        booking = await k.tools["book"](flight="ZZ9")
        crunch = await k.tools["crunch"](steps=2)
        await k.tools["unlock"]()
        secret = await k.tools["secret"]()
        return {"booking": booking["result"], "crunch": crunch["result"], "secret": secret["result"]}

    port = mcp_server.free_port()
    command = [*kitchen(calls), "--http", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        ag.configure(mcp={"k": {"url": f"http://127.0.0.1:{port}/mcp", "call_timeout_s": 30}})

        async def main() -> ag.Run:
            run = trip.start()
            assert await run == {"booking": "booked 2 seat(s) on ZZ9", "crunch": "crunched 2", "secret": "the secret"}
            await ag.mcp.close_all()
            return run

        run = arun(main(), timeout=60)
    finally:
        session_mod.set_default_session(previous)
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    logs = [e["message"] for e in session.store.load_events(run.id) if e["kind"] == "log"]
    expected = [
        "k: crunching 2 steps",
        "k.crunch progress 1/2: step 1",
        "k.crunch progress 2/2: step 2",
        "k: crunch done",
    ]
    assert sorted(logs) == sorted(expected)  # log lines and progress reach the client by separate paths
    assert [w.kind for w in channel.prompts] == ["text", "choice"]
