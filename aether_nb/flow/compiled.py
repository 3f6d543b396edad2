"""CompiledGraph: run a state graph on threads — invoke, stream, pause and resume, stop, inspect and edit state.

Each call that starts a turn on a thread starts one aether_nb :class:`~aether_nb.runtime.run.Run` (kind
``state_graph``, id ``<graph>-<thread>-<turn>``), so the turn shows up in ``ag.runs()``, draws its DAG in the
notebook, and is journaled. ``ainvoke`` returns when the run finishes *or pauses* (``interrupt()``,
``interrupt_before``/``after``): the run itself stays alive, waiting, and the next ``ainvoke`` on the thread answers
it. After a kernel restart the paused run is rebuilt from the store and resumed the same way; its completed steps
replay from the journal.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import RunFailed, UsageError
from aether_nb.flow.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer, StoreCheckpointer
from aether_nb.flow.engine import Engine, Sink, input_update
from aether_nb.flow.types import (
    END,
    START,
    Command,
    GraphBuildError,
    GraphRecursionError,
    Interrupt,
    InvalidUpdate,
    InvokeResult,
    StateSnapshot,
)
from aether_nb.runtime.events import ChannelMessage, Event
from aether_nb.runtime.launch import start_run
from aether_nb.runtime.registry import register
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session, default_session

if TYPE_CHECKING:
    from aether_nb.flow.builder import StateGraph
    from aether_nb.runtime.execution import Scope

STREAM_MODES = ("values", "updates", "messages", "debug")
_FLOW_WAITS = ("interrupt", "before", "after")
_FLOW_ERRORS = (GraphRecursionError, InvalidUpdate, GraphBuildError)


class CompiledGraph:
    """A runnable state graph. Made by :meth:`StateGraph.compile`; holds its own checkpointer and services."""

    kind = "state_graph"

    def __init__(
        self,
        builder: StateGraph,
        *,
        name: str,
        checkpointer: Checkpointer | str | None,
        interrupt_before: Sequence[str],
        interrupt_after: Sequence[str],
        recursion_limit: int,
        services: Mapping[str, Any],
        session: Session | None,
    ) -> None:
        self.name = name
        self.spec = builder.spec
        self.nodes = dict(builder.nodes)  # a snapshot: editing the builder later does not change this graph
        self.edges = list(builder.edges)
        self.branches = list(builder.branches)
        self.interrupt_before = tuple(interrupt_before)
        self.interrupt_after = tuple(interrupt_after)
        self.recursion_limit = recursion_limit
        self.services = dict(services)
        self._session = session
        self._memory: InMemoryCheckpointer | None = None
        self._checkpointer: Checkpointer | None = None
        self._store_checkpointers: dict[int, StoreCheckpointer] = {}
        if checkpointer is None or checkpointer in ("duckdb", "store"):
            pass
        elif checkpointer == "memory":
            self._memory = InMemoryCheckpointer()
        elif isinstance(checkpointer, Checkpointer):
            self._checkpointer = checkpointer
        else:
            raise UsageError(
                "checkpointer must be 'duckdb' (the notebook's store), 'memory' or a Checkpointer, "
                f"got {checkpointer!r}"
            )
        self._sinks: dict[str, Sink] = {}
        register(self)  # a run rebuilt after a restart finds this graph again by (kind, name)

    def sink(self, run_id: str) -> Sink | None:
        """Where the stream chunks of run ``run_id`` go (``astream``), if anyone listens."""
        return self._sinks.get(run_id)

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
        return await Engine(self, scope, inputs).main()

    def _config(self, config: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        cfg = dict(config or {})
        configurable = cfg.pop("configurable", None) or {}
        cfg = {**configurable, **cfg}
        thread_id = cfg.pop("thread_id", None)
        if thread_id is None:
            thread_id = f"t-{secrets.token_hex(4)}"
        if not isinstance(thread_id, str) or not thread_id or "/" in thread_id:
            raise UsageError(f"config['thread_id'] must be a non-empty string without '/', got {thread_id!r}")
        limit = cfg.get("recursion_limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise UsageError(f"config['recursion_limit'] must be a positive integer, got {limit!r}")
        return thread_id, cfg

    def _current_run(self, session: Session, thread_id: str) -> Run | None:
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
                out.append((w.token, Interrupt(w.node_id, kind, str(meta.get("node")), meta.get("value"), w.prompt)))
        return out

    # -- invoking -----------------------------------------------------------------------------------------------
    async def ainvoke(self, input: Any = None, config: Mapping[str, Any] | None = None) -> InvokeResult:
        """Run one turn on ``config["thread_id"]`` until the graph finishes or pauses.

        ``input`` is a partial state (``{"messages": [...]}``) starting a turn, ``{"resume": value}`` (or
        ``Command(resume=value)``) answering a pending ``interrupt()``, or None / ``{}`` to continue a paused,
        stopped or failed thread. At an ``interrupt_before``/``after`` pause any input continues; a partial state
        is merged first.

        Raises:
            RunFailed: a node raised (``__cause__`` is its exception); the next ainvoke on the thread retries it.
            GraphRecursionError: the turn took more supersteps than the recursion limit.
            InvalidUpdate: a node returned something the state cannot merge.
            UsageError: e.g. plain input for a thread paused at ``interrupt()``.
        """
        return await self._invoke(input, config, None)

    def invoke(self, input: Any = None, config: Mapping[str, Any] | None = None) -> InvokeResult:
        """:meth:`ainvoke` for scripts; in a notebook use ``await app.ainvoke(...)``."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ainvoke(input, config))
        raise UsageError(
            "invoke() cannot block inside a running event loop (a notebook cell or async code): "
            "use `await app.ainvoke(...)`",
            code="use_await",
        )

    async def astream(
        self,
        input: Any = None,
        config: Mapping[str, Any] | None = None,
        *,
        stream_mode: str | Sequence[str] = "values",
    ) -> AsyncIterator[Any]:
        """Like :meth:`ainvoke`, yielding as the graph runs.

        Modes: ``"values"`` — the whole state (a dict) after the input and after every superstep; ``"updates"`` —
        ``{node: update}`` per node, and ``{"__interrupt__": [Interrupt, ...]}`` when the graph pauses;
        ``"messages"`` — ``(message, metadata)`` for every message a node adds, plus token deltas of LLM calls
        streamed to a channel (``{"role": "assistant", "content": token, "delta": True}``); ``"debug"`` — every
        aether_nb run event. With a list of modes, items are ``(mode, payload)`` tuples.
        """
        modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
        bad = [m for m in modes if m not in STREAM_MODES]
        if bad or not modes:
            raise UsageError(f"stream_mode must be among {STREAM_MODES} (or a list of them), got {stream_mode!r}")
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def sink(mode: str, payload: Any) -> None:
            if mode in modes:
                queue.put_nowait((mode, payload))

        task = asyncio.ensure_future(self._invoke(input, config, sink))
        single = isinstance(stream_mode, str)
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    mode, payload = getter.result()
                    yield payload if single else (mode, payload)
                    continue
                getter.cancel()
                while not queue.empty():
                    mode, payload = queue.get_nowait()
                    yield payload if single else (mode, payload)
                task.result()
                return
        finally:
            if not task.done():
                task.cancel()  # the run goes on (astop stops it); only the streaming ends

    async def _invoke(self, input: Any, config: Mapping[str, Any] | None, sink: Sink | None) -> InvokeResult:
        thread_id, cfg = self._config(config)
        session = self.session
        cp = self.checkpointer_for(session)
        has_resume, resume = _resume_of(input)
        if isinstance(input, Command) and not has_resume:
            raise UsageError("as an input, a Command carries resume=...; pass state updates as a dict")
        run = self._current_run(session, thread_id)
        if run is not None and not run.done:
            pauses = self.interrupts_of(run)
            if run.live and not pauses:
                raise UsageError(
                    f"thread {thread_id!r} is running (run {run.id}); wait for that call to return, or stop it with "
                    "`await app.astop(config)`",
                    run_id=run.id,
                    code="thread_busy",
                )
            dynamic = [i for _, i in pauses if i.kind == "interrupt"]
            if dynamic and not has_resume:
                where = ", ".join(f"{i.node} ({i.id})" for i in dynamic)
                raise UsageError(
                    f"thread {thread_id!r} is paused at interrupt() in {where}; resume it with "
                    "ainvoke({'resume': value}, config)",
                    run_id=run.id,
                    code="paused_at_interrupt",
                )
            if has_resume and not pauses:
                raise UsageError(
                    f"Nothing to resume: thread {thread_id!r} has no pending interrupt", code="no_interrupt"
                )
            if not has_resume and input:
                await self.aupdate_state({"thread_id": thread_id}, input)
            if sink is not None:
                self._attach(run, sink)
            if not run.live:
                run = start_run(self, run.inputs, run_id=run.id, session=session, hint="app.invoke(...)")
            await self._answer(run, pauses, resume)
        else:
            if has_resume:
                raise UsageError(
                    f"Nothing to resume: thread {thread_id!r} is not paused at an interrupt", code="no_interrupt"
                )
            rec = cp.get_thread(thread_id) or {}
            turn = int(rec.get("turn", 0)) + 1
            run_id = f"{self.name}-{thread_id}-{turn}" + (f"-{cp.key}" if cp.key else "")
            cp.put_thread(thread_id, {"turn": turn, "run_id": run_id})
            inputs = {"thread_id": thread_id, "input": input, "config": cfg}
            if sink is not None:
                self._sinks[run_id] = sink
            run = start_run(
                self, inputs, run_id=run_id, session=session, hint="app.invoke(...)", meta={"thread_id": thread_id}
            )
            if sink is not None:
                self._attach(run, sink)
        try:
            return await self._until_pause(run, thread_id, sink)
        finally:
            self._sinks.pop(run.id, None)

    def _attach(self, run: Run, sink: Sink) -> None:
        self._sinks[run.id] = sink

    async def _answer(self, run: Run, pauses: list[tuple[str, Interrupt]], resume: Any) -> None:
        if not pauses:
            return
        if len(pauses) == 1:
            await run.answer(resume, token=pauses[0][0])
            return
        by_id = {i.id: token for token, i in pauses}
        if isinstance(resume, Mapping) and resume and set(resume) <= set(by_id):
            for iid, value in resume.items():
                await run.answer(value, token=by_id[iid])
            return
        if all(i.kind != "interrupt" for _, i in pauses):
            for token, _ in pauses:
                await run.answer(None, token=token)
            return
        raise UsageError(
            f"run {run.id} has {len(pauses)} pending interrupts {sorted(by_id)}; resume with "
            "{'resume': {interrupt_id: value, ...}}",
            run_id=run.id,
            code="ambiguous_resume",
        )

    async def _until_pause(self, run: Run, thread_id: str, sink: Sink | None) -> InvokeResult:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        unsubscribe = run.subscribe(queue.put_nowait)
        pauses: list[tuple[str, Interrupt]] = []
        try:
            check = True
            while not run.done:
                if check:
                    pauses = self.interrupts_of(run)
                    if pauses:
                        await run.session.store.barrier()  # a pause is returned once it survives the process
                        break
                    if not run.live:
                        break
                event = await queue.get()
                if sink is not None:
                    sink("debug", event)
                    if isinstance(event, ChannelMessage) and event.message_type == "stream":
                        content = event.content if isinstance(event.content, dict) else {}
                        if content.get("delta"):
                            meta = {"node": event.node_id, "message_id": event.message_id}
                            sink("messages", ({"role": "assistant", "content": content["delta"], "delta": True}, meta))
                check = event.kind in ("wait_opened", "run_finished")
            while sink is not None and not queue.empty():
                sink("debug", queue.get_nowait())
        finally:
            unsubscribe()
        if run.done and run.status == "failed":
            try:
                await run.result()
            except RunFailed as exc:
                if isinstance(exc.__cause__, _FLOW_ERRORS):
                    raise exc.__cause__ from exc.__cause__.__cause__
                raise
        if pauses and sink is not None:
            sink("updates", {"__interrupt__": [i for _, i in pauses]})
        status = "completed" if run.status == "succeeded" else "stopped" if run.status == "cancelled" else "interrupted"
        latest = self.checkpointer_for(run.session).latest(thread_id)
        values = latest.values if latest is not None else {}
        msgs = values.get("messages")
        turn_msgs = list(msgs[latest.turn_start :]) if isinstance(msgs, list) and latest is not None else []
        return InvokeResult(
            status=status,  # type: ignore[arg-type]
            state=self.spec.to_state(values),
            messages=turn_msgs,
            interrupts=[i for _, i in pauses],
            thread_id=thread_id,
            run_id=run.id,
            next=tuple(latest.next) if latest is not None else (),
            values=values,
        )

    # -- stop, state, history --------------------------------------------------------------------------------
    async def astop(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Stop the thread's running (or paused) turn. The nodes it was running run again on the next ainvoke.

        Returns ``{"ok": True, "running": True}`` when a run was stopped, ``{"ok": True, "running": False,
        "reason": "not-running"}``, or ``{"ok": False, "running": False, "reason": "no-state"}`` for an unknown
        thread.
        """
        thread_id, _ = self._config(config)
        session = self.session
        if self.checkpointer_for(session).get_thread(thread_id) is None:
            return {"ok": False, "running": False, "reason": "no-state"}
        run = self._current_run(session, thread_id)
        if run is None or run.done:
            return {"ok": True, "running": False, "reason": "not-running"}
        run.cancel()
        if run.live:
            await run.wait_for("cancelled", "succeeded", "failed", timeout=None)
        return {"ok": True, "running": True, "run_id": run.id}

    def stop(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`astop` without awaiting the run's end (callable from sync code on the loop's thread)."""
        thread_id, _ = self._config(config)
        run = self._current_run(self.session, thread_id)
        if run is None or run.done:
            return {"ok": True, "running": False, "reason": "not-running"}
        run.cancel()
        return {"ok": True, "running": True, "run_id": run.id}

    async def aget_state(self, config: Mapping[str, Any]) -> StateSnapshot:
        """The thread's latest checkpoint, with what its turn is doing now (``status``, ``interrupts``)."""
        thread_id, _ = self._config(config)
        session = self.session
        latest = self.checkpointer_for(session).latest(thread_id)
        run = self._current_run(session, thread_id)
        if latest is None:
            return StateSnapshot(
                values={},
                state=None,
                next=(),
                config={"thread_id": thread_id},
                checkpoint_id=0,
                step=-1,
                source="none",
                status="new",
                created_at=0.0,
                run_id=None,
            )
        pauses = [i for _, i in self.interrupts_of(run)] if run is not None and not run.done else []
        if run is None:
            status = "completed" if not latest.next else "stopped"
        elif run.status == "succeeded":
            status = "completed"
        elif run.status == "failed":
            status = "failed"
        elif run.status == "cancelled":
            status = "stopped"
        else:
            status = "interrupted" if pauses else "running"
        return self._snapshot(thread_id, latest, status, tuple(pauses))

    async def aget_state_history(self, config: Mapping[str, Any], *, limit: int | None = None) -> list[StateSnapshot]:
        """Every checkpoint of the thread, newest first (``limit`` keeps the newest ones)."""
        thread_id, _ = self._config(config)
        items = self.checkpointer_for(self.session).history(thread_id)
        if limit is not None:
            items = items[:limit]
        out = []
        for i, cp in enumerate(items):
            if i == 0:
                out.append(await self.aget_state(config))
                continue
            status = "failed" if cp.source == "error" else "completed" if not cp.next else "in_progress"
            out.append(self._snapshot(thread_id, cp, status, ()))
        return out

    async def aupdate_state(self, config: Mapping[str, Any], values: Any) -> StateSnapshot:
        """Merge ``values`` into the thread's state (with the reducers) as a new checkpoint.

        Allowed while the thread is paused or finished, not while a node runs. At a pause, the run picks the
        edit up when it continues.
        """
        thread_id, _ = self._config(config)
        session = self.session
        cp = self.checkpointer_for(session)
        run = self._current_run(session, thread_id)
        if run is not None and run.live and not self.interrupts_of(run):
            raise UsageError(
                f"thread {thread_id!r} is running (run {run.id}); update its state when it pauses or ends",
                run_id=run.id,
                code="thread_busy",
            )
        latest = cp.latest(thread_id)
        update = input_update(self, values, "aupdate_state")
        base = latest.values if latest is not None else self.spec.initial()
        new = cp.put(
            thread_id,
            Checkpoint(
                values=self.spec.merge(base, [("aupdate_state", update)]),
                next=latest.next if latest is not None else (),
                step=latest.step if latest is not None else -1,
                source="update",
                run_id=latest.run_id if latest is not None else None,
                created_at=session.clock.now(),
                pending=latest.pending if latest is not None else {},
                turn_start=latest.turn_start if latest is not None else 0,
            ),
        )
        if cp.get_thread(thread_id) is None:
            cp.put_thread(thread_id, {"turn": 0})
        return self._snapshot(thread_id, new, "updated", ())

    def _snapshot(
        self, thread_id: str, cp: Checkpoint, status: str, interrupts: tuple[Interrupt, ...]
    ) -> StateSnapshot:
        return StateSnapshot(
            values=cp.values,
            state=self.spec.to_state(cp.values),
            next=tuple(cp.next),
            config={"thread_id": thread_id, "checkpoint_id": cp.id},
            checkpoint_id=cp.id,
            step=cp.step,
            source=cp.source,
            status=status,
            created_at=cp.created_at,
            run_id=cp.run_id,
            interrupts=interrupts,
            error=cp.error,
            metadata={"turn_start": cp.turn_start, "pending": sorted(cp.pending)},
        )

    # -- display ------------------------------------------------------------------------------------------------
    def draw_mermaid(self) -> str:
        """The graph as Mermaid flowchart text (dotted arrows: conditional edges)."""

        def nid(n: str) -> str:
            return {START: "__start__", END: "__end__"}.get(n, n)

        lines = ["flowchart TD", f"  {nid(START)}([START])", f"  {nid(END)}([END])"]
        for n in self.nodes:
            marks = " ⏸before" if n in self.interrupt_before else ""
            marks += " ⏸after" if n in self.interrupt_after else ""
            lines.append(f"  {n}[{n}{marks}]")
        for s, e in self.edges:
            lines.append(f"  {nid(s)} --> {nid(e)}")
        for b in self.branches:
            targets = b.path_map.items() if b.path_map is not None else [("*", n) for n in self.nodes]
            for key, t in targets:
                lines.append(f"  {nid(b.source)} -. {key} .-> {nid(t)}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"**{self.name}** (state graph)\n\n```mermaid\n{self.draw_mermaid()}\n```"


def _resume_of(input: Any) -> tuple[bool, Any]:
    if isinstance(input, Command):
        return (input.resume is not None, input.resume)
    if isinstance(input, Mapping) and set(input) == {"resume"}:
        return True, input["resume"]
    return False, None
