"""The body of a state-graph run: supersteps over the aether_nb runtime.

One turn (``ainvoke`` on a thread) is one aether_nb Run whose body is :meth:`Engine.main`:

1. ``start`` (one journaled step, :mod:`aether_nb.flow.turn_start`): read the thread's checkpoint (its head, or
   the one a config names: time travel), apply the turn's input as LangGraph does (an ``input`` checkpoint holding
   the input, then a ``loop`` checkpoint with the input merged and the first tasks), and choose the tasks: the
   pending ones of a paused, stopped or failed turn, else those START routes to.
2. Each superstep runs its tasks concurrently, each as one journaled step (:mod:`aether_nb.flow.tasks`) whose
   value holds the task's writes and routes. The writes merge in task order with the reducers
   (:mod:`aether_nb.flow.state`), the routes give the next tasks (:mod:`aether_nb.flow.routing`), and a ``loop``
   checkpoint is written: a KV write that travels in the same history batch as the superstep's journal entries,
   and that a resumed run does not write twice.
3. ``interrupt_before``/``interrupt_after`` are durable waits of the run; ``interrupt()`` is a wait inside its
   task. After a pause the thread's head checkpoint is read again (a journaled step), so ``aupdate_state`` and
   ``Command(update=..., goto=...)`` given during the pause apply.

A failing task cancels its running siblings; the results of the siblings that finished and the error are recorded
on the checkpoint the superstep started from, so the next turn re-runs only the failed task(s); the calls they
completed replay then. A stop keeps the finished siblings' results the same way (:mod:`aether_nb.flow.ledger`).
What the engine keeps while tasks pause, and which answered tasks a resuming call still waits for, is
:mod:`aether_nb.flow.pauses`.

A compiled graph used as a node runs an Engine of its own inside that node's step (its tasks are nested steps, its
checkpoints live under the node's namespace, its interrupts are waits of the same run). What an engine streams to
``astream`` is its :class:`~aether_nb.flow.emitter.Emitter` half.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.flow.checkpoint import (
    Checkpoint,
    latest_id,
    loop_checkpoint,
    settle_record,
    task_id,
    thread_key,
)
from aether_nb.flow.checkpoint_metadata import metadata_of
from aether_nb.flow.edits import pause_gotos
from aether_nb.flow.emitter import Emitter
from aether_nb.flow.ledger import asking_keys, parked, record_failure, record_stop
from aether_nb.flow.left_open import ANSWERS_KEY
from aether_nb.flow.nodes import NodeSpec
from aether_nb.flow.options import check_run_config, node_timeout
from aether_nb.flow.pauses import Pauses
from aether_nb.flow.resuming import resuming_metadata
from aether_nb.flow.state import journal_form
from aether_nb.flow.streaming import announce_tasks, checkpoint_payload
from aether_nb.flow.superstep import out_of_steps, superstep_tasks
from aether_nb.flow.tasks import NO_ARG, Outcome, Task, TaskRunner, merge_order, task_sources
from aether_nb.flow.turn_start import checkpoint_info, legacy_reload, prepare
from aether_nb.flow.turns import breakpoint_option, matches
from aether_nb.flow.types import InvalidUpdate, ParentCommand
from aether_nb.runtime.codec import fingerprint
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.waits import WaitSpec

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.routing import Route
    from aether_nb.flow.state import Write

INHERIT: Any = object()  # an engine's context: the parent engine's (a subgraph), else the call's (a turn)
_engine: contextvars.ContextVar[Engine | None] = contextvars.ContextVar("aether_nb_flow_engine", default=None)


def current_engine() -> Engine | None:
    """The engine whose task is running now (a subgraph node finds its parent graph this way)."""
    return _engine.get()


class Engine(Emitter, Pauses):
    """Executes one run of a compiled graph on one thread (or a subgraph inside a node of a parent graph)."""

    def __init__(
        self,
        graph: CompiledGraph,
        scope: Scope,
        inputs: dict[str, Any],
        *,
        parent: Engine | None = None,
        node: str = "",
        context: Any = INHERIT,
        parent_task: str = "",
    ) -> None:
        self.node = node
        self.parent_task = parent_task  # the parent's task running this subgraph: its interrupts are that task's
        self._context = context
        self.graph = graph
        self.scope = scope
        self.run = scope.run
        self.parent = parent
        self.thread_id: str = inputs["thread_id"]
        self.input = inputs.get("input")
        self.config: dict[str, Any] = dict(inputs.get("config") or {})
        self.checkpoint_id: int | None = inputs.get("checkpoint_id")
        self.ns: str = f"{parent.ns}|{node}" if parent is not None and parent.ns else node
        self.ns_path = self.ns.replace("|", "/") + "/" if self.ns else ""
        label = node if graph.stateful or ":" in node else f"{node}:{scope.node_id}"
        self.stream_ns: tuple[str, ...] = (*parent.stream_ns, label) if parent is not None else ()
        self.checkpointer = parent.checkpointer if parent is not None else graph.checkpointer_for(self.run.session)
        self.thread = thread_key(self.thread_id, self.ns)
        self._metadata = metadata_of(self.config)  # what the starting call's config adds to the checkpoints
        # ainvoke(..., interrupt_before=...) for this turn, else the compiled ones
        self.interrupt_before = breakpoint_option(inputs.get("interrupt_before"), graph.interrupt_before)
        self.interrupt_after = breakpoint_option(inputs.get("interrupt_after"), graph.interrupt_after)
        self.limit = int(self.config.get("recursion_limit") or graph.recursion_limit)  # (None: the default)
        self.remaining = self.limit  # steps the call may still run, as of the current superstep (RemainingSteps)
        self.asked_count = 0  # answers this engine's tasks (or their subgraphs) were resumed with
        self.step_asked = False
        check_run_config(self.config)  # (the call checked it; a run's stored config is checked again on resume)
        self.default_timeout = node_timeout(self.config)
        cap = self.config.get("max_concurrency")
        self.semaphore = asyncio.Semaphore(cap) if cap else None
        self.interrupted = False
        self.nested_waited = False  # a graph run by a task of this superstep waited (see TaskRunner.reread)
        self.turn_start = 0
        self.sources: dict[str, list[str]] = {}
        self.head: Checkpoint | None = None
        self.start_head: Checkpoint | None = None  # the loop checkpoint the turn's start wrote (turn_start.run_start)
        self.busy = 0  # (root only) tasks running node code now, in this graph and its subgraphs: not done, not parked
        self.failing = False  # (root only) a task failed: the turn fails, whatever its siblings asked meanwhile
        self.cancelling_siblings = False  # a task of this graph failed: its running siblings are being cancelled
        self.answered: dict[str, str | None] = {}  # (root only) answered interrupts awaiting their task (see pauses)
        self.outcome_callbacks: list[Callable[[], None]] = []
        self.step_done: dict[str, Outcome] = {}  # tasks of the current superstep that finished
        self.step_tasks: list[Task] = []
        self.nested: list[Engine] = []  # the graphs this graph's tasks run now (subgraphs, graphs a node invokes)
        self.unrouted: dict[str, dict[str, Any]] = {}  # tasks of the superstep whose node returned, router failed
        self.replayed_start = False  # this run's start came from the journal (a resumed execution)
        # (root only) answers to questions a failed or stopped turn left open, for the tasks it re-runs (left_open)
        self.carried_answers: list[list[Any]] = list(inputs.get(ANSWERS_KEY) or ()) if parent is None else []
        self.runner = TaskRunner(self)
        self._written: int | None = None
        self._head_stale = False
        self._configurable: dict[str, Any] | None = None

    @property
    def root(self) -> Engine:
        """The engine of the turn (a subgraph's: its parent's root). Not an attribute: a root engine pointing at
        itself would make a cycle that keeps the run's objects until a full garbage collection."""
        return self.parent.root if self.parent is not None else self

    # -- helpers the tasks use ----------------------------------------------------------------------------------
    @property
    def context(self) -> Any:
        """The ``context=`` of the call driving this turn now (read at each node attempt: a resume brings its
        own, as in LangGraph); a subgraph's is its parent's unless it was invoked with one."""
        if self._context is not INHERIT:
            return self._context
        if self.parent is not None:
            return self.parent.context
        return self.graph.contexts.get(self.run.id)

    @property
    def metadata(self) -> dict[str, Any]:
        """What the call driving the turn now adds to the checkpoints' metadata: a resuming call's (its
        configurable keys and ``config["metadata"]``, as LangGraph's checkpoints record them), else the starting
        call's. A subgraph running with the turn's config records the same; one invoked with a config of its own
        keeps that."""
        root = self.root
        resumed = resuming_metadata(root.graph, self.run.id)
        if resumed is not None and (self.parent is None or self.config == root.config):
            return resumed
        return self._metadata

    def stream_resumed(self) -> None:
        """A task goes on with its answers, in the call that resumed the turn: it (and its routers) see that
        call's whole budget, as LangGraph's tasks re-run at a resume (``remaining_steps`` is the resuming call's
        ``recursion_limit + 1``); the next superstep counts on from there (see :meth:`_main`)."""
        self.remaining = self.call_limit() + 1
        super().stream_resumed()

    @property
    def store(self) -> Any:
        """``compile(store=...)`` of this graph, else of the graph it runs in."""
        if self.graph.store is not None or self.parent is None:
            return self.graph.store
        return self.parent.store

    def node_config(self, node: str, step: int, task: Task | None = None) -> dict[str, Any]:
        """The config a node receives: the caller's keys, flat (Agentflow) and under ``configurable``
        (LangGraph), plus where it runs (also in ``metadata``, with the call's metadata)."""
        if self._configurable is None:
            configurable = {**self.config, "thread_id": self.thread_id, "checkpoint_ns": self.ns}
            for key in _CONFIG_KEYS:  # (the config's own keys, not configurable ones, as in LangGraph)
                configurable.pop(key, None)
            self._configurable = configurable
        metadata = self.task_metadata(node, step, task)
        return {
            **self.config,
            "thread_id": self.thread_id,
            "run_id": self.run.id,
            "node": node,
            "step": step,
            "configurable": dict(self._configurable),
            "metadata": metadata,
        }

    def state_for(self, spec: NodeSpec, values: Mapping[str, Any]) -> Any:
        if spec.subgraph is not None:
            return dict(values)  # a subgraph takes the keys it knows from the raw values
        return self.graph.spec.to_state(self.graph.spec.with_managed(values, self.remaining), spec.input_schema)

    def latest_values(self) -> dict[str, Any]:
        latest = self.checkpointer.latest(self.thread)
        if latest is None:
            raise UsageError(f"thread {self.thread!r} lost its checkpoints while a node waited", code="no_checkpoint")
        return latest.values

    async def journaled(
        self, name: str, fn: Callable[[], Awaitable[Any]], fp_data: Any, key: str | None = None
    ) -> tuple[Any, bool]:
        """Run ``fn`` once as a journaled (undrawn) step (at ``key``, else the next of ``name``); on resume its
        journaled value is returned instead. Returns ``(value, replayed)``."""
        key = key if key is not None else self.scope.next_key(name)
        replayed = key in self.scope.execution.journal

        async def execute(_: Scope) -> Any:
            return await fn()

        value = await self.scope.run_step(key, name, "flow", fp_data, execute, node=False, fp=fingerprint(fp_data))
        return value, replayed

    # -- the loop -----------------------------------------------------------------------------------------------
    async def main(self) -> Any:
        token = _engine.set(self)
        key = running_key(self.run.id, self.ns)
        if self.parent is not None:  # (found while it runs by get_state, Pauses.as_running, and by flow.at_rest)
            self.graph.engines[key] = self
            self.parent.nested.append(self)
        try:
            out = await self._main()
        finally:
            _engine.reset(token)
            del self.runner  # (it points back here: no cycle outlives the turn, see root)
            if self.parent is None:
                self.graph.abandoned_runs.discard(self.run.id)
            else:
                self.parent.nested.remove(self)
                if self.graph.engines.get(key) is self:
                    del self.graph.engines[key]
        settle_record(self.checkpointer, self.thread)  # (after a failure or a stop, a reader counts on instead)
        return out

    async def _main(self) -> Any:
        start, replayed = await self.journaled(
            "start", functools.partial(prepare, self), {"thread": self.thread, "ns": self.ns}
        )
        values: dict[str, Any] = start["values"]
        tasks: list[dict[str, Any]] = list(start["tasks"])
        barriers: dict[str, list[str]] = dict(start["barriers"])
        deferred: list[str] = list(start["deferred"])
        step: int = start["step"]
        pending: dict[str, Any] = dict(start["pending"])
        self.turn_start = start["turn_start"]
        self.replayed_start = replayed
        if replayed:
            self._head_stale = True  # read when needed: a resumed run may not need it at all
        else:  # (the checkpoint START's routing just wrote, as written: no need to read and decode it back)
            made, head_id = self.start_head, start["head"]
            self.head = made if made is not None and made.id == head_id else self.checkpointer.get(self.thread, head_id)
        self.start_head = None
        if self.sink is not None and not replayed:
            if start["wrote"] or not start["started"]:
                wrote = start["wrote"]  # (the input's keys; a bool in journals of older aether_nb)
                self.emit("values", self.graph.spec.visible(values), wrote if isinstance(wrote, list) else None)
            if start["started"] and self.head is not None and self.wants("checkpoints"):
                # (START's checkpoint streams after the input's values, as LangGraph's)
                self.emit("checkpoints", checkpoint_payload(self.graph, self.thread_id, self.ns, self.head))
        supersteps = 1 if start["started"] else 0
        # LangGraph's recursion limit, per call: limit + 2 steps (input and START take two), checked before what is
        # left to run; a call resuming the turn (a breakpoint continued, an interrupt answered) starts a new count
        spent = 2 if start["started"] else 0
        limit = self.limit
        path: list[list[str]] = []
        # a call going on with pending tasks (ainvoke(None), a Command, a fork) passes a breakpoint before them, as
        skip_before = (self.input is None or bool(start.get("going_on"))) and not start["started"]  # LangGraph marks
        # it seen on every resuming call (a subgraph going on where a failed or stopped turn left it too: turn_start)
        while tasks:
            sink = self.sink
            if sink is not None:
                await sink.demanded()  # (a stream's reader asks for each superstep, as LangGraph's)
            marks = self.interrupt_before  # (none, the common case: nothing to match; else "*" or names)
            before = [t["node"] for t in tasks if matches(marks, t["node"])] if marks else []
            if before and not skip_before:
                values, tasks, barriers, deferred, pending, step = await self._pause("before", before)
                spent, limit = 0, self.call_limit()
                skip_before = True
                continue
            skip_before = False
            self.remaining = limit + 1 - spent  # (LangGraph's stop - step)
            values, tasks, barriers, deferred, ran = await self._superstep(
                tasks, values, barriers, deferred, step, pending
            )
            if self.step_asked:
                spent, limit = 0, self.call_limit()
            pending = {}
            supersteps += 1
            spent += 1
            step += 1
            path.append(ran)
            after = [n for n in ran if matches(self.interrupt_after, n)] if self.interrupt_after else []
            if after and tasks:
                values, tasks, barriers, deferred, pending, step = await self._pause("after", after)
                spent, limit = 0, self.call_limit()
                skip_before = True
            elif spent >= limit + 2:
                raise out_of_steps(self.graph.name, self.thread_id, self.run.id, limit, supersteps, path, tasks)
        if self.parent is not None:
            return values
        return {"thread_id": self.thread_id, "supersteps": supersteps}

    def call_limit(self) -> int:
        """The recursion limit of the call driving the turn now (a resuming call brings its own)."""
        return self.root.graph.limits.get(self.run.id, self.limit)

    # -- pauses ---------------------------------------------------------------------------------------------------
    async def _pause(
        self, kind: str, nodes: list[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]], list[str], dict[str, Any], int]:
        """Wait at a breakpoint, then go on from the thread's head: it may be an ``update_state`` checkpoint,
        whose step the next superstep's follows (as LangGraph numbers them)."""
        where = [f"{self.ns_path}{n}" for n in nodes]
        prompt = f"Paused {kind} {', '.join(where)}: continue?"
        spec = WaitSpec(kind="human", prompt=prompt, meta={"flow": kind, "node": where[0], "nodes": where})
        settle_record(self.checkpointer, self.thread)
        if self.parent is not None:
            self.parent.pausing()
            self.parent.nested_waited = True
        await self.scope.wait(spec, name=f"interrupt_{kind}")
        info, _ = await self.journaled("reload", self._reload, {"pause": kind, "nodes": nodes})
        self.head = self.checkpointer.get(self.thread, info["head"])
        self._head_stale = False
        tasks, barriers, deferred = list(info["tasks"]), dict(info["barriers"]), list(info["deferred"])
        return info["values"], tasks, barriers, deferred, info["pending"], int(info["step"])

    async def _reload(self) -> dict[str, Any]:
        latest = self.checkpointer.latest(self.thread)
        if latest is None:
            raise UsageError(f"thread {self.thread!r} has no checkpoint to continue from", code="no_checkpoint")
        return checkpoint_info(latest, started=False, turn_start=self.turn_start)

    # -- one superstep ----------------------------------------------------------------------------------------------
    async def _superstep(
        self,
        descs: list[dict[str, Any]],
        values: dict[str, Any],
        barriers: dict[str, list[str]],
        deferred: list[str],
        step: int,
        pending: dict[str, Any],
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]], list[str], list[str]]:
        scope = self.scope
        tasks = superstep_tasks(descs, pending, self.sources, scope.next_key)
        self.step_done = {}
        self.step_tasks = tasks
        self.unrouted = {}
        sink = self.sink
        going_on = False
        journal = scope.execution.journal
        if len(tasks) == 1:  # (not all replayed)
            runs_now = tasks[0].pending is None and tasks[0].key not in journal
        else:
            runs_now = any(t.pending is None and t.key not in journal for t in tasks)
        if sink is not None:
            if self.replayed_start and self.parent is not None and runs_now:
                going_on = self.stream_going_on(sink, values)  # a subgraph replayed up to where it goes on
            if not going_on and sink.wants("tasks", self.stream_ns):
                announce_tasks(self, tasks, values)
        if len(tasks) == 1:  # (as _run_all runs one task, here: a coroutine less per superstep)
            try:
                outcomes = [await self.runner.run(tasks[0], values, step)]
            except BaseException as exc:
                self._one_failed(tasks, exc)
                raise
        else:
            outcomes = await self._run_all(tasks, values, step)
        if self.parent is None and (self.interrupted or scope.execution.resumed):  # (else nothing to read)
            tasks, outcomes = await self._goto_at_pause(tasks, outcomes, step)
        self.step_asked = outcomes[0].asked if len(outcomes) == 1 else any(o.asked for o in outcomes)
        if self.step_asked and self.parent is not None:
            self.parent.note_asked()
        self.step_done = {}
        if self.parent is None:
            self.answered.clear()  # (every task of the superstep has its outcome now: see flow.pauses)
        if runs_now and self.graph.announced and self.parent is None:  # (the superstep the resuming call announced)
            self.graph.announced.pop(self.run.id, None)
        one = len(tasks) == 1  # (most supersteps: no sort, and no list comprehension's call below)
        order = [0] if one else merge_order(tasks)
        base = values
        # the state may have been edited (aupdate_state) while a task waited: read it again. Keyed by the step,
        # not counted: a replay whose tasks come whole from the journal does not wait, and must neither miss
        # the reload the first run made here nor shift the keys of later ones
        reload_key = legacy_reload(scope, step) if scope.execution.resumed else None
        reread = self.runner.reread(tasks)
        replays_reload = False
        if journal.active:  # (a journal with no entry replays no key: a fresh run's)
            reload_key = reload_key or f"{scope.prefix}reload_at_{step}"
            replays_reload = reload_key in journal
        if replays_reload:
            reread = None  # (a run that journaled this superstep's own read replays it)
        self.nested_waited = False
        if reread is not None:  # its only task just read it again, after its last wait (see TaskRunner.reread)
            self.interrupted = False
            base = reread
        elif self.interrupted or replays_reload:
            self.interrupted = False
            key = reload_key or f"{scope.prefix}reload_at_{step}"
            info, _ = await self.journaled("reload", self._reload, {"step": step}, key=key)
            base = info["values"]
        for i in order:
            cmd = outcomes[i].parent_command
            if cmd is not None:
                if self.parent is None:
                    raise InvalidUpdate(
                        f"node {tasks[i].node!r} returned Command(graph=Command.PARENT) but graph {self.graph.name!r} "
                        "is not a subgraph",
                        code="no_parent",
                    )
                raise ParentCommand(cmd)
        try:
            merged = (
                [(tasks[0].node, outcomes[0].writes)] if one else [(tasks[i].node, outcomes[i].writes) for i in order]
            )
            new_values = self.graph.spec.apply(base, merged)
        except InvalidUpdate as exc:
            # the nodes returned: their results are kept, the next call merges them again (as LangGraph's)
            record_failure(
                self, tasks, dict(zip([t.tid for t in tasks], outcomes, strict=True)), {t.tid: exc for t in tasks}
            )
            raise
        finished = [(tasks[0].node, outcomes[0].route)] if one else [(tasks[i].node, outcomes[i].route) for i in order]
        next_tasks, new_barriers, new_deferred = self.graph.topology.next_tasks(finished, barriers, deferred)
        self.sources = task_sources(tasks, outcomes, order, next_tasks)
        ran = [tasks[0].node] if one else [t.node for t in tasks]
        replayed = step <= self._written_upto()  # a resumed run going again through a superstep it finished
        if not replayed and self.sink is not None and any(o.writes for o in outcomes):
            written = {k for o in outcomes for k, _ in o.writes}
            self.emit("values", self.graph.spec.visible(new_values), written)
        if replayed:
            self._head_stale = True  # (its checkpoint is stored: the head is read again when needed)
        else:
            self._save_loop(new_values, next_tasks, new_barriers, new_deferred, step, ran)
        return new_values, next_tasks, new_barriers, new_deferred, ran

    async def _goto_at_pause(self, tasks: list[Task], outcomes: list[Outcome], step: int) -> tuple[list[Task], Any]:
        """Tasks a ``Command(goto=...)`` added while this superstep waited on an ``interrupt()`` run in it too, on
        the state the pause left (as LangGraph runs them beside the resumed node). Journaled; read only after a
        pause its caller marked (``graph.goto_runs``)."""
        if self.parent is not None or not (self.interrupted or self.scope.execution.resumed):
            return tasks, outcomes  # (a live superstep that did not pause: nothing to read, no key to make)
        key = f"{self.scope.prefix}goto_at_{step}"
        if not (self.interrupted and self.run.id in self.graph.goto_runs) and not self.scope.replays(key):
            return tasks, outcomes

        async def read() -> dict[str, Any]:
            return pause_gotos(self.checkpointer.latest(self.thread))

        info, _ = await self.journaled("goto", read, {"step": step}, key=key)
        named = {t.node for t in tasks if not t.push}
        extra = [d for d in info["tasks"] if "send" in d or d["node"] not in named]
        more = [Task(d["node"], task_id(d, len(tasks) + j), self.scope.next_key(d["node"]), d.get("send", NO_ARG))
                for j, d in enumerate(extra)]  # fmt: skip
        if more:
            self.step_tasks = tasks = tasks + more
            outcomes = outcomes + await self._run_all(more, info["values"], step)
        return tasks, outcomes

    async def _run_all(self, tasks: list[Task], values: dict[str, Any], step: int) -> list[Outcome]:
        """Run the tasks concurrently; the first failure cancels the others (their finished siblings' results
        and the error are recorded on the checkpoint)."""
        if len(tasks) == 1:
            try:
                return [await self.runner.run(tasks[0], values, step)]
            except BaseException as exc:
                self._one_failed(tasks, exc)
                raise
        futures = [asyncio.ensure_future(self.runner.run(t, values, step)) for t in tasks]
        try:
            await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            # the finished tasks' results are kept first: a second stop (astop after a cancelled call, a second
            # interrupt) cancels this handler's wait for the others to unwind
            record_stop(self, tasks, _finished(tasks, futures))
            for f in futures:
                f.cancel()
            await asyncio.gather(*futures, return_exceptions=True)
            raise
        failed = [(t, f.exception()) for t, f in zip(tasks, futures, strict=True) if f.done() and f.exception()]
        if not failed:
            return [f.result() for f in futures]
        self.cancelling_siblings = True  # (their subgraphs keep what finished: ledger.record_stop)
        asking = asking_keys(self.run)
        cancelled: list[str] = []  # (not those parked at a question: they had stopped there, as LangGraph shows)
        for t, f in zip(tasks, futures, strict=True):
            if f.done():
                continue
            if t.unstoppable():  # a sync node's thread cannot be stopped: keep what it does (as LangGraph)
                t.stopping = True
                continue
            self.scope.cancel_on_purpose(t.key)
            f.cancel()
            if not parked(t, asking):
                cancelled.append(t.tid)
        await asyncio.gather(*futures, return_exceptions=True)
        errors = {t.tid: e for t, e in failed if e is not None}
        record_failure(self, tasks, _finished(tasks, futures), errors, cancelled)
        first = failed[0][1]
        assert first is not None
        raise first

    def _one_failed(self, tasks: list[Task], exc: BaseException) -> None:
        """A superstep's only task did not finish: a stop keeps nothing of it, a failure is recorded on the
        checkpoint the superstep started from (a ``Command.PARENT`` is no failure: the parent handles it)."""
        if isinstance(exc, asyncio.CancelledError):
            record_stop(self, tasks, {})
        elif not isinstance(exc, ParentCommand):
            record_failure(self, tasks, {}, {tasks[0].tid: exc})

    def note_unrouted(self, task: Task, writes: list[Write], goto: Route, follow_edges: bool) -> None:
        """The task's node returned but routing from its writes failed: keep its return, so the failure records
        it and the next call routes again instead of running the node again."""
        kept: dict[str, Any] = {"writes": journal_form(writes), "unrouted": 1}
        if goto.names or goto.sends:
            kept["goto"] = goto.to_json()
        if not follow_edges:
            kept["handled"] = 1
        self.unrouted[task.tid] = kept

    def _save_loop(
        self,
        values: dict[str, Any],
        tasks: list[dict[str, Any]],
        barriers: dict[str, list[str]],
        deferred: list[str],
        step: int,
        writers: list[str],
    ) -> None:
        """Write the superstep's ``loop`` checkpoint (not for one a resumed run replays: it is stored)."""
        parent = self.current_head_id()
        run = self.run
        made = loop_checkpoint(
            values, tuple(tasks), step, run.id, run.session.clock.now(), parent, barriers, tuple(deferred),
            tuple(writers), self.turn_start, self.metadata,
        )  # fmt: skip
        self.head = self.put_checkpoint(made)
        self._head_stale = False  # (the head is the checkpoint just written)

    def _written_upto(self) -> int:
        """For a resumed execution: the last superstep whose checkpoint this run already wrote (else -2)."""
        if self._written is None:
            self._written = -2
            if self.scope.execution.resumed:
                last = (self.checkpointer.get_thread(self.thread) or {}).get("last_loop")
                if last and last[0] == self.run.id:
                    self._written = int(last[1])
        return self._written

    def current_head_id(self) -> int | None:
        """The id of :meth:`current_head`, read without decoding the checkpoint when it is stale."""
        if self._head_stale:
            return latest_id(self.checkpointer, self.thread)
        return None if self.head is None else self.head.id

    def current_head(self) -> Checkpoint | None:
        """The checkpoint the current superstep started from. After replaying supersteps whose checkpoints were
        already stored, that is the thread's latest (read once, when needed)."""
        if self._head_stale:
            self._head_stale = False
            self.head = self.checkpointer.latest(self.thread)
        return self.head


_CONFIG_KEYS = ("recursion_limit", "metadata", "tags", "callbacks", "run_name", "max_concurrency")
"""A LangChain config's own keys (``RunnableConfig``): the flat config mixes them with the configurable ones, and
LangGraph's node never finds them under ``configurable``."""


def running_key(run_id: str, ns: str) -> str:
    """The key of an engine in its graph's ``engines`` while it runs: the run's id (the turn's own graph), else
    ``<run id>|<namespace>`` (a subgraph's, which a graph used on its own too never mistakes for a run id)."""
    return f"{run_id}|{ns}" if ns else run_id


def _finished(tasks: list[Task], futures: Sequence[asyncio.Future[Outcome]]) -> dict[str, Outcome]:
    """The outcomes of the superstep's tasks that finished (not cancelled, not failed), by task id."""
    pairs = zip(tasks, futures, strict=True)
    return {t.tid: f.result() for t, f in pairs if f.done() and not f.cancelled() and f.exception() is None}
