"""The values a state graph's users hold: sentinels, :class:`Command`, results, snapshots, and the flow's errors.

Errors extend aether_nb's one tree (``aether_nb.errors``)::

    UsageError
    ├── GraphBuildError        compile() found problems; ``problems`` lists every one of them
    └── InvalidUpdate          a node wrote state the graph cannot merge (unknown key, conflicting writes)
    RunError
    └── GraphRecursionError    the run took more supersteps than ``recursion_limit``; ``path`` is the route taken
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aether_nb.errors import RunError, UsageError

START = "__start__"
"""The virtual node before the entry point: ``add_edge(START, "first")``."""
END = "__end__"
"""The virtual node after the last: ``add_edge("last", END)``; a route or ``goto`` to END finishes the run."""


@dataclass(frozen=True)
class Command:
    """What a node may return to update the state and choose where to go, overriding its outgoing edges.

    Also an input: ``await app.ainvoke(Command(resume=value), config)`` is ``{"resume": value}``.

    Args:
        update: a partial state dict, a list of messages, or a state object.
        goto: a node name, a list of node names (they run concurrently), or END.
        resume: the answer to a pending ``interrupt()`` (as an input only).
    """

    update: Any = None
    goto: str | list[str] | tuple[str, ...] | None = None
    resume: Any = None


@dataclass(frozen=True)
class Overwrite:
    """A value that replaces a state key even though the key has a reducer: ``{"messages": Overwrite([...])}``."""

    value: Any


@dataclass(frozen=True)
class Interrupt:
    """A pause waiting for ``ainvoke({"resume": ...})`` (or, for ``before``/``after``, any input to go on).

    Attributes:
        id: the wait's node id in the run's DAG; ``{"resume": {id: value}}`` answers one of several.
        kind: ``"interrupt"`` (a node called ``interrupt()``), ``"before"`` or ``"after"`` (compile options).
        node: the graph node concerned.
        value: what ``interrupt(value)`` passed (None for before/after).
        message: the prompt shown in the notebook.
    """

    id: str
    kind: str
    node: str
    value: Any = None
    message: str | None = None


@dataclass
class InvokeResult:
    """What ``ainvoke`` returns when the graph finished or paused.

    Attributes:
        status: ``"completed"``, ``"interrupted"`` (see ``interrupts``) or ``"stopped"`` (``astop``).
        state: the thread's state, as an instance of the graph's state schema (a dict for TypedDicts).
        messages: the messages this turn added (from the new input onwards), when the state has ``messages``.
        interrupts: the pending pauses when ``status == "interrupted"``.
        thread_id: the thread; ``run_id`` is the aether_nb run of this turn (``ag.get_run(run_id)``).
        next: the nodes that run when the thread continues.
    """

    status: Literal["completed", "interrupted", "stopped"]
    state: Any
    messages: list[dict[str, Any]]
    interrupts: list[Interrupt]
    thread_id: str
    run_id: str
    next: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        """``res["messages"]``: a key of the state (LangGraph returns the state dict itself)."""
        return self.values[key]


@dataclass(frozen=True)
class StateSnapshot:
    """One checkpoint of a thread, as ``aget_state`` / ``aget_state_history`` return it.

    Attributes:
        values: the state as a dict; ``state`` is the same as an instance of the schema.
        next: nodes that run next (empty when the thread is complete).
        checkpoint_id: the checkpoint's sequence number in its thread (1, 2, ...).
        step: the superstep it was written after (-1: the input of a turn).
        source: ``"input"``, ``"loop"``, ``"update"`` (``aupdate_state``) or ``"error"``.
        status: ``"running"``, ``"interrupted"``, ``"completed"``, ``"failed"`` or ``"stopped"`` for the latest
            checkpoint (what the thread's run is doing now); the status at write time for older ones.
        interrupts: the pending pauses (latest checkpoint only).
        run_id: the aether_nb run that wrote it.
        error: the failure, for ``source == "error"``.
    """

    values: dict[str, Any]
    state: Any
    next: tuple[str, ...]
    config: dict[str, Any]
    checkpoint_id: int
    step: int
    source: str
    status: str
    created_at: float
    run_id: str | None
    interrupts: tuple[Interrupt, ...] = ()
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class GraphBuildError(UsageError):
    """``compile()`` found problems with the graph; ``problems`` lists all of them."""

    default_code = "graph_build"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the graph has {len(self.problems)} problem(s):\n{listing}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.problems,))


class InvalidUpdate(UsageError):
    """A node's return could not be merged into the state (an unknown key, or a conflicting write)."""

    default_code = "invalid_update"


class GraphRecursionError(RunError):
    """The run took more supersteps than its recursion limit; ``path`` lists the nodes of each superstep."""

    default_code = "recursion_limit"

    def __init__(self, message: str, path: list[list[str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.path = list(path or [])

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_recursion, (self.message, self.path, self.run_id))


def _rebuild_recursion(message: str, path: list[list[str]], run_id: str | None) -> GraphRecursionError:
    return GraphRecursionError(message, path, run_id=run_id)
