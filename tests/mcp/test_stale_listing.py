"""A server that gained a tool since the store listed its tools (upgraded, same command): the new tool is called.

The tester's repro (the thirty-second session): a new session's ``tools["new"]`` raised ``UnknownTool`` from the
store's listing, without starting the server, even after ``await conn.connect()`` (which keeps the store's listing,
so a resume does not start servers it does not need); only ``refresh()`` helped, said by the error alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.mcp.client import KV_SCOPE
from aether_nb.runtime import session as session_mod
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session
from tests.mcp.conftest import tool_calls


@ag.graph_fn(outputs=["text"])
async def greets(*, context: ag.NodeContext) -> dict[str, Any]:
    return {"text": (await context.mcp("calc").tools["greet"](name="Ada"))["result"]}


def test_a_tool_the_server_gained_since_the_stores_listing_is_called(
    calc_command: list[str], calls: Path, tmp_path: Path
) -> None:
    store = DuckDBStore(tmp_path / "nb.duckdb")
    previous = session_mod.set_default_session(None)
    try:
        s1, _ = make_session(store)
        session_mod.set_default_session(s1)

        async def list_once() -> None:
            await (await ag.mcp.connect("calc", command=calc_command)).connect()
            await ag.mcp.close_all()

        arun(list_once())
        kv = s1.store  # (the session's view of the store)
        ((key, _),) = kv.kv_keys(KV_SCOPE)
        listing = kv.kv_get(KV_SCOPE, key)[0]
        listing["tools"] = [t for t in listing["tools"] if t["name"] != "greet"]  # (the server before its upgrade)
        kv.kv_set(KV_SCOPE, key, listing, None)
        s1.flush()

        s2, _ = make_session(store)
        session_mod.set_default_session(s2)
        conn = arun(ag.mcp.connect("calc", command=calc_command))
        arun(conn.connect())
        assert conn.listed and "greet" not in list(conn.tools)  # (the store's listing: no server started for it)

        async def main() -> Any:
            out = await greets()
            await ag.mcp.close_all()
            return out

        out = arun(main())
    finally:
        session_mod.set_default_session(previous)
        store.close()
    assert out["text"].startswith("Hello, Ada")
    assert [name for name, _ in tool_calls(calls)] == ["greet"]
    assert "greet" in list(conn.tools)  # (listed again by the call)
