"""What the attempts of one task share: its busy count on the turn's root engine, and what builds the config and the
:class:`~aether_nb.flow.context.Runtime` its node may ask for.

Apart from :mod:`aether_nb.flow.tasks` (which runs the task) because every task makes one: one object per task,
where each attempt made a busy counter and two ``functools.partial`` for a config and a Runtime most nodes never ask
for. Also the small helpers of a task's attempts (its return's checks, its retry policy, its own timeouts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from aether_nb.flow.context import Runtime, runtime_for
from aether_nb.flow.retry import LangGraphRetryPolicy
from aether_nb.flow.types import Command
from aether_nb.runtime.scheduler import RetryPolicy

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine
    from aether_nb.flow.tasks import Task


class TaskCall:
    """Counts a task as running node code (on the root engine) inside ``with``: ``ainvoke`` reports a pause only
    once no task is busy, so siblings of an interrupted task finish first (as in LangGraph). And builds, when the
    node asks, its config (:meth:`config`) and its attempt's Runtime (:meth:`runtime`)."""

    __slots__ = ("counts", "engine", "root", "started", "step", "task", "writer")

    def __init__(
        self,
        root: Engine,
        counts: bool,
        engine: Engine,
        task: Task,
        step: int,
        writer: Callable[[Any], None] | None,
        started: float,
    ) -> None:
        self.root = root
        self.counts = int(counts)  # a subgraph's own tasks count for it
        self.engine = engine
        self.task = task
        self.step = step
        self.writer = writer
        self.started = started  # the task's first attempt (the Runtime's node_first_attempt_time)

    def __enter__(self) -> None:
        self.root.busy += self.counts

    def __exit__(self, *_: object) -> None:
        self.root.busy -= self.counts

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Not busy inside the block: the node awaits a graph it invoked, whose own tasks count instead."""
        self.root.busy -= self.counts
        try:
            yield
        finally:
            self.root.busy += self.counts

    def config(self) -> dict[str, Any]:
        """The node's config (``get_config()``), made anew at each call as the engine makes it."""
        task = self.task
        return self.engine.node_config(task.node, self.step, task)

    def runtime(self, attempt: int) -> Runtime[Any]:
        """The Runtime of the task's ``attempt``-th attempt."""
        return runtime_for(self.engine, self.task.tid, self.writer, attempt, self.started)


def parent_command(raw: Any) -> Command[Any] | None:
    """The ``Command(graph=Command.PARENT)`` a node returned (alone, or in a list such as a ToolNode's)."""
    if type(raw) is dict:  # (most returns)
        return None
    if isinstance(raw, Command):
        return raw if raw.graph == Command.PARENT else None
    if isinstance(raw, (list, tuple)):
        return next((c for c in raw if isinstance(c, Command) and c.graph == Command.PARENT), None)
    return None


def policy_for(policies: tuple[RetryPolicy, ...], exc: BaseException) -> RetryPolicy | None:
    """The first of a node's retry policies that retries ``exc`` (None: none does)."""
    for p in policies:
        if p.matches(exc) if isinstance(p, LangGraphRetryPolicy) else isinstance(exc, p.retry_on):
            return p
    return None


async def noting_own_timeouts(call: Awaitable[Any], own: list[BaseException]) -> Any:
    """``await call``, noting a TimeoutError it raises itself (not the engine's timeout: see _attempt)."""
    try:
        return await call
    except TimeoutError as exc:
        own.append(exc)
        raise


__all__ = ["TaskCall", "noting_own_timeouts", "parent_command", "policy_for"]
