"""A tool taken by name before its server was ever listed (``context.mcp("calc").tools["add"]`` on a fresh store)
records the listed tool's version on its node, so the run resumed in a new session (whose store knows the
listing) finds the same tool, not a changed one."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.events import RunWarning
from aether_nb.store.memory import MemoryStore
from tests.conftest import arun, make_session
from tests.mcp.conftest import starts, tool_calls


@ag.graph_fn(outputs=["total", "name"])
async def add_then_ask(x: int, *, context: ag.NodeContext) -> dict[str, Any]:
    out = await context.mcp("calc").tools["add"](a=x, b=x)
    name = await context.channel().ask_text("Your name?")
    return {"total": out["result"], "name": name}


def test_a_call_before_any_listing_records_the_listed_version_and_its_resume_warns_of_no_change(
    calc_command: list[str], calls: Path
) -> None:
    store = MemoryStore()
    previous = session_mod.set_default_session(None)
    try:
        s1, _ = make_session(store)
        session_mod.set_default_session(s1)
        ag.configure(mcp={"calc": {"command": calc_command}})
        assert not ag.mcp.servers()["calc"].listed  # a fresh store: tools["add"] is taken unlisted

        async def first() -> tuple[Any, str]:
            run = add_then_ask.start(x=20, run_id="mcp-unlisted")
            await run.wait_for("waiting", timeout=30)
            listed = ag.mcp.servers()["calc"].tools["add"]
            return run.graph.node("calc.add_1").meta, listed.version

        meta, listed_version = arun(first())  # the loop ends while the run waits, as a kernel dying would
        assert meta["tool_version"] == listed_version

        s2, _ = make_session(store)
        session_mod.set_default_session(s2)
        ag.configure(mcp={"calc": {"command": calc_command}})  # the store knows the listing now

        async def second() -> tuple[Any, list[str]]:
            run = ag.get_run("mcp-unlisted")
            await run.answer("Ada")
            out = await run
            warnings = [f"{e.code}: {e.message}" for e in run.history if isinstance(e, RunWarning)]
            assert run.graph.node("calc.add_1").replayed
            await ag.mcp.close_all()
            return out, warnings

        out, warnings = arun(second())
    finally:
        session_mod.set_default_session(previous)
    assert out == {"total": 40, "name": "Ada"}
    assert warnings == []
    assert starts(calls) == 1 and tool_calls(calls) == [("add", {"a": 20, "b": 20})]


def test_an_unlisted_call_whose_server_cannot_start_fails_its_node_with_the_connection_error(session: Any) -> None:
    ag.configure(mcp={"calc": {"command": ["python", "-c", "import sys; print('not mcp'); sys.exit(3)"]}})

    async def main() -> ag.Run:
        run = add_then_ask.start(x=1)
        with contextlib.suppress(ag.RunError):
            await run
        return run

    run = arun(main())
    node = run.graph.node("calc.add_1")
    assert node.status == "FAILED" and node.error["type"].endswith("MCPError")
    assert ag.mcp.servers()["calc"].failure is not None
