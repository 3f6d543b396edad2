"""One ``astream`` call from the caller's side: the chunks of a turn as the caller asked for them.

A turn's engine puts raw chunks (``(mode, payload, namespace)``) into the call's queue through its
:class:`~aether_nb.flow.streaming.Sink`; this module takes them out as the reader asks for the next one (the sink
is told when the reader waits, so the engine runs a superstep only when asked, as LangGraph's stream) and gives
them LangGraph's shapes (a payload alone, ``(mode, payload)``, ``(namespace, ...)``, v2's typed parts). Leaving the
stream early, or cancelling the code reading it, stops the turn, and the stream returns once the turn has unwound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.engine import current_engine
from aether_nb.flow.nodes import current_node_run
from aether_nb.flow.output_v2 import stream_part
from aether_nb.flow.streaming import Chunk, Sink
from aether_nb.flow.turns import select_output
from aether_nb.runtime.interrupted import stopped_turn, tell_caller

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

STREAM_MODES = ("values", "updates", "messages", "custom", "debug", "tasks", "checkpoints")


def default_stream_mode(mode: str | Sequence[str] | None) -> str | Sequence[str]:
    """``stream_mode=None`` as LangGraph reads it: ``"updates"`` (``ainvoke`` returns chunks), ``"values"`` in a node;
    anything that is no list of modes is refused (a UsageError, not ``list()``'s TypeError)."""
    if mode is not None:
        if not isinstance(mode, (str, Sequence)):
            raise UsageError(f"stream_mode must be among {STREAM_MODES} (or a list of them), got {shown(mode)}")
        return mode
    return "values" if current_engine() is not None and current_node_run() is not None else "updates"


def invoke_keys(graph: CompiledGraph, output_keys: str | Sequence[str] | None) -> str | Sequence[str] | None:
    """The keys the chunks of ``ainvoke(..., stream_mode=...)`` show: the call's ``output_keys``, else the graph's
    output schema's (the state schema's by default, without private keys), as LangGraph's ``invoke`` streams with
    ``output_keys or output_channels``; so its chunks show what its result would (no private or input-only key)
    and a superstep that writes none of them makes no ``values`` chunk. None (every key) for a single-value
    state."""
    if output_keys is not None or graph.spec.kind == "root":
        return output_keys
    keys = graph.spec.output_keys
    return None if keys is None else list(keys)


async def invoke_by_stream(
    graph: CompiledGraph,
    input: Any,
    config: Mapping[str, Any] | None,
    stream_mode: str | Sequence[str],
    output_keys: str | Sequence[str] | None,
    version: str,
    call: Mapping[str, Any],
) -> list[Any]:
    """``ainvoke(..., stream_mode=...)`` (other than ``"values"``): the chunks :meth:`CompiledGraph.astream` would
    yield, showing :func:`invoke_keys`, as LangGraph's ``invoke`` returns them. ``call``: the other options of
    :meth:`CompiledGraph.stream_turns`."""
    chunks = graph.stream_turns(
        input, config, stream_mode=stream_mode, output_keys=output_keys, chunk_keys=invoke_keys(graph, output_keys),
        version=version, **call,
    )  # fmt: skip
    async with contextlib.aclosing(chunks):
        return [c async for c in chunks]


def invoke_output(result: Any, output_keys: str | Sequence[str] | None) -> Any:
    """What ``ainvoke(..., output_keys=...)`` returns, as LangGraph's ``invoke`` (its last ``values`` chunk of
    those keys): the keys picked from every key of the thread's state (``InvokeResult.all_values``: the input
    schema's and private keys too, not only the output schema's), one key giving its value, with the
    ``interrupt()`` questions under ``"__interrupt__"`` when paused (a key without a value is left out). The
    turn stays one ``ainvoke`` (an agent journals its one result, under the step name it always had). A result
    without ``all_values`` (a single-value state, an agent's journal of an older version) picks from its dict."""
    every = getattr(result, "all_values", None)
    if output_keys is None or not isinstance(every, Mapping):
        return select_output(result, output_keys)
    if isinstance(output_keys, str):
        latest = every.get(output_keys)
    else:
        latest = {k: every[k] for k in output_keys if k in every}
    interrupts = result.get("__interrupt__") if isinstance(result, Mapping) else None
    if not interrupts:
        return latest
    asked = list(interrupts)
    return {**latest, "__interrupt__": asked} if isinstance(latest, Mapping) else {"__interrupt__": asked}


def chunk_shaper(
    graph: CompiledGraph,
    stream_mode: str | Sequence[str],
    output_keys: str | Sequence[str] | None,
    subgraphs: bool,
    version: str,
) -> Callable[[Chunk], Any]:
    """What the reader gets for a raw chunk, as LangGraph shapes it for these call options."""

    def shape(item: Chunk) -> Any:
        mode, payload, ns = item
        if mode == "values" and output_keys is not None and not ns:
            payload = select_output(payload, output_keys)
        elif mode == "updates" and isinstance(output_keys, str) and not ns:  # one key: its value, as LangGraph's
            payload = {n: u if n.startswith("__") or not isinstance(u, dict) else u.get(output_keys)
                       for n, u in payload.items()}  # fmt: skip
        if version == "v2":
            return stream_part(graph, mode, payload, ns)
        if isinstance(stream_mode, str):
            return (ns, payload) if subgraphs else payload
        return (ns, mode, payload) if subgraphs else (mode, payload)  # (LangGraph's flat triple)

    return shape


class Feed:
    """Where a turn's sink puts the chunks it makes, for the call's reader. ``keep``, when set, sees each chunk
    as the turn makes it and says whether the reader gets it (an agent's step records it then, and holds back
    what its body took before it was cut: :mod:`aether_nb.flow.in_run`)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Chunk, bool]] = asyncio.Queue()
        self.keep: Callable[[Chunk], bool] | None = None

    def put(self, item: Chunk) -> None:
        self.queue.put_nowait((item, self.keep is None or self.keep(item)))


async def stream_turn(
    graph_name: str,
    thread_id: str,
    turn: Awaitable[Any],
    feed: Feed,
    sink: Sink,
    passes: Callable[[Chunk], bool],
    shape: Callable[[Chunk], Any],
) -> AsyncGenerator[Any, None]:
    """Run ``turn`` (the call's ``_invoke``, streaming to ``sink``, which puts into ``feed``) and yield the shaped
    chunks it keeps and ``passes`` lets through, as the turn makes them; its error is raised after the chunks
    before it."""
    queue = feed.queue
    task = asyncio.ensure_future(turn)
    try:
        while True:
            if queue.empty():
                sink.ask()
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                item, kept = getter.result()
                if kept and passes(item):
                    yield shape(item)
                continue
            getter.cancel()
            while not queue.empty():
                item, kept = queue.get_nowait()
                if kept and passes(item):
                    yield shape(item)
            task.result()
            return
    except asyncio.CancelledError as exc:  # the code reading the stream was cancelled (the interrupt button)
        if not task.done():
            task.cancel()
            tell_caller(exc, stopped_turn(graph_name, thread_id))
        raise
    finally:
        if not task.done():
            if not task.cancelling():
                task.cancel()  # leaving the stream early stops the turn, as cancelling ainvoke does
            # and, as a cancelled ainvoke, returns once the turn has unwound (the call caps its own wait)
            await asyncio.wait({task})


__all__ = [
    "STREAM_MODES",
    "Feed",
    "chunk_shaper",
    "default_stream_mode",
    "invoke_by_stream",
    "invoke_keys",
    "invoke_output",
    "stream_turn",
]
