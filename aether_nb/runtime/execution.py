"""The step engine: how calls inside a run become DAG nodes and journal entries, and how resumed runs replay them.

A *scope* is the body of one node (the run's root graph_fn, a nested graph_fn, a tool). Each call made in a scope
gets a step key at call time, in program order: ``double_1``, ``double_2``, ``research_1/double_1`` for a call
inside the nested graph_fn ``research_1``. Keys are the node ids and the journal keys, so a resumed body that makes
the same calls finds their results again.

Edges follow causal order within a scope: a call depends on the calls whose results the scope had received when
it started (its *frontier*). ``a = await t1(); b = await t2(a["y"])`` gives ``t1 -> t2``; three calls under
``asyncio.gather`` share their predecessors and all feed the call after them.

Every effect is a step: a tool call, a nested graph_fn, an answered wait, a chat message, an LLM call, and every
call to a context service (memory, KV, artifacts, embeddings, custom services; see :mod:`aether_nb.runtime.effects`).
The engine owns the steps and emits their events through its :class:`StepHost` (the run); it never reads the run's
state directly, so the run, the engine and the session each own their own part.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from aether_nb.errors import StepTimeout, StorageError, UsageError, WaitTimeout
from aether_nb.runtime.binding import bind_call, bind_started, wait_key
from aether_nb.runtime.codec import NotEncodable, call_fingerprint, decode, encode, preview, snapshot
from aether_nb.runtime.effects import EffectWrites, inside_step
from aether_nb.runtime.events import RunWarning
from aether_nb.runtime.failures import error_info, journal_failure, step_not_written
from aether_nb.runtime.given_up import given_up, journal_given_up, note_given_up, replay_given_up
from aether_nb.runtime.journal import Journal
from aether_nb.runtime.kept_answers import despite_moving
from aether_nb.runtime.pause import await_answer
from aether_nb.runtime.replays import ran_parents, replay_failure, replayed_meta, warn_runs_again
from aether_nb.runtime.step_cancels import StepPause, cancel_ends_step, moved, warn_abandoned
from aether_nb.runtime.step_host import StepHost
from aether_nb.runtime.waits import WaitSpec
from aether_nb.store.records import JournalEntry, WaitRecord
from aether_nb.store.redact import PLAIN_ARGUMENT_NAMES, contains_secret, register_credential_inputs
from aether_nb.store.values import json_dumps

if TYPE_CHECKING:
    from aether_nb.runtime.executors import Submission
    from aether_nb.runtime.waits import Wait

Presenter = Callable[["Wait"], Awaitable[None]]

_current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("aether_nb_scope", default=None)


current_scope: Callable[[], Scope | None] = _current_scope.get
"""The scope of the node whose code is running now, or None outside any run (tools then run directly). (The context
variable's own ``get``: every tool call asks, and a function around it was a Python call more per step.)"""


def enter_scope(scope: Scope) -> contextvars.Token[Scope | None]:
    """Make ``scope`` the current one (a run's root body starts in it); undo with :func:`leave_scope`."""
    return _current_scope.set(scope)


def leave_scope(token: contextvars.Token[Scope | None]) -> None:
    _current_scope.reset(token)


@contextlib.contextmanager
def use_scope(scope: Scope | None) -> Iterator[None]:
    """Make ``scope`` the current scope inside the block (None: calls run directly, as outside any run).

    For code that runs a node's body itself in a scope it made (a state graph re-running a node after an
    ``interrupt()`` was answered)."""
    token = _current_scope.set(scope)
    try:
        yield
    finally:
        _current_scope.reset(token)


_detached_from: contextvars.ContextVar[str | None] = contextvars.ContextVar("aether_nb_detached_from", default=None)


def detach_scope() -> None:
    """Leave every scope in this context: a sync tool body in its worker thread calls tools directly. The step it
    runs for stays known (:func:`step_here`)."""
    scope = _current_scope.get()
    if scope is not None:
        _detached_from.set(scope.node_id)
    _current_scope.set(None)


def step_here() -> str | None:
    """The key of the step whose body runs here: the current scope's, or, in the worker thread of a sync body
    (which runs outside any scope), the step it runs for; None outside a run. A state graph's ``interrupt()`` is
    known by it (an answer must reach the call that asked it, in whichever step's body that call was made)."""
    scope = _current_scope.get()
    return scope.node_id if scope is not None else _detached_from.get()


class Execution:
    """The live state of one execution of a run: its journal and the scopes executing now."""

    def __init__(self, host: StepHost, journal: Journal, *, resumed: bool = False) -> None:
        self.host = host
        self.journal = journal
        self.resumed = resumed
        self.durable = True  # False once a step could not be journaled: such a run is never evicted
        self.scopes: set[Scope] = set()  # the scopes of steps executing now (see Run.evictable)
        self.known_waits: dict[str, WaitRecord] | None = None  # the run's waits by token, when this process knows them
        self.bound_waits: set[str] = set()  # the wait steps (node ids) this execution has numbered (see wait_key)
        self.started: set[str] = set()  # resumed: the node steps its branches started (see binding.bind_started)
        self.journaled = 0  # steps this execution has journaled (a state graph: whether a node's re-run reads them)
        self.detached = False  # the run left memory (Run.evict): no step of this execution may start any more
        self.pending = 0  # steps launched that have not started (a static graph's node tasks): work to come
        # waits whose task was cancelled without the run being stopped: an eviction or the loop going away keep
        # them open; so must a cancel by a task group whose other task failed, until the run shows it goes on
        # (it asks again, or ends): then they are closed (see pause.await_answer, Session.close_waits)
        self.left_open: list[str] = []
        self._failed_at: dict[int, tuple[BaseException, str]] = {}

    def note_failure(self, exc: BaseException, node_id: str) -> None:
        """Remember the innermost node an exception came from (the first step it crossed)."""
        self._failed_at.setdefault(id(exc), (exc, node_id))

    def failed_node(self, exc: BaseException | None) -> str | None:
        """The node where ``exc`` was raised, if it crossed a step of this execution."""
        if exc is None:
            return None
        hit = self._failed_at.get(id(exc))
        return hit[1] if hit is not None and hit[0] is exc else None

    @property
    def stopped(self) -> bool:
        """Whether no step or service call of it may start: its run was stopped, or left memory (a resumed run does
        the step, once), though a task of it may run (one launched a loop turn before the cancel reached it)."""
        return self.detached or self.host.cancel_requested

    def note_wait(self, record: WaitRecord) -> None:
        """A wait of this execution was stored (opened, expired, cancelled): what it knows of the run's waits."""
        if self.known_waits is not None:
            self.known_waits[record.token] = record

    def remember_answer(self, record: WaitRecord) -> None:
        """An answer given while this (resumed) execution has not reached its wait yet: it finds it there."""
        if self.known_waits is not None and record.token in self.known_waits:
            self.known_waits[record.token] = record


_NONE_CANCELLED: frozenset[str] = frozenset()


class Scope:
    """The body of one node: numbers its calls, tracks its frontier, hands out its NodeContext."""

    __slots__ = (
        "_context", "_counters", "abandoned", "active", "cancelling", "execution", "frontier", "kind", "node_id",
        "parked", "prefix", "step", "task", "unawaited", "usage", "where",
    )  # fmt: skip

    def __init__(self, execution: Execution, node_id: str | None, kind: str = "root") -> None:
        self.execution = execution
        self.node_id = node_id
        self.kind = kind
        self.active = 0  # child steps executing now
        self.parked = 0  # waits this scope's own code is parked on (a DualStageTool, an interrupt)
        self.prefix = "" if node_id is None else node_id + "/"
        self.usage: Any = None  # token counts and cost an LLM node reports
        self.where: str | None = None  # where the body ran, when not in the kernel (a worker's address)
        # (parent scope, name, kind, fingerprint) of the step this scope is the body of: a sync body that ends after
        # the loop stopped journals it from its thread (late.py)
        self.step: tuple[Scope, str, str, str] | None = None
        self._counters: dict[str, int] = {}
        self.frontier: dict[str, None] = {}
        self.unawaited: dict[str, str] = {}
        # nodes a scheduler cancels on purpose (stop_on_first_error), and bodies given up on (timeout, cancel) that
        # may still run: rarely any, so none is made per node until one is added (see cancel_on_purpose, abandon)
        self.cancelling: frozenset[str] | set[str] = _NONE_CANCELLED
        self.abandoned: tuple[Submission, ...] | list[Submission] = ()
        self._context: Any = None
        # The task running this scope's own code, when the run replays a journal (see bind): calls from any other
        # task are concurrent branches, whose numbering may differ from the last execution's.
        self.task: asyncio.Task[Any] | None = None

    @property
    def run(self) -> StepHost:
        return self.execution.host

    @property
    def context(self) -> Any:
        """This node's :class:`~aether_nb.runtime.context.NodeContext`."""
        if self._context is None:
            self._context = self.execution.host.context_for(self)
        return self._context

    def next_key(self, name: str) -> str:
        n = self._counters.get(name, 0) + 1
        self._counters[name] = n
        return f"{self.prefix}{name}_{n}"

    def bind(
        self, key: str, name: str, fp: str, inputs: Any, ordered: bool | None = None
    ) -> tuple[JournalEntry | None, str]:
        """The journal entry the call numbered ``key`` replays (None: it executes) and the key it keeps (see
        :func:`~aether_nb.runtime.binding.bind_call`)."""
        return bind_call(self, key, name, fp, inputs, ordered)

    def replays(self, key: str) -> bool:
        """Whether the step at ``key`` will be replayed from the journal rather than executed."""
        return self.execution.journal.holds(key)

    def release(self) -> None:
        """The step ended: its cached context points back here, so it goes (asked again, a new one is made)."""
        self._context = None

    def check_unawaited(self) -> None:
        """Fail loudly if the body returned while calls it made were never awaited."""
        if self.unawaited:
            calls = ", ".join(f"{name}(...) [{key}]" for key, name in self.unawaited.items())
            self.unawaited.clear()
            raise UsageError(
                f"{calls} was called inside a run but never awaited, so it never ran. "
                "Inside a graph_fn every tool call is a step: write `await tool(...)` "
                "(or gather several with `await asyncio.gather(...)`).",
                run_id=self.run.id,
                node_id=self.node_id,
                code="not_awaited",
            )

    def cancel_on_purpose(self, node_id: str) -> None:
        """The node ``node_id`` of this scope is being cancelled by its scheduler (it ends CANCELLED, not failed)."""
        if not isinstance(self.cancelling, set):
            self.cancelling = set()
        self.cancelling.add(node_id)

    def abandon(self, body: Submission) -> None:
        """``body`` (a sync step's thread) was given up on and may still run: said when the node ends."""
        if not isinstance(self.abandoned, list):
            self.abandoned = []
        self.abandoned.append(body)

    def advance(self, parents: tuple[str, ...], key: str) -> None:
        """``key`` completed: it replaces its parents in the frontier (later calls depend on it)."""
        for p in parents:
            self.frontier.pop(p, None)
        self.frontier[key] = None

    async def run_step(
        self,
        key: str,
        name: str,
        kind: str,
        inputs: Any,
        execute: Callable[[Scope], Awaitable[Any]],
        *,
        node: bool = True,
        fp: str | None = None,
        parents: tuple[str, ...] | None = None,
        meta: Any = None,
        ordered: bool | None = None,
        exact: bool = False,
    ) -> Any:
        """Execute one step, or replay it from the journal when it already completed.

        Args:
            key: the step key from :meth:`next_key` (also the node id).
            name: display name (tool name, graph_fn name, ``ask_text``, ...).
            kind: ``tool``, ``graph_fn``, ``wait``, ``llm``, ``step``, ``send`` ...
            inputs: the call's arguments, for display and for matching against the journal.
            execute: runs the step's body in a child scope and returns its value.
            node: False for steps that are journaled but not drawn (chat messages); service calls made while
                such a step executes are part of it (written with its journal entry, never journaled apart).
            fp: the fingerprint to match on replay; defaults to one of ``inputs``.
            parents: explicit DAG edges into the node (a static graph's dependencies); default: the frontier.
            meta: JSON kept on the node (a tool's code version, so promotion finds the same tool again).
            ordered: whether ``key`` was taken by the scope's own code, in program order (default: whether this
                task runs the scope's code); see :mod:`~aether_nb.runtime.binding`.
            exact: ``key`` is the step's identity (a static graph's node id): every attempt runs under it and only
                its own entry replays (matching by name and arguments gave a retried node a new id, or another's).
        """
        execution, run = self.execution, self.execution.host
        ended = run.record.status in ("succeeded", "failed", "cancelled")
        if execution.stopped or ended:
            # A finished run starts nothing (README): a task its code left running (see leftovers.py) gets here.
            why = (
                "was stopped"
                if run.cancel_requested
                else "left memory"
                if execution.detached
                else f"has finished ({run.record.status}): a task its code left running starts no step in it"
            )
            raise asyncio.CancelledError(f"run {run.id} {why}")
        journal_given_up(self)  # the run goes on: the calls its code gave up on are journaled (see given_up.py)
        fp = call_fingerprint(inputs, name) if fp is None else fp
        from_frontier = parents is None
        parents = tuple(self.frontier) if parents is None else parents
        if type(inputs) is dict and not PLAIN_ARGUMENT_NAMES.issuperset(inputs):
            register_credential_inputs(inputs)  # (a password it was given, quoted by its error, is masked there too)
        entry = None
        if execution.journal.active:
            failed = execution.journal.take_failure(key, name, fp, exact=exact)
            if failed is not None:  # it failed in an earlier execution: the same error again (see failures.py)
                if node and from_frontier:
                    parents = ran_parents(self, failed.key, parents)
                if given_up(failed):  # the body gave up on it: it does again, nothing runs (see given_up.py)
                    await replay_given_up(self, failed, kind, inputs, parents, meta, node)
                replay_failure(self, failed, kind, inputs, parents, meta, node)
            if exact:
                entry = execution.journal.replay_exact(key, name, fp, inputs)
            else:
                entry, key = bind_call(self, key, name, fp, inputs, ordered)
        if entry is not None:
            value = decode(entry.value)
            if node:
                if from_frontier:
                    parents = ran_parents(self, key, parents)
                meta, changed = replayed_meta(self.run, key, name, meta)
                run.start_node(
                    node_id=key,
                    name=name,
                    node_kind=kind,
                    parent=self.node_id,
                    parents=parents,
                    inputs=preview(inputs),
                    replayed=True,
                    meta=meta,
                )
                # ``ts``: when it really ended (its entry was written then). The history may lack its end: in "sync"
                # durability the entry is written before its caller goes on, its end event with the next batch,
                # which a process killed meanwhile loses (see RunGraph._first_times for the DAG's times).
                run.finish_node(key, "DONE", outputs=preview(value), replayed=True, ts=entry.created_at)
                if changed is not None:
                    run.emit(RunWarning, **changed)
                self.advance(parents, key)
            return value
        writes: EffectWrites | None
        if node:
            shown_inputs = preview(inputs)
            again = False
            if execution.resumed and kind != "wait":  # (a wait found its earlier one in wait_key)
                if not exact:
                    key = bind_started(self, key, name, shown_inputs, ordered)
                again = run.runs_again(key)
                if from_frontier:  # a step that started before (it waits, or was cut off) keeps its edges, as a
                    parents = ran_parents(self, key, parents)  # replayed one does: its siblings replayed meanwhile
            run.start_node(
                node_id=key,
                name=name,
                node_kind=kind,
                parent=self.node_id,
                parents=parents,
                inputs=shown_inputs,
                meta=meta,
            )
            if again:
                warn_runs_again(self.run, key, name)
            child = Scope(execution, key, kind)
            child.step = (self, name, kind, fp)
            if execution.resumed or execution.journal.active:
                child.task = asyncio.current_task()
            writes = None
            # A node's body is code: the service calls it makes are steps of its own (set only when some outer
            # step collects writes: most nodes run where none does, and skip the context variable's set/reset).
            in_step = inside_step.set(None) if inside_step.get() is not None else None
            self.active += 1
            execution.scopes.add(child)
        else:
            # Any other step is one effect: service calls made while it executes are written with its journal
            # entry (see effects.step_writes).
            child = self
            writes = EffectWrites()
            in_step = inside_step.set(writes)
        token = _current_scope.set(child)
        try:
            value = await execute(child)
            if child is not self and child.unawaited:
                child.check_unawaited()
        except asyncio.CancelledError as exc:
            # A stopped run, or its code giving up on the step (wait_for, a TaskGroup) and going on, ends it now; a
            # loop going away (kernel shutdown) or an eviction leave it resumable (see step_cancels).
            if node and cancel_ends_step(execution, on_purpose=key in self.cancelling):
                run.finish_node(key, "SKIPPED" if moved(exc) else "CANCELLED", where=child.where)
                warn_abandoned(run, child, "cancelled")
                note_given_up(self, child, key, name, kind, fp, exc)  # (when its code gave up on it)
            raise
        except BaseException as exc:
            if node and not isinstance(exc, StepPause):  # (a pause leaves the step as it is: see StepPause)
                # its own wait's deadline (an ask_*, a DualStageTool's): not one of a step inside it
                timed_out = (isinstance(exc, WaitTimeout) and (kind == "wait" or exc.node_id == key)) or isinstance(
                    exc, StepTimeout
                )
                status = "FAILED_TIMEOUT" if timed_out else "FAILED"
                run.finish_node(key, status, error=error_info(exc), where=child.where)
                self.advance(parents, key)  # a body that handles the error goes on from it (its next steps' parent)
                execution.note_failure(exc, key)
                if timed_out:
                    warn_abandoned(run, child, "timed out")
            if not execution.detached:
                journal_failure(self, key, name, fp, exc, meta.get("attempt") if isinstance(meta, dict) else None)
            raise
        finally:
            if in_step is not None:
                inside_step.reset(in_step)
            _current_scope.reset(token)
            if node:
                self.active -= 1
                execution.scopes.discard(child)
                child.release()
        # A dict of a few named scalars (most results) is its own encoding and its own preview: one snapshot
        # serves both (neither is ever mutated: they are only serialised).
        flat = snapshot(value)
        shown = preview(value) if flat is None else flat
        store = run.session.store
        if store.durability == "sync":
            # The step's end goes in the write of its journal entry: written after it, a step that ended as the
            # last one before a kill had its entry in the store and no end (a nested agent's step, no node at all),
            # and a run cancelled from another process then kept a graph without a step whose effect happened.
            # Unlike a service call's write (a claim, taken back when it fails: the write is its effect), a step's
            # effect happened in its body: a record that cannot be written now stays pending and is retried, so a
            # resume in this process replays the step, and the body is told the step ran (calling it again would do
            # it twice).
            with store.atomic():
                self.journal(key, name, kind, fp, value, writes, encoded=flat)
                if node:
                    run.finish_node(key, "DONE", outputs=shown, usage=child.usage, where=child.where)
            try:
                # (a Stop now leaves the node done: it ran, and it is journaled; a wait's answer is kept through a
                # cancel that only moves its question: see kept_answers)
                await (despite_moving(store.barrier) if kind == "wait" else store.barrier())
            except StorageError as exc:
                raise step_not_written(run.id, key, name, exc) from exc
        else:
            made = self.journal(key, name, kind, fp, value, writes, encoded=flat)
            if node:
                if made is None:
                    run.finish_node(key, "DONE", outputs=shown, usage=child.usage, where=child.where)
                else:  # (it ended when its entry was made: the node's end is that time, one clock read less)
                    run.finish_node(key, "DONE", outputs=shown, usage=child.usage, where=child.where, ts=made)
        if node:
            self.advance(parents, key)
        return value

    def journal(
        self,
        key: str,
        name: str,
        kind: str,
        fp: str,
        value: Any,
        writes: EffectWrites | None,
        *,
        encoded: Any = None,
    ) -> float | None:
        """Journal a completed step, together with the service writes made inside it (one atomic addition).

        A value that cannot be journaled (not encodable, or holding a secret) keeps the step out of the journal:
        its writes still happen, the run says the step is not durable, and a resume executes it again.
        ``encoded``: ``encode(value)`` when the caller has it already (a :func:`~codec.snapshot`). Returns the time
        its entry was made (None: not journaled).
        """
        run = self.execution.host
        session = run.session
        store = session.store
        message = None
        detail: Any = None
        if encoded is None:
            try:
                encoded = encode(value)
            except NotEncodable as exc:
                message = (
                    f"{exc}. Step {key!r} is not journaled: if this run is resumed in a new process, the step runs "
                    "again. Return JSON-friendly or picklable values to make it durable."
                )
        if message is None and _has_text(encoded) and contains_secret(json_dumps(encoded)):
            message = (
                f"the result of step {key!r} contains a secret (an API key or credential), which is never written "
                "to the store: the step is not journaled and runs again if the run is resumed."
            )
            detail = {"reason": "secret", "step": key}
        entry = None
        if message is None:
            entry = JournalEntry(
                run_id=run.id,
                key=key,
                name=name,
                kind=kind,
                fingerprint=fp,
                value=encoded,
                durable=True,
                created_at=session.clock.now(),
            )
        if writes:
            with store.atomic():
                writes.apply(store)
                if entry is not None:
                    store.append_journal(entry)
        elif entry is not None:
            store.append_journal(entry)  # one addition is atomic by itself
        if entry is not None:
            self.execution.journaled += 1
        if message is not None:
            self.not_journaled(key, message, detail=detail)
            return None
        return entry.created_at if entry is not None else None

    def not_journaled(self, key: str, message: str, *, detail: Any = None) -> None:
        """A step that stays out of the journal: the run says so, and it never leaves memory (see evictable)."""
        self.execution.durable = False
        self.run.emit(RunWarning, node_id=key, code="not_durable", message=message, detail=detail)

    # -- waits ------------------------------------------------------------------------------------------------------
    async def wait(self, spec: WaitSpec, *, name: str, present: Presenter | None = None) -> Any:
        """Open a wait as a node of this scope and return its (validated) answer.

        Replayed from the journal once answered; after a restart, the persisted wait of this step (and an answer
        stored while no process held it) is picked up again instead of asking twice.
        """
        inputs = {"kind": spec.kind, "prompt": spec.prompt, "options": spec.effective_options()}
        fp = call_fingerprint(inputs, name)
        key, earlier = wait_key(self, self.next_key(name), name, fp, inputs)

        async def execute(child: Scope) -> Any:
            return await await_answer(self, key, spec, present, current_scope() or self, earlier)

        return await self.run_step(key, name, "wait", inputs, execute, fp=fp)

    async def await_answer(self, key: str, spec: WaitSpec, present: Presenter | None) -> Any:
        """Persist the wait of step ``key`` (or find it again after a restart), show it, return its answer."""
        return await await_answer(self, key, spec, present, current_scope() or self)


def _has_text(value: Any) -> bool:
    """Whether a JSON value holds a string value anywhere: a secret can only hide in one (keys alone are not
    redacted), so numbers-only results skip the serialisation the secret check needs."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        for v in value.values():
            t = type(v)
            if t is int or t is float or t is bool or v is None:
                continue  # scalars: no call per value
            if t is str or _has_text(v):
                return True
        return False
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return False


__all__ = [
    "Execution",
    "Presenter",
    "Scope",
    "StepHost",
    "current_scope",
    "detach_scope",
    "enter_scope",
    "error_info",
    "leave_scope",
    "step_here",
    "use_scope",
]
