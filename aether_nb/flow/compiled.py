"""CompiledGraph: run a state graph on threads — invoke, stream, pause and resume, stop, inspect and edit state,
travel back to a past checkpoint.

Each call that starts a turn on a thread starts one aether_nb :class:`~aether_nb.runtime.run.Run` (kind
``state_graph``, id ``<graph>-<thread>-<turn>``), so the turn shows up in ``ag.runs()``, draws its DAG in the
notebook, and is journaled. ``ainvoke`` returns when the run finishes *or pauses* (``interrupt()``,
``interrupt_before``/``after``): the run itself stays alive, waiting, and the next ``ainvoke`` on the thread answers
it. After a kernel restart the paused run is rebuilt from the store and resumed the same way; its completed steps
replay from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import secrets
import uuid
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.agent_turns import go_on
from aether_nb.flow.cache import InMemoryCache
from aether_nb.flow.checkpoint import (
    Checkpointer,
    InMemoryCheckpointer,
    StoreCheckpointer,
    parse_checkpoint_id,
)
from aether_nb.flow.context import coerce_context
from aether_nb.flow.describe import DescribeMixin
from aether_nb.flow.edits import bulk_update
from aether_nb.flow.engine import INHERIT, Engine, current_engine
from aether_nb.flow.in_run import Keep, stream_of_the_run, turn_of_the_run
from aether_nb.flow.nested_calls import (
    check_root_namespace,
    invoke_inside_node,
    runs_on_own_thread,
    stream_inside_node,
)
from aether_nb.flow.nodes import current_node_run
from aether_nb.flow.options import check_output_keys, check_run_config
from aether_nb.flow.output_v2 import check_version, graph_output
from aether_nb.flow.printing import passes, print_modes, print_sink
from aether_nb.flow.resuming import drop_expected_outcomes
from aether_nb.flow.runnable import RunnableMixin
from aether_nb.flow.stream_call import (
    STREAM_MODES,
    Feed,
    chunk_shaper,
    default_stream_mode,
    invoke_by_stream,
    invoke_keys,
    invoke_output,
    stream_turn,
)
from aether_nb.flow.streaming import Sink, drive, drive_on
from aether_nb.flow.threads import History, state_history, subgraph_at, thread_state
from aether_nb.flow.turns import (
    call_breakpoints,
    check_call_options,
    invoke_turn,
    no_running_loop,
    select_output,
)
from aether_nb.flow.types import (
    Interrupt,
    StateSnapshot,
    StateUpdate,
)
from aether_nb.runtime.checks import RUN_ID_INSTEAD, check_no_secret
from aether_nb.runtime.codec import NotEncodable, encode
from aether_nb.runtime.registry import register
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session, default_session

if TYPE_CHECKING:
    from aether_nb.flow.builder import StateGraph
    from aether_nb.runtime.execution import Scope

_FLOW_WAITS = ("interrupt", "before", "after")


class CompiledGraph(RunnableMixin, DescribeMixin):
    """A runnable state graph. Made by :meth:`StateGraph.compile`; holds its own checkpointer and services."""

    kind = "state_graph"

    def __init__(
        self,
        builder: StateGraph,
        *,
        name: str,
        checkpointer: Checkpointer | str | bool | None,
        interrupt_before: Sequence[str] | str,
        interrupt_after: Sequence[str] | str,
        recursion_limit: int,
        services: Mapping[str, Any],
        session: Session | None,
        store: Any = None,
        cache: InMemoryCache | None = None,
    ) -> None:
        if cache is not None and not isinstance(cache, InMemoryCache):
            raise UsageError(f"compile(cache=...): expected aether_nb.flow.InMemoryCache(), got {shown(cache)}")
        self.cache = cache
        self.name = name
        self.builder = builder
        self.spec = builder.spec
        self.nodes = dict(builder.nodes)  # a snapshot: editing the builder later does not change this graph
        self.topology = builder.topology()
        self.interrupt_before: tuple[str, ...] | str = "*" if interrupt_before == "*" else tuple(interrupt_before)
        self.interrupt_after: tuple[str, ...] | str = "*" if interrupt_after == "*" else tuple(interrupt_after)
        self.recursion_limit = recursion_limit
        self.services = dict(services)
        self.store = store
        self.context_schema = builder.context_schema
        # run id -> the context= of the call driving that turn now; only in this process, never stored
        self.contexts: dict[str, Any] = {}
        self.limits: dict[str, int] = {}  # run id -> recursion limit of the call driving that turn now
        self._session = session
        self._memory: InMemoryCheckpointer | None = None
        self._checkpointer: Checkpointer | None = None
        self._store_checkpointers: dict[int, StoreCheckpointer] = {}
        self.stateful = checkpointer is True  # as a subgraph: keeps its state across the parent's turns
        named = checkpointer if isinstance(checkpointer, str) else None  # (compared only as a str: a numpy array)
        if checkpointer is None or checkpointer is True or checkpointer is False or named in ("duckdb", "store"):
            pass
        elif named == "memory":
            self._memory = InMemoryCheckpointer()
        elif isinstance(checkpointer, Checkpointer):
            self._checkpointer = checkpointer
        else:
            raise UsageError(
                "checkpointer must be 'duckdb' (the notebook's store), 'memory' or a Checkpointer, "
                f"got {shown(checkpointer)}"
            )
        self.sinks: dict[str, Sink] = {}  # run id -> where astream wants that turn's chunks
        self.announced: dict[str, set[str]] = {}  # run id -> tasks whose start a resuming call streamed already
        self.resumed_by_call: set[str] = set()  # pause tokens answered by ainvoke(Command(resume=...)) here
        self.goto_runs: set[str] = set()  # runs given a Command(goto=...) at an interrupt() (Engine)
        self.abandoned_runs: set[str] = set()  # paused turns a call stopped on purpose: no call ledger (flow.ledger)
        self._local_inputs: dict[str, dict[str, Any]] = {}
        self.engines: dict[str, Engine] = {}  # run id (a subgraph's: "<run id>|<ns>") -> its engine in this process
        self._closed = False
        register(self)  # a run rebuilt after a restart finds this graph again by (kind, name)

    def __repr__(self) -> str:
        return f"<CompiledGraph {self.name!r} nodes={list(self.nodes)}>"

    # -- plumbing -----------------------------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self._session if self._session is not None else default_session()

    def checkpointer_for(self, session: Session) -> Checkpointer:
        """This graph's checkpointer (for the store kind: the one over ``session``'s store)."""
        if self._checkpointer is not None:
            return self._checkpointer
        if self._memory is not None:
            return self._memory
        cp = self._store_checkpointers.get(id(session.store))
        if cp is None or cp.store is not session.store:
            cp = self._store_checkpointers[id(session.store)] = StoreCheckpointer(session.store, self.name)
        return cp

    @property
    def checkpointer(self) -> Checkpointer:
        return self.checkpointer_for(self.session)

    async def run_root(self, scope: Scope, inputs: dict[str, Any]) -> dict[str, Any]:
        if "local_inputs" in inputs:
            local = self._local_inputs.get(inputs["local_inputs"])
            if local is None:
                raise UsageError(
                    f"run {scope.run.id} was started with an input that could not be stored, in a process that is "
                    "gone, so it cannot be resumed; start a new turn (keep inputs JSON-friendly or picklable)",
                    run_id=scope.run.id,
                    code="inputs_not_durable",
                )
            inputs = local
        engine = Engine(self, scope, inputs)
        self.engines[scope.run.id] = engine
        try:
            result: dict[str, Any] = await engine.main()
        finally:
            if self.engines.get(scope.run.id) is engine:
                del self.engines[scope.run.id]
            self.limits.pop(scope.run.id, None)
            self.goto_runs.discard(scope.run.id)
            self.contexts.pop(scope.run.id, None)  # the turn's body ended (done, failed or stopped)
            drop_expected_outcomes(self, scope.run.id)  # (no task of it will have an outcome here now)
        return result

    def storable_inputs(self, run_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """The run's inputs as stored: as they are, or (a value that cannot be stored, e.g. an instance of a class
        defined inside a function) a reference to this process's copy, with a warning."""
        try:
            encode(inputs)
        except NotEncodable as exc:
            warnings.warn(
                f"the input of run {run_id} cannot be stored ({exc}); the turn runs, but cannot be resumed after a "
                "restart. Keep inputs JSON-friendly or picklable (classes defined at module level or in a cell).",
                stacklevel=5,
            )
            self._local_inputs[run_id] = inputs
            return {"thread_id": inputs["thread_id"], "local_inputs": run_id}
        return inputs

    def parse_config(self, config: Mapping[str, Any] | None) -> tuple[str, dict[str, Any], int | None, str]:
        """``(thread_id, flat config, checkpoint_id, checkpoint_ns)`` from a config in either form."""
        if config is not None and not isinstance(config, Mapping):
            raise UsageError(f"config must be a dict like {{'thread_id': 't1'}}, got {type(config).__name__}")
        cfg = dict(config or {})
        configurable = cfg.pop("configurable", None) or {}
        if not isinstance(configurable, Mapping):
            raise UsageError(
                f"config['configurable'] must be a dict like {{'thread_id': 't1'}}, got {shown(configurable)}"
            )
        cfg = {**configurable, **cfg}
        thread_id = cfg.pop("thread_id", None)
        given = thread_id is not None
        if thread_id is None:
            thread_id = f"t-{secrets.token_hex(4)}"
        elif (isinstance(thread_id, int) and not isinstance(thread_id, bool)) or isinstance(thread_id, uuid.UUID):
            thread_id = str(thread_id)  # LangGraph accepts numbers and UUIDs
        if not isinstance(thread_id, str) or not thread_id or "/" in thread_id or "|" in thread_id:
            raise UsageError(
                f"config['thread_id'] must be a non-empty string without '/' or '|', got {shown(thread_id)}"
            )
        if given:
            check_no_secret(thread_id, "config['thread_id']", RUN_ID_INSTEAD)  # (its runs' ids hold it)
        raw_id = cfg.pop("checkpoint_id", None)
        checkpoint_id = parse_checkpoint_id(raw_id) if raw_id is not None else None
        raw_ns = cfg.pop("checkpoint_ns", None)
        if raw_ns is not None and not isinstance(raw_ns, str):  # (an array's truth was a bare ValueError)
            raise UsageError(
                "config['checkpoint_ns'] must be a string (a subgraph's namespace, as a snapshot's config gives it; "
                f"'' or none for the graph itself), got {shown(raw_ns)}"
            )
        ns = raw_ns or ""
        check_run_config(cfg)  # (at the call, before anything runs)
        return thread_id, cfg, checkpoint_id, ns

    def current_run(self, session: Session, thread_id: str) -> Run | None:
        rec = self.checkpointer_for(session).get_thread(thread_id) or {}
        run_id = rec.get("run_id")
        if not run_id:
            return None
        try:
            return session.get_run(run_id)
        except UsageError:
            return None

    @staticmethod
    def interrupts_of(run: Run) -> list[tuple[str, Interrupt]]:
        """The open pauses of a run, with their wait tokens."""
        out = []
        for w in run.waits:
            meta = w.meta if isinstance(w.meta, dict) else {}
            kind = meta.get("flow")
            if kind in _FLOW_WAITS:
                node = str(meta.get("node"))
                schema, reason = meta.get("response_schema"), meta.get("reason")
                out.append((w.token, Interrupt(meta.get("value"), w.node_id, kind, node, w.prompt, schema, reason)))
        return out

    # -- invoking -----------------------------------------------------------------------------------------------
    async def ainvoke(
        self,
        input: Any = None,
        config: Mapping[str, Any] | None = None,
        *,
        context: Any = None,
        stream_mode: str | Sequence[str] | None = "values",
        output_keys: str | Sequence[str] | None = None,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        durability: str | None = None,
        version: str = "v1",
        **kwargs: Any,
    ) -> Any:
        """Run one turn on ``config["thread_id"]`` until the graph finishes or pauses.

        ``input`` is a partial state (``{"messages": [...]}``) starting a turn; ``Command(resume=value)`` answering
        pending ``interrupt()`` calls (``{"resume": value}`` works too), with ``update=``/``goto=`` to edit the state
        or add nodes first; or None to continue a paused, stopped or failed thread. At an
        ``interrupt_before``/``after`` pause a partial state is merged and the thread continues. A config with a
        past ``checkpoint_id`` runs again from that checkpoint, as a branch of the thread (time travel).

        ``context`` is this call's run-scoped context (``context_schema``; a dict is coerced to it), which nodes
        read as ``runtime.context``. It is never stored: a turn this call resumes runs with this call's context.
        As in LangGraph, ``output_keys`` picks what is returned (one key: its value; any key of the state, not only
        the output schema's), ``interrupt_before``/``interrupt_after`` (a non-empty list, or ``"*"``; ``[]`` keeps
        the compiled ones) replace the compiled ones for the turn this call starts, and a ``stream_mode`` other
        than ``"values"`` returns the list of chunks :meth:`astream` would yield (``subgraphs=True``: with their
        namespaces), showing the output schema's keys (or ``output_keys``), as LangGraph's. ``version="v2"`` returns
        LangGraph's :class:`GraphOutput` (``value``, ``interrupts``) instead (chunks: v2's typed parts).

        Returns:
            an :class:`InvokeResult`: the state's values (a dict subclass with ``status``, ``state``,
            ``interrupts``, ``messages`` ...); when paused at ``interrupt()`` it also holds ``"__interrupt__"``. For
            a single-value state (``StateGraph(Annotated[list, operator.add])``), the value itself.

        Raises:
            Exception: the exception a node raised (after its retries); the next ainvoke on the thread retries it.
            GraphRecursionError: the turn took more supersteps than the recursion limit.
            InvalidUpdate: a node returned something the state cannot merge.
            UsageError: e.g. a new input for a thread paused at ``interrupt()``.
            InvalidContext: ``context`` does not fit ``context_schema``.
        """
        check_call_options(durability, kwargs)
        check_version(version)
        check_output_keys(output_keys)
        printed = print_modes(self, kwargs, STREAM_MODES)
        stream_mode = default_stream_mode(stream_mode)
        if stream_mode != "values":
            call = {"context": context, "interrupt_before": interrupt_before, "interrupt_after": interrupt_after}
            call.update(printed=printed, subgraphs=kwargs.get("subgraphs", False))
            return await invoke_by_stream(self, input, config, stream_mode, output_keys, version, call)
        ctx = coerce_context(self.context_schema, context)
        breakpoints = call_breakpoints("ainvoke()", self.nodes, interrupt_before, interrupt_after)
        printer = print_sink(printed, invoke_keys(self, output_keys), config)  # (None: nothing printed)
        parent, node_run = current_engine(), current_node_run()
        if parent is not None and node_run is not None and not runs_on_own_thread(self, config, parent):
            ctx = ctx if context is not None else INHERIT
            res = await invoke_inside_node(self, input, config, parent, node_run, ctx)
        elif parent is None:  # (a turn run by an agent's body is a step of its run: see flow.in_run)
            res = await turn_of_the_run(
                self, input, config, lambda cfg, again: self._invoke(input, cfg, printer, ctx, breakpoints, again)
            )
        else:
            res = await self._invoke(input, config, printer, ctx, breakpoints)
        res = invoke_output(res, output_keys)
        if version == "v2":
            return graph_output(self, res, lambda: select_output(self.get_state(config or {}).values, output_keys))
        return res

    def invoke(self, input: Any = None, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """:meth:`ainvoke` for scripts (and sync nodes); in a notebook use ``await app.ainvoke(...)``."""
        parent, node_run = current_engine(), current_node_run()
        if parent is not None and node_run is not None:  # a sync node in its worker thread: run on the loop
            # (as an async node's ainvoke: in the node's context, which the loop's task copies from this thread, so
            # its options (output_keys, stream_mode, version) apply alike; a turn on its own thread: flow.nested_calls)
            return asyncio.run_coroutine_threadsafe(self.ainvoke(input, config, **kwargs), node_run.loop).result()
        no_running_loop("invoke()", "await app.ainvoke(...)")
        return asyncio.run(self.ainvoke(input, config, **kwargs))

    async def astream(
        self,
        input: Any = None,
        config: Mapping[str, Any] | None = None,
        *,
        stream_mode: str | Sequence[str] | None = "updates",
        subgraphs: bool = False,
        context: Any = None,
        output_keys: str | Sequence[str] | None = None,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        durability: str | None = None,
        version: str = "v1",
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Like :meth:`ainvoke`, yielding as the graph runs (LangGraph's modes and shapes).

        Modes: ``"updates"`` (the default) — ``{node: update}`` as each node finishes, and ``{"__interrupt__":
        (...)}`` when the graph pauses; ``"values"`` — the whole state after the input and after every superstep
        (with ``"__interrupt__"`` when paused at ``interrupt()``); ``"messages"`` — ``(message, metadata)`` for every
        message a node adds, plus token deltas of LLM calls streamed to a channel; ``"custom"`` — what nodes send
        with :func:`~aether_nb.flow.nodes.get_stream_writer`; ``"debug"`` — every aether_nb run event. With a list
        of modes, items are ``(mode, payload)``; with ``subgraphs=True``, ``(namespace, payload)`` or
        ``(namespace, mode, payload)``. ``"tasks"`` —
        each task's start and result (error, interrupts); ``"checkpoints"`` — each checkpoint as it is written
        (LangGraph's payloads, see :mod:`aether_nb.flow.streaming`). ``version="v2"``: every item is LangGraph's
        typed part ``{"type": mode, "ns": namespace, "data": payload}`` (:mod:`aether_nb.flow.output_v2`).
        """
        check_call_options(durability, kwargs)
        printed = print_modes(self, kwargs, STREAM_MODES)
        stream = self.stream_turns(
            input, config, stream_mode=stream_mode, subgraphs=subgraphs, context=context, output_keys=output_keys,
            chunk_keys=output_keys, interrupt_before=interrupt_before, interrupt_after=interrupt_after, version=version,
            printed=printed,
        )  # fmt: skip
        async with contextlib.aclosing(stream):  # (leaving this stream early closes it at once: the turn stops)
            async for chunk in stream:
                yield chunk

    async def stream_turns(
        self,
        input: Any,
        config: Mapping[str, Any] | None,
        *,
        stream_mode: str | Sequence[str] | None,
        subgraphs: bool = False,
        context: Any,
        output_keys: str | Sequence[str] | None,
        chunk_keys: str | Sequence[str] | None,
        interrupt_before: Sequence[str] | str | None,
        interrupt_after: Sequence[str] | str | None,
        version: str,
        printed: tuple[str, ...],
    ) -> AsyncGenerator[Any, None]:
        """:meth:`astream`'s chunks, showing only ``chunk_keys`` (its ``output_keys``; ``ainvoke``'s chunks show the
        output schema's keys, as LangGraph's), the call's own ``output_keys`` being what an agent's journal keeps."""
        check_version(version)
        check_output_keys(output_keys)
        if not isinstance(subgraphs, bool):  # (a truthy string added namespaces to every chunk)
            raise UsageError(f"subgraphs takes True or False, got {shown(subgraphs)}", code="bad_arguments")
        ctx = coerce_context(self.context_schema, context)
        breakpoints = call_breakpoints("astream()", self.nodes, interrupt_before, interrupt_after)
        stream_mode = default_stream_mode(stream_mode)
        modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode or ())
        if not modes or any(m not in STREAM_MODES for m in modes):
            raise UsageError(f"stream_mode must be among {STREAM_MODES} (or a list of them), got {shown(stream_mode)}")
        feed = Feed()
        sink = Sink([*modes, *printed], subgraphs, feed.put, chunk_keys, config)
        shape = chunk_shaper(self, stream_mode, chunk_keys, subgraphs, version)
        parent, node_run = current_engine(), current_node_run()
        if parent is not None and node_run is not None and not runs_on_own_thread(self, config, parent):
            inner = stream_inside_node(  # (a graph streamed inside a node: a subgraph of its task)
                self, input, config, parent, node_run, ctx if context is not None else INHERIT, modes, subgraphs,
                chunk_keys,
            )  # fmt: skip
            async for item in inner:
                yield shape(item)
            return

        def chunks(cfg: Mapping[str, Any] | None, again: Run | None, keep: Keep | None) -> AsyncGenerator[Any, None]:
            if keep is not None:  # (sees each chunk the reader would get, shaped, as the turn makes it)
                feed.keep = lambda item: item[0] not in modes or keep(shape(item))
            turn = self._invoke(input, cfg, sink, ctx, breakpoints, again)
            wanted = functools.partial(passes, printed=printed, modes=modes, subgraphs=subgraphs)
            return stream_turn(self.name, self.parse_config(cfg)[0], turn, feed, sink, wanted, shape)

        if parent is None:  # (a turn streamed by an agent's body is a step of its run: see flow.in_run)
            options = {"stream_mode": stream_mode, "subgraphs": subgraphs, "output_keys": output_keys}
            options["version"] = version
            stream = stream_of_the_run(self, input, config, options, chunks)
        else:
            stream = chunks(config, None, None)
        async with contextlib.aclosing(stream):  # (leaving this stream early closes it at once: the turn stops)
            async for chunk in stream:
                yield chunk

    def stream(self, input: Any = None, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Iterator[Any]:
        """:meth:`astream` for scripts; in a notebook use ``astream``. As LangGraph's, each chunk comes as the
        graph makes it (the turn runs on a private event loop while the caller asks for the next chunk); an
        error is raised after the chunks before it, and leaving the loop early stops the turn."""
        parent, node_run = current_engine(), current_node_run()
        if parent is not None and node_run is not None:  # a sync node in its worker thread: stream on the turn's loop
            return drive_on(node_run.loop, contextvars.copy_context(), self.astream(input, config, **kwargs))
        no_running_loop("stream()", "async for chunk in app.astream(...)")
        return drive(self.astream(input, config, **kwargs))

    async def _invoke(
        self,
        input: Any,
        config: Mapping[str, Any] | None,
        sink: Sink | None,
        context: Any,
        breakpoints: Mapping[str, Any] | None = None,
        again: Run | None = None,
    ) -> Any:
        if again is not None:  # (an agent's call executed again goes on with the turn it drove: flow.agent_turns)
            return await go_on(self, again, config or {}, sink, context, breakpoints)
        parsed = None
        if current_engine() is None:  # (a node's own config, passed on inside a node, names its namespace)
            parsed = check_root_namespace(self, config)
        return await invoke_turn(self, input, config, sink, context, breakpoints, parsed=parsed)

    async def astop(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Stop the thread's running (or paused) turn. The nodes it was running run again on the next ainvoke.
        Returns ``{"ok": True, "running": True}`` when a run was stopped, ``{"ok": True, "running": False,
        "reason": "not-running"}``, or ``{"ok": False, "running": False, "reason": "no-state"}`` (no thread)."""
        thread_id = self.parse_config(config)[0]
        session = self.session
        if self.checkpointer_for(session).get_thread(thread_id) is None:
            return {"ok": False, "running": False, "reason": "no-state"}
        run = self.current_run(session, thread_id)
        if run is None or run.done:
            return {"ok": True, "running": False, "reason": "not-running"}
        run.cancel()
        if run.live:
            await run.wait_for("cancelled", "succeeded", "failed", timeout=None)
        return {"ok": True, "running": True, "run_id": run.id}

    def stop(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`astop` without awaiting the run's end (callable from sync code on the loop's thread)."""
        thread_id = self.parse_config(config)[0]
        run = self.current_run(self.session, thread_id)
        if run is None or run.done:
            return {"ok": True, "running": False, "reason": "not-running"}
        run.cancel()
        return {"ok": True, "running": True, "run_id": run.id}

    def get_state(self, config: Mapping[str, Any], *, subgraphs: bool = False) -> StateSnapshot:
        """The thread's head checkpoint (or the one ``config`` names), with what its turn is doing now."""
        return thread_state(self, config, subgraphs=subgraphs)

    def clear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """Forget the cached results of every node, or of ``nodes`` (LangGraph's ``clear_cache``)."""
        if self.cache is not None:
            self.cache.clear(nodes)

    async def aclear_cache(self, nodes: Sequence[str] | None = None) -> None:
        """:meth:`clear_cache` (async, as LangGraph spells it)."""
        self.clear_cache(nodes)

    def graph_at(self, ns: str) -> CompiledGraph:
        """The graph whose checkpoints namespace ``ns`` holds: this one for ``""``, else the subgraph node at
        that path (``"outer|inner"``; a ``node:<step>`` label names the node)."""
        return subgraph_at(self, ns)

    async def aget_state(self, config: Mapping[str, Any], *, subgraphs: bool = False) -> StateSnapshot:
        """:meth:`get_state` (async, as LangGraph spells it)."""
        return self.get_state(config, subgraphs=subgraphs)

    def get_state_history(
        self,
        config: Mapping[str, Any],
        *,
        filter: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> History:
        """The thread's checkpoints (all branches), newest first, as LangGraph's ``get_state_history``.

        Args:
            config: the thread (``checkpoint_ns`` for a subgraph's); with a ``checkpoint_id``, only that one.
            filter: keep the checkpoints whose metadata has all these items: ``source`` (``"input"``,
                ``"loop"``, ``"update"``, ``"fork"``), ``step``, or what the turn's config added
                (``config["metadata"]`` entries, configurable keys with str/number/bool values).
            before: a config naming a checkpoint: keep only older ones.
            limit: at most this many (the newest that pass the other arguments).

        Returns a :class:`History` of :class:`StateSnapshot` (iterate it, ``async for`` it, or ``await`` it).
        """
        return state_history(self, config, filter=filter, before=before, limit=limit)

    def aget_state_history(
        self,
        config: Mapping[str, Any],
        *,
        filter: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> History:
        """:meth:`get_state_history`: ``async for s in app.aget_state_history(cfg)`` or ``await`` it for a list."""
        return self.get_state_history(config, filter=filter, before=before, limit=limit)

    async def aupdate_state(self, config: Mapping[str, Any], values: Any, as_node: str | None = None) -> dict[str, Any]:
        """Write ``values`` into the thread as if ``as_node`` returned them, as a new checkpoint; returns its config.
        Without ``as_node`` the node that wrote the checkpoint is used; the next nodes are routed again from it.
        On a past checkpoint the edit is a branch; ``ainvoke(None, returned_config)`` runs it. Allowed while the
        thread is paused or finished, not while a node runs."""
        return await self.abulk_update_state(config, [[StateUpdate(values, as_node)]])

    async def abulk_update_state(
        self, config: Mapping[str, Any], supersteps: Sequence[Sequence[StateUpdate | tuple[Any, ...]]]
    ) -> dict[str, Any]:
        """Several :meth:`aupdate_state` at once, as LangGraph's ``bulk_update_state``: each superstep (a list of
        ``StateUpdate(values, as_node)``) is one checkpoint; several updates in one superstep are written together,
        each as its node. Returns the last checkpoint's config. Raises ``EmptyUpdate`` (no superstep, or one without
        updates) and ``InvalidUpdate`` (several updates in a superstep without ``as_node``, or with END/``"__copy__"``).
        """
        return await bulk_update(self, config, supersteps)

    def bulk_update_state(
        self, config: Mapping[str, Any], supersteps: Sequence[Sequence[StateUpdate | tuple[Any, ...]]]
    ) -> dict[str, Any]:
        """:meth:`abulk_update_state` for scripts."""
        no_running_loop("bulk_update_state()", "await app.abulk_update_state(...)")
        return asyncio.run(self.abulk_update_state(config, supersteps))

    def update_state(self, config: Mapping[str, Any], values: Any, as_node: str | None = None) -> dict[str, Any]:
        """:meth:`aupdate_state` for scripts."""
        no_running_loop("update_state()", "await app.aupdate_state(...)")
        return asyncio.run(self.aupdate_state(config, values, as_node))

    # -- lifetime -------------------------------------------------------------------------------------------------
    async def aclose(self) -> dict[str, Any]:
        """Stop the runs this graph is executing and forget its streams (Agentflow's ``aclose``); idempotent."""
        if self._closed:
            return {"status": "already_closed"}
        self._closed = True
        self.sinks.clear()
        return {"status": "closed", "background_tasks": 0}

    async def __aenter__(self) -> CompiledGraph:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()
