"""@tool: a function that becomes a DAG node when a run calls it, and stays a plain function otherwise.

Modes of a call:

* inside a run (a graph_fn body, or an async tool called from one): returns an awaitable step; ``await`` it to
  get the outputs dict. The step is a node of the run's DAG and a journal entry, so a resumed run replays it.
* outside any run: a sync tool runs and returns its outputs dict; an async tool returns a coroutine.
* while a ``@graphify`` function is being built: adds a node and returns a handle (see ``graphify``).

Sync tool bodies run in a worker thread inside a run, so they never block the kernel's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import keyword
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Concatenate, Generic, overload

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import bound_arguments, node_signature
from aether_nb.runtime.calls import StepCall
from aether_nb.runtime.checks import check_declared_inputs
from aether_nb.runtime.context_param import find_context_param as find_context_param  # (re-exported)
from aether_nb.runtime.decorator_types import Broad, D, P, Q, R, T, ToolDecorator
from aether_nb.runtime.direct_calls import direct_coroutine, refuse_unrun, run_body
from aether_nb.runtime.events import NodeStatusChanged
from aether_nb.runtime.execution import Scope, current_scope, detach_scope
from aether_nb.runtime.executors import (
    Executor,
    ThreadExecutor,
    body_exit,
    check_executor,
    linger,
    restart_step_timeout,
    track,
    untrack,
)
from aether_nb.runtime.late import journal_if_loop_gone
from aether_nb.runtime.outputs import check_outputs_decl as check_outputs_decl  # (re-exported)
from aether_nb.runtime.outputs import normalise_outputs as normalise_outputs  # (re-exported)
from aether_nb.runtime.outputs import signature_text as signature_text  # (re-exported)
from aether_nb.runtime.pause import waiting_slots
from aether_nb.runtime.registry import register, register_version
from aether_nb.runtime.slots import in_session_slot, in_worker_thread
from aether_nb.runtime.taskgraph import tool_version
from aether_nb.runtime.tool_checks import (
    CONTROL_KWARGS,
    check_version,
    code_version,
    refuse_reserved_params,
    refuse_unrunnable,
)
from aether_nb.runtime.waits import WaitSpec, spec_to_json

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

Execute = Callable[[Scope], Awaitable[dict[str, Any]]]
_REQUIRED = object()

build_hook: ContextVar[Callable[[Any, tuple[Any, ...], dict[str, Any]], Any] | None] = ContextVar(
    "aether_nb_build_hook", default=None
)
"""Set while a ``@graphify`` body is traced: tool calls are handed to it instead of running."""


class Tool(Generic[P, R]):
    """A function registered as a tool. Created by :func:`tool`; call it like the function.

    Typed by the function's parameters ``P`` (less a leading context parameter) and return type ``R``; see
    :mod:`~aether_nb.runtime.decorator_types`."""

    kind = "tool"

    def __init__(
        self,
        fn: Callable[..., R],
        *,
        name: str | None = None,
        outputs: Sequence[str] | None = None,
        executor: Executor | str | None = None,
        version: str | None = None,
    ):
        refuse_unrunnable(fn)
        self.fn: Callable[..., Any] = fn  # (R is the body's own return type, an awaitable or not)
        chosen = name or getattr(fn, "__name__", None)
        if chosen is None:
            raise UsageError(
                f"@tool: {shown(fn, 80)} has no __name__ to name the tool by: give it one, "
                '`ag.tool(name="my_tool")(fn)` (a functools.partial, a callable object)',
                code="tool_name",
            )
        self.name: str = check_tool_name(chosen)
        if isinstance(executor, str) and executor == "local":  # (by type first: an array's == is an array)
            self.executor: Executor | None = LOCAL
        else:
            self.executor = check_executor(executor, f"@tool {self.name}")
        """Where the body runs: None = the run's executor (sync bodies without context); ``"local"`` pins it to
        this process's thread pool."""
        self.outputs = check_outputs_decl(outputs, f"@tool {self.name}")
        self.is_async = inspect.iscoroutinefunction(fn)
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:  # a builtin or C function without one
            raise UsageError(
                f"@tool {self.name}: {shown(fn)} has no Python signature to call it by ({exc}); wrap it in a function "
                "that names its arguments, e.g. `def to_int(text: str) -> dict: return {'value': int(text)}`",
                code="no_signature",
            ) from exc
        refuse_reserved_params(self.signature, f"@tool {self.name}")
        self.context_param = find_context_param(fn, f"@tool {self.name}")
        if self.executor is not None and self.executor is not LOCAL and (self.is_async or self.context_param):
            what = "an async tool" if self.is_async else f"a tool that takes {self.context_param!r}"
            raise UsageError(
                f"@tool {self.name}: executor={shown(self.executor.name)} cannot apply to {what}: async bodies and "
                "bodies that use the NodeContext always run in the kernel. Drop executor=, or make the body a "
                "sync function of its inputs.",
                code="bad_executor",
            )
        self.inputs = [p for p in self.signature.parameters if p != self.context_param]
        params = self.signature.parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self._bind_plan: tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]] | None = (
            (
                # (the context is injected, never a positional argument: ``t(5)`` of ``t(context, x=1)`` is x=5)
                tuple(
                    p.name
                    for p in params
                    if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name != self.context_param
                ),
                tuple(self.signature.parameters),
                {p.name: (_REQUIRED if p.default is p.empty else p.default) for p in params},
            )
            if all(p.kind in named for p in params)
            else None
        )
        functools.update_wrapper(self, fn)
        self.declared_version = version
        """The ``version=`` given to ``@tool`` (AetherGraph's), or None."""
        self.version = code_version(tool_version(self), version)
        register(self)  # graphify graphs refer to tools by name (and code version)
        register_version("tool", self.name, self.version, self)

    def __repr__(self) -> str:
        return f"<tool {self.name} outputs={self.outputs or ['result']}>"

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        if kwargs:
            self._check_control(kwargs)
        fast = self._fast_bind(args, kwargs)
        if fast is not None:
            return inspect.BoundArguments(self.signature, fast)
        ctx, sig = self.context_param, node_signature(self)
        if ctx is None or ctx not in kwargs:  # (the context is injected: it is no argument of the call)
            try:
                arguments = bound_arguments(sig, args, kwargs)  # as Python binds, naming every problem
            except TypeError as exc:
                raise UsageError(f"{signature_text(self.name, sig)}: {exc}", code="bad_arguments") from None
            if ctx is not None:
                arguments[ctx] = None  # (None: the step injects the run's context)
            return inspect.BoundArguments(self.signature, arguments)
        try:  # an explicit context= (AetherGraph passes one)
            bound = self.signature.bind_partial(*args, **kwargs)
            bound = self.signature.bind(*bound.args, **bound.kwargs)
        except TypeError as exc:
            raise UsageError(f"{signature_text(self.name, self.signature)}: {exc}", code="bad_arguments") from exc
        return bound

    def _check_control(self, kwargs: dict[str, Any]) -> None:
        for k in CONTROL_KWARGS:
            if k in kwargs:
                raise UsageError(
                    f"{k}= only applies while building a @graphify graph; {self.name}(...) here runs directly",
                    code="control_kwarg_outside_build",
                )

    def _fast_bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """``signature.bind(...).arguments`` for the common signature (named parameters only), ~10x cheaper; None
        sends the call through ``inspect`` (other signatures, and every call that is wrong, for its error
        message)."""
        plan = self._bind_plan
        if plan is None:
            return None
        positional, names, defaults = plan
        if len(args) > len(positional):
            return None
        arguments = dict(zip(positional, args, strict=False))
        for k, v in kwargs.items():
            if k in arguments or k not in defaults:
                return None
            arguments[k] = v
        if len(arguments) < len(names):
            for name in names:
                if name not in arguments:
                    default = defaults[name]
                    if default is _REQUIRED:
                        if name != self.context_param:
                            return None
                        default = None
                    arguments[name] = default
            arguments = {name: arguments[name] for name in names}
        elif kwargs and tuple(arguments) != names:  # (keywords given out of the signature's order: reordered)
            arguments = {name: arguments[name] for name in names}
        return arguments

    def _inputs_view(self, bound: inspect.BoundArguments) -> dict[str, Any]:
        return {k: v for k, v in bound.arguments.items() if k != self.context_param}

    # Typed: the tool's own parameters. A call with a control keyword (``_id=`` ... while a graph is built) is
    # checked for those alone: a ParamSpec takes no extra keywords. The value is Any: a step, a handle or a dict.
    @overload
    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> Any: ...
    @overload
    def __call__(self, /, *args: Any, _id: str, **kwargs: Any) -> Any: ...
    @overload
    def __call__(self, /, *args: Any, _after: Any, **kwargs: Any) -> Any: ...
    @overload
    def __call__(self, /, *args: Any, _condition: Any, **kwargs: Any) -> Any: ...
    @overload
    def __call__(self, /, *args: Any, _timeout_s: float, **kwargs: Any) -> Any: ...
    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        hook = build_hook.get()
        if hook is not None:
            return hook(self, args, kwargs)
        scope = current_scope()
        if scope is None:
            bound = self._bind(args, kwargs)
            self._refuse_no_context(bound)
            return self._call_direct(bound)
        inputs, execute = self.prepare(args, kwargs)
        execute = capped(scope, execute)
        return StepCall(scope, self.name, "tool", inputs, execute, meta={"tool_version": self.version})

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], Execute]:
        """Validate a call and return its inputs and the coroutine function that executes it as a step."""
        if self.is_async and self._bind_plan is not None:  # (most calls: no BoundArguments, a closure of less)
            if kwargs:
                self._check_control(kwargs)
            arguments = self._fast_bind(args, kwargs)
            if arguments is not None:
                return self._prepare_async(arguments)
        bound = self._bind(args, kwargs)

        async def execute(child: Scope) -> dict[str, Any]:
            if self.context_param is not None and bound.arguments.get(self.context_param) is None:
                bound.arguments[self.context_param] = child.context
            if self.is_async:
                if self._bind_plan is not None:  # every parameter takes a keyword
                    raw = await self.fn(**bound.arguments)
                else:
                    raw = await self.fn(*bound.args, **bound.kwargs)
            else:
                raw = await self._run_sync(child, bound)
            return normalise_outputs(raw, self.outputs, f"tool {self.name}")

        return self._inputs_view(bound), execute

    def _prepare_async(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], Execute]:
        """:meth:`prepare` of an async tool whose parameters all take keywords, given its bound ``arguments``."""
        fn, outputs, ctx = self.fn, self.outputs, self.context_param

        async def execute(child: Scope) -> dict[str, Any]:
            if ctx is not None and arguments.get(ctx) is None:
                arguments[ctx] = child.context
            return normalise_outputs(await fn(**arguments), outputs, f"tool {self.name}")

        # (without a context parameter the arguments are the inputs: nothing changes them, they are only read)
        return (arguments if ctx is None else {k: v for k, v in arguments.items() if k != ctx}), execute

    def executor_for(self, child: Scope) -> Executor:
        """Where this call's sync body runs: the tool's pin, else the run's executor for bodies that take no
        context (a context only exists in the kernel), else this process's threads."""
        if self.executor is not None:
            return self.executor
        if self.context_param is None:
            chosen = child.run.executor
            if chosen is not None:
                return chosen
        return LOCAL

    async def _run_sync(self, child: Scope, bound: inspect.BoundArguments) -> Any:
        """Run the sync body on its executor. If this step is given up on (timeout, cancel) while the body still
        runs, the body keeps its concurrency slot until it really ends (see executors.linger)."""
        executor = self.executor_for(child)
        if executor is LOCAL:
            submission = executor.submit(_run_detached, (self.fn, bound, self.name), {}, label=self.name)
            loop, outputs, where = asyncio.get_running_loop(), self.outputs, f"tool {self.name}"
            submission.add_done_callback(
                lambda: journal_if_loop_gone(
                    child, submission, loop, lambda raw: normalise_outputs(raw, outputs, where), self.name
                )
            )
        else:
            submission = executor.submit(self.fn, tuple(bound.args), dict(bound.kwargs), label=self.name)
        unqueued = _pending_until_start(child, submission)
        track(submission)
        try:
            raw = await submission.result()
            if executor is not LOCAL:  # (on LOCAL, run_body refused it in the thread, with the calls it made)
                refuse_unrun(raw, self.name)
            return raw
        except (SystemExit, KeyboardInterrupt) as exc:  # (an executor of the user's that hands them back as such)
            raise body_exit(exc, self.name) from exc
        except asyncio.CancelledError:
            if not submission.done() and not submission.cancel():
                child.abandon(submission)
                linger(submission)
            raise
        finally:
            unqueued()
            untrack(submission)
            # Known once the body ran (a Dask worker's address); the node's NodeFinished carries it to the DAG.
            child.where = submission.where if executor is not LOCAL else None

    def _refuse_no_context(self, bound: inspect.BoundArguments) -> None:
        """A direct call (outside any run) of a tool whose context parameter has no default, given no context: only
        a run has a NodeContext, and the body got None (its first ``context.kv()`` an AttributeError).

        Raises:
            UsageError: the call gives no context and the tool has no default for it (code ``needs_context``).
        """
        ctx = self.context_param
        if ctx is None or bound.arguments.get(ctx) is not None:
            return
        if self.signature.parameters[ctx].default is not inspect.Parameter.empty:
            return  # (`context: NodeContext | None = None`: the body is written to run without one)
        raise UsageError(
            f"tool {self.name} takes a {ctx!r} (a NodeContext), which only a run gives, but it was called outside "
            f"any run (directly, or from a sync tool's body). Call it in a run: `await {self.name}(...)` inside a "
            f"@graph_fn, e.g. `@ag.graph_fn async def once(*, context): return await {self.name}(...)` then "
            f"`await once()`; or give {ctx} a default (`{ctx}=None`) if the body can do without one",
            code="needs_context",
        )

    def _call_direct(self, bound: inspect.BoundArguments) -> Any:
        where = f"tool {self.name}"
        if self.is_async:

            async def run_async() -> dict[str, Any]:
                return normalise_outputs(await self.fn(*bound.args, **bound.kwargs), self.outputs, where)

            return direct_coroutine(run_async(), self.name, "an async tool")
        return normalise_outputs(run_body(self.fn, bound.args, bound.kwargs, self.name), self.outputs, where)


def capped(scope: Scope, execute: Execute) -> Execute:
    """``execute`` under the session's cap (``ag.configure(max_concurrency=N)``), or as it is when the session of
    ``scope``'s run has none and no caller holds slots: a tool call of a ``@graph_fn`` (or of an LLM's
    ``run_tools``) holds a slot while its body runs, or runs in its caller's (a static graph node's under its run's
    ``max_concurrency``). A static graph's scheduler and a state graph's task hold one for the nodes they run,
    so their calls of :meth:`Tool.prepare` are not wrapped."""
    if "global_max_concurrency" not in scope.execution.host.session.config and waiting_slots.get() is None:
        return execute  # (the common case: nothing added per call)

    async def in_slot(child: Scope) -> dict[str, Any]:
        return await in_session_slot(
            child.run.session.config, lambda: execute(child), functools.partial(show_queued, child)
        )

    return in_slot


def show_queued(child: Scope, waiting: bool) -> None:
    """A step waiting for a slot of the session's cap shows pending, and running once it has one."""
    child.run.emit(NodeStatusChanged, node_id=child.node_id, status="PENDING" if waiting else "RUNNING")


def _pending_until_start(child: Scope, submission: Any) -> Callable[[], None]:
    """A body waiting in a cluster's queue or for a thread (a submission with ``add_start_callback``: a body that
    starts at once has none, and costs nothing here) shows pending until a worker starts it, and its node's
    ``_timeout_s`` is stopped until then. Returns what to call once the step ends (a start
    said after that changes nothing)."""
    on_start = getattr(submission, "add_start_callback", None)
    if on_start is None or getattr(submission, "started", False):
        return _nothing
    timer = restart_step_timeout.get()
    clock = timer[1] if timer is not None and timer[0] == child.node_id else None
    waiting = [True]

    def started() -> None:
        if waiting[0]:
            waiting[0] = False
            show_queued(child, False)
            if clock is not None:
                clock(True)

    show_queued(child, True)
    if clock is not None:
        clock(False)
    on_start(started)
    return lambda: waiting.__setitem__(0, False)


def _nothing() -> None:
    return None


LOCAL = ThreadExecutor()
"""This process's thread pool: where sync tool bodies run unless a run names another executor."""


def _run_detached(fn: Callable[..., Any], bound: inspect.BoundArguments, name: str) -> Any:
    # In the worker thread (a copy of the caller's context): tool calls made by a sync body run directly, and a run
    # it executes here (agent.sync()) takes no state of the caller's loop (see slots.in_worker_thread). A call of an
    # async tool or agent it leaves un-run fails the step (see direct_calls).
    detach_scope()
    with in_worker_thread():
        return run_body(fn, bound.args, bound.kwargs, name)


@overload
def tool(fn: type[D], /) -> type[D]: ...  # type: ignore[overload-overlap]
@overload
def tool(fn: Callable[Concatenate[Broad, Q], T], /) -> Tool[..., T]: ...
@overload
def tool(fn: Callable[Concatenate[NodeContext, Q], T], /) -> Tool[Q, T]: ...
@overload
def tool(fn: Callable[Q, T], /) -> Tool[Q, T]: ...
@overload
def tool(
    fn: None = None,
    /,
    *,
    outputs: Sequence[str] | None = None,
    name: str | None = None,
    executor: Executor | str | None = None,
    inputs: Sequence[str] | None = None,
    version: str | None = None,
) -> ToolDecorator: ...


def tool(
    fn: Any = None,
    /,
    *,
    outputs: Sequence[str] | None = None,
    name: str | None = None,
    executor: Executor | str | None = None,
    inputs: Sequence[str] | None = None,
    version: str | None = None,
) -> Any:
    """Make a function a tool: ``@tool``, or ``@tool(outputs=["y"], name="double")``.

    ``inputs`` (AetherGraph's decorators name them) is optional: checked against the signature, which is where
    a tool's inputs come from. ``version`` (AetherGraph's too) is kept as ``.declared_version`` and leads the
    tool's code version (``"0.2.0+<code hash>"``): a resumed run whose tool changed says which versions ran.

    ``outputs`` names the keys of the returned dict (checked on every call); without it a dict is returned as
    is and any other value becomes ``{"result": value}``. ``executor="local"`` keeps a sync body in this
    process even when the run hands sync bodies to a cluster. Also accepts a :class:`DualStageTool` subclass (to
    set its outputs or name).
    """
    if executor is not None and not (isinstance(executor, str) and executor == "local"):
        check_executor(executor, "@tool")
    if isinstance(fn, (list, tuple)):
        raise UsageError("pass outputs by keyword: @tool(outputs=[...])")
    check_version(version, "@tool")

    def wrap(f: Any) -> Any:
        if isinstance(f, type) and issubclass(f, DualStageTool):
            if inputs is not None:
                setup = [p for p in inspect.signature(f.setup).parameters if p not in ("self", "context", "ctx")]
                check_declared_inputs(inputs, setup, f"@tool {f.__name__}")
            if outputs is not None:
                f.tool_outputs = check_outputs_decl(outputs, f"@tool {f.__name__}")
            if name is not None:
                f.tool_name = check_tool_name(name)
                register(f, kind="tool", name=name)
            if version is not None:
                f.declared_version, f.version = version, code_version(tool_version(f), version)
                register_version("tool", f.tool_name, f.version, f)
            return f
        if isinstance(f, Tool):
            raise UsageError(f"{f.name} is already a tool; apply @tool once")
        made = Tool(f, name=name, outputs=outputs, executor=executor, version=version)
        check_declared_inputs(inputs, made.inputs, f"@tool {made.name}")
        return made

    return wrap if fn is None else wrap(fn)


def check_tool_name(name: Any) -> str:
    """``name`` as a tool's name: a Python identifier, not a keyword. Why: a tool's name is the stem of its nodes'
    ids and step keys (``name_1``, where ``/`` separates a step from the steps inside it), of the journal entries a
    resume matches, and of the variables a promoted ``@graphify`` source assigns; a name of another type made
    every history record of its node unstorable (dropped with a warning), so its run could not resume."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(
            f"tool name must be an identifier (letters, digits and _, not a Python keyword), got {shown(name)}",
            code="tool_name",
        )
    return name


class _DualStageMeta(type):
    """Calling a DualStageTool subclass is a tool call (a node that waits), not an instantiation."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is DualStageTool:
            raise UsageError("subclass DualStageTool and implement setup() and on_resume()")
        hook = build_hook.get()
        if hook is not None:
            return hook(cls, args, kwargs)
        scope = current_scope()
        name: str = cls.tool_name  # type: ignore[attr-defined]
        if scope is None:
            raise UsageError(
                f"{name} waits for an answer, so it can only be called inside a run: `await {name}(...)` in a "
                "graph_fn, or as a node of a @graphify graph",
                code="waitable_outside_run",
            )
        inputs, execute = cls.prepare(args, kwargs)
        execute = capped(scope, execute)  # (its wait gives the slot back while it waits)
        return StepCall(scope, name, "tool", inputs, execute, meta={"tool_version": cls.version})  # type: ignore[attr-defined]

    def prepare(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], Execute]:
        """Validate a call and return its inputs and the coroutine function that executes it as a step."""
        name: str = cls.tool_name  # type: ignore[attr-defined]
        tool_cls: Any = cls
        ctx_param = find_context_param(tool_cls.setup, name)
        sig = node_signature(tool_cls)  # (setup's, without self and the context: made once per class)
        try:
            inputs = bound_arguments(sig, args, kwargs)  # as Python binds, naming every problem
        except TypeError as exc:
            raise UsageError(f"{signature_text(name, sig)}: {exc}", code="bad_arguments") from None
        bound = inspect.BoundArguments(sig, inputs)

        async def execute(child: Scope) -> dict[str, Any]:
            instance: DualStageTool = type.__call__(cls)
            ctx = child.context
            extra = {ctx_param: ctx} if ctx_param else {}

            async def setup(_: Scope) -> dict[str, Any]:
                spec = await instance.setup(*bound.args, **bound.kwargs, **extra)
                if isinstance(spec, dict):
                    spec = WaitSpec(**spec)
                if not isinstance(spec, WaitSpec):
                    raise UsageError(f"{name}.setup() must return an ag.WaitSpec, got {type(spec).__name__}")
                return spec_to_json(spec)

            spec_json = await child.run_step(child.next_key("setup"), "setup", "setup", inputs, setup, node=False)
            spec = WaitSpec(**spec_json)
            node_id = child.node_id
            assert node_id is not None

            async def await_answer(_: Scope) -> Any:
                return await child.await_answer(node_id, spec, None)

            answer_inputs = {"kind": spec.kind, "prompt": spec.prompt}
            payload = await child.run_step(
                child.next_key("answer"), "answer", "wait", answer_inputs, await_answer, node=False
            )
            resume_ctx = find_context_param(tool_cls.on_resume, name)
            raw = await instance.on_resume(payload, **({resume_ctx: ctx} if resume_ctx else {}))
            return normalise_outputs(raw, cls.tool_outputs, f"tool {name}")  # type: ignore[attr-defined]

        return inputs, execute


class DualStageTool(metaclass=_DualStageMeta):
    """A tool that waits: ``setup`` describes the wait, ``on_resume`` turns the answer into outputs.

    ``class Approve(ag.DualStageTool, outputs=["decision"])`` then ``await Approve(amount=5)`` inside a run. The
    setup result is journaled and the wait persisted, so after a kernel restart the node keeps waiting on the
    same token without running ``setup`` again.
    """

    tool_outputs: list[str] | None = None
    tool_name: str = ""
    version: str = ""
    declared_version: str | None = None

    def __init_subclass__(cls, outputs: Sequence[str] | None = None, name: str | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.tool_name = check_tool_name(name or cls.__name__)
        cls.tool_outputs = (
            check_outputs_decl(outputs, f"DualStageTool {cls.tool_name}") if outputs else cls.tool_outputs
        )
        if "setup" in cls.__dict__:
            refuse_reserved_params(inspect.signature(cls.setup), f"DualStageTool {cls.tool_name}.setup")
        cls.version = tool_version(cls)
        register(cls, kind="tool", name=cls.tool_name)
        register_version("tool", cls.tool_name, cls.version, cls)
        for method in ("setup", "on_resume"):
            if not inspect.iscoroutinefunction(getattr(cls, method)):
                raise UsageError(f"{cls.__name__}.{method} must be an `async def`")

    async def setup(self, *args: Any, **kwargs: Any) -> WaitSpec:
        """Describe the wait (kind, prompt, options, schema, timeout). Runs once per node."""
        raise UsageError(f"{type(self).__name__} must implement `async def setup(...)` returning an ag.WaitSpec")

    async def on_resume(self, payload: Any, *args: Any, **kwargs: Any) -> Any:
        """Turn the validated answer into the tool's outputs. (``*args``: so that a subclass's own signature, e.g.
        ``(self, payload, *, context)``, type-checks as an override.)"""
        raise UsageError(f"{type(self).__name__} must implement `async def on_resume(self, payload, *, context)`")
