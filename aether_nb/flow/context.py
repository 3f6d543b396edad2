"""Run-scoped context for state graphs, as LangGraph >= 0.6 spells it: ``StateGraph(State, context_schema=Ctx)``,
``ainvoke(..., context=Ctx(...))``, and nodes that take ``runtime: Runtime[Ctx]`` (or call :func:`get_runtime`).

The context is what one *call* gives the graph (a user id, a database connection, an API client): it is never
written to the store, the journal or a checkpoint, so a secret or a live connection in it cannot leak into the
notebook's file and cannot fail to encode. The price is LangGraph's own rule: a turn resumed by a later call (after
an ``interrupt()``, a breakpoint, a failure, or a kernel restart) runs with the context *that* call passes.

This module holds the value types and the coercion of a call's ``context=`` to the schema; the engine builds one
:class:`Runtime` per node attempt (:mod:`aether_nb.flow.tasks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aether_nb.errors import UsageError, shown
from aether_nb.flow.checkpoint import checkpoint_id_str

if TYPE_CHECKING:
    from aether_nb.flow.engine import Engine

ContextT = TypeVar("ContextT")


class InvalidContext(UsageError, TypeError, ValueError):
    """A call's ``context=`` cannot be used with the graph's ``context_schema``.

    Also a ``TypeError`` (what LangGraph raises for a dict that does not fit a dataclass) and a ``ValueError``
    (what pydantic's ``ValidationError`` is), so code catching either keeps working; the pydantic error, when
    there is one, is the ``__cause__``.
    """

    default_code = "invalid_context"


def _no_writer(_: Any) -> None:
    return None


@dataclass(frozen=True)
class ExecutionInfo:
    """Where the node runs now: its thread, namespace, task, run and attempt (read-only).

    Attributes:
        checkpoint_id: the checkpoint the node's superstep started from (as a config's ``checkpoint_id``).
        checkpoint_ns: the subgraph namespace ("" for the graph itself; ``"inner"`` for a subgraph node).
        task_id: the task's id within its superstep (as in ``StateSnapshot.tasks``).
        thread_id: the thread.
        run_id: the aether_nb run of the turn (``ag.runs()``).
        node_attempt: 1 for the first attempt, 2 for the first retry (``retry_policy``)...
        node_first_attempt_time: when the first attempt started (seconds since the epoch, the session clock).
    """

    checkpoint_id: str
    checkpoint_ns: str
    task_id: str
    thread_id: str | None = None
    run_id: str | None = None
    node_attempt: int = 1
    node_first_attempt_time: float | None = None

    def patch(self, **overrides: Any) -> ExecutionInfo:
        """A copy with some fields replaced."""
        return replace(self, **overrides)


@dataclass(frozen=True)
class Runtime(Generic[ContextT]):
    """What a node gets besides the state, as LangGraph's ``Runtime``: injected into a node parameter named
    ``runtime`` (or annotated ``Runtime``), or returned by :func:`get_runtime` inside a node.

    Attributes:
        context: the call's ``context=`` (coerced to ``context_schema``), or None when the call gave none.
        store: the object given to ``compile(store=...)`` (any object, e.g. LangGraph's ``InMemoryStore``;
            aether_nb has no store class of its own for this: use ``context.kv()``/``memory()``), else None.
        stream_writer: sends a value to ``astream(..., stream_mode="custom")`` (a no-op when nobody streams).
        previous: always None (LangGraph fills it only in its functional API, which aether_nb does not build).
        execution_info: where the node runs (None outside a node).
    """

    context: ContextT = field(default=None)  # type: ignore[assignment]
    store: Any = None
    stream_writer: Callable[[Any], None] = field(default=_no_writer)
    previous: Any = None
    execution_info: ExecutionInfo | None = None

    def override(self, **overrides: Any) -> Runtime[ContextT]:
        """A copy with the given fields replaced (``context=``, ``store=``, ``stream_writer=``...)."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise UsageError(f"Runtime.override(): unknown field(s) {unknown}")
        return replace(self, **overrides)

    def merge(self, other: Runtime[ContextT]) -> Runtime[ContextT]:
        """This runtime with ``other``'s values where they are set (truthy), as LangGraph's ``merge``."""
        if not isinstance(other, Runtime):
            raise UsageError(f"Runtime.merge() takes a Runtime, got {type(other).__name__}")
        return Runtime(
            context=other.context or self.context,
            store=other.store or self.store,
            stream_writer=other.stream_writer if other.stream_writer is not _no_writer else self.stream_writer,
            previous=self.previous if other.previous is None else other.previous,
            execution_info=other.execution_info or self.execution_info,
        )


DEFAULT_RUNTIME: Runtime[Any] = Runtime()


@dataclass(frozen=True)
class ToolRuntime(Runtime[ContextT]):
    """What a tool run by a ToolNode gets in a parameter named ``runtime`` (or annotated ``ToolRuntime``), as
    LangGraph's prebuilt ``ToolRuntime``: the node's :class:`Runtime` plus the graph's ``state``, the node's
    ``config`` and the ``tool_call_id`` being answered. Like the other injected parameters, it is not part of
    the tool's schema nor of the step's recorded inputs."""

    state: Any = None
    config: Any = None
    tool_call_id: str | None = None


def check_context_schema(schema: Any) -> None:
    """``StateGraph(..., context_schema=...)``: a class (dataclass, pydantic model, TypedDict or any type) or None.

    Raises:
        UsageError: anything else (e.g. an instance where the class was meant).
    """
    if schema is not None and not isinstance(schema, type):
        raise UsageError(
            f"context_schema must be a class (a dataclass, pydantic model or TypedDict), got {shown(schema)}; "
            "pass the class itself, and its instances as ainvoke(..., context=...)",
            code="bad_context_schema",
        )


def _is_pydantic(schema: type) -> bool:
    return hasattr(schema, "model_fields") and hasattr(schema, "model_validate")


def _is_typeddict(schema: type) -> bool:
    # a TypedDict class is a dict subclass at run time that refuses isinstance() checks
    return issubclass(schema, dict) and schema is not dict and hasattr(schema, "__total__")


def coerce_context(schema: Any, context: Any) -> Any:
    """A call's ``context=`` as the nodes will see it (LangGraph's coercion, with clear errors).

    None stays None. Without a schema any value passes. With a dataclass or pydantic schema, a dict builds an
    instance and an instance passes; with a TypedDict schema, a mapping passes.

    Raises:
        InvalidContext: a dict that does not fit the schema, or a value of another type.
    """
    if context is None or schema is None:
        return context
    if _is_typeddict(schema):
        if isinstance(context, Mapping):
            return context
        raise InvalidContext(
            f"context must be a dict for context_schema {schema.__name__} (a TypedDict), got {shown(context)}"
        )
    is_model = dataclasses.is_dataclass(schema) or _is_pydantic(schema)
    if isinstance(context, schema):
        return context
    if is_model and isinstance(context, Mapping):
        try:
            return schema(**context)
        except TypeError as exc:
            raise InvalidContext(
                f"context {shown(context)} does not fit context_schema {schema.__name__}: {exc}; pass "
                f"context={schema.__name__}(...) or a dict of its fields",
            ) from exc
        except ValueError as exc:  # pydantic's ValidationError
            raise InvalidContext(
                f"context does not fit context_schema {schema.__name__}: {exc}",
            ) from exc
    if is_model:
        raise InvalidContext(
            f"context must be a {schema.__name__} or a dict of its fields (context_schema), got {shown(context)}"
        )
    return context  # another kind of schema (a plain class used only as a type hint): as LangGraph, pass it on


def runtime_for(
    engine: Engine, tid: str, writer: Callable[[Any], None] | None, attempt: int, started: float
) -> Runtime[Any]:
    """A task attempt's :class:`Runtime` (see :mod:`aether_nb.flow.context`)."""
    head = engine.current_head()
    info = ExecutionInfo(
        checkpoint_id=checkpoint_id_str(head.id) if head is not None else "",
        checkpoint_ns=engine.ns,
        task_id=tid,
        thread_id=engine.thread_id,
        run_id=engine.run.id,
        node_attempt=attempt,
        node_first_attempt_time=started,
    )
    if writer is None:
        return Runtime(context=engine.context, store=engine.store, execution_info=info)
    return Runtime(context=engine.context, store=engine.store, stream_writer=writer, execution_info=info)
