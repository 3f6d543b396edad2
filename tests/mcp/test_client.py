"""ag.mcp.connect / context.mcp against real MCP servers (subprocesses speaking stdio or streamable HTTP).

The test server records every start and every call in a file, so the tests count what the server really did.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import FakeOpenAI, mcp_server
from tests.conftest import arun, make_session
from tests.mcp.conftest import starts, tool_calls


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a condition on observable state (a file the server writes, a connection's state)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def server_pid(calls: Path) -> int:
    pids = [e["pid"] for e in mcp_server.read_calls(calls) if e["event"] == "start"]
    return int(pids[-1])


def test_connect_lists_the_tools_with_the_servers_schemas_and_descriptions(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    async def main() -> None:
        calc = await ag.mcp.connect("calc", command=calc_command)
        try:
            assert calc.connected and calc.listed
            assert isinstance(calc.tools, dict) and calc.tools is calc.tools
            assert set(calc.tools) == {"add", "divide", "stats", "greet", "slow", "reserve"}
            add = calc.tools["add"]
            assert isinstance(add, ag.Tool) and add.name == "calc.add" and add.llm_name == "add"
            assert add.description == "Add two integers."
            assert add.schema["properties"]["a"]["type"] == "integer" and add.schema["required"] == ["a", "b"]
            assert calc.tools["stats"].outputs == ["count", "mean", "max"]
            assert calc.server_info is not None and calc.server_info["name"] == "calc"
            assert "calc.add(a: int, b: int)" in repr(add)
        finally:
            await calc.close()
        assert not calc.connected

    arun(main())
    assert starts(calls) == 1 and tool_calls(calls) == []


def test_calls_outside_a_run_run_now_with_structured_or_text_outputs(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    async def main() -> None:
        calc = await ag.mcp.connect("calc", command=calc_command)
        try:
            assert await calc.tools["add"](2, 3) == {"result": 5}
            assert await calc.tools["stats"](numbers=[1, 2, 6]) == {"count": 3, "mean": 3.0, "max": 6.0}
            assert await calc.tools["greet"](name="Ada") == {"result": "Hello, Ada!"}
            with pytest.raises(MCPError, match="cannot divide by zero") as err:
                await calc.tools["divide"](a=1, b=0)
            assert err.value.code == "mcp_tool_error"
            with pytest.raises(ag.UsageError, match="not of type 'integer'"):
                calc.tools["add"](a="two", b=3)  # refused before reaching the server
            with pytest.raises(KeyError, match="has no tool 'nope'"):
                calc.tools["nope"]
        finally:
            await calc.close()

    arun(main())
    assert tool_calls(calls) == [
        ("add", {"a": 2, "b": 3}),
        ("stats", {"numbers": [1.0, 2.0, 6.0]}),
        ("greet", {"name": "Ada", "punctuation": "!"}),
        ("divide", {"a": 1.0, "b": 0.0}),
    ]


@ag.graph_fn(outputs=["total"])
async def mcp_sums(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    calc = context.mcp("calc")
    first = await calc.tools["add"](a=x, b=1)
    stats = await calc.tools["stats"](numbers=[first["result"], 10])
    return {"total": stats["max"] + stats["count"]}


def test_inside_a_run_calls_are_nodes_named_server_dot_tool(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})

    async def main() -> ag.Run:
        run = mcp_sums.start(x=1)
        assert await run == {"total": 12.0}
        await ag.mcp.close_all()
        return run

    run = arun(main())
    nodes = [(n.id, n.name, n.kind, n.status) for n in run.graph.nodes]
    assert nodes == [("calc.add_1", "calc.add", "tool", "DONE"), ("calc.stats_1", "calc.stats", "tool", "DONE")]
    assert run.graph.edges == [("calc.add_1", "calc.stats_1")]
    assert run.graph.node("calc.stats_1").outputs == {"count": 2, "mean": 6.0, "max": 10.0}
    assert tool_calls(calls) == [("add", {"a": 1, "b": 1}), ("stats", {"numbers": [2.0, 10.0]})]


def test_a_run_with_mcp_calls_promotes_to_a_graph_of_them(session: Session, calc_command: list[str]) -> None:
    async def main() -> None:
        calc = await ag.mcp.connect("calc", command=calc_command)
        assert calc.add is calc.tools["add"]  # attribute access, as promoted source uses it

        @ag.graph_fn(outputs=["total"])
        async def twice(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
            first = await calc.add(a=x, b=3)
            second = await calc.add(a=first["result"], b=10)
            return {"total": second["result"]}

        run = twice.start(x=2)
        assert await run == {"total": 15}
        source = run.promote("twice_static")
        assert "calc_add_2 = calc.add(a=calc_add_1.result, b=10)" in source
        namespace: dict[str, Any] = {"ag": ag, "calc": calc}
        exec(source, namespace)
        assert await namespace["twice_static"](x=5) == {"total": 18}
        assert await ag.run(run.to_taskgraph(), {"x": 7}) == {"total": 20}
        await calc.close()

    arun(main())


@ag.graph_fn(outputs=["q"])
async def mcp_divides(a: float, b: float, *, context: ag.NodeContext) -> dict[str, Any]:
    out = await context.mcp("calc").tools["divide"](a=a, b=b)
    return {"q": out["result"]}


def test_an_is_error_result_fails_the_node_with_the_tools_message(session: Session, calc_command: list[str]) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})

    async def main() -> ag.Run:
        run = mcp_divides.start(a=1, b=0)
        with pytest.raises(ag.RunFailed) as err:
            await run
        assert isinstance(err.value.__cause__, MCPError) and err.value.__cause__.code == "mcp_tool_error"
        await ag.mcp.close_all()
        return run

    run = arun(main())
    node = run.graph.node("calc.divide_1")
    assert node.status == "FAILED" and "cannot divide by zero" in node.error["message"]


def test_one_connection_per_server_is_shared_by_runs_and_made_on_first_use(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})
    assert starts(calls) == 0  # configured, not started

    async def main() -> None:
        assert starts(calls) == 0
        runs = [mcp_sums.start(x=i) for i in range(4)]
        assert [await r for r in runs] == [{"total": 12.0}] * 4
        assert starts(calls) == 1  # four runs, one server
        same = await ag.mcp.connect("calc", command=calc_command)
        assert same is ag.mcp.servers()["calc"]
        await ag.mcp.close_all()
        assert not same.connected
        assert await mcp_sums(x=2) == {"total": 12.0}  # after close: the next call starts it again
        assert starts(calls) == 2
        other = await ag.mcp.connect("calc", command=calc_command, call_timeout_s=30)
        assert other is not same and other is ag.mcp.servers()["calc"]  # other settings: a new connection
        await ag.mcp.close_all()

    arun(main())


def test_the_store_remembers_a_listing_so_a_new_session_does_not_start_the_server(
    calc_command: list[str], calls: Path
) -> None:
    """A resumed run whose MCP calls completed replays them: the server is neither called nor even started."""

    @ag.graph_fn(outputs=["total", "name"])
    async def add_then_ask(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
        calc = context.mcp("calc")
        out = await calc.tools["add"](a=x, b=x)
        name = await context.channel().ask_text("Your name?")
        return {"total": out["result"], "name": name}

    store = MemoryStore()
    previous = session_mod.set_default_session(None)
    try:
        s1, _ = make_session(store)
        session_mod.set_default_session(s1)
        ag.configure(mcp={"calc": {"command": calc_command}})

        async def first() -> None:
            run = add_then_ask.start(x=20, run_id="mcp-resume")
            await run.wait_for("waiting", timeout=20)

        arun(first())  # the loop ends while the run waits, as a kernel dying would
        assert starts(calls) == 1 and tool_calls(calls) == [("add", {"a": 20, "b": 20})]

        s2, _ = make_session(store)
        session_mod.set_default_session(s2)

        async def second() -> dict[str, Any]:
            calc = await ag.mcp.connect("calc", command=calc_command)  # the store knows its tools
            assert calc.listed and not calc.connected
            run = ag.get_run("mcp-resume")
            await run.answer("Ada")
            out: dict[str, Any] = await run
            assert run.graph.node("calc.add_1").replayed
            assert not calc.connected
            return out

        assert arun(second()) == {"total": 40, "name": "Ada"}
    finally:
        session_mod.set_default_session(previous)
    assert starts(calls) == 1 and len(tool_calls(calls)) == 1


def test_a_server_killed_mid_call_fails_that_node_and_the_next_call_starts_it_again(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})

    @ag.graph_fn(outputs=["after"])
    async def survives(*, context: ag.NodeContext) -> dict[str, Any]:
        calc = context.mcp("calc")
        try:
            await calc.tools["slow"](seconds=60)
        except MCPError as exc:
            assert exc.code == "mcp_connection"
        out = await calc.tools["add"](a=1, b=2)  # the next call reconnects
        return {"after": out["result"]}

    async def main() -> ag.Run:
        run = survives.start()
        await wait_until(lambda: ("slow", {"seconds": 60.0}) in tool_calls(calls))
        os.kill(server_pid(calls), signal.SIGKILL)
        assert await asyncio.wait_for(run.result(), 30) == {"after": 3}
        await ag.mcp.close_all()
        return run

    run = arun(main(), timeout=60)
    slow = run.graph.node("calc.slow_1")
    assert slow.status == "FAILED"
    assert slow.error["type"] == "aether_nb.errors.MCPError"
    assert "went away during the call of slow" in slow.error["message"]
    assert "the next call starts the server again" in slow.error["message"]
    assert run.graph.node("calc.add_1").status == "DONE"
    assert starts(calls) == 2


def test_a_server_that_died_while_idle_is_started_again_by_the_next_call(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    async def main() -> None:
        calc = await ag.mcp.connect("calc", command=calc_command)
        assert await calc.tools["add"](a=1, b=1) == {"result": 2}
        os.kill(server_pid(calls), signal.SIGKILL)
        await wait_until(lambda: not calc.connected)  # the connection noticed the server end
        assert await calc.tools["add"](a=2, b=2) == {"result": 4}
        await calc.close()

    arun(main(), timeout=60)
    assert starts(calls) == 2


def test_a_call_past_call_timeout_s_fails_and_the_connection_stays(session: Session, calc_command: list[str]) -> None:
    async def main() -> None:
        calc = await ag.mcp.connect("calc", command=calc_command, call_timeout_s=0.5)
        with pytest.raises(MCPError, match=r"did not answer the call of slow within call_timeout_s=0\.5 s") as err:
            await calc.tools["slow"](seconds=30)
        assert err.value.code == "mcp_timeout"
        assert calc.connected and await calc.tools["add"](a=1, b=2) == {"result": 3}
        await calc.close()

    arun(main(), timeout=60)


def test_python_means_the_interpreter_of_this_process(session: Session, calls: Path) -> None:
    """``python`` on PATH is often another interpreter than the kernel's; a bare ``python`` is the kernel's."""

    async def main() -> None:
        calc = await ag.mcp.connect(
            "calc", command=["python", "-m", "aether_nb.testing.mcp_server", "--calls", str(calls)]
        )
        assert await calc.tools["add"](a=1, b=1) == {"result": 2}
        await calc.close()

    arun(main())
    assert starts(calls) == 1


def test_a_command_that_is_no_mcp_server_fails_clearly_with_what_it_printed(session: Session) -> None:
    broken = [sys.executable, "-c", "import sys; print('no such database: prod', file=sys.stderr); sys.exit(3)"]

    async def main() -> None:
        with pytest.raises(MCPError, match="no such database: prod") as err:
            await ag.mcp.connect("broken", command=broken, timeout_s=20)
        assert err.value.code == "mcp_connection" and "could not connect to MCP server 'broken'" in err.value.message
        with pytest.raises(MCPError, match="could not connect"):
            await ag.mcp.connect("missing", command=["/no/such/program-aether"], timeout_s=20)

    arun(main())


def test_a_streamable_http_server(session: Session, calls: Path) -> None:
    with mcp_server.http_server(calls) as url:

        @ag.graph_fn(outputs=["text"])
        async def greets(who: str, *, context: ag.NodeContext) -> dict[str, Any]:
            out = await context.mcp("web").tools["greet"](name=who, punctuation="?")
            return {"text": out["result"]}

        async def main() -> ag.Run:
            web = await ag.mcp.connect("web", url=url)
            assert web.spec.transport == "http" and "greet" in web.tools
            run = greets.start(who="Ada")
            assert await run == {"text": "Hello, Ada?"}
            with pytest.raises(MCPError, match="cannot divide by zero"):
                await web.tools["divide"](a=1, b=0)
            await web.close()
            return run

        run = arun(main(), timeout=60)
    assert run.graph.node("web.greet_1").status == "DONE"
    assert tool_calls(calls) == [("greet", {"name": "Ada", "punctuation": "?"}), ("divide", {"a": 1.0, "b": 0.0})]


def test_an_unreachable_url_is_a_connection_error(session: Session) -> None:
    async def main() -> None:
        with pytest.raises(MCPError) as err:
            await ag.mcp.connect("gone", url=f"http://127.0.0.1:{mcp_server.free_port()}/mcp", timeout_s=20)
        assert err.value.code == "mcp_connection"

    arun(main())


def test_the_model_sees_the_servers_schemas_and_tool_errors_go_back_to_it(
    session: Session, calc_command: list[str], calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    script = [
        {
            "tool_calls": [
                {"name": "add", "arguments": {"a": 2, "b": 3}},
                {"name": "divide", "arguments": {"a": 1, "b": 0}},
            ]
        },
        "2 + 3 = 5, and 1 / 0 cannot be computed.",
    ]

    @ag.graph_fn(outputs=["text"])
    async def assistant(question: str, *, context: ag.NodeContext) -> dict[str, Any]:
        calc = context.mcp("calc")
        await calc.connect()
        result = await context.llm().run_tools(question, tools=list(calc.tools.values()))
        return {"text": result.text}

    with FakeOpenAI(script=script) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "fake"})
        ag.configure(mcp={"calc": {"command": calc_command}})

        async def main() -> ag.Run:
            run = assistant.start(question="What are 2+3 and 1/0?")
            assert await run == {"text": "2 + 3 = 5, and 1 / 0 cannot be computed."}
            await ag.mcp.close_all()
            return run

        run = arun(main(), timeout=60)
        first, second = fake.chat_requests
    sent = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(sent) == {"add", "divide", "stats", "greet", "slow", "reserve"}
    assert sent["add"]["description"] == "Add two integers."
    assert sent["add"]["parameters"]["properties"]["a"]["type"] == "integer"
    results = {m["tool_call_id"]: m["content"] for m in second["messages"] if m["role"] == "tool"}
    contents = list(results.values())
    assert json.loads(contents[0]) == {"result": 5}
    assert "cannot divide by zero" in contents[1]
    statuses = {n.name: n.status for n in run.graph.nodes if n.name.startswith("calc.")}
    assert statuses == {"calc.add": "DONE", "calc.divide": "FAILED"}
    # the two calls run concurrently, so the server may record them in either order
    assert sorted(tool_calls(calls), key=str) == [("add", {"a": 2, "b": 3}), ("divide", {"a": 1.0, "b": 0.0})]


def test_tools_of_a_never_listed_server_are_usable_by_name_but_not_listable(
    session: Session, calc_command: list[str], calls: Path
) -> None:
    ag.configure(mcp={"calc": {"command": calc_command}})
    calc = ag.mcp.servers()["calc"]
    assert not calc.listed
    with pytest.raises(ag.UsageError, match="not known yet") as err:
        list(calc.tools)
    assert err.value.code == "mcp_not_listed"
    add = calc.tools["add"]  # no listing needed to call a tool by name
    assert calc.tools.get("add") is add

    async def main() -> None:
        assert await add(a=1, b=2) == {"result": 3}
        assert calc.listed and "stats" in calc.tools  # connecting listed them
        await calc.close()

    arun(main())


def test_bad_settings_say_what_to_do(session: Session) -> None:
    async def main() -> None:
        with pytest.raises(ag.UsageError, match="exactly one of command"):
            await ag.mcp.connect("calc")
        with pytest.raises(ag.UsageError, match="exactly one of command"):
            await ag.mcp.connect("calc", command=["x"], url="http://127.0.0.1:1/mcp")
        with pytest.raises(ag.UsageError, match="must start with a letter"):
            await ag.mcp.connect("my calc", command=["x"])
        with pytest.raises(ag.UsageError, match="http:// or https://"):
            await ag.mcp.connect("calc", url="ftp://x")

    arun(main())
    with pytest.raises(ag.UsageError, match="unknown option"):
        ag.configure(mcp={"calc": {"command": ["x"], "commmand": ["y"]}})
    with pytest.raises(ag.UsageError, match="no MCP server named 'nope'"):
        from aether_nb.mcp import registry

        registry.connection(session, "nope")


def test_credentials_in_headers_are_secrets(session: Session) -> None:
    from aether_nb.mcp.spec import make_spec
    from aether_nb.store.redact import contains_secret

    token = "tok-0123456789-abcdefghij"
    spec = make_spec("api", {"url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": f"Token {token}"}})
    assert contains_secret(json.dumps({"note": f"Token {token}"}))
    assert token not in spec.describe() and token not in spec.fingerprint


def test_a_tool_node_runs_mcp_tools(session: Session, calc_command: list[str]) -> None:
    from aether_nb.flow import END, START, AgentState, StateGraph, ToolNode, assistant_message, tool_call

    async def main() -> Any:
        calc = await ag.mcp.connect("calc", command=calc_command)
        turns: list[int] = []

        def model(state: AgentState) -> Any:
            turns.append(1)
            if len(turns) > 1:
                return [assistant_message("done")]
            return [assistant_message(None, tool_calls=[tool_call("add", {"a": 2, "b": 3}, id="c1")])]

        g = StateGraph(AgentState, name="mcp_tools")
        g.add_node("model", model)
        g.add_node("tools", ToolNode(list(calc.tools.values())))
        g.add_edge(START, "model")
        g.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].get("tool_calls") else END)
        g.add_edge("tools", "model")
        res = await g.compile(checkpointer="memory").ainvoke({"messages": []}, config={"thread_id": "t"})
        await calc.close()
        return res

    res = arun(main())
    tool_messages = [m for m in res.messages if m.get("role") == "tool"]
    assert tool_messages and not tool_messages[0].get("is_error"), tool_messages


def test_a_call_leaves_no_task_pending_behind(session: Session, calc_command: list[str], calls: Path) -> None:
    """Each call waits on the server's answer and its back channel at once; the wait that lost must end, else its
    task is garbage-collected pending and asyncio prints "Task was destroyed but it is pending!" into the cell."""

    @ag.graph_fn(name="mcp_two_adds")
    async def two_adds(*, context: ag.NodeContext) -> dict[str, Any]:
        calc = context.mcp("calc")
        first = await calc.tools["add"](a=1, b=2)
        second = await calc.tools["add"](a=first["result"], b=3)
        return {"total": second["result"]}

    async def main() -> list[str]:
        ag.configure(mcp={"calc": {"command": calc_command}})
        try:
            assert await two_adds() == {"total": 6}
            await asyncio.sleep(0)  # a cancelled task ends at the next loop iteration
            me = asyncio.current_task()
            return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done() and "Queue.get" in repr(t)]
        finally:
            await ag.mcp.close_all()

    assert arun(main()) == []


def test_an_http_server_restarted_while_idle_gets_a_new_session_from_the_next_call(
    session: Session, calls: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A redeployed HTTP server no longer knows the client's session and rejects its next request ("Session not
    found") before running it: every later call, and connect() and refresh(), failed so for good. As the spec
    says, the client starts a new session: the call is sent once more on it and runs once. Closing the forgotten
    session prints nothing (the SDK warned "Session termination failed: 404" on the notebook's stderr)."""
    import contextlib
    from urllib.parse import urlparse

    async def main() -> None:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(mcp_server.http_server(calls))
            web = await ag.mcp.connect("web", url=url)
            assert await web.tools["add"](a=1, b=2) == {"result": 3}
        port = urlparse(url).port
        with mcp_server.http_server(calls, port=port):
            assert await web.tools["add"](a=2, b=2) == {"result": 4}
            assert await web.tools["add"](a=3, b=3) == {"result": 6}
            await web.close()

    with caplog.at_level(logging.DEBUG, logger="mcp.client.streamable_http"):
        arun(main(), timeout=90)
    assert [args for name, args in tool_calls(calls) if name == "add"] == [
        {"a": 1, "b": 2},
        {"a": 2, "b": 2},
        {"a": 3, "b": 3},
    ]
    assert not [r for r in caplog.records if "Session termination failed" in r.getMessage()]


def test_a_node_asking_for_a_server_no_cell_configured_says_which_and_how_to_go_on(session: Session) -> None:
    """After a restart, before the cell with ag.configure(mcp=...) ran again: the node's error named no server and
    said that importing aether_nb installs it (it does not)."""

    @ag.graph_fn(outputs=["r"])
    async def adds(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"r": await context.mcp("calc").tools["add"](a=1, b=2)}

    session.service_factories.pop("mcp", None)
    with pytest.raises(ag.RunFailed) as caught:
        arun(adds())
    message = str(caught.value)
    assert "no MCP server named 'calc' is configured in this session" in message
    assert "resume_mode='failed_nodes'" in message and "import aether_nb" not in message


def test_a_program_that_never_answers_the_handshake_fails_within_its_timeout(session: Session) -> None:
    """``timeout_s`` bounds start and handshake: the connection gave up after it and then waited close()'s 10 s
    grace for a session that was never made (a run's first call to such a server blocked ~42 s by default)."""
    hung = [sys.executable, "-c", "import time; time.sleep(600)"]

    async def main() -> None:
        with pytest.raises(MCPError, match=r"did not answer the protocol handshake within 1 s") as err:
            await asyncio.wait_for(ag.mcp.connect("hung", command=hung, timeout_s=1), timeout=9)
        assert err.value.code == "mcp_connection"

    arun(main(), timeout=60)
