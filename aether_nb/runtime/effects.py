"""Service calls are steps: memory, KV, artifacts, embeddings and custom services happen once per run.

A run resumed after a restart re-executes its body; every call it makes to a context service is looked up in the
journal first, exactly like a tool call. A write (``memory.record``, ``kv.set``, ``artifacts.save_text``...) that
completed is not done again; a read (``memory.search``, ``kv.get``, ``artifacts.list``...) returns what it returned
the first time, so the body takes the same path even if the data changed meanwhile (another run recorded a note).

The write a call makes and its journal entry reach the store together (:meth:`EffectWrites.apply` inside the store's
``atomic()`` block): after a crash, either both are there (the call is replayed) or neither is (it runs again). A
call that fails writes nothing. In ``"sync"`` durability a call returns once its write is in the store; when that
write fails, the call raises the store's ``StorageError`` ("nothing of this write was kept ... then write again")
and its journal entry and writes are taken out of the pending history (a ``HistoryStore.claimed`` block), never
written later: a body that does what the error says and calls again records its note once, not twice. In
``"async"`` durability a call returns before its write; only a call whose addition must write the batch at once
(:data:`~aether_nb.runtime.history.MAX_PENDING` records pending) and cannot raises, and it is taken back the same way.

Service calls are not DAG nodes of their own (50 memory calls would bury the agent's real steps): each one is a
``service_call`` event listed on the node that made it (``node.calls``; the run's own body: ``run.graph.calls``),
shown in the widget's inspector.

Custom services (``ag.register_context_service``) get the same treatment through a proxy: every public method is a
journaled step unless marked :func:`pure`; :func:`effect` marks one explicitly (and may name it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aether_nb.errors import StorageError, UsageError, shown
from aether_nb.runtime.codec import call_fingerprint, decode, preview
from aether_nb.runtime.events import ServiceCalled

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope
    from aether_nb.store.records import MemoryRecord

F = TypeVar("F", bound=Callable[..., Any])

_MISSING = object()


class EffectWrites:
    """The store writes made while one step executes, applied with its journal entry (or dropped if it fails)."""

    __slots__ = ("_kv", "_ops")

    def __init__(self) -> None:
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._kv: dict[tuple[str, str], Any] = {}

    def __bool__(self) -> bool:
        return bool(self._ops)

    def memory_append(self, record: MemoryRecord) -> None:
        self._ops.append(("memory_append", (record,)))

    def kv_set(self, scope: str, key: str, value: Any, expires_at: float | None) -> None:
        self._ops.append(("kv_set", (scope, key, value, expires_at)))
        self._kv[(scope, key)] = (value, expires_at)

    def kv_delete(self, scope: str, key: str) -> None:
        self._ops.append(("kv_delete", (scope, key)))
        self._kv[(scope, key)] = None

    def kv_lookup(self, scope: str, key: str) -> Any:
        """What this step wrote to ``key`` (None: deleted), or ``_MISSING`` when it did not touch it."""
        return self._kv.get((scope, key), _MISSING)

    def apply(self, store: Any) -> None:
        """Perform the writes on ``store`` in the order they were made."""
        for op, args in self._ops:
            getattr(store, op)(*args)
        self._ops.clear()
        self._kv.clear()


inside_step: contextvars.ContextVar[EffectWrites | None] = contextvars.ContextVar("aether_nb_in_step", default=None)
"""Set while a step that is not a node executes (a chat message, a service call): service calls made then are part
of that step, never journaled apart."""


class StoreView:
    """The store as a service call sees it: writes go to the call's :class:`EffectWrites`, reads see them."""

    def __init__(self, store: Any, writes: EffectWrites) -> None:
        self._store = store
        self._writes = writes

    def memory_append(self, record: MemoryRecord) -> None:
        self._writes.memory_append(record)

    def kv_set(self, scope: str, key: str, value: Any, expires_at: float | None) -> None:
        self._writes.kv_set(scope, key, value, expires_at)

    def kv_delete(self, scope: str, key: str) -> bool:
        existed = self.kv_get(scope, key) is not None
        self._writes.kv_delete(scope, key)
        return existed

    def kv_get(self, scope: str, key: str) -> Any:
        hit = self._writes.kv_lookup(scope, key)
        if hit is not _MISSING:
            return hit
        return self._store.kv_get(scope, key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


Body = Callable[[Any], Any]
"""A service call's body: takes the store to use (a capturing view) and returns the call's value (or an awaitable)."""


class ServiceCall:
    """What a journaled service method returns inside a run: an awaitable step.

    Its step key is taken when the call is made (program order, like a tool call); awaiting it executes the call,
    or replays its journaled result. Made while another step executes (a chat message recording its turn in
    memory), it is part of that step: executed directly, its writes joining that step's.

    It is also a coroutine (``send``/``throw``/``close``), as a tool call is: ``asyncio.create_task`` and
    ``TaskGroup.create_task`` refused it ("a coroutine was expected"), which failed the run. Driven by a task, it
    keeps the key it took when it was called, so a resumed run replays it from the journal as an awaited one.

    Args:
        scope: the scope of the node making the call.
        service, method: the step's name is ``<service>.<method>`` (e.g. ``memory.record``).
        inputs: the call's arguments, matched against the journal on replay.
        body: ``body(store)`` does the call against ``store`` (a view that captures writes) and returns its value.
        to_journal: what is journaled of the value (default: the value); keep secrets and bulk out of it.
        rebuild: turns what was journaled back into the value (default: as journaled).
        present: what the caller gets from the value, fresh or replayed (default: the value).
    """

    __slots__ = (
        "_body",
        "_inputs",
        "_iter",
        "_journaled",
        "_key",
        "_method",
        "_ordered",
        "_present",
        "_rebuild",
        "_scope",
        "_service",
        "_started",
        "_to_journal",
    )

    def __init__(
        self,
        scope: Scope,
        service: str,
        method: str,
        inputs: Any,
        body: Body,
        *,
        to_journal: Callable[[Any], Any] | None = None,
        rebuild: Callable[[Any], Any] | None = None,
        present: Callable[[Any], Any] | None = None,
    ) -> None:
        self._scope = scope
        self._present = present
        self._journaled = inside_step.get() is None
        self._service = service
        self._method = method
        self._inputs = inputs
        self._body = body
        self._to_journal = to_journal
        self._rebuild = rebuild
        self._started = False
        self._iter: Any = None  # driven as a coroutine (a task made of it): the call's iterator
        self._key = scope.next_key(self.name) if self._journaled else ""
        task = scope.task  # numbered by the scope's own code, in program order (see binding.bind_call)
        self._ordered = task is not None and task is asyncio.current_task()
        if self._journaled:
            scope.unawaited[self._key] = self.name

    @property
    def name(self) -> str:
        return f"{self._service}.{self._method}"

    def __await__(self) -> Any:
        self._start()
        return self._presented().__await__()

    # A coroutine's methods (see the class docstring), as ``calls.StepCall`` has them.
    def send(self, value: Any) -> Any:
        if self._iter is None:
            if self._journaled and not self._started and self._key not in self._scope.unawaited:
                # its scope ended without awaiting it (the run failed: "never awaited, so it never ran"): a task
                # made of it that starts later must not do it after the fact
                self._started = True
                raise asyncio.CancelledError(f"{self.name}(...) [{self._key}] was never awaited by its body")
            self._iter = self.__await__()
        return self._iter.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if self._iter is None:  # cancelled before it began: it never runs (and is not reported as not awaited)
            self._forget()
            raise typ if isinstance(typ, BaseException) else (typ() if val is None else val)
        return self._iter.throw(typ, val, tb) if val is not None or tb is not None else self._iter.throw(typ)

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()
        elif not self._started:  # closed before it began (a coroutine's close): it never runs
            self._forget()

    def _forget(self) -> None:
        self._started = True
        if self._journaled:
            self._scope.unawaited.pop(self._key, None)

    async def _presented(self) -> Any:
        value = await self._run()
        return value if self._present is None else self._present(value)

    def _start(self) -> None:
        if self._started:
            raise UsageError(f"{self.name}(...) was already awaited; call it again to repeat it")
        self._started = True
        if self._journaled:
            self._scope.unawaited.pop(self._key, None)

    async def _run(self) -> Any:
        store = self._scope.run.session.store
        if not self._journaled:
            value = self._body(_view(store))
            return await value if inspect.isawaitable(value) else value
        replayed = self._replay()
        if replayed is not _MISSING:
            return replayed
        with self._executing() as writes:
            value = self._body(StoreView(store, writes))
            if inspect.isawaitable(value):
                value = await value
        if store.durability != "sync":
            self._commit(value, writes)
            return value
        with store.claimed() as claim:
            self._journal(value, writes)
        try:
            await store.barrier(claim)  # in the store, or taken back: nothing of this call is written later
        except StorageError as exc:
            self._emit(error=exc)
            raise
        self._emit(value=value)
        return value

    def run_now(self) -> Any:
        """Execute (or replay) the call of a *sync* method right away, with no await."""
        value = self._run_now()
        return value if self._present is None else self._present(value)

    def _run_now(self) -> Any:
        self._start()
        store = self._scope.run.session.store
        if not self._journaled:
            return self._body(_view(store))
        replayed = self._replay()
        if replayed is not _MISSING:
            return replayed
        with self._executing() as writes:
            value = self._body(StoreView(store, writes))
            if inspect.isawaitable(value):
                raise UsageError(f"{self.name} returned an awaitable from a sync method: make the method async")
        if store.durability != "sync":
            self._commit(value, writes)
            return value
        with store.claimed() as claim:
            self._journal(value, writes)
        try:
            store.flush_claim(claim)  # (as in _run)
        except StorageError as exc:
            self._emit(error=exc)
            raise
        self._emit(value=value)
        return value

    @contextlib.contextmanager
    def _executing(self) -> Iterator[EffectWrites]:
        """The body's execution, shared by the awaited and the sync call: its store writes are captured (and a
        call it makes joins this step), and an error it raises is recorded on the step before propagating."""
        writes = EffectWrites()
        token = inside_step.set(writes)
        try:
            yield writes
        except BaseException as exc:
            self._emit(error=exc)
            raise
        finally:
            inside_step.reset(token)

    def _fp(self) -> str:
        return call_fingerprint(self._inputs, self.name)

    def _replay(self) -> Any:
        scope = self._scope
        if scope.execution.stopped:  # (see Execution.stopped)
            why = "was stopped" if scope.run.cancel_requested else "left memory"
            raise asyncio.CancelledError(f"run {scope.run.id} {why}")
        if not scope.execution.journal.active:
            return _MISSING
        entry, self._key = scope.bind(self._key, self.name, self._fp(), self._inputs, self._ordered)
        if entry is None:
            return _MISSING
        stored = decode(entry.value)
        value = self._rebuild(stored) if self._rebuild is not None else stored
        self._emit(value=value, replayed=True)
        return value

    def _commit(self, value: Any, writes: EffectWrites) -> None:
        """``"async"`` durability: the call's writes go with the next batch, unless this addition must write the
        batch now (it is full) and that fails: then the call raises the store's error and its writes are taken
        back (``refusable``), never written later, so that a body that writes again as told writes once."""
        store = self._scope.run.session.store
        try:
            with store.atomic(refusable=True):
                self._journal(value, writes)
        except StorageError as exc:
            self._emit(error=exc)
            raise
        self._emit(value=value)

    def _journal(self, value: Any, writes: EffectWrites) -> None:
        journaled = self._to_journal(value) if self._to_journal is not None else value
        self._scope.journal(self._key, self.name, "service", self._fp(), journaled, writes)

    def _emit(self, *, value: Any = None, error: BaseException | None = None, replayed: bool = False) -> None:
        scope = self._scope
        scope.run.emit(
            ServiceCalled,
            node_id=scope.node_id,
            key=self._key,
            service=self._service,
            method=self._method,
            inputs=preview(self._inputs, max_str=200, max_items=10),
            outputs=None if error is not None else preview(value, max_str=200, max_items=10),
            error=None if error is None else {"type": type(error).__name__, "message": str(error)},
            replayed=replayed,
        )

    def __repr__(self) -> str:
        return f"<service call {self.name}(...){' as ' + self._key if self._key else ''}>"


def _view(store: Any) -> Any:
    """The store for a call that is part of an enclosing step: its writes join that step's."""
    writes = inside_step.get()
    return store if writes is None else StoreView(store, writes)


# -- custom services ---------------------------------------------------------------------------------------------
_MARK = "__aether_effect__"


def effect(fn: F | None = None, /, *, name: str | None = None) -> Any:
    """Mark a service method as an effect: inside a run each call is a journaled step (done once, replayed on
    resume). Public methods of a registered service are effects by default; use this to name the step or to be
    explicit. The method's result must be JSON-friendly or picklable to be journaled."""

    def mark(f: F) -> F:
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise UsageError(f"@ag.effect(name=...) must be an identifier, got {shown(name)}")
        return _marked(f, "@ag.effect", {"journal": True, "name": name})

    return mark if fn is None else mark(fn)


def pure(fn: F) -> F:
    """Mark a service method as pure (no effect, same result for the same arguments): it runs again on resume
    instead of being journaled. For cheap reads and helpers that return live objects (a client, a lock)."""
    return _marked(fn, "@ag.pure", {"journal": False, "name": None})


def _marked(f: F, decorator: str, mark: dict[str, Any]) -> F:
    """``f`` carrying ``mark``: a function or method of a service class. A class, or a callable that takes no
    attribute (a builtin), failed with Python's "cannot set '__aether_effect__' attribute of immutable type".

    Raises:
        UsageError: ``f`` is not a function (or method) that can carry the mark.
    """
    if not callable(f) or isinstance(f, type):
        what = f"the class {f.__name__}" if isinstance(f, type) else type(f).__name__
        raise UsageError(
            f"{decorator} decorates a method of a service class (`{decorator}` above `def ...` in the class body), "
            f"got {what}"
        )
    try:
        setattr(f, _MARK, mark)
    except (AttributeError, TypeError) as exc:
        raise UsageError(
            f"{decorator} cannot mark {shown(f, 80)} (a {type(f).__name__}: it takes no attributes). Decorate a "
            f"method defined with `def` in the service class, or wrap this callable in one that calls it"
        ) from exc
    return f


class ServiceProxy:
    """A registered custom service as a node sees it: calling a public method inside a run is a journaled step
    named ``<service>.<method>``; attributes, private and :func:`pure` methods pass straight through."""

    __slots__ = ("_scope", "_service", "_target", "_thread")

    def __init__(self, service: str, target: Any, scope: Scope) -> None:
        object.__setattr__(self, "_service", service)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_scope", scope)
        object.__setattr__(self, "_thread", threading.get_ident())

    @property
    def wrapped(self) -> Any:
        """The service object itself (no journaling)."""
        return self._target

    def __call__(self) -> ServiceProxy:
        """``context.counter()`` is ``context.counter`` (both spellings reach the service: aether_nb's documented
        call, and AetherGraph's attribute, ``context.counter.incr(2)``)."""
        return self

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr) or inspect.isclass(attr):
            return attr
        mark = getattr(attr, _MARK, None) or {"journal": True, "name": None}
        if not mark["journal"]:
            return attr
        step_name = mark["name"] or name
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            def call_async(*args: Any, **kwargs: Any) -> ServiceCall:
                return ServiceCall(
                    self._scope, self._service, step_name, _call_inputs(args, kwargs), lambda _: attr(*args, **kwargs)
                )

            return call_async

        @functools.wraps(attr)
        def call_sync(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._thread:  # from a sync tool's thread: part of that tool's step
                return attr(*args, **kwargs)
            call = ServiceCall(
                self._scope, self._service, step_name, _call_inputs(args, kwargs), lambda _: attr(*args, **kwargs)
            )
            return call.run_now()

        return call_sync

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return f"<service {self._service}: {self._target!r} (journaled calls)>"


def _call_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs} if args else dict(kwargs)


__all__ = [
    "EffectWrites",
    "ServiceCall",
    "ServiceProxy",
    "StoreView",
    "effect",
    "inside_step",
    "pure",
]
