"""What a tool or nested graph_fn call returns inside a run: an awaitable step whose key is taken at call time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope


class StepCall:
    """What a tool or nested graph_fn call returns inside a run: an awaitable that runs (or replays) the step.

    The step key is taken when the call is made, in program order, so numbering does not depend on how
    concurrent calls are scheduled. A call that is never awaited is reported when its scope ends. It is also a
    coroutine (``send``/``throw``/``close``): ``asyncio.create_task`` and ``TaskGroup.create_task`` take it.
    """

    __slots__ = ("_execute", "_inputs", "_iter", "_key", "_kind", "_meta", "_name", "_ordered", "_scope", "_started")

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
        # Numbered by the scope's own code (even if awaited in a gather's task): a resumed run holds it to its journal
        # entry strictly (see binding.bind_call). Known only where a journal may be replayed (scope.task set).
        task = scope.task
        self._ordered = task is not None and task is asyncio.current_task()
        self._started = False
        self._iter: Any = None  # driven as a coroutine (a task made of it): the step's iterator
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
        step = self._scope.run_step(
            self._key, self._name, self._kind, self._inputs, self._execute, meta=self._meta, ordered=self._ordered
        )
        return step.__await__()

    # A coroutine's methods, so that ``asyncio.create_task(tool(...))`` and ``TaskGroup.create_task`` take a call as
    # they take a coroutine (they refuse other awaitables: "a coroutine was expected"), as ``gather`` always did.
    def send(self, value: Any) -> Any:
        if self._iter is None:
            if not self._started and self._key not in self._scope.unawaited:
                # its scope ended without awaiting it ("never awaited, so it never ran"): a task made of it that
                # starts later must not run it after the fact (the run may have ended)
                self._started = True
                raise asyncio.CancelledError(f"{self._name}(...) [{self._key}] was never awaited by its body")
            self._iter = self.__await__()
        return self._iter.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if self._iter is None:  # cancelled before it began: it never runs (and is not reported as not awaited)
            self._started = True
            self._scope.unawaited.pop(self._key, None)
            exc = typ if isinstance(typ, BaseException) else (typ() if val is None else val)
            raise exc
        return self._iter.throw(typ, val, tb) if val is not None or tb is not None else self._iter.throw(typ)

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()
        elif not self._started:  # closed before it began (a coroutine's close): it never runs
            self._started = True
            self._scope.unawaited.pop(self._key, None)

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


__all__ = ["StepCall"]
