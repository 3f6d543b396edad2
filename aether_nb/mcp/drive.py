"""One MCP tool call from its node's task: sent, and until its answer comes, whatever the server asks meanwhile.

The node's task waits for the server's answer and for the requests :mod:`aether_nb.mcp.backchannel` hands to the
call (questions, model calls, log lines, progress), and handles those itself, so they land on the node.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError
from aether_nb.mcp.backchannel import CALL_ENDED, RUN_STOPPED, BackChannel, InFlight, Request, handle, handle_while_open

if TYPE_CHECKING:
    from aether_nb.mcp.link import Link
    from aether_nb.mcp.spec import ServerSpec


async def drive(spec: ServerSpec, link: Link, back: BackChannel, call: InFlight, arguments: dict[str, Any]) -> Any:
    """Send the call and, until its answer comes, do what the server asks meanwhile in this (the node's) task.

    ``call_timeout_s`` counts the time the server takes since its last progress report, never the time a person
    takes to answer its questions: the count stops while any question or model call of the connection is open or
    queued (a 2025-era request does not say which call asked it, so it may be this one's, waiting behind another).
    """
    loop = asyncio.get_running_loop()
    request = call.request = asyncio.ensure_future(
        link.client.call_tool(call.tool, arguments, progress_callback=back.progress_for(call))
    )

    def answered(_: asyncio.Future[Any]) -> None:
        call.ended = True  # a request that comes now is another call's: none is handed to this one

    request.add_done_callback(answered)
    limit, spent, garbage = spec.call_timeout_s, 0.0, link.garbage
    getter: asyncio.Future[Request] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(call.queue.get())
            paused = limit is None or back.waiting_on_client
            started = loop.time()
            done, _ = await asyncio.wait(
                {request, getter, back.changed()},
                timeout=None if paused or limit is None else max(0.0, limit - spent),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not paused:
                spent += loop.time() - started
            if request in done:
                await asyncio.sleep(0)  # let notifications read before the answer reach the queue
                call.ended = True
                settled, getter = getter, None  # its item is handled here, never twice
                if not settled.done():
                    # nothing came: end the pending get (a cancelled Queue.get leaves any item in the queue, where
                    # settle reads it), else its task is destroyed pending ("Task was destroyed but it is
                    # pending!" printed in the user's cell)
                    settled.cancel()
                await settle(call, back, settled)
                return request.result()
            if not done:
                assert limit is not None
                link.suspect()  # its answer may be lost in stray output: the next call waits for the check
                stray = (
                    f" Meanwhile it sent something that is no MCP message ({link.last_garbage}): its answer may "
                    "have been lost in it (an MCP server over stdio may write only protocol messages to stdout)."
                    if link.garbage > garbage
                    else ""
                )
                raise MCPError(
                    f"MCP server {spec.name!r} ({spec.describe()}) did not answer the call of {call.tool} within "
                    f"call_timeout_s={limit:g} s (nor reported progress); the call was cancelled (whether it took "
                    f"effect is unknown).{stray} Raise call_timeout_s for slow tools (None: no limit).",
                    code="mcp_timeout",
                )
            if getter not in done:
                continue  # a question opened or the last one closed: the count stops or runs again
            item = getter.result()
            getter = None  # handled below, never again in the clean-up
            if item.kind == "progress":
                spent = 0.0  # the server is working: the count starts again (as the MCP spec suggests)
            await handle_while_open(item, call, back)
    finally:
        call.ended = True
        if getter is not None and not getter.done():
            getter.cancel()
        if not request.done():
            request.cancel()
            await asyncio.wait({request})  # the SDK tells the server the request is cancelled
        elif not request.cancelled():
            request.exception()  # read here; raised above when it was the answer
        task = asyncio.current_task()
        why = RUN_STOPPED if task is not None and task.cancelling() else CALL_ENDED
        for item in leftovers(call, getter):
            back.pass_on(item, call, why)  # passed on or refused, never left hanging


async def settle(call: InFlight, back: BackChannel, getter: asyncio.Future[Any] | None) -> None:
    """The call was answered: put the log lines and progress the server sent before its answer on the node."""
    for item in leftovers(call, getter):
        if item.future is None:
            await handle(item, call, back.server)
        else:
            back.pass_on(item, call, CALL_ENDED)  # it was another call's (see BackChannel.pass_on)


def leftovers(call: InFlight, getter: asyncio.Future[Any] | None) -> list[Request]:
    """What was handed to the call and not handled: the item ``getter`` took, and what is still queued."""
    items = [getter.result()] if getter is not None and getter.done() and not getter.cancelled() else []
    while not call.queue.empty():
        items.append(call.queue.get_nowait())
    return items
