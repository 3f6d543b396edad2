"""``python -m aether_nb.mcp serve``: a real MCP client (the SDK's ``Client``) talking to a served module.

Every call is a run in the served store (read back after the server exits); questions the agents ask come to
the client as elicitations, on 2026-07-28 connections (the call returns the question, the retry carries the
answer) and on 2025-era ones (the server asks over the back channel).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun

MODULE = '''
"""Agents served over MCP in the tests."""
import os
import aether_nb as ag

COUNTER = os.environ["COUNTER"]


@ag.tool(name="charge")
def _charge(what: str) -> None:  # private: a step of the agents, not served itself
    with open(COUNTER, "a") as f:  # a side effect that must happen once per call
        f.write(what + "\\n")


@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    """Double a number.

    Args:
        x: the number to double.
    """
    return {"y": x * 2}


@ag.tool
async def shout(text: str, *, context: ag.NodeContext) -> str:
    """Upper-case a text (a tool with a context parameter)."""
    return text.upper() + "!"


@ag.graph_fn(name="onboard", outputs=["greeting", "approved"])
async def onboard(plan: str, seats: int = 1, *, context: ag.NodeContext):
    """Onboard a customer: charges the plan, asks their name and for approval."""
    await _charge(f"{plan} x{seats}")
    d = await double(seats)
    name = await context.channel().ask_text("Your name?")
    approved, _ = await context.channel().ask_approval(f"Start {plan} for {name}?")
    await context.channel().send_text(f"Welcome, {name}")
    return {"greeting": f"Hello {name}, {d['y']} seats", "approved": approved}


@ag.graph_fn(outputs=["color"])
async def pick(*, context: ag.NodeContext):
    """Pick a colour."""
    choice = await context.channel().ask_choices("Colour?", ["red", "blue"])
    return {"color": choice.choice}


@ag.graph_fn(outputs=["never"])
async def broken(x: int):
    """Always fails."""
    raise ValueError(f"cannot handle {x}")


@ag.graph_fn
async def takes_anything(**kwargs):
    return kwargs


class Approve(ag.DualStageTool, outputs=["decision"]):
    """Approve a payment."""

    async def setup(self, amount: float, *, context) -> ag.WaitSpec:
        return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?", options=["Pay", "Refuse"])

    async def on_resume(self, payload, *, context) -> dict:
        return {"decision": payload["choice"]}
'''


class Served:
    """The served module in a temporary folder, its store and its side-effect counter."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path
        (tmp_path / "served_agents.py").write_text(MODULE)
        self.store = tmp_path / "agents.duckdb"
        self.counter = tmp_path / "charges.txt"

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(
            command=sys.executable,
            args=["-m", "aether_nb.mcp", "serve", "served_agents", "--store", str(self.store)],
            env={"COUNTER": str(self.counter)},
            cwd=str(self.folder),
        )

    def charges(self) -> list[str]:
        return self.counter.read_text().splitlines() if self.counter.exists() else []

    def runs(self) -> dict[str, Any]:
        """The runs in the store by id (read after the server exited and released the file)."""
        store = DuckDBStore(self.store)
        try:
            return {r.run_id: r for r in store.list_runs()}
        finally:
            store.close()


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return Served(tmp_path)


def answers(*replies: Any) -> tuple[Any, list[Any]]:
    """An elicitation callback giving ``replies`` in order (``("decline",)`` declines), and what it was asked."""
    asked: list[Any] = []
    queue = list(replies)

    async def callback(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params)
        reply = queue.pop(0)
        if reply in ("decline", "cancel"):
            return types.ElicitResult(action=reply)
        return types.ElicitResult(action="accept", content={"answer": reply})

    return callback, asked


def text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))


def test_tools_and_agents_are_listed_with_schemas_from_their_signatures(served: Served) -> None:
    async def main() -> list[types.Tool]:
        async with Client(served.params()) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in arun(main(), timeout=60)}
    assert set(tools) == {"double", "shout", "onboard", "pick", "broken", "Approve"}  # not takes_anything(**kwargs)
    assert tools["double"].description == "Double a number."
    assert tools["double"].input_schema == {
        "type": "object",
        "properties": {"x": {"type": "integer", "description": "the number to double."}},
        "required": ["x"],
        "additionalProperties": False,
    }
    onboard = tools["onboard"].input_schema
    assert onboard["required"] == ["plan"] and onboard["properties"]["seats"] == {"type": "integer", "default": 1}
    assert "context" not in onboard["properties"] and "context" not in tools["shout"].input_schema["properties"]
    assert tools["onboard"].output_schema == {
        "type": "object",
        "properties": {"greeting": {}, "approved": {}},
        "required": ["greeting", "approved"],
    }
    assert tools["Approve"].input_schema["required"] == ["amount"]


def test_calls_are_runs_in_the_served_store(served: Served) -> None:
    async def main() -> list[Any]:
        async with Client(served.params()) as client:
            return [
                await client.call_tool("double", {"x": 21}),
                await client.call_tool("shout", {"text": "hi"}),
                await client.call_tool("broken", {"x": 7}),
                await client.call_tool("double", {"x": "many"}),
                await client.call_tool("nosuch", {}),
            ]

    ok, shout, failed, bad_args, unknown = arun(main(), timeout=60)
    assert ok.structured_content == {"y": 42} and text(ok) == '{"y": 42}' and not ok.is_error
    assert shout.structured_content == {"result": "HI!"} and text(shout) == "HI!"
    assert failed.is_error and "broken failed: ValueError: cannot handle 7" in text(failed)
    assert bad_args.is_error and "invalid arguments for double: x: Input should be a valid integer" in text(bad_args)
    assert unknown.is_error and "no tool named 'nosuch'" in text(unknown)
    runs = served.runs()
    assert runs[ok.meta["aether_nb/run_id"]].status == "succeeded"
    assert runs[failed.meta["aether_nb/run_id"]].status == "failed"
    assert sorted(r.graph for r in runs.values()) == ["broken", "double", "shout"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_questions_become_elicitations(served: Served, mode: str) -> None:
    callback, asked = answers("Ada", "Approve")

    async def main() -> Any:
        async with Client(served.params(), mode=mode, elicitation_callback=callback) as client:
            era = client.protocol_version
            result = await client.call_tool("onboard", {"plan": "pro", "seats": 2})
            return era, result

    era, result = arun(main(), timeout=60)
    assert era == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert not result.is_error, text(result)
    assert result.structured_content == {"greeting": "Hello Ada, 4 seats", "approved": True}
    assert text(result).startswith("Welcome, Ada\n")  # what the agent said, then its outputs
    assert [p.message for p in asked] == ["Your name?", "Start pro for Ada?"]
    assert asked[1].requested_schema["properties"]["answer"]["enum"] == ["Approve", "Reject"]
    assert served.charges() == ["pro x2"]
    assert served.runs()[result.meta["aether_nb/run_id"]].status == "succeeded"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_concurrent_calls_are_separate_runs_with_their_own_questions(served: Served, mode: str) -> None:
    async def callback(context: Any, params: Any) -> types.ElicitResult:
        if params.message == "Your name?":
            return types.ElicitResult(action="accept", content={"answer": "Ada"})
        approve = "basic" in params.message  # approve one plan, reject the other
        return types.ElicitResult(action="accept", content={"answer": "Approve" if approve else "Reject"})

    async def main() -> list[Any]:
        async with Client(served.params(), mode=mode, elicitation_callback=callback) as client:
            return list(
                await asyncio.gather(
                    client.call_tool("onboard", {"plan": "basic"}), client.call_tool("onboard", {"plan": "gold"})
                )
            )

    basic, gold = arun(main(), timeout=60)
    assert basic.structured_content == {"greeting": "Hello Ada, 2 seats", "approved": True}
    assert gold.structured_content == {"greeting": "Hello Ada, 2 seats", "approved": False}
    assert sorted(served.charges()) == ["basic x1", "gold x1"]
    assert basic.meta["aether_nb/run_id"] != gold.meta["aether_nb/run_id"]


def test_a_client_that_cannot_answer_gets_a_clear_error_and_the_run_is_cancelled(served: Served) -> None:
    async def main() -> Any:
        async with Client(served.params()) as client:  # no elicitation callback: no capability
            return await client.call_tool("onboard", {"plan": "pro"})

    result = arun(main(), timeout=60)
    assert result.is_error
    assert "onboard asks 'Your name?', but this MCP client cannot answer questions" in text(result)
    assert served.runs()[result.meta["aether_nb/run_id"]].status == "cancelled"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_declined_question_cancels_the_run_but_a_declined_approval_is_a_no(served: Served, mode: str) -> None:
    declines, _ = answers("decline")
    refuses, _ = answers("Ada", "decline")

    async def main() -> tuple[Any, Any]:
        async with Client(served.params(), mode=mode, elicitation_callback=declines) as client:
            declined = await client.call_tool("onboard", {"plan": "pro"})
        async with Client(served.params(), mode=mode, elicitation_callback=refuses) as client:
            refused = await client.call_tool("onboard", {"plan": "team"})
        return declined, refused

    declined, refused = arun(main(), timeout=90)
    assert declined.is_error and "'Your name?' of onboard was not answered (decline)" in text(declined)
    assert served.runs()[declined.meta["aether_nb/run_id"]].status == "cancelled"
    assert not refused.is_error and refused.structured_content["approved"] is False


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_an_answer_that_does_not_fit_is_asked_again_with_the_reason(served: Served, mode: str) -> None:
    callback, asked = answers("green", "blue")

    async def main() -> Any:
        async with Client(served.params(), mode=mode, elicitation_callback=callback) as client:
            return await client.call_tool("pick", {})

    result = arun(main(), timeout=60)
    assert result.structured_content == {"color": "blue"}
    assert len(asked) == 2 and "'green' is not one of ['red', 'blue']" in asked[1].message


def test_a_dual_stage_tool_is_served_as_a_question(served: Served) -> None:
    callback, asked = answers("Pay")

    async def main() -> Any:
        async with Client(served.params(), elicitation_callback=callback) as client:
            return await client.call_tool("Approve", {"amount": 5})

    result = arun(main(), timeout=60)
    assert result.structured_content == {"decision": "Pay"} and asked[0].message == "Pay 5.0?"


def test_a_question_survives_a_server_restart(served: Served) -> None:
    """On a 2026-07-28 connection the question comes back as the call's result and the run waits in the store.
    Each retry goes to a new server process, which resumes the run from its journal: the charge made before the
    first question is made once, across three server processes."""
    never, _ = answers()  # declares the elicitation capability; the test answers by hand

    async def call(**retry: Any) -> Any:
        async with Client(served.params(), elicitation_callback=never) as client:
            return await client.session.call_tool("onboard", {"plan": "pro"}, allow_input_required=True, **retry)

    def reply(asked: Any, answer: str) -> dict[str, Any]:
        responses = {k: types.ElicitResult(action="accept", content={"answer": answer}) for k in asked.input_requests}
        return {"input_responses": responses, "request_state": asked.request_state}

    first = arun(call(), timeout=60)
    assert isinstance(first, types.InputRequiredResult)
    assert [q.params.message for q in first.input_requests.values()] == ["Your name?"]
    assert served.charges() == ["pro x1"]
    assert [r.status for r in served.runs().values()] == ["waiting"]  # that server process has exited

    second = arun(call(**reply(first, "Ada")), timeout=60)
    assert isinstance(second, types.InputRequiredResult)
    assert [q.params.message for q in second.input_requests.values()] == ["Start pro for Ada?"]

    third = arun(call(**reply(second, "Approve")), timeout=60)
    assert isinstance(third, types.CallToolResult) and not third.is_error, third
    assert third.structured_content == {"greeting": "Hello Ada, 2 seats", "approved": True}
    assert served.charges() == ["pro x1"]
    assert [r.status for r in served.runs().values()] == ["succeeded"]


def test_a_forged_request_state_is_refused(served: Served) -> None:
    async def main() -> Any:
        async with Client(served.params()) as client:
            return await client.session.call_tool(
                "onboard",
                {"plan": "pro"},
                input_responses={"tok": types.ElicitResult(action="accept", content={"answer": "Eve"})},
                request_state='{"run": "run-00000000", "waits": ["tok"]}',
                allow_input_required=True,
            )

    result = arun(main(), timeout=60)
    assert result.is_error and "requestState does not belong to this tool" in text(result)
    assert served.charges() == []


def test_serving_a_module_without_agents_fails_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "empty_mod.py").write_text("x = 1\n")

    async def main() -> Any:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aether_nb.mcp",
            "serve",
            "empty_mod",
            "--store",
            str(tmp_path / "s.duckdb"),
            cwd=str(tmp_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        return proc.returncode, err.decode()

    code, err = arun(main(), timeout=60)
    assert code == 2 and "module empty_mod has no @tool, DualStageTool or @graph_fn to serve" in err


def test_an_aether_nb_run_calls_a_served_agent_and_answers_its_questions_in_its_own_chat(served: Served) -> None:
    """Both sides are aether_nb: the served agent's ``ask_*`` become elicitations, which the calling run asks its
    own user (the served agent's questions show in the caller's chat, one wait of the calling node each)."""
    import aether_nb as ag
    from aether_nb.runtime import session as session_mod
    from tests.conftest import make_session

    session, channel = make_session(answers=["Ada", "Approve"])
    previous = session_mod.set_default_session(session)
    params = served.params()

    @ag.graph_fn(outputs=["greeting"])
    async def caller(*, context: ag.NodeContext) -> dict[str, Any]:
        out = await context.mcp("agents").tools["onboard"](plan="pro", seats=2)
        return {"greeting": out["greeting"]}

    try:
        ag.configure(
            mcp={
                "agents": {
                    "command": [params.command, *params.args],
                    "env": dict(params.env or {}),
                    "cwd": params.cwd,
                    "call_timeout_s": 60,
                }
            }
        )

        async def main() -> Any:
            out = await caller.start()
            await ag.mcp.close_all()
            return out

        assert arun(main(), timeout=90) == {"greeting": "Hello Ada, 4 seats"}
    finally:
        session_mod.set_default_session(previous)
    assert [(w.kind, w.prompt) for w in channel.prompts] == [
        ("text", "agents asks: Your name?"),
        ("choice", "agents asks: Start pro for Ada?"),
    ]
    assert served.charges() == ["pro x2"]


def test_serving_a_path_the_file_system_refuses_says_no_such_file() -> None:
    """``aether-nb-mcp serve <ref>`` with a ``.py`` path too long for the system: a UsageError naming it (shortened),
    not an OSError from ``Path.is_file``."""
    from aether_nb.errors import UsageError
    from aether_nb.mcp.server import load_module

    with pytest.raises(UsageError, match="no such file") as caught:
        load_module("x" * 5000 + ".py")
    assert len(str(caught.value)) < 300
