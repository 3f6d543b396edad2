"""Scheduling a static graph: an event-driven ready set, concurrency caps, conditions, retries, timeouts.

Work per node is amortised O(1): each node keeps a count of unfinished dependencies, and finishing a node only
touches its own dependents — no whole-graph rescans. Every node executes as a journaled step of the run (its id
is the step key), so a resumed run replays finished nodes and re-executes only what did not finish.

* ``max_concurrency`` caps a run; a session-wide cap (``session.config["global_max_concurrency"]``) caps all runs.
  A node waiting for an answer holds neither while it waits.
* ``_condition`` is evaluated when a node becomes ready; false -> SKIPPED, and its dependents are SKIPPED too.
* A failed node skips its dependents; ``stop_on_first_error`` also cancels the running siblings.
* :class:`RetryPolicy`: bounded attempts with exponential backoff and jitter, only for ``retry_on`` errors.
* ``timeout_s`` per node (``_timeout_s=`` when building): the node ends FAILED_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import operator
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import RunCancelled, StepTimeout, UsageError, shown
from aether_nb.runtime import abandoned
from aether_nb.runtime.events import GraphPlanned, NodeStatusChanged, RunWarning
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.executors import lingering, restart_step_timeout, submitted
from aether_nb.runtime.failures import error_info
from aether_nb.runtime.graph import NOT_RUN_STATUSES
from aether_nb.runtime.node_calls import NodeTools, resolve_inputs
from aether_nb.runtime.pause import waiting_slots
from aether_nb.runtime.slots import Slots, in_session_slot
from aether_nb.runtime.slots import session_limit as session_limit_of
from aether_nb.runtime.taskgraph import INPUTS, NodeSpec, TaskGraph, resolve

_FAILED = frozenset({"FAILED", "FAILED_TIMEOUT", "CANCELLED", "SKIPPED"})
_TOOL_OF = operator.attrgetter("tool")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failing node up to ``max_attempts`` times in total, waiting ``backoff_s * 2**(n-1)`` (capped at
    ``max_backoff_s``, +/- ``jitter`` of it) between attempts, for exceptions that are instances of ``retry_on``."""

    max_attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter: float = 0.1
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise UsageError(f"max_attempts must be a positive integer, got {shown(self.max_attempts)}")
        for name in ("backoff_s", "max_backoff_s", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
                raise UsageError(f"RetryPolicy.{name} must be a number >= 0, got {shown(value)}")
        if self.max_backoff_s == float("inf") or self.jitter > 1:
            raise UsageError("RetryPolicy: max_backoff_s must be finite and jitter within [0, 1]")
        retry_on = self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,)
        if not retry_on or not all(isinstance(c, type) and issubclass(c, BaseException) for c in retry_on):
            raise UsageError(f"retry_on must be exception classes, got {shown(self.retry_on)}")
        object.__setattr__(self, "retry_on", retry_on)

    def delay(self, attempt: int) -> float:
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return float(max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter))))

    def to_json(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_s": self.backoff_s,
            "max_backoff_s": self.max_backoff_s,
            "jitter": self.jitter,
            "retry_on": [f"{c.__module__}:{c.__qualname__}" for c in self.retry_on],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryPolicy:
        classes = []
        for name in data.get("retry_on") or ["builtins:Exception"]:
            module, _, qual = name.partition(":")
            obj: Any = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
            classes.append(obj)
        return cls(
            max_attempts=data["max_attempts"],
            backoff_s=data["backoff_s"],
            max_backoff_s=data["max_backoff_s"],
            jitter=data["jitter"],
            retry_on=tuple(classes),
        )


def check_cap(value: Any) -> None:
    """``max_concurrency`` is None (no cap) or a positive integer."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"max_concurrency must be a positive integer or None, got {shown(value)}")


def evaluate(cond: Any) -> bool:
    """Evaluate a resolved ``_condition``: a value (truthiness) or ``{"op": ..., ...}``."""
    if not isinstance(cond, dict) or "op" not in cond:
        return bool(cond)
    op = cond["op"]
    if op in ("eq", "ne", "in", "not_in"):
        left: Any = cond.get("left")
        right: Any = cond.get("right")
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        return bool(left in right) if op == "in" else bool(left not in right)
    if op in ("truthy", "falsy"):
        return bool(cond.get("value")) is (op == "truthy")
    if op == "not":
        return not evaluate(cond.get("value", (cond.get("args") or [None])[0]))
    if op in ("and", "or"):
        results = (evaluate(a) for a in cond.get("args", []))
        return all(results) if op == "and" else any(results)
    raise UsageError(f"unknown condition op {shown(op)}")


async def run_taskgraph(
    scope: Scope,
    graph: TaskGraph,
    inputs: dict[str, Any],
    *,
    max_concurrency: int | None = None,
    retry: RetryPolicy | None = None,
    stop_on_first_error: bool = True,
) -> dict[str, Any]:
    """Execute ``graph`` inside the run of ``scope`` and return its outputs."""
    run = scope.run
    results: dict[str, dict[str, Any] | None] = {INPUTS: dict(inputs)}
    status = dict.fromkeys(graph.nodes, "PENDING")
    nodes = graph.nodes
    # each node's dependencies in the graph, worked out once (the plan draws them, each node's step records them),
    # and each node's dependents (graph.dependents(), in the same pass)
    parents: dict[str, tuple[str, ...]] = {}
    dependents: dict[str, list[str]] = {n: [] for n in nodes}
    # and the plan's edges (see plan()), in the same pass: index pairs into the nodes in their order
    index = dict(zip(nodes, range(len(nodes)), strict=True))
    all_edges: list[int] = []
    waiting_on: dict[str, int] = {}  # (and how many unfinished dependencies each node has: the first ready ones)
    ready: deque[str] = deque()
    for i, (n, s) in enumerate(nodes.items()):
        of = s.deps
        if type(of) is not tuple or len(of) > 1 or (of and of[0] not in nodes):  # (none, or one in the graph: as is)
            of = _parents_in(of, nodes)
        parents[n] = of
        waiting_on[n] = len(of)
        if not of:
            ready.append(n)
            continue
        for d in of:
            dependents[d].append(s.id)
            all_edges += (index[d], i)
    node_tools = NodeTools(graph)
    running: dict[asyncio.Task[dict[str, Any]], str] = {}
    first_error: BaseException | None = None
    run_limit = None if max_concurrency is None else asyncio.Semaphore(max_concurrency)
    config = scope.run.session.config
    # A graph run by a body that holds slots (an async tool awaiting a @graphify agent: its sub-graph) runs its nodes
    # in those slots, as nested calls: taking the session's again deadlocked a cap of 1.
    caller = waiting_slots.get()
    inside = caller is not None and caller.held
    session_limit = None if inside else session_limit_of(config)

    stepped: set[str] = set()  # the nodes whose step began: the step draws them

    def plan(node_ids: list[str]) -> None:
        index = {n: i for i, n in enumerate(node_ids)}
        edges = [i for n in node_ids for d in parents[n] if d in index for i in (index[d], index[n])]
        names = [graph.nodes[n].tool for n in node_ids]
        run.emit(GraphPlanned, parent=scope.node_id, node_ids=node_ids, names=names, edges=edges)

    # The whole plan is on the DAG before any node starts (each PENDING until its step begins). All of it: a
    # resumed run's DAG keeps the nodes that ran, shows again as pending those that did not run (skipped or
    # cancelled before), and the new ones get their edges to the others. (plan() of every node, its lists made
    # with less: the edges from the pass above, the names by a C-level map.) A run whose history is in the store
    # only (back from leaving memory, or rebuilt from the store) plans again without reading it back (a query per
    # run, most of a parked graph's resume): its DAG then folds the stored events and this plan, as if read first.
    known = run.graph_in_memory
    if known is None or any(n not in known or known.node(n).status in NOT_RUN_STATUSES for n in graph.nodes):
        names = list(map(_TOOL_OF, nodes.values()))
        run.emit(GraphPlanned, parent=scope.node_id, node_ids=list(nodes), names=names, edges=all_edges)

    def draw(node_id: str, final: str, error: BaseException | None = None) -> None:
        """End a node without a step of its own (it never started): its planned node, with no time of its own."""
        if node_id not in run.graph:
            plan([node_id])
        run.finish_node(node_id, final, error=None if error is None else error_info(error))

    def ended(task: asyncio.Task[dict[str, Any]], node_id: str) -> None:
        """Record how a node's task ended; one that never began its step (cancelled while it waited for a slot, or
        failing before it: a tool that is not defined) is drawn here, as it would vanish from ``run.graph``."""
        error = None
        if task.cancelled():
            status[node_id] = "CANCELLED"
        elif (error := task.exception()) is not None:
            status[node_id] = "FAILED"
        else:
            status[node_id] = "DONE"
            results[node_id] = task.result()
        if node_id not in stepped:
            draw(node_id, status[node_id], error)

    def close(node_id: str, final: str, error: BaseException | None = None) -> None:
        """Record a node that will not run (skipped or cancelled) and everything downstream of it."""
        stack = [(node_id, final, error)]
        while stack:
            nid, st, err = stack.pop()
            if status[nid] != "PENDING":
                continue
            status[nid] = st
            results[nid] = None
            draw(nid, st, err)
            # downstream of a cancelled node: cancelled too; of a skipped or failed one: skipped (never ran)
            stack.extend((m, "CANCELLED" if st == "CANCELLED" else "SKIPPED", None) for m in dependents[nid])

    def settle(node_id: str) -> None:
        if status[node_id] in _FAILED:
            for m in dependents[node_id]:
                close(m, "SKIPPED")
            return
        for m in dependents[node_id]:
            waiting_on[m] -= 1
            if waiting_on[m] == 0 and status[m] == "PENDING":
                ready.append(m)

    execution = scope.execution

    def unqueue(queued: list[bool], _task: object = None) -> None:
        if queued[0]:
            queued[0] = False
            execution.pending -= 1

    bodies_of: dict[str, submitted] = {}  # the sync bodies of each node running in a task of its own

    def stopping() -> bool:
        """Whether the graph has decided to stop: from then on no node starts (nor tries again)."""
        return first_error is not None and stop_on_first_error

    def stopped_by_user() -> bool:
        """The run was cancelled (Stop, ``run.cancel()``, a re-run cell), not evicted nor cut off by its loop going
        away: those runs go on later, and their nodes must not be drawn as ended."""
        return run.cancel_requested and not execution.detached

    def close_pending_on_cancel() -> None:
        """A cancelled run still shows every node of its graph: those that never started end CANCELLED."""
        if stopped_by_user():
            for node_id in [n for n, st in status.items() if st == "PENDING"]:
                close(node_id, "CANCELLED")

    def not_started(node_id: str) -> asyncio.CancelledError:
        return asyncio.CancelledError(f"node {node_id} did not start: graph {graph.name} is stopping")

    def retrying(node_id: str, attempt: int, attempts: int, error: BaseException, delay: float) -> None:
        """A failed attempt will be tried again: the node is pending again until its next attempt starts, so the
        DAG never shows FAILED beside a run that goes on (and may succeed: the retry worked). Its error stays on
        it, and a note says when the next attempt comes (both go when it starts: a new node replaces it); none
        without a backoff, where the next attempt starts at once and the note would only be history to store."""
        run.emit(NodeStatusChanged, node_id=node_id, status="PENDING")
        if delay <= 0:
            return
        run.emit(
            RunWarning,
            node_id=node_id,
            code="retrying",
            message=f"attempt {attempt} of {attempts} failed ({type(error).__name__}); the next attempt starts in "
            f"{delay:.3g} s",
            detail={"attempt": attempt, "max_attempts": attempts, "delay_s": delay},
        )

    async def execute_node(node_id: str, queued: list[bool] | None = None) -> dict[str, Any]:
        """``queued``: the node runs in a task of its own, counted in ``execution.pending`` until its step starts
        (a run with work about to start is not parked: it must not leave memory, see ``Run.evictable``).

        A failure is known to the graph here, before the node's slot is given back: the node that would take the
        slot next (in the same loop turn, before the scheduler sees the failed task) must find the graph stopping.
        """
        nonlocal first_error
        if abandoned.any_running():
            # A body this node's step gave up on in an earlier execution (a timed-out node resumed with
            # resume_mode="failed_nodes") still runs in its thread: this execution's slots never counted it, so the
            # node runs again only once it has ended, as a retry does (two copies of the effect at once otherwise).
            await abandoned.settled(run.session, run.id, node_id)
        spec = nodes[node_id]
        tool = node_tools.of(spec)
        kwargs = resolve_inputs(spec.inputs, results)
        started = submitted() if queued is not None else None  # (a node awaited inline has no sibling to stop for)
        if started is not None:
            bodies_of[node_id] = started
        attempt = 0
        between_attempts = False  # an attempt of this execution failed and the next one is to come
        if retry is not None:
            # attempts made before a restart count (journaled with their failure): max_attempts is the total
            attempt = execution.journal.failed_attempts(node_id)
            if 0 < attempt < retry.max_attempts:
                execution.journal.skip_failure(node_id)  # the next attempt executes (the last one's error replays)
        while True:
            attempt += 1
            inputs_view, execute = tool.prepare((), kwargs if retry is None else dict(kwargs))
            if spec.timeout_s is not None:
                execute = _with_timeout(execute, spec.timeout_s, node_id)
            if retry is None and run_limit is None and session_limit is None:
                # No cap to hold and no retry to keep apart from its attempt: nothing needs the bodies collected.
                if queued is not None:
                    unqueue(queued)
                if first_error is not None and stop_on_first_error:  # (stopping(), inline)
                    raise not_started(node_id)
                stepped.add(node_id)
                try:
                    if started is None and not inside:
                        # a chain's next link: no context to enter, and _step's work here (one coroutine less)
                        value = await scope.run_step(
                            node_id,
                            spec.tool,
                            "tool",
                            inputs_view,
                            execute,
                            parents=parents[node_id],
                            meta={"tool_version": spec.tool_version},
                            exact=True,
                        )
                        assert isinstance(value, dict)
                        return value
                    with started or contextlib.nullcontext():
                        if inside:
                            step = functools.partial(
                                _step, scope, node_id, spec, parents[node_id], inputs_view, execute, None
                            )
                            return await in_session_slot(config, step)
                        return await _step(scope, node_id, spec, parents[node_id], inputs_view, execute, None)
                except Exception as exc:
                    first_error = first_error or exc
                    raise
            slots = Slots(run_limit, session_limit)
            await slots.acquire()
            if queued is not None:
                unqueue(queued)
            if stopping():  # a sibling failed while this node waited for its slot (or its next attempt)
                slots.end()
                if between_attempts:  # its next attempt will not start: stopped, not left pending
                    run.finish_node(node_id, "CANCELLED")
                raise not_started(node_id)
            bodies = lingering()
            stepped.add(node_id)
            held = waiting_slots.set(slots)
            try:
                with bodies, started or contextlib.nullcontext():
                    return await _step(
                        scope, node_id, spec, parents[node_id], inputs_view, execute, None if retry is None else attempt
                    )
            except Exception as exc:
                if retry is None or attempt >= retry.max_attempts or not isinstance(exc, retry.retry_on) or stopping():
                    first_error = first_error or exc
                    raise
                delay = retry.delay(attempt)
                retrying(node_id, attempt, retry.max_attempts, exc, delay)
                between_attempts = True
            finally:
                waiting_slots.reset(held)
                slots.release_after(bodies)
            if queued is not None:  # waiting to try again is work to come, as a node not started yet
                queued[0] = True
                execution.pending += 1
            try:
                store = run.session.store
                if store.durability == "sync":  # (the failed attempt was written at once: its node pending, too)
                    await store.barrier()
                await bodies.all_done()  # a retry never overlaps the attempt it replaces (a thread still running it)
                clock = run.session.clock
                await clock.sleep_until(clock.now() + delay)
            except asyncio.CancelledError:
                # between two attempts the node is unfinished: stopped (by the user, or by a failed sibling under
                # stop_on_first_error), not failed; a run leaving memory leaves it pending, to go on later
                if stopped_by_user() or node_id in scope.cancelling:
                    run.finish_node(node_id, "CANCELLED")
                raise

    while ready or running:
        while ready:
            node_id = ready.popleft()
            spec = nodes[node_id]
            if spec.condition is not None:
                try:
                    go = evaluate(resolve(spec.condition, results))
                except Exception as exc:
                    bad = UsageError(
                        f"node {node_id}: its _condition could not be evaluated ({type(exc).__name__}: {exc}); "
                        "'in' and 'not_in' need a list, a string or a dict on the right, and each side the value "
                        "it compares",
                        run_id=run.id,
                        node_id=node_id,
                        code="bad_condition",
                    )
                    execution.note_failure(bad, node_id)  # (the run "failed at node ...", as a tool's error)
                    first_error = first_error or bad
                    close(node_id, "FAILED", bad)
                    continue
                if not go:
                    close(node_id, "SKIPPED")
                    settle(node_id)
                    continue
            status[node_id] = "RUNNING"
            if running or ready:
                queued = [True]
                execution.pending += 1
                task = asyncio.ensure_future(execute_node(node_id, queued))
                task.add_done_callback(functools.partial(unqueue, queued))  # (also when cancelled before it started)
                running[task] = node_id
                continue
            # The only node that can run now (a chain's next link): awaited here, not in a task of its own, which
            # saves the task and asyncio.wait's loop turns per node. Nothing else of the graph runs meanwhile.
            try:
                results[node_id] = await execute_node(node_id)
                status[node_id] = "DONE"
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is None or me.cancelling():
                    # the run itself is cancelled (or evicted): its node went with it, as in a task
                    if node_id not in stepped and stopped_by_user():
                        draw(node_id, "CANCELLED")
                    close_pending_on_cancel()
                    raise
                status[node_id] = "CANCELLED"  # the node's own code raised CancelledError
            except Exception as exc:
                status[node_id] = "FAILED"
                first_error = first_error or exc
                if node_id not in stepped:
                    draw(node_id, "FAILED", exc)
            settle(node_id)
            if first_error is not None and stop_on_first_error:
                break
        if not running:
            if first_error is not None and stop_on_first_error:
                for node_id in [n for n, st in status.items() if st == "PENDING"]:
                    close(node_id, "CANCELLED")
            break
        try:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The run is cancelled (or evicted, or its loop is going away): its nodes go with it, never orphaned.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            if stopped_by_user():
                for task, node_id in running.items():
                    ended(task, node_id)  # (draws those cancelled while they waited for a slot)
            close_pending_on_cancel()
            raise
        for task in done:
            node_id = running.pop(task)
            ended(task, node_id)
            if status[node_id] == "FAILED":
                first_error = first_error or task.exception()
            settle(node_id)
        if first_error is not None and stop_on_first_error:
            for task, node_id in running.items():
                started = bodies_of.get(node_id)
                if started is not None and started.unstoppable():
                    continue  # a sync body under way in a thread: it finishes, and its result is kept (journaled)
                scope.cancel_on_purpose(node_id)
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for task, node_id in running.items():
                ended(task, node_id)
            running.clear()
            for node_id in [n for n, st in status.items() if st == "PENDING"]:
                close(node_id, "CANCELLED")
            break
    if first_error is not None:
        raise first_error
    if "CANCELLED" in status.values():  # (any(st == "CANCELLED" ...), without a generator step per node)
        raise RunCancelled(f"graph {shown(graph.name)} was cancelled", run_id=run.id)
    graph.state = {n: {"status": st, "outputs": results.get(n)} for n, st in status.items()}
    outputs = resolve(graph.outputs, results)
    assert isinstance(outputs, dict)
    return outputs


def _parents_in(deps: tuple[str, ...], nodes: dict[str, Any]) -> tuple[str, ...]:
    """``tuple(d for d in deps if d in nodes)``: a node's dependencies that are nodes of its graph (all of them, in a
    graph that passed its checks), without a generator per node."""
    for d in deps:
        if d not in nodes:
            return tuple(d for d in deps if d in nodes)
    return deps if type(deps) is tuple else tuple(deps)


def _with_timeout(execute: Any, timeout_s: float, node_id: str) -> Any:
    async def timed(child: Scope) -> dict[str, Any]:
        try:
            # (asyncio.timeout, not wait_for: its deadline can move, see executors.restart_step_timeout)
            async with asyncio.timeout(timeout_s) as clock:
                loop = asyncio.get_running_loop()
                restart = restart_step_timeout.set(
                    (node_id, lambda on: clock.reschedule(loop.time() + timeout_s if on else None))
                )
                try:
                    result: dict[str, Any] = await execute(child)
                finally:
                    restart_step_timeout.reset(restart)
            return result
        except TimeoutError:
            raise StepTimeout(
                f"node {node_id} ran longer than its timeout of {timeout_s} s; give it more time with a larger "
                "_timeout_s=, let the graph retry it (retry=ag.RetryPolicy(...)), or run it again with "
                'resume_mode="failed_nodes" (a sync body cannot be stopped: it finishes in its thread)',
                node_id=node_id,
            ) from None

    return timed


async def _step(
    scope: Scope,
    node_id: str,
    spec: NodeSpec,
    parents: tuple[str, ...],
    inputs: Any,
    execute: Any,
    attempt: int | None,
) -> dict[str, Any]:
    """Run node ``node_id`` (of spec ``spec``, after ``parents``: its dependencies in the graph) as a step under its
    own id (``exact``: each attempt, each execution), its attempt number (under a retry policy) kept with a failure
    so a restart counts on from it."""
    meta: dict[str, Any] = {"tool_version": spec.tool_version}
    if attempt is not None:
        meta["attempt"] = attempt
    value = await scope.run_step(node_id, spec.tool, "tool", inputs, execute, parents=parents, meta=meta, exact=True)
    assert isinstance(value, dict)
    return value
