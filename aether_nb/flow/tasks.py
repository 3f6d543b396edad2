"""One task of a superstep: a node run as one journaled step of the run, with its policies.

The step's journaled value holds everything the engine needs from the task — its writes and where it leads
(edges, routers, ``goto``, Sends) — so a resumed run replays a finished task without calling the node or its
routers again, and a superstep costs one journal entry per task (the checkpoint travels in the same history
batch).

Inside the step:

* ``interrupt()`` pauses the task: a durable wait opens as a child of the task's DAG node; once answered, the
  node runs again from its start with the answer (LangGraph's semantics). Its completed child steps (tool and LLM
  calls) replay from the journal, so nothing it did before the pause happens twice.
* A task run again after its turn failed or was stopped first gets the calls it completed then
  (:mod:`aether_nb.flow.ledger`): they replay, as after a kill.
* A failure is retried by the node's :class:`~aether_nb.runtime.scheduler.RetryPolicy` (interrupts never are),
  each attempt bounded by the node's timeout; after the last attempt, the node's error handler (if any) runs with
  a :class:`~aether_nb.flow.types.NodeError`, and its return replaces the node's.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import ReplayMismatch, StepTimeout, UsageError, shown
from aether_nb.flow.asks import await_answer, interrupt_wait, ready
from aether_nb.flow.cache import cache_key
from aether_nb.flow.cap_slot import CapSlot
from aether_nb.flow.checkpoint import task_id
from aether_nb.flow.context import runtime_for
from aether_nb.flow.error_handlers import handler_failed
from aether_nb.flow.interrupt_keys import answered_before, interrupt_fp, interrupt_key, settle
from aether_nb.flow.ledger import Sources, carry_calls
from aether_nb.flow.left_open import answer_carried, carried_answers
from aether_nb.flow.node_returns import normalise_return
from aether_nb.flow.nodes import NodeRun, NodeSpec, SyncCall
from aether_nb.flow.restart_edits import state_after_restart
from aether_nb.flow.routing import Route
from aether_nb.flow.state import journal_form, writes_of
from aether_nb.flow.streaming import cached_update
from aether_nb.flow.task_call import TaskCall, noting_own_timeouts, parent_command, policy_for
from aether_nb.flow.types import Command, GraphInterrupt, Interrupt, NodeError, Overwrite, ParentCommand
from aether_nb.runtime import abandoned
from aether_nb.runtime.codec import decode, encode
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.slots import in_session_slot
from aether_nb.runtime.tools import show_queued

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine

NO_ARG: Any = object()


@dataclass(slots=True)
class Task:
    """A task of the current superstep."""

    node: str
    tid: str
    key: str
    arg: Any = NO_ARG
    sources: tuple[str, ...] = ()
    pending: dict[str, Any] | None = None  # the journaled value of a task that already completed (reused)
    ran: Sources = ()  # where it ran in turns that failed or were stopped: its completed calls replay (ledger)
    threads: list[SyncCall] = field(default_factory=list)  # its sync calls in worker threads
    stopping: bool = False  # a sibling failed: finish the call under way, start nothing more

    def unstoppable(self) -> bool:
        """Whether a sync call of this task is under way in a worker thread (it cannot be stopped); its calls
        no thread has begun yet are dropped by this check."""
        return any([c.unstoppable() for c in self.threads])  # (a list: every call is checked, so dropped)

    @property
    def push(self) -> bool:
        return self.arg is not NO_ARG


@dataclass(slots=True)
class Outcome:
    """A finished task: its writes and where it leads."""

    writes: list[tuple[str, Any]]
    route: Route
    parent_command: Any = None
    asked: bool = False  # the task (or a subgraph in it) was resumed with an answer: a new call's budget starts

    def to_json(self) -> dict[str, Any]:
        """The journaled form (the task step's value, also what the run's DAG shows as the node's outputs):
        ``{"writes": ..., "to": {node: 1, ...}}``, plus ``"send"``, ``"handled"`` and ``"parent_command"`` only when
        there are any. Flat on purpose: every level is paid at each superstep (encoding, the secret check, the
        preview) and kept in the run's history."""
        route, writes = self.route, self.writes
        if len(writes) == 1 and not isinstance(writes[0][1], Overwrite):  # (one task writing one key: journal_form)
            key, value = writes[0]
            data: dict[str, Any] = {"writes": {key: value}, "to": dict.fromkeys(route.names, 1)}
        else:
            data = {"writes": journal_form(writes), "to": dict.fromkeys(route.names, 1)}
        if route.sends:
            data["send"] = [{s.node: s.arg} for s in route.sends]
        if not route.joins:  # (an error handler's result: it counts for no waiting edge, see Route)
            data["handled"] = 1
        if self.parent_command is not None:
            data["parent_command"] = self.parent_command
        if self.asked:
            data["asked"] = 1
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        """Either journaled form: the flat one of :meth:`to_json`, or ``{"writes": ..., "route": {...}}`` (the
        pending results kept on checkpoints, and journals written before the flat form)."""
        route = data.get("route")
        return cls(
            writes_of(data.get("writes")),
            Route.from_json(route if route is not None else data),
            data.get("parent_command"),
            bool(data.get("asked")),
        )


def journal_mark(child: Scope) -> int | None:
    """How many steps the execution has journaled so far."""
    return child.execution.journaled


def journaled_since(child: Scope, mark: int | None) -> bool:
    """Whether the execution journaled a step since ``mark`` (True when that is not known)."""
    return mark is None or journal_mark(child) != mark


def rerun_scope(child: Scope, reload: bool = True, *, failures: bool = False) -> Scope:
    """A new scope for running a node's body again inside its step: call numbering starts over, and the child
    steps this node already completed become replayable, so nothing they did happens twice; with ``failures`` (run
    again after an answer) its failed calls raise their errors again, so the node takes the path it took; a retry
    executes them again.

    (The runtime keeps the journal it loaded at the start of an execution; steps completed since are only in
    the store, so with ``reload`` they are read back from there. Without it — the execution journaled nothing
    while the last attempt ran — what earlier attempts did is already in memory, and reading the store, which
    first writes its pending history, is skipped.)
    """
    execution = child.execution
    run = execution.host
    prefix = child.prefix
    if reload:
        entries = run.session.store.load_journal(run.id)
        execution.journal.add((e for e in entries if e.key.startswith(prefix)), failures=failures)
    execution.journal.reopen(prefix, failures=failures)
    return Scope(execution, child.node_id, child.kind)


class TaskRunner:
    """Runs the tasks of one engine (one graph on one thread, in one run)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._services: dict[str, Any] | None = None  # the session's and the graph's, merged once per turn
        # task key -> (how many times it read the state again this superstep, the last read as journaled)
        self._rereads: dict[str, tuple[int, Any]] = {}

    async def run(self, task: Task, values: dict[str, Any], step: int) -> Outcome:
        """Run (or replay) ``task`` as one journaled step; returns its outcome."""
        pending = task.pending
        if pending is not None and not pending.get("unrouted"):
            done = Outcome.from_json(pending)
            self.engine.note_done(task, done)  # (finished in an earlier turn: a sibling's pause keeps it too)
            return done
        engine = self.engine
        spec = engine.graph.nodes[task.node]
        inputs = task.arg if task.arg is not NO_ARG else values

        ran: list[Outcome] = []  # the outcome itself, when the step executes (no decode of what was just encoded)

        async def execute(child: Scope) -> dict[str, Any]:
            if task.ran and pending is None:  # run again after a failure or a stop: what it completed is done
                carry_calls(child, task.ran)
            try:
                if pending is not None:  # the node returned, its router failed: route again, not the node again
                    outcome = await self._route_again(task, pending, values, step)
                elif engine.semaphore is None and "global_max_concurrency" not in engine.run.session.config:
                    outcome = await self._execute(child, task, spec, values, step)  # (no cap: most tasks)
                elif engine.semaphore is not None:
                    # config["max_concurrency"]: tasks of a superstep running at once (not one waiting at a question)
                    async with CapSlot(engine.semaphore) as slot:
                        outcome = await self._capped(child, task, spec, values, step, slot)
                else:
                    outcome = await self._capped(child, task, spec, values, step)
            except Exception:
                # a task of the turn's own graph failed (its retries and handler spent): the turn fails, so the
                # caller reports no pause a sibling made meanwhile (as LangGraph raises the error). Set before
                # anything awaits. (Not for a subgraph's task: the node running it may catch the error.)
                if engine.parent is None:
                    engine.failing = True
                raise
            ran.append(outcome)
            return outcome.to_json()

        meta = {"graph": engine.graph.name, "step": step}
        if engine.ns:
            meta["ns"] = engine.ns
        try:
            value = await engine.scope.run_step(
                task.key,
                task.node,
                "state_node",
                inputs,
                execute,
                fp=f"flow-task:{step}:{task.tid}",  # what a replay must match: the superstep and the task
                parents=task.sources,
                meta=meta,
            )
        except Exception as exc:
            exc.add_note(f"(in node {engine.ns_path}{task.node!r} of graph {engine.graph.name!r}, step {task.key})")
            raise
        outcome = ran[0] if ran else Outcome.from_json(value)
        engine.note_done(task, outcome)
        return outcome

    def _capped(
        self, child: Scope, task: Task, spec: NodeSpec, values: dict[str, Any], step: int, slot: CapSlot | None = None
    ) -> Awaitable[Outcome]:
        """The task's body under the session's cap, ``ag.configure(max_concurrency=N)``, when there is one (to
        await at once; not a coroutine of its own: one frame less per task)."""
        config = self.engine.run.session.config
        if "global_max_concurrency" not in config:
            return self._execute(child, task, spec, values, step, slot)
        queued = functools.partial(show_queued, child)
        return in_session_slot(config, lambda: self._execute(child, task, spec, values, step, slot), queued)

    async def _execute(
        self, child: Scope, task: Task, spec: NodeSpec, values: dict[str, Any], step: int, slot: CapSlot | None = None
    ) -> Outcome:
        engine = self.engine
        graph = engine.graph
        push = task.arg is not NO_ARG  # (Task.push, read once)
        resumed = child.execution.resumed
        if resumed:  # (an edit made while the turn's process was gone)
            values = state_after_restart(engine, values, step)
        # the config is built for the code that can read it: the node, its routers, its error handler
        branches = graph.topology.has_branches(task.node)
        wants_config = spec.takes_config or branches or spec.error_handler is not None
        config = engine.node_config(task.node, step, task) if wants_config else {}
        services = self._services
        if services is None:
            services = self._services = {**engine.run.session.services, **graph.services}
        loop = asyncio.get_running_loop()
        sink = engine.sink  # (read once for the writer and the task's start: nothing awaits between, unless answers)
        writer = None if sink is None else engine.stream_writer(task.node)
        asked_before = engine.asked_count
        node_path = f"{engine.ns_path}{task.node}"
        answers, unjournaled = answered_before(child, node_path) if resumed else ({}, ())
        for rec in unjournaled:
            await settle(child, node_path, rec, answers[rec.node_id])
        attempt_scope: Scope = child
        attempts = 0
        handled = False
        reloads = len(answers)
        if answers:  # resumed in a new process with answers already given: run once, with them and the edits
            values = await self._reload(child, reloads)
            engine.resumed_here()  # and the superstep merges onto the edited state, as after a live wait
            engine.stream_resumed()
        root = engine.root
        carried = root.carried_answers
        if carried and task.ran:  # a question its failed or stopped turn left open, answered by this turn's call
            for key, answer in carried_answers(carried, task.ran, node_path, child.prefix).items():
                if key not in answers:
                    answers[key] = await answer_carried(child, node_path, key, answer)
        # concurrent Sends to one subgraph node each get a namespace of their own (their checkpoints must not mix)
        # (a Send run again after its turn failed or was stopped keeps the one of its first run: its subgraph goes
        # on from its checkpoints there, see turn_start.left_unfinished)
        ns_label = f"{task.node}:{task.ran[-1][1] if task.ran else task.key}" if push else task.node
        busy = TaskCall(root, spec.subgraph is None, engine, task, step, writer, engine.run.session.clock.now())
        cache, caching = graph.cache, spec.cache_policy
        ckey: Any = None
        hit, raw = False, None
        if answers:  # (the answers' steps awaited since the sink was read)
            sink = engine.sink
        if sink is not None:
            engine.on_task_start(task, task.arg if push else values, child.node_id, step)
        if cache is not None and caching is not None and not answers:
            ckey = cache_key(caching, task.node, task.arg if push else engine.state_for(spec, values))
            hit, raw = cache.get(task.node, ckey)
        if hit:  # (else each attempt below makes its own; the default Runtime, no get_config(), as before)
            node_run = NodeRun(attempt_scope, loop, task.node, answers, writer, busy, ns_label, task.tid)
        counts = busy.counts
        while not hit:
            node_run = NodeRun(
                attempt_scope,
                loop,
                task.node,
                answers,
                writer,
                busy,
                ns_label,
                task.tid,
                task.threads,
                attempts + 1,
                True,
            )
            state = task.arg if push else engine.state_for(spec, values)
            mark = child.execution.journaled  # (journal_mark)
            try:
                root.busy += counts  # (busy's ``with``, inline: every task comes here)
                try:
                    raw = await self._attempt(spec, state, config, attempt_scope, services, node_run, step)
                finally:
                    root.busy -= counts
                if attempt_scope.unawaited:
                    attempt_scope.check_unawaited()
                break
            except GraphInterrupt as gi:
                if task.stopping:  # a sibling failed while this call ran: its question is asked on the next call
                    raise asyncio.CancelledError from gi
                reload = journaled_since(child, mark)  # before anything below journals
                engine.pausing()
                key = interrupt_key(gi, child.prefix)
                if slot is not None:  # (as LangGraph's task ends at its interrupt: a sibling may run meanwhile)
                    slot.let_go()
                answers[key] = await self._interrupt(child, task, gi, key)
                if slot is not None:
                    await slot.take_again()
                engine.stream_resumed()
                reloads += 1
                values = await self._reload(child, reloads)
                attempt_scope = rerun_scope(child, reload, failures=True)  # (its calls meet what they met)
            except ParentCommand as pc:  # a subgraph's node sent a Command to this graph: the task's return
                raw = pc.command
                break
            except Exception as exc:
                if isinstance(exc, ReplayMismatch) and node_run.runtime_used:
                    exc.add_note(
                        "(this node read runtime.context, which is not stored: a turn resumed by a call with another "
                        "context than the one it started with cannot replay the calls the old context steered. "
                        "Resume with the same context=, or keep what steers the calls in the state)"
                    )
                reload = journaled_since(child, mark)
                attempts += 1
                if task.stopping:  # a sibling failed while this call ran: no retry, no handler
                    raise
                policy = policy_for(spec.retry, exc)
                if policy is not None and attempts < policy.max_attempts:
                    with busy:
                        await asyncio.sleep(policy.delay(attempts))
                    attempt_scope = rerun_scope(child, reload)
                    continue
                if spec.error_handler is None:
                    raise
                handler_scope = rerun_scope(child, reload)
                node_run = NodeRun(handler_scope, loop, task.node, {}, writer, busy, ns_label, task.tid, None, attempts)
                engine.on_handler_start(task, exc)
                try:
                    with busy:
                        raw = await spec.error_handler.call(
                            engine.state_for(spec, values),
                            config,
                            handler_scope,
                            services,
                            node_run,
                            error=NodeError(task.node, exc),
                        )
                except Exception as handler_exc:  # the call fails with it; the task's recorded error is the node's
                    engine.on_handler_failed(task, handler_exc)
                    handler_failed(handler_exc, exc)
                    raise
                handled = True
                break
        if ckey is not None and not hit and not handled and cache is not None and caching is not None:
            cache.set(task.node, ckey, raw, caching.ttl)
        parent = parent_command(raw)
        asked = bool(answers) or engine.asked_count != asked_before
        if parent is not None:
            return Outcome([], Route(), Command(update=parent.update, goto=parent.goto), asked)
        result = normalise_return(raw, graph.spec, task.node)
        sink = engine.sink  # (once for the end of the task, unless a router awaits)
        writes = graph.spec.coerce(
            result.writes if sink is None else engine.name_streamed(child.node_id, result.writes)
        )
        if handled or not branches:  # (no router to ask: nothing to await, see _route)
            try:
                route = graph.topology.route_plain(task.node, result.goto, not handled)
            except Exception:
                engine.note_unrouted(task, writes, Route.from_goto(list(result.goto)), not handled)
                raise
        else:
            route = await self._route(task, writes, list(result.goto), True, values, config, node_run.runtime)
            sink = engine.sink
        if hit:  # (as LangGraph's: a cache hit streams its update, marked cached, and no task result nor message)
            engine.emit("updates", cached_update(graph.spec, task.node, writes))
        elif sink is not None:
            engine.on_task_done(task, writes, step, handled=handled)
        return Outcome(writes, route, asked=asked)

    async def _route(
        self,
        task: Task,
        writes: list[tuple[str, Any]],
        goto: list[Any],
        follow_edges: bool,
        values: dict[str, Any],
        config: dict[str, Any],
        runtime: Any,
    ) -> Route:
        """Where the task leads from the state with its writes. A router that fails leaves the node's return
        with the engine, so the failure keeps it and the next call routes again without running the node
        (its effects happen once; LangGraph keeps the writes and drops the route)."""
        graph = self.engine.graph
        topology = graph.topology
        try:
            if not follow_edges or not topology.has_branches(task.node):  # (no router to ask: nothing to await)
                return topology.route_plain(task.node, goto, follow_edges)

            def local_state(schema: Any) -> Any:
                local = graph.spec.apply(values, [(task.node, writes)])
                return graph.spec.to_state(graph.spec.with_managed(local, self.engine.remaining), schema)

            return await topology.route(
                task.node, goto, local_state, config, follow_edges=follow_edges, runtime=runtime
            )
        except Exception:
            self.engine.note_unrouted(task, writes, Route.from_goto(goto), follow_edges)
            raise

    async def _route_again(self, task: Task, pending: Mapping[str, Any], values: dict[str, Any], step: int) -> Outcome:
        """The step of a task whose node returned but whose router failed on an earlier call: its routers run
        again on the state with its kept writes."""
        engine = self.engine
        writes = writes_of(pending.get("writes"))
        goto = Route.from_json(pending.get("goto") or {})
        writer = engine.stream_writer(task.node)
        runtime = functools.partial(runtime_for, engine, task.tid, writer, 1, engine.run.session.clock.now())
        config = engine.node_config(task.node, step, task)
        follow = not pending.get("handled")
        route = await self._route(task, writes, [*goto.names, *goto.sends], follow, values, config, runtime)
        engine.on_task_done(task, writes, step)
        return Outcome(writes, route)

    async def _reload(self, child: Scope, n: int) -> dict[str, Any]:
        """The thread's state for a node's re-run after its n-th interrupt was answered (journaled: a resumed run
        re-runs the node with the same state)."""
        engine = self.engine
        value = await child.run_step(
            f"{child.prefix}reload_{n}",
            "reload",
            "flow",
            {"reload": n},
            lambda _s: ready(engine.latest_values()),
            node=False,
        )
        if child.execution.durable:  # every step so far is journaled, this read too: a replay finds it
            self._rereads[child.prefix[:-1]] = (n, encode(value))
        else:
            self._rereads.pop(child.prefix[:-1], None)
        return dict(value)

    def reread(self, tasks: list[Task]) -> dict[str, Any] | None:
        """The state a superstep merges its writes onto when its only task read the state again after its last
        wait: that read, as journaled (a fresh copy). None when that is not known to be the state after every wait
        of the superstep: several tasks, a subgraph node, a wait in a graph the node ran, a read not journaled.

        Why: after an answer the superstep reads the state again (it may have been edited while the task waited);
        when its only task just did, a second read is the same checkpoint. A replay finds the same entry: a task
        that waited has its reads in the journal, and they are taken when its whole step comes from there.
        """
        counts = self._rereads
        if counts:
            self._rereads = {}
        engine = self.engine
        if not counts and not len(engine.scope.execution.journal):
            return None  # (no read noted, none journaled: a fresh run's superstep whose task did not wait)
        if len(tasks) != 1 or engine.nested_waited:
            return None
        task = tasks[0]
        if task.pending is not None or engine.graph.nodes[task.node].subgraph is not None:
            return None
        read = counts.get(task.key)
        if read is not None:  # (a fresh copy: the node may have changed what it was given in place)
            return dict(decode(read[1]))
        # the task's step was replayed whole: its reads, if it waited, are in the journal
        journal, n = engine.scope.execution.journal, 0
        while journal.get(f"{task.key}/reload_{n + 1}") is not None:
            n += 1
        entry = journal.get(f"{task.key}/reload_{n}") if n else None
        return None if entry is None else dict(decode(entry.value))

    async def _attempt(
        self,
        spec: NodeSpec,
        state: Any,
        config: dict[str, Any],
        scope: Scope,
        services: Mapping[str, Any],
        node_run: NodeRun,
        step: int,
    ) -> Any:
        timeout = spec.timeout_s if spec.timeout_s is not None else self.engine.default_timeout
        if abandoned.any_running():
            # An earlier attempt of this task that timed out (a retry) may still run in its thread: the node runs
            # again once it has ended, never beside it (shown pending meanwhile), and its timeout counts from then.
            await self._after_abandoned(scope)
        call = spec.call(state, copy.copy(config) if spec.takes_config else config, scope, services, node_run)
        # Only the timeout the engine enforces is a StepTimeout: a TimeoutError the node raised itself (a socket's,
        # its own wait_for's) reaches the caller as it is, as LangGraph's does, and the default retry_on skips it.
        own: list[BaseException] = []
        try:
            if timeout is None:
                return await call
            return await asyncio.wait_for(noting_own_timeouts(call, own), timeout)
        except TimeoutError as exc:
            if timeout is None or any(exc is mine for mine in own):
                raise
            raise StepTimeout(
                f"node {shown(spec.name)} ran past its timeout of {timeout} s (superstep {step}); give it more time "
                "with add_node(..., timeout=...) or config={'node_timeout': ...}, or make it faster",
                run_id=self.engine.run.id,
                node_id=scope.node_id,
                code="node_timeout",
            ) from exc
        except TypeError as exc:
            if node_run.answers and "can't be used in 'await' expression" in str(exc):
                raise UsageError(
                    f"node {shown(spec.name)}: interrupt() returns the answer itself; write `answer = "
                    "interrupt(value)` without await",
                    code="await_interrupt",
                ) from exc
            raise

    async def _after_abandoned(self, scope: Scope) -> None:
        """Return once no attempt of the task of ``scope`` given up on (timed out) still runs in its thread; the
        task's node shows pending while it waits (see :mod:`aether_nb.runtime.abandoned`)."""
        run, key = self.engine.run, scope.node_id
        if key is None or not abandoned.running_for(run.session, run.id, key):
            return
        show_queued(scope, True)
        await abandoned.settled(run.session, run.id, key)
        show_queued(scope, False)

    async def _interrupt(self, child: Scope, task: Task, gi: GraphInterrupt, key: str) -> Any:
        """Ask the question of ``gi`` as the wait at ``key`` (its interrupt's) and return its answer."""
        engine = self.engine
        node = f"{engine.ns_path}{task.node}"
        spec = interrupt_wait(node, gi)
        inputs = {"kind": spec.kind, "prompt": spec.prompt, "options": None, "index": gi.index}

        async def execute(_: Scope) -> Any:
            return await await_answer(child, key, spec)

        fp = interrupt_fp(node, key, child.prefix)
        if key not in child.execution.journal:
            engine.record_interrupt(task.tid, key, gi.value)
            asked = Interrupt(gi.value, key, "interrupt", node, spec.prompt, gi.response_schema, gi.reason)
            engine.stream_interrupt(task, asked)
        return await child.run_step(key, "interrupt", "wait", inputs, execute, fp=fp)


def merge_order(tasks: list[Task]) -> list[int]:
    """The order a superstep's writes merge in: nodes by name, then Sends as they were made."""
    if len(tasks) == 1:
        return [0]
    return sorted(range(len(tasks)), key=lambda i: (tasks[i].push, i if tasks[i].push else tasks[i].node))


def task_sources(
    tasks: list[Task], outcomes: list[Outcome], order: list[int], next_tasks: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """For each next task, the step keys of the tasks that led to it (the DAG's edges between supersteps)."""
    out: dict[str, list[str]] = {}
    send_index = 0
    for i in order:
        route: Route = outcomes[i].route
        key = tasks[i].key
        if not key:
            continue
        for n in route.names:
            out.setdefault(n, []).append(key)
        for _ in route.sends:
            desc = next_tasks[send_index] if send_index < len(next_tasks) else None
            if desc is not None and "send" in desc:
                out.setdefault(task_id(desc, send_index), []).append(key)
            send_index += 1
    return out
