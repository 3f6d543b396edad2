"""The values a state graph's users hold: sentinels, :class:`Command`, :class:`Send`, results, snapshots, and the
flow's errors.

Names and shapes follow LangGraph where they overlap (``Command``, ``Send``, ``Interrupt``, ``StateSnapshot``,
``PregelTask``, ``Overwrite``), so code and tests written against LangGraph read the same here.

Errors extend aether_nb's one tree (``aether_nb.errors``); a few also extend the builtin LangGraph's errors extend,
so ``except ValueError`` / ``except RecursionError`` written for LangGraph still catches them::

    UsageError
    ├── GraphBuildError        (also ValueError) compile() found problems; ``problems`` lists all of them
    ├── InvalidUpdate          a node wrote state the graph cannot merge (conflicting writes, two Overwrites)
    ├── IncompleteState        (also TypeError) a dataclass state cannot be built: a required field has no value
    └── AmbiguousResume        (also RuntimeError) several interrupts pending and no ``{id: value}`` map given
    RunError
    └── GraphRecursionError    (also RecursionError) more supersteps than ``recursion_limit``; ``path`` lists them
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar

from aether_nb.errors import RunError, UsageError, shown
from aether_nb.runtime.step_cancels import StepPause

START = "__start__"
"""The virtual node before the entry point: ``add_edge(START, "first")``."""
END = "__end__"
"""The virtual node after the last: ``add_edge("last", END)``; a route or ``goto`` to END finishes that branch."""

N = TypeVar("N")


@dataclass(frozen=True)
class Send:
    """Run ``node`` in the next superstep with ``arg`` as its input instead of the graph's state (map-reduce).

    Return Sends from a conditional edge's router (``[Send("joke", {"subject": s}) for s in subjects]``) or as a
    ``Command(goto=...)``. Each Send is its own task; their updates merge into the state with the reducers.
    """

    node: str
    arg: Any

    def __post_init__(self) -> None:
        if not isinstance(self.node, str) or not self.node:
            raise UsageError(f"Send(node, arg): node must be a node name, got {shown(self.node)}")


@dataclass(frozen=True)
class Command(Generic[N]):
    """What a node may return to update the state and choose where to go next, besides its edges.

    ``goto`` adds targets to the node's edges (it does not replace them). ``Command[Literal["a", "b"]]`` as a
    return annotation declares the targets for drawing. As an input, ``ainvoke(Command(resume=...,
    update=..., goto=...), config)`` answers pending interrupts, edits the state, or adds nodes to run.

    Args:
        update: a partial state dict, a list of ``(key, value)`` pairs, a state object, or messages.
        goto: a node name, a :class:`Send`, or a list of them (END: nothing more from here).
        resume: the answer to pending ``interrupt()`` calls (an input only): a value, or ``{interrupt_id: value}``.
        graph: ``Command.PARENT`` sends the command to the graph that contains this subgraph.
    """

    update: Any = None
    goto: Any = ()
    resume: Any = None
    graph: str | None = None

    PARENT: ClassVar[Literal["__parent__"]] = "__parent__"

    def __repr__(self) -> str:
        # only what was given, as LangGraph prints it: Command(goto=Send(node='b', arg=1))
        parts = [
            f"{name}={value!r}"
            for name, value, default in (
                ("update", self.update, None),
                ("goto", self.goto, ()),
                ("resume", self.resume, None),
                ("graph", self.graph, None),
            )
            # (by identity and type: a NumPy array's != is an array, whose truth is a bare ValueError)
            if (value is not None if default is None else not (isinstance(value, tuple) and not value))
        ]
        return f"Command({', '.join(parts)})"

    def goto_list(self) -> list[str | Send]:
        """``goto`` as a list (empty when absent)."""
        if self.goto is None or (isinstance(self.goto, tuple) and not self.goto):  # (an array's == is an array)
            return []
        if isinstance(self.goto, (str, Send)):
            return [self.goto]
        if isinstance(self.goto, Sequence):
            return list(self.goto)
        raise UsageError(f"Command(goto=...) takes a node name, a Send or a list of them, got {shown(self.goto)}")


@dataclass(frozen=True)
class Overwrite:
    """Replace a key's value even though the key has a reducer: ``{"items": Overwrite([...])}``.

    In one superstep an Overwrite wins over every other write of the key; two Overwrites of one key in the same
    superstep are an :class:`InvalidUpdate`.
    """

    value: Any


@dataclass(frozen=True)
class Interrupt:
    """A pending pause, as LangGraph reports it (``value`` and ``id``; equality looks at those two only).

    Attributes:
        value: what ``interrupt(value)`` passed (None for ``interrupt_before``/``interrupt_after`` pauses).
        id: the wait's node id in the run's DAG; ``Command(resume={id: value, ...})`` answers several at once.
        kind: ``"interrupt"`` (a node called ``interrupt()``), ``"before"`` or ``"after"`` (compile options).
        node: the graph node concerned (``"inner/child"`` inside a subgraph).
        message: the prompt shown in the notebook.
        response_schema: the JSON Schema of the answer ``interrupt(value, response_schema=...)`` expects (a
            type's, checked against answers; or the dict given), as LangGraph's; None without one.
        reason: why the node asks, as ``interrupt(value, reason=...)`` said (Agentflow's); None without one.
    """

    value: Any = None
    id: str = ""
    kind: str = field(default="interrupt", compare=False)
    node: str = field(default="", compare=False)
    message: str | None = field(default=None, compare=False)
    response_schema: dict[str, Any] | None = field(default=None, compare=False)
    reason: str | None = field(default=None, compare=False)


class InvokeResult(dict[str, Any]):
    """What ``ainvoke`` returns: the state's values as a dict (as in LangGraph), plus what the turn did.

    ``res == {"foo": "bar"}`` compares the values; when the turn paused at ``interrupt()``, the dict also holds
    ``"__interrupt__": [Interrupt, ...]`` as LangGraph's does (pauses of ``interrupt_before``/``after`` are only in
    ``res.interrupts``).

    Attributes:
        status: ``"completed"``, ``"interrupted"`` (see ``interrupts``) or ``"stopped"`` (``astop``).
        state: the values as an instance of the graph's state schema (a dict for TypedDicts).
        messages: the messages this turn added (from the new input onwards), when the state has ``messages``.
        interrupts: the pending pauses when ``status == "interrupted"``.
        thread_id: the thread; ``run_id`` is the aether_nb run of this turn (``ag.get_run(run_id)``).
        next: the nodes that run when the thread continues.
        all_values: every key of the state, the input schema's and private ones too (the dict holds the output
            schema's): what ``ainvoke(..., output_keys=...)`` picks from, as LangGraph reads every channel. None in
            a result made before it was kept (an agent's journal of an older version).
    """

    status: Literal["completed", "interrupted", "stopped"]
    state: Any
    messages: list[dict[str, Any]]
    interrupts: list[Interrupt]
    thread_id: str
    run_id: str
    next: tuple[str, ...]
    all_values: dict[str, Any] | None = None

    def __init__(
        self,
        values: dict[str, Any],
        *,
        status: Literal["completed", "interrupted", "stopped"],
        state: Any,
        messages: list[dict[str, Any]],
        interrupts: list[Interrupt],
        dynamic: list[Interrupt] | None = None,
        thread_id: str,
        run_id: str,
        next: tuple[str, ...] = (),
        all_values: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(values)
        if dynamic:
            self["__interrupt__"] = list(dynamic)
        self.status = status
        self.state = state
        self.messages = messages
        self.interrupts = interrupts
        self.thread_id = thread_id
        self.run_id = run_id
        self.next = next
        self.all_values = all_values

    def __repr__(self) -> str:
        return f"InvokeResult({dict.__repr__(self)}, status={self.status!r})"


@dataclass(frozen=True)
class GraphOutput:
    """What ``ainvoke(..., version="v2")`` returns, as LangGraph's: ``value`` (the output; a pydantic or
    dataclass output schema's instance) and ``interrupts`` (the pending ``interrupt()`` questions)."""

    value: Any
    interrupts: tuple[Interrupt, ...] = ()

    def __getitem__(self, key: str) -> Any:
        """LangGraph's deprecated dict access (``out["__interrupt__"]``, ``out["key"]``)."""
        warnings.warn(
            "Accessing GraphOutput via `result[key]` is deprecated (as in LangGraph): use `result.value` or "
            "`result.interrupts`",
            DeprecationWarning,
            stacklevel=2,
        )
        if key == "__interrupt__":
            return self.interrupts
        if isinstance(self.value, dict):
            return self.value[key]
        try:
            return getattr(self.value, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        if key == "__interrupt__":
            return bool(self.interrupts)
        if isinstance(self.value, dict):
            return key in self.value
        return isinstance(key, str) and hasattr(self.value, key)


@dataclass(frozen=True)
class PregelTask:
    """A task of a checkpoint (named as in LangGraph): a node that runs next, or ran and failed or paused.

    Attributes:
        id: the task's id within the checkpoint.
        name: the node.
        path: ``("__pregel_pull", name)`` for a node triggered by edges, ``("__pregel_push", i)`` for a Send.
        error: ``repr`` of the exception when the task failed.
        interrupts: the task's pending interrupts.
        state: for a subgraph node, its state snapshot (``aget_state(config, subgraphs=True)``), or its config.
        result: the task's update when it completed while a sibling failed or paused.
    """

    id: str
    name: str
    path: tuple[Any, ...] = ()
    error: str | None = None
    interrupts: tuple[Interrupt, ...] = ()
    state: Any = None
    result: Any = None


class _SnapshotFields(NamedTuple):
    """LangGraph's ``StateSnapshot`` fields, in its order: a tuple, so ``values, next_, *_ = snap``, ``snap[0]``
    and ``snap._asdict()`` read as LangGraph's."""

    values: dict[str, Any]
    next: tuple[str, ...]
    config: dict[str, Any]
    metadata: dict[str, Any] | None
    created_at: float | None
    parent_config: dict[str, Any] | None
    tasks: tuple[PregelTask, ...] = ()
    interrupts: tuple[Interrupt, ...] = ()


class StateSnapshot(_SnapshotFields):
    """One checkpoint of a thread, as ``aget_state`` / ``aget_state_history`` return it.

    A NamedTuple of LangGraph's eight fields (unpacking, indexing, ``_asdict()`` and equality see those only);
    aether_nb's extras (``state``, ``status``, ``run_id``, ``checkpoint_id``, ``step``, ``source``) are
    attributes outside the tuple, so code written against LangGraph's tuple reads the same here.

    Attributes:
        values: the state as a dict; ``state`` is the same as an instance of the schema.
        next: nodes that run next (empty when the thread is complete).
        config: ``{"configurable": {"thread_id", "checkpoint_ns", "checkpoint_id"}}``: pass it to ``ainvoke(None,
            config)`` to run again from this checkpoint (a fork), or to ``aupdate_state`` to fork with edits.
        metadata: ``{"source", "step", "parents"}``; source is ``input``, ``loop``, ``update`` or ``fork``
            (None for a thread with no checkpoint yet, as LangGraph's).
        created_at: when it was written (seconds since the epoch, from the session's clock; None for a thread
            with no checkpoint yet, as LangGraph's).
        parent_config: the config of the checkpoint this one follows (None for the first).
        tasks: the pending tasks, with their errors, interrupts and (subgraphs) states.
        interrupts: the pending interrupts (the latest checkpoint of a paused thread).
        state: the values as an instance of the state schema (None when they do not make a complete one).
        status: ``"running"``, ``"interrupted"``, ``"completed"``, ``"failed"``, ``"stopped"`` for the latest
            checkpoint (what the thread's run is doing now); ``"in_progress"``/``"completed"``/``"failed"`` for
            older ones.
        run_id: the aether_nb run that wrote it.
    """

    # Class-level defaults for the extras: ``_make`` (used by ``_replace`` and pickling's fallbacks) builds the
    # tuple without ``__new__``, and such an instance still answers them.
    state: Any = None
    status: str = ""
    run_id: str | None = None

    def __new__(
        cls,
        values: dict[str, Any],
        next: tuple[str, ...],  # (LangGraph's field name)
        config: dict[str, Any],
        metadata: dict[str, Any] | None,
        created_at: float | None,
        parent_config: dict[str, Any] | None,
        tasks: tuple[PregelTask, ...] = (),
        interrupts: tuple[Interrupt, ...] = (),
        *,
        state: Any = None,
        status: str = "",
        run_id: str | None = None,
    ) -> StateSnapshot:
        self = super().__new__(cls, values, next, config, metadata, created_at, parent_config, tasks, interrupts)
        vars(self).update(state=state, status=status, run_id=run_id)
        return self

    def _replace(self, /, **changes: Any) -> StateSnapshot:
        """LangGraph's ``_replace``, keeping the extras (``state``, ``status``, ``run_id``) unless changed."""
        extras = {k: changes.pop(k, getattr(self, k)) for k in ("state", "status", "run_id")}
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise ValueError(f"Got unexpected field names: {unknown!r}")  # (NamedTuple's own error)
        return StateSnapshot(**{**self._asdict(), **changes}, **extras)

    @property
    def checkpoint_id(self) -> str:
        """The checkpoint's id in its thread (``config["configurable"]["checkpoint_id"]``)."""
        return str(self.config["configurable"]["checkpoint_id"])

    @property
    def step(self) -> int:
        """The superstep it was written after (-1: before a turn's input)."""
        return int((self.metadata or {}).get("step", -1))

    @property
    def source(self) -> str:
        """``input``, ``loop``, ``update`` or ``fork``."""
        return str((self.metadata or {}).get("source", ""))


class GraphBuildError(UsageError, ValueError):
    """``compile()`` found problems with the graph; ``problems`` lists all of them."""

    default_code = "graph_build"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the graph has {len(self.problems)} problem(s):\n{listing}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.problems,))


DEFAULT_RECURSION_LIMIT = 10_007
"""Supersteps one call may run unless ``compile(recursion_limit=)`` or ``config["recursion_limit"]`` says otherwise:
LangGraph 1.x's default (it was 25 before), so an agent loop ported from it is not cut short."""


class GraphDefinitionError(UsageError, ValueError):
    """A builder call LangGraph refuses with ``ValueError`` (a duplicate or reserved node name, an edge out of END or
    into START): a ``ValueError`` here too, so a LangGraph user's ``except ValueError`` still catches it."""

    default_code = "graph_definition"


class NodeSignatureError(UsageError, TypeError):
    """A node function that cannot be called as a node (it takes no parameter at all, or a required
    positional-only one after the state): LangGraph fails with a ``TypeError`` at the first call, so it is one here
    too, raised when the node is added."""

    default_code = "node_signature"


class IncompleteState(UsageError, TypeError):
    """A dataclass state cannot be built from the state's values (a required field was never given): a
    ``TypeError`` too, as LangGraph's (the dataclass constructor's own error), so its users' handlers still catch
    it."""

    default_code = "state_incomplete"


class InvalidUpdate(UsageError):
    """A node's return could not be merged into the state (a conflicting write, two Overwrites, a bad return)."""

    default_code = "invalid_update"


InvalidUpdateError = InvalidUpdate
"""LangGraph's name for :class:`InvalidUpdate`."""


class EmptyInputError(UsageError):
    """A call with no input (``invoke(None, config)``) on a thread that has nothing to go on from: LangGraph's
    ``EmptyInputError``, so its users' handlers catch it; a :class:`UsageError` here, as the caller must give an
    input."""

    default_code = "no_input"


class UnknownRoute(InvalidUpdate, KeyError):
    """A router with a path map (given, or its ``-> Literal[...]`` annotation) returned a key outside it: a
    ``KeyError`` too, as LangGraph's (which looks the result up in the map), so its callers' handlers still work."""

    default_code = "unknown_route"

    def __str__(self) -> str:
        return self.message  # (KeyError's own __str__ would quote the message)


class InvalidConfig(UsageError, ValueError):
    """A config value the graph cannot use (``recursion_limit`` below 1, ...): a ``ValueError``, as LangGraph's."""

    default_code = "invalid_config"


class EmptyUpdate(InvalidUpdate, ValueError):
    """``bulk_update_state`` was given no superstep, or a superstep without updates (a ValueError, as in
    LangGraph)."""

    default_code = "empty_update"


class StateUpdate(NamedTuple):
    """One update of ``bulk_update_state``: ``values`` written as if ``as_node`` returned them."""

    values: Any
    as_node: str | None = None
    task_id: str | None = None


class AmbiguousResume(UsageError, RuntimeError):
    """Several interrupts are pending and the resume value does not say which one it answers."""

    default_code = "ambiguous_resume"


class GraphRecursionError(RunError, RecursionError):
    """The run took more supersteps than its recursion limit; ``path`` lists the nodes of each superstep."""

    default_code = "recursion_limit"

    def __init__(self, message: str, path: list[list[str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.path = list(path or [])

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_recursion, (self.message, self.path, self.run_id))


def _rebuild_recursion(message: str, path: list[list[str]], run_id: str | None) -> GraphRecursionError:
    return GraphRecursionError(message, path, run_id=run_id)


@dataclass(frozen=True)
class NodeError:
    """What an error handler receives (``add_node(..., error_handler=fn)``; a parameter named ``error`` or
    annotated ``NodeError``): the node that failed and its exception, after its retries."""

    node: str
    error: BaseException


class GraphInterrupt(StepPause):
    """Raised by :func:`~aether_nb.flow.nodes.interrupt` to pause the task that called it (control flow, not an
    error: a BaseException, so ``except Exception`` in a node does not swallow it; a StepPause, so the steps it
    passes, a ToolNode's tool that asked, are paused rather than failed)."""

    def __init__(
        self,
        index: int,
        value: Any,
        message: str | None,
        response_schema: Any = None,
        checks: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"interrupt #{index}: {value!r}")
        self.index = index
        self.value = value
        self.message = message
        self.reason = reason
        self.response_schema = response_schema  # a JSON Schema (a type's, or the dict given), shown with the question
        self.checks = checks  # whether answers must fit it (it came from a type, as LangGraph validates)


class ParentCommand(BaseException):
    """Raised by a subgraph node that returned ``Command(graph=Command.PARENT, ...)``: the parent's task takes it
    as its own return."""

    def __init__(self, command: Command[Any]) -> None:
        super().__init__(f"{command!r} for the parent graph")
        self.command = command
