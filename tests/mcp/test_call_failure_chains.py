"""A tool call whose SDK failure is an exception group (what anyio's task groups raise when the transport's task
failed: the stdio pipe or the HTTP connection of a lost server) fails with a plain ``MCPError`` that says what
happened and what to do, with no group anywhere in its chain. IPython cannot draw a group in an error's chain (its
cause, or its context even when suppressed), and ipykernel then sent the cell no reply at all when the extension
was not loaded: the cell ran "forever". ``connect`` was fixed so before; a call kept the group as its context.

SDK 2.3 itself wraps what a call's transport task raised into the call's own ``Connection closed`` error, so the
group is put in by replacing the SDK client's ``call_tool`` (the server, its start and its restart are real).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

import aether_nb as ag
from aether_nb.errors import MCPError
from aether_nb.runtime.session import Session
from tests.conftest import arun
from tests.mcp.conftest import starts, tool_calls


def chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception an error's traceback may draw: its causes and contexts, all the way down."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)


def lost_transport() -> ExceptionGroup[Exception]:
    """What anyio raises out of a task group whose transport task lost its stream."""
    try:
        try:
            raise ExceptionGroup("unhandled errors in a TaskGroup", [anyio.BrokenResourceError()])
        except ExceptionGroup:
            raise ConnectionResetError("the server closed the pipe") from None
    except ConnectionResetError as reset:
        return ExceptionGroup("unhandled errors in a TaskGroup", [reset])


@pytest.mark.parametrize("failure", ["group", "inside_group"])
def test_a_call_failing_with_an_exception_group_raises_a_plain_error_and_the_next_call_reconnects(
    session: Session,
    calc_command: list[str],
    calls: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    real_call = Client.call_tool
    failing = [True]

    async def call_tool(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if failing.pop() if failing else False:
            group = lost_transport()
            if failure == "group":
                raise group
            try:
                raise group
            except ExceptionGroup:
                raise anyio.BrokenResourceError() from None  # a plain error, with the group as its context
        return await real_call(self, name, *args, **kwargs)

    monkeypatch.setattr(Client, "call_tool", call_tool)

    async def main() -> tuple[MCPError, Any]:
        calc = await ag.mcp.connect("calc", command=calc_command)
        with pytest.raises(MCPError) as info:
            await calc.tools["add"](a=1, b=2)
        after = await calc.tools["add"](a=2, b=3)  # the connection was known lost: a new one is made
        await calc.close()
        return info.value, after

    error, after = arun(main(), timeout=60)
    assert [type(e).__name__ for e in chain(error) if isinstance(e, BaseExceptionGroup)] == []
    assert error.code == "mcp_connection"
    assert "could not be reached for the call of add" in error.message
    assert "The next call tries again." in error.message
    assert after == {"result": 5}
    assert starts(calls) == 2 and tool_calls(calls) == [("add", {"a": 2, "b": 3})]
