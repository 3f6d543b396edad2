"""A state graph's turn run by an agent's body (``await app.ainvoke(...)`` or ``async for c in app.astream(...)``
inside a ``@graph_fn``): a step of it.

The turn is a run of its own (on its thread, with its checkpoints), but the agent's run knew nothing of it: a
resumed agent (after a kernel restart, at the answer to a question asked after the turn) executes its body again,
and the turn ran again, with every tool call and LLM call in it (a charge made twice). So the call is a journaled
step of the calling run, as a service call is (:class:`~aether_nb.runtime.effects.ServiceCall`, named
``flow.<graph>.ainvoke`` or ``flow.<graph>.astream``): a resumed body gets the turn's result, or the chunks it took
from the stream, from the journal, and the graph does not run.

A stream is one step whose value is the list of chunks the body took, journaled when the stream ends: the turn
finished or paused (``interrupt()``, a breakpoint: the pause's chunks are the last ones), or the body left the loop
early (``break``: the turn is stopped, as outside a run, and the chunks up to the one it left at are journaled, so
the body, replayed, leaves at the same chunk). The chunks reach the body as the turn makes them; replayed, they
come at once. A turn that fails is no journaled step (as a failed tool call): the error reaches the body after the
chunks before it, and the step executes again when the run is resumed or retried.

A step cut before it was journaled (the process killed mid-turn or just after it, a failed turn) goes on with the
turn it drove when it executes again, rather than giving its input to the thread once more
(:mod:`aether_nb.flow.agent_turns`). A stream records each chunk as the turn makes it for the body (with the run's
history, so with the turn's own records): executed again, it gives the body those chunks first — its steps taken
on them replay — then the rest of the turn, less what a resumed turn gives first that the body had already (the
state it goes on from, the start of its pending tasks, a finished task's update marked ``cached``).

The turn runs outside the step's write capture: its own run journals its own steps (a service call made by one of
its nodes is that node's step, not part of the agent's step).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.agent_turns import TurnNote, going_on, on_thread
from aether_nb.runtime.codec import NotEncodable, encode
from aether_nb.runtime.effects import ServiceCall, inside_step
from aether_nb.runtime.execution import current_scope

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.runtime.run import Run

RunTurn = Callable[[Mapping[str, Any], "Run | None"], Awaitable[Any]]
"""``run_turn(config, again)``: the call's turn with this config; ``again``: the turn an earlier execution of the
call drove, to go on with (see :mod:`aether_nb.flow.agent_turns`)."""

Keep = Callable[[Any], bool]
"""Told of each chunk the reader would get, as the turn makes it: whether the reader gets it."""

OpenStream = Callable[[Mapping[str, Any] | None, "Run | None", Keep | None], AsyncGenerator[Any, None]]
"""``open_stream(config, again, keep)``: the call's stream of shaped chunks, as :data:`RunTurn`, whose chunks go
past ``keep`` (if given) as the turn makes them."""


_SEAM = 32
"""How many of the last chunks recorded before a cut a going-on turn's first chunks are compared with."""


def _to_journal(result: Any) -> Any:
    """The result itself (an ``InvokeResult`` with its state and interrupts, pickled by the store's codec), or its
    values only when the state holds something the store cannot keep."""
    try:
        encode(result)
    except NotEncodable:
        return {"values": dict(result)}
    return {"result": result}


def _rebuild(stored: Any) -> Any:
    return stored["result"] if "result" in stored else dict(stored["values"])


def _forget_if_kept(note: TurnNote, store: Any, journaled: Any) -> None:
    """Drop the call's note with its journal entry, if the entry can be kept (else the step executes again when
    the run resumes, and the note says which turn it goes on with)."""
    try:
        encode(journaled)
    except NotEncodable:
        return
    note.forget(store)


def _thread_named(config: Mapping[str, Any] | None) -> Any:
    """The thread a config names in ``configurable`` (the step's inputs since the step was made)."""
    configurable = (config or {}).get("configurable") if isinstance(config, Mapping) else None
    return (configurable or {}).get("thread_id") if isinstance(configurable, Mapping) else None


def _plan(note: TurnNote, config: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], Run | None]:
    """The config the call runs its turn with, and the turn an earlier execution drove (None: run as written)."""
    again = note.earlier_turn()
    thread = note.thread()
    return (going_on(config, thread), again) if again is not None else (on_thread(config, thread), None)


async def turn_of_the_run(graph: CompiledGraph, input: Any, config: Mapping[str, Any] | None, run_turn: RunTurn) -> Any:
    """``await run_turn(...)`` (the turn), as a journaled step of the run whose body calls it; outside a run's body
    (a script, a cell, a node of another graph: see :mod:`aether_nb.flow.nested_calls`) it just runs."""
    scope = current_scope()
    if scope is None or inside_step.get() is not None:
        return await run_turn(config or {}, None)
    note = TurnNote(graph, scope, graph.parse_config(config)[0])

    async def body(store: Any) -> Any:
        cfg, again = _plan(note, config)
        token = inside_step.set(None)  # (the turn's run journals its own steps: see the module's docstring)
        try:
            result = await run_turn(cfg, again)
        finally:
            inside_step.reset(token)
        _forget_if_kept(note, store, _to_journal(result))
        return result

    inputs = {"input": input, "thread_id": _thread_named(config)}
    call = ServiceCall(scope, "flow", f"{graph.name}.ainvoke", inputs, body, to_journal=_to_journal, rebuild=_rebuild)
    return await call


async def stream_of_the_run(
    graph: CompiledGraph,
    input: Any,
    config: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    open_stream: OpenStream,
) -> AsyncGenerator[Any, None]:
    """The chunks of ``open_stream(...)`` (the turn), as a journaled step of the run whose body reads them (see the
    module's docstring); outside a run's body it just streams. ``options``: the call's options that shape its
    chunks, matched on replay as its input is."""
    scope = current_scope()
    if scope is None or inside_step.get() is not None:
        async with contextlib.aclosing(open_stream(config, None, None)) as stream:
            async for chunk in stream:
                yield chunk
        return
    note = TurnNote(graph, scope, graph.parse_config(config)[0])
    executing = asyncio.Event()
    plans: list[tuple[Mapping[str, Any], Run | None]] = []
    taken_all: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

    async def body(store: Any) -> list[Any]:
        plans.append(_plan(note, config))
        executing.set()
        taken = await taken_all  # (the reader drives the turn and says which chunks it took)
        _forget_if_kept(note, store, {"chunks": taken})
        return taken

    inputs = {"input": input, "thread_id": _thread_named(config), **options}
    call = ServiceCall(
        scope, "flow", f"{graph.name}.astream", inputs, body,
        to_journal=lambda chunks: {"chunks": chunks}, rebuild=lambda stored: list(stored["chunks"]),
    )  # fmt: skip

    async def awaited() -> list[Any]:
        chunks: list[Any] = await call
        return chunks

    step = asyncio.ensure_future(awaited())
    started = asyncio.ensure_future(executing.wait())
    try:
        await asyncio.wait({step, started}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        step.cancel()
        raise
    finally:
        started.cancel()
    if not executing.is_set():  # replayed from the journal (or refused: its error is raised here)
        for chunk in step.result():
            yield chunk
        return
    cfg, again = plans[0]
    before = note.made_before() if again is not None else []
    taken: list[Any] = []
    fresh = not before

    def keep(chunk: Any) -> bool:  # (as the turn makes it: recorded before anything can act on it)
        nonlocal fresh
        if not fresh and _took_already(chunk, before):
            return False
        fresh = True
        note.made(chunk)
        return True

    async def settle() -> None:  # the body left the loop early: the chunks it took are the step's value
        if not taken_all.done():
            taken_all.set_result(taken)
        await step

    try:
        for chunk in before:  # (what the body took before the call was cut: given again, as a replay is)
            taken.append(chunk)
            yield chunk
        async with contextlib.aclosing(open_stream(cfg, again, keep)) as stream:
            try:
                async for chunk in stream:
                    taken.append(chunk)
                    yield chunk
            except GeneratorExit:
                await settle()  # (journaled first; leaving the block then stops the turn, as outside a run)
                raise
    except GeneratorExit:
        await settle()
        raise
    except BaseException as exc:  # the turn failed, or the body was cancelled: no step is journaled
        if isinstance(exc, Exception):
            taken_all.set_exception(exc)
        else:
            taken_all.cancel()
        await asyncio.wait({step})
        if not step.cancelled():
            step.exception()  # (retrieved: the error is the one raised here)
        raise
    taken_all.set_result(taken)
    await step


def _took_already(chunk: Any, before: list[Any]) -> bool:
    """Whether a chunk a turn gives first as it goes on is one the body had before the call was cut: the state
    it goes on from (``values``, ``checkpoints``), the start of its pending tasks, a finished task's update (marked
    ``cached``). Compared with the last chunks recorded; the stream stops skipping at the first new chunk."""
    plain = _uncached(chunk)
    for seen in before[-_SEAM:]:
        try:
            if plain == seen or chunk == seen:
                return True
        except Exception:  # (a value whose == is no bool: a NumPy array)
            continue
    return False


def _uncached(chunk: Any) -> Any:
    """An ``updates`` chunk without the ``cached`` mark a resumed turn gives a task that had finished."""
    if isinstance(chunk, tuple) and chunk and isinstance(chunk[-1], dict):
        return (*chunk[:-1], _uncached(chunk[-1]))
    if isinstance(chunk, dict) and chunk.get("__metadata__") == {"cached": True}:
        return {k: v for k, v in chunk.items() if k != "__metadata__"}
    return chunk


__all__ = ["stream_of_the_run", "turn_of_the_run"]
