"""Steps: how calls inside a run become DAG nodes and journal entries, and how resumed runs replay them.

A *scope* is the body of one node (the run's root graph_fn, a nested graph_fn, a tool). Each call made in a scope
gets a step key at call time, in program order: ``double_1``, ``double_2``, ``research_1/double_1`` for a call
inside the nested graph_fn ``research_1``. Keys are the node ids and the journal keys, so a resumed body that makes
the same calls finds their results again.

Edges follow causal order within a scope: a call depends on the calls whose results the scope had received when
it started (its *frontier*). ``a = await t1(); b = await t2(a["y"])`` gives ``t1 -> t2``; three calls under
``asyncio.gather`` share their predecessors and all feed the call after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import secrets
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import ReplayMismatch, StepTimeout, UsageError, WaitTimeout
from aether_nb.runtime.codec import NotEncodable, decode, encode, fingerprint, preview
from aether_nb.runtime.events import (
    NodeFinished,
    NodeStarted,
    NodeStatusChanged,
    RunWarning,
    WaitAnswered,
    WaitClosed,
    WaitOpened,
)
from aether_nb.runtime.waits import Wait, WaitSpec
from aether_nb.store.records import JournalEntry, WaitRecord
from aether_nb.store.redact import contains_secret

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.run import Run

Presenter = Callable[[Wait], Awaitable[None]]

_current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("aether_nb_scope", default=None)


def current_scope() -> Scope | None:
    """The scope of the node whose code is running now, or None outside any run (tools then run directly)."""
    return _current_scope.get()


@contextlib.contextmanager
def use_scope(scope: Scope | None) -> Iterator[None]:
    """Make ``scope`` the current scope inside the block (None: calls run directly, as outside any run).

    For code that runs a node's body itself in a scope it made, e.g. a state graph re-running a node after an
    ``interrupt()`` was answered.
    """
    token = _current_scope.set(scope)
    try:
        yield
    finally:
        _current_scope.reset(token)


def error_info(exc: BaseException) -> dict[str, Any]:
    """What the DAG node and the store keep of an exception: type, message and traceback text."""
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


class Execution:
    """The live state of one execution of a run: its journal and what has been replayed from it."""

    def __init__(self, run: Run, journal: list[JournalEntry], *, resumed: bool = False) -> None:
        self.run = run
        self.resumed = resumed
        self.durable = True  # False once a step could not be journaled: such a run is never evicted
        self.scopes: set[Scope] = set()  # the scopes of steps executing now (see Run.evictable)
        self.known_waits: dict[str, WaitRecord] | None = None  # the run's waits by token, when this process knows them
        self.journal = {e.key: e for e in journal if e.durable}
        self.consumed: set[str] = set()
        self.journaled = 0  # steps this execution has journaled (flow: whether a node's re-run must read them back)

    def replay(self, key: str, name: str, fp: str) -> JournalEntry | None:
        """The journal entry for a step about to run, or None when the step is new.

        The entry at the same key normally matches. Calls made from concurrent tasks of one scope may have been
        numbered in another order last time, so an unconsumed entry of the same scope, name and arguments is
        accepted too. Anything else at this key is a :class:`ReplayMismatch`.
        """
        entry = self.journal.get(key)
        if entry is not None and key not in self.consumed and entry.name == name and entry.fingerprint == fp:
            self.consumed.add(key)
            return entry
        prefix = key.rpartition("/")[0]
        for other in self.journal.values():
            if (
                other.key not in self.consumed
                and other.name == name
                and other.fingerprint == fp
                and other.key.rpartition("/")[0] == prefix
            ):
                self.consumed.add(other.key)
                return other
        if entry is not None and key not in self.consumed:
            raise ReplayMismatch(
                f"step {key!r} of run {self.run.id} was {entry.name!r} with other arguments when the run was "
                f"first executed; now the body calls {name!r} there. The graph_fn's code (or something it "
                "depends on) changed since the run started: restore it, or start a new run (another run_id).",
                run_id=self.run.id,
                node_id=key,
            )
        return None


class Scope:
    """The body of one node: numbers its calls, tracks its frontier, hands out its NodeContext."""

    def __init__(self, execution: Execution, node_id: str | None, kind: str = "root") -> None:
        self.execution = execution
        self.node_id = node_id
        self.kind = kind
        self.active = 0  # child steps executing now
        self.parked = 0  # waits this scope's own code is parked on (a DualStageTool, an interrupt)
        self.prefix = "" if node_id is None else node_id + "/"
        self._counters: dict[str, int] = {}
        self.frontier: dict[str, None] = {}
        self.unawaited: dict[str, str] = {}
        self.cancelling: set[str] = set()  # nodes a scheduler cancels on purpose (stop_on_first_error)
        self._context: NodeContext | None = None

    @property
    def run(self) -> Run:
        return self.execution.run

    @property
    def context(self) -> NodeContext:
        if self._context is None:
            from aether_nb.runtime.context import NodeContext

            self._context = NodeContext(self)
        return self._context

    def next_key(self, name: str) -> str:
        n = self._counters.get(name, 0) + 1
        self._counters[name] = n
        return f"{self.prefix}{name}_{n}"

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

    def _advance(self, parents: tuple[str, ...], key: str) -> None:
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
    ) -> Any:
        """Execute one step, or replay it from the journal when it already completed.

        Args:
            key: the step key from :meth:`next_key` (also the node id).
            name: display name (tool name, graph_fn name, ``ask_text``, ...).
            kind: ``tool``, ``graph_fn``, ``wait``, ``llm``, ``step``, ``send`` ...
            inputs: the call's arguments, for display and for matching against the journal.
            execute: runs the step's body in a child scope and returns its value.
            node: False for steps that are journaled but not drawn (chat messages).
            fp: the fingerprint to match on replay; defaults to one of ``inputs``.
            parents: explicit DAG edges into the node (a static graph's dependencies); default: the frontier.
            meta: JSON kept on the node (a tool's code version, so promotion finds the same tool again).
        """
        run = self.run
        fp = fingerprint(inputs) if fp is None else fp
        parents = tuple(self.frontier) if parents is None else parents
        entry = self.execution.replay(key, name, fp)
        if entry is not None:
            value = decode(entry.value)
            if node:
                run._emit(
                    NodeStarted,
                    node_id=key,
                    name=name,
                    node_kind=kind,
                    parent=self.node_id,
                    parents=parents,
                    inputs=preview(inputs),
                    replayed=True,
                    meta=meta,
                )
                run._emit(NodeFinished, node_id=key, status="DONE", outputs=preview(value), replayed=True)
                self._advance(parents, key)
            return value
        if node:
            run._emit(
                NodeStarted,
                node_id=key,
                name=name,
                node_kind=kind,
                parent=self.node_id,
                parents=parents,
                inputs=preview(inputs),
                meta=meta,
            )
        child = Scope(self.execution, key, kind) if node else self
        token = _current_scope.set(child)
        if node:
            self.active += 1
            self.execution.scopes.add(child)
        try:
            value = await execute(child)
            if child is not self:
                child.check_unawaited()
        except asyncio.CancelledError:
            # Only a cancelled run cancels its nodes; a loop going away (kernel shutdown) leaves them resumable.
            if node and (run._cancel_requested or key in self.cancelling):
                run._emit(NodeFinished, node_id=key, status="CANCELLED")
            raise
        except BaseException as exc:
            if node:
                timed_out = (isinstance(exc, WaitTimeout) and kind == "wait") or isinstance(exc, StepTimeout)
                status = "FAILED_TIMEOUT" if timed_out else "FAILED"
                run._emit(NodeFinished, node_id=key, status=status, error=error_info(exc))
                if not hasattr(exc, "_aether_node_id"):
                    # exceptions with __slots__ cannot carry the node id; the DAG node still records the failure
                    with contextlib.suppress(AttributeError):
                        exc._aether_node_id = key  # type: ignore[attr-defined]
            raise
        finally:
            _current_scope.reset(token)
            if node:
                self.active -= 1
                self.execution.scopes.discard(child)
        await self._journal(key, name, kind, fp, value)
        if node:
            usage = getattr(child, "usage", None)
            run._emit(NodeFinished, node_id=key, status="DONE", outputs=preview(value), usage=usage)
            self._advance(parents, key)
        return value

    async def _journal(self, key: str, name: str, kind: str, fp: str, value: Any) -> None:
        run = self.run
        try:
            encoded = encode(value)
        except NotEncodable as exc:
            self._not_journaled(
                key,
                f"{exc}. Step {key!r} is not journaled: if this run is resumed in a new process, the step runs "
                "again. Return JSON-friendly or picklable values to make it durable.",
            )
            return
        if _has_text(encoded) and contains_secret(json.dumps(encoded)):
            self._not_journaled(
                key,
                f"the result of step {key!r} contains a secret (an API key or credential), which is never written "
                "to the store: the step is not journaled and runs again if the run is resumed.",
            )
            return
        store = run.session.store
        store.append_journal(
            JournalEntry(
                run_id=run.id,
                key=key,
                name=name,
                kind=kind,
                fingerprint=fp,
                value=encoded,
                durable=True,
                created_at=run.session.clock.now(),
            )
        )
        self.execution.journaled += 1
        if store.durability == "sync":
            await store.barrier()

    def _not_journaled(self, key: str, message: str) -> None:
        """A step that stays out of the journal: the run says so, and it never leaves memory (see evictable)."""
        self.execution.durable = False
        self.run._emit(RunWarning, node_id=key, code="not_durable", message=message)

    # -- waits ------------------------------------------------------------------------------------------------------
    async def wait(self, spec: WaitSpec, *, name: str, present: Presenter | None = None) -> Any:
        """Open a wait as a node of this scope and return its (validated) answer.

        Replayed from the journal once answered; after a restart, the persisted wait of this step (and an answer
        stored while no process held it) is picked up again instead of asking twice.
        """
        key = self.next_key(name)
        inputs = {"kind": spec.kind, "prompt": spec.prompt, "options": spec.effective_options()}

        async def execute(child: Scope) -> Any:
            return await self._await_answer(key, spec, present)

        return await self.run_step(key, name, "wait", inputs, execute)

    async def _await_answer(self, key: str, spec: WaitSpec, present: Presenter | None) -> Any:
        run = self.run
        session = run.session
        store = session.store
        # Only a resumed execution can find this step's wait already persisted (and maybe answered meanwhile).
        known = self.execution.known_waits
        if known is not None:
            previous = sorted((w for w in known.values() if w.node_id == key), key=lambda w: w.created_at)
        elif self.execution.resumed:
            previous = [w for w in store.list_waits(run.id, status=None) if w.node_id == key]
        else:
            previous = []
        rec = previous[-1] if previous and previous[-1].status in ("open", "answered") else None
        if rec is not None and rec.status == "answered":
            value = decode(rec.answer)
            run._emit(WaitAnswered, token=rec.token, node_id=key, answer=preview(value))
            return value
        if rec is None:
            now = session.clock.now()
            rec = WaitRecord(
                token=secrets.token_urlsafe(16),
                run_id=run.id,
                node_id=key,
                kind=spec.kind,
                prompt=spec.prompt,
                options=spec.effective_options(),
                schema=spec.schema,
                deadline=None if spec.timeout_s is None else now + spec.timeout_s,
                created_at=now,
                meta=preview(spec.meta),
            )
            store.put_wait(rec)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        session.add_live_wait(fut, run, rec)  # registered first: an answer may come at any time now
        leaf = _current_scope.get() or self
        sleeper: asyncio.Task[None] | None = None
        interrupted = False
        leaf.parked += 1
        try:
            run._emit(
                WaitOpened,
                token=rec.token,
                node_id=key,
                wait_kind=rec.kind,
                prompt=rec.prompt,
                options=rec.options,
                deadline=rec.deadline,
            )
            run._emit(NodeStatusChanged, node_id=key, status=spec.node_status)
            # Durable before the run says it waits and before the prompt shows: the wait, its node and the run's
            # "waiting" record share one transaction (with every other wait opened in this loop iteration).
            store.put_run(replace(run._record, status="waiting", updated_at=session.clock.now()))
            await store.barrier()
            run._refresh_status()
            wait = Wait.from_record(rec)
            presenter = present if present is not None else session.present_wait(self.context)
            if presenter is not None:
                await presenter(wait)
            if rec.deadline is None:
                value = await fut
            else:
                sleeper = asyncio.ensure_future(session.clock.sleep_until(rec.deadline))
                await asyncio.wait({fut, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                if not fut.done():
                    store.put_wait(replace(rec, status="expired"))
                    run._emit(WaitClosed, token=rec.token, node_id=key, reason="timeout")
                    raise WaitTimeout(
                        f"nobody answered {rec.prompt or rec.kind!r} within {spec.timeout_s} s "
                        f"(wait {key} of run {run.id}). Catch WaitTimeout in the agent to carry on without "
                        "an answer, or give a longer timeout_s.",
                        run_id=run.id,
                        node_id=key,
                    )
                value = fut.result()
        except asyncio.CancelledError:
            interrupted = not run._cancel_requested  # an eviction, or the loop going away: the wait stays open
            current = None if interrupted else store.get_wait(rec.token)
            if current is not None and current.status == "open":
                store.put_wait(replace(current, status="cancelled"))
                run._emit(WaitClosed, token=rec.token, node_id=key, reason="cancelled")
            raise
        finally:
            leaf.parked -= 1
            session.pop_live_wait(rec.token, fut)
            if sleeper is not None:
                sleeper.cancel()
            if not interrupted:  # an interrupted run keeps its stored "waiting" status, to be resumed
                run._refresh_status()
        run._emit(WaitAnswered, token=rec.token, node_id=key, answer=preview(value))
        return value


def _has_text(value: Any) -> bool:
    """Whether a JSON value holds a string value anywhere: a secret can only hide in one (keys alone are not
    redacted), so numbers-only results skip the serialisation the secret check needs."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return False


def spec_to_json(spec: WaitSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["options"] = None if spec.options is None else list(spec.options)
    return data


class StepCall:
    """What a tool or nested graph_fn call returns inside a run: an awaitable that runs (or replays) the step.

    The step key is taken when the call is made, in program order, so numbering does not depend on how
    concurrent calls are scheduled. A call that is never awaited is reported when its scope ends.
    """

    __slots__ = ("_execute", "_inputs", "_key", "_kind", "_meta", "_name", "_scope", "_started")

    def __init__(
        self,
        scope: Scope,
        name: str,
        kind: str,
        inputs: Any,
        execute: Callable[[Scope], Awaitable[Any]],
        meta: Any = None,
    ) -> None:
        self._scope = scope
        self._meta = meta
        self._name = name
        self._kind = kind
        self._inputs = inputs
        self._execute = execute
        self._key = scope.next_key(name)
        self._started = False
        scope.unawaited[self._key] = name

    @property
    def key(self) -> str:
        """The node id this call gets in the run's DAG."""
        return self._key

    def __await__(self) -> Any:
        if self._started:
            raise UsageError(f"{self._name}(...) [{self._key}] was already awaited; call the tool again to re-run it")
        self._started = True
        self._scope.unawaited.pop(self._key, None)
        step = self._scope.run_step(self._key, self._name, self._kind, self._inputs, self._execute, meta=self._meta)
        return step.__await__()

    def _not_awaited(self, *_: Any, **__: Any) -> Any:
        raise UsageError(
            f"{self._name}(...) returns an awaitable inside a run: write `await {self._name}(...)` to get its outputs",
            run_id=self._scope.run.id,
            node_id=self._key,
            code="not_awaited",
        )

    __getitem__ = _not_awaited
    get = _not_awaited
    keys = _not_awaited
    items = _not_awaited
    __iter__ = _not_awaited

    def __repr__(self) -> str:
        state = "awaited" if self._started else "not awaited yet"
        return f"<{self._kind} call {self._name}(...) as {self._key}: {state}>"
