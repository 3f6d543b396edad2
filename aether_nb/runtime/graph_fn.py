"""@graph_fn: an async Python function run as an agent whose DAG is recorded while it unfolds.

``await agent(...)`` runs it and returns its outputs; ``agent.start(...)`` returns a :class:`Run` at once (the
run goes on as a task of the running loop); ``agent.sync(...)`` is for scripts. Called inside another run, a
graph_fn becomes a sub-graph node of that run instead of a run of its own.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import keyword
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Generic, overload

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import bound_arguments
from aether_nb.runtime.calls import StepCall
from aether_nb.runtime.checks import check_declared_inputs
from aether_nb.runtime.decorator_types import Broad, GraphFnDecorator, P, Q
from aether_nb.runtime.direct_calls import direct_coroutine
from aether_nb.runtime.execution import Scope, current_scope
from aether_nb.runtime.executors import Executor
from aether_nb.runtime.launch import check_resume_mode, start_run
from aether_nb.runtime.registry import register
from aether_nb.runtime.run import Run
from aether_nb.runtime.session import Session
from aether_nb.runtime.tools import (
    Tool,
    build_hook,
    check_outputs_decl,
    find_context_param,
    normalise_outputs,
    signature_text,
)

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

RESERVED = ("run_id", "session", "executor", "resume_mode")
"""start()'s own keywords: an agent's parameter of one of these names could never be passed."""


class GraphFn(Generic[P]):
    """An agent defined with :func:`graph_fn`.

    Typed by its inputs ``P`` when they are known statically (see :mod:`~aether_nb.runtime.decorator_types`);
    whatever it returns, a run's outputs are a ``dict[str, Any]``."""

    kind = "graph_fn"

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        outputs: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        refuse_non_agent(fn)
        self.fn = fn
        self.name = name or fn.__name__
        if not isinstance(self.name, str) or not self.name.isidentifier() or keyword.iskeyword(self.name):
            raise UsageError(f"graph_fn name must be an identifier, got {shown(self.name)}")
        self.outputs = check_outputs_decl(outputs, f"@graph_fn {self.name}")
        self.description = description or inspect.getdoc(fn)
        self.signature = inspect.signature(fn)
        self.context_param = find_context_param(fn, f"@graph_fn {self.name}")
        for p in self.signature.parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                raise UsageError(f"@graph_fn {self.name}: *{p.name} is not supported; inputs must have names")
            if p.name in RESERVED:
                raise UsageError(
                    f"@graph_fn {self.name}: parameter name {shown(p.name)} is reserved by start(); rename it"
                )
        self.inputs = [
            p.name
            for p in self.signature.parameters.values()
            if p.name != self.context_param and p.kind is not p.VAR_KEYWORD
        ]
        self.positional = {p.name: p.default for p in self.signature.parameters.values() if p.kind is p.POSITIONAL_ONLY}
        """The positional-only parameters (``def f(a, b, /)``) and their defaults, in order: a run's inputs are
        stored by name, so :meth:`run_root` passes these by position (by keyword, Python refuses them)."""
        self.version: str | None = None  # (AetherGraph's decorator keywords, kept as given)
        self.tags: list[str] = []
        self.entrypoint = False
        self.flow_id: str | None = None
        functools.update_wrapper(self, fn)
        register(self)

    def __repr__(self) -> str:
        return f"<graph_fn {self.name}({', '.join(self.inputs)}) -> {self.outputs or 'dict'}>"

    def _refuse_start_keywords(self, kwargs: dict[str, Any], how: str) -> None:
        """start()'s own keywords given to ``agent(...)`` or ``agent.sync(...)`` (``how``): say where they go.

        Without this, a call of an agent taking ``**kwargs`` swallowed ``run_id=`` as an input (a run id the caller
        never got), and any other said "unexpected keyword argument" as if the agent were misdeclared.
        """
        given = [k for k in RESERVED if k in kwargs]
        if not given:
            return
        keywords = ", ".join(f"{k}=" for k in given)
        example = ", ".join(f"{k}={shown(kwargs[k], 40) if isinstance(kwargs[k], str) else '...'}" for k in given)
        where = {
            "call": "",
            "nested": " (called inside a run, it is a step of that run, not a run of its own)",
            "sync": " (.sync() takes the agent's inputs only; in a script, do this in `async def main()` run by "
            "`asyncio.run(main())`)",
        }[how]
        raise UsageError(
            f"{keywords} {'is a keyword' if len(given) == 1 else 'are keywords'} of {self.name}.start(), not "
            f"{'an input' if len(given) == 1 else 'inputs'} of agent {shown(self.name)}: start the run with "
            f"`run = {self.name}.start(..., {example})`, then `await run` for its outputs{where}",
            code="start_keyword",
        )

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.context_param is not None:
            # AetherGraph passes context= to nested calls explicitly; here it is always injected.
            kwargs.pop(self.context_param, None)
        sig = inspect.Signature([p for p in self.signature.parameters.values() if p.name != self.context_param])
        try:
            arguments = bound_arguments(sig, args, kwargs)  # (naming every problem, as inspect's bind did not)
        except TypeError as exc:
            raise UsageError(
                f"{signature_text(self.name, sig)}: {exc}", code="bad_arguments"
            ) from None  # the message says it all; the chained TypeError would only show our frames
        inputs: dict[str, Any] = {}
        for k, v in arguments.items():
            if self.signature.parameters[k].kind is inspect.Parameter.VAR_KEYWORD:
                clash = [name for name in v if name in self.positional]
                if clash:  # (Python allows it; a run's inputs are one dict by name, so one would replace the other)
                    raise UsageError(
                        f"{self.name}(...): keyword {clash[0]}= has the name of a positional-only parameter of the "
                        "agent, and a run's inputs are stored by name: rename the parameter or the keyword",
                        code="bad_arguments",
                    )
                inputs.update(v)
            else:
                inputs[k] = v
        return inputs

    async def run_root(self, scope: Scope, inputs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(inputs)
        if self.context_param is not None:
            kwargs[self.context_param] = scope.context
        if self.positional:  # by position, in order; one the call left out takes its default
            args = [kwargs.pop(name, default) for name, default in self.positional.items()]
            raw = await self.fn(*args, **kwargs)
        else:
            raw = await self.fn(**kwargs)
        return normalise_outputs(raw, self.outputs, f"graph_fn {self.name}")

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, dict[str, Any]]:
        """Run the agent: inside a run, as a sub-graph node; elsewhere, as a new run (await the result)."""
        if build_hook.get() is not None:
            raise UsageError(
                f"agent {shown(self.name)} (a @graph_fn) was called while a @graphify graph was being built: its steps "
                "are only known when it runs, so it cannot be a node itself (the call would put a coroutine in the "
                f"graph). Wrap it in an async tool that awaits it (`@ag.tool async def step(x): return await "
                f"{self.name}(x=x)`: it runs as a sub-graph of that node), or write the outer agent as a @graph_fn",
                code="nested_graph",
            )
        scope = current_scope()
        self._refuse_start_keywords(kwargs, "call" if scope is None else "nested")
        inputs = self._bind(args, dict(kwargs))
        if scope is None:  # (noted: a sync tool's body that drops this coroutine fails its step, see direct_calls)
            return direct_coroutine(self._run_to_end(inputs), self.name, "an agent")

        async def execute(child: Scope) -> dict[str, Any]:
            return await self.run_root(child, inputs)

        return StepCall(scope, self.name, "graph_fn", inputs, execute)  # (a coroutine: send, throw, close)

    async def _run_to_end(self, inputs: dict[str, Any]) -> dict[str, Any]:
        run = self._start(inputs, run_id=None, session=None)
        try:
            return await run.result()
        except asyncio.CancelledError as exc:
            await run.stop_with_caller(exc)  # the caller owned this run (an interrupt, a timeout): it ends too
            raise

    # Typed: the agent's own inputs. A call that also passes one of start()'s options is checked for the options
    # alone (a ParamSpec takes no extra keywords), so each overload below names one of them as required.
    @overload
    def start(self, /, *args: P.args, **kwargs: P.kwargs) -> Run: ...
    @overload
    def start(
        self,
        /,
        *args: Any,
        run_id: str | None,
        session: Session | None = None,
        executor: Executor | None = None,
        resume_mode: str | None = None,
        **kwargs: Any,
    ) -> Run: ...
    @overload
    def start(
        self,
        /,
        *args: Any,
        run_id: str | None = None,
        session: Session | None,
        executor: Executor | None = None,
        resume_mode: str | None = None,
        **kwargs: Any,
    ) -> Run: ...
    @overload
    def start(
        self,
        /,
        *args: Any,
        run_id: str | None = None,
        session: Session | None = None,
        executor: Executor | None,
        resume_mode: str | None = None,
        **kwargs: Any,
    ) -> Run: ...
    @overload
    def start(
        self,
        /,
        *args: Any,
        run_id: str | None = None,
        session: Session | None = None,
        executor: Executor | None = None,
        resume_mode: str | None,
        **kwargs: Any,
    ) -> Run: ...
    def start(  # type: ignore[misc]  # (P's keywords are the agent's inputs, passed on to _bind as such)
        self,
        /,
        *args: Any,
        run_id: str | None = None,
        session: Session | None = None,
        executor: Executor | None = None,
        resume_mode: str | None = None,
        **kwargs: Any,
    ) -> Run:
        """Start a run as a task on the running loop and return its :class:`Run` at once.

        With ``run_id``, idempotent: an unfinished run with that id is resumed (replaying its completed steps), a
        finished one is returned as it is (a failed one runs again with ``resume_mode="failed_nodes"``: its
        completed steps replay, its failed ones execute again), and a run of that id with other inputs (or another
        agent) is a :class:`UsageError`. ``executor`` runs the run's sync tool bodies elsewhere (e.g. an
        ``ag.DaskExecutor``).
        """
        retry_failed = check_resume_mode(resume_mode)
        inputs = self._bind(args, dict(kwargs))
        return self._start(inputs, run_id=run_id, session=session, executor=executor, retry_failed=retry_failed)

    def _start(
        self,
        inputs: dict[str, Any],
        *,
        run_id: str | None,
        session: Session | None,
        executor: Executor | None = None,
        retry_failed: bool = False,
    ) -> Run:
        hint = f"{self.name}.sync(...)"
        return start_run(
            self, inputs, run_id=run_id, session=session, hint=hint, executor=executor, retry_failed=retry_failed
        )

    def sync(self, /, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """Run to the end from synchronous code (a script). In a notebook, use ``await agent(...)``.

        Inside a running event loop it refuses, unless ``ag.configure(nested_sync=True)`` opted in to
        nest-asyncio (see :func:`_run_nested` for what that costs).
        """
        self._refuse_start_keywords(kwargs, "sync")
        inputs = self._bind(args, dict(kwargs))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_to_end(inputs))
        from aether_nb.runtime.session import default_session

        if default_session().config.get("nested_sync"):
            return _run_nested(loop, self._run_to_end(inputs), self.name)
        raise UsageError(
            f"{self.name}.sync() cannot block inside a running event loop (a notebook cell or async code): "
            f"use `await {self.name}(...)`, or `run = {self.name}.start(...)` to keep the cell free. From a plain "
            "IPython terminal or a synchronous callback, ag.configure(nested_sync=True) allows it (README: event "
            "loops and nest-asyncio)",
            code="use_await",
        )


def refuse_non_agent(fn: Any) -> None:
    """Refuse at decoration what ``@graph_fn`` cannot run as an agent, saying what to do instead.

    Each of these used to be refused as "not an `async def`", which an agent decorated twice or an async generator
    is, in the user's eyes; the message now names what the object is.

    Raises:
        UsageError: ``fn`` is an agent already, a ``@tool``, an async generator or any other non-``async def``.
    """
    name = getattr(fn, "__name__", None)
    what = repr(name) if isinstance(name, str) else shown(fn)
    if isinstance(fn, GraphFn):
        raise UsageError(f"{fn.name} is already an agent (a @graph_fn): apply @graph_fn once", code="already_agent")
    if isinstance(fn, Tool):
        raise UsageError(
            f"{fn.name} is a @tool, not an `async def` function: put @graph_fn on the function itself instead of "
            f"@tool, or keep the tool and call it from an agent (`await {fn.name}(...)` in a @graph_fn)",
            code="not_async",
        )
    if inspect.isasyncgenfunction(fn):
        raise UsageError(
            f"@graph_fn {what} is an async generator (it yields): an agent returns its outputs once; collect the "
            "values and return them (a dict of outputs, or a list), or say them as they come with "
            "context.channel().send_text(...)",
            code="not_async",
        )
    if not inspect.iscoroutinefunction(fn):
        raise UsageError(
            f"@graph_fn needs an `async def` function; {what} is not one (tools may be sync, agents await their steps)",
            code="not_async",
        )


def _run_nested(loop: asyncio.AbstractEventLoop, coro: Any, name: str) -> dict[str, Any]:
    """Run ``coro`` to the end on the loop that is already running, re-entering it with nest-asyncio2.

    The opt-in's limits: the whole loop is patched for the process (``nest_asyncio2.apply``); while the nested
    call runs, the outer code is suspended, though other tasks on the loop go on; it is refused in a Jupyter
    kernel, where a nested ``run_until_complete`` loses widget and shell messages on ipykernel 7 (FACTS.md) — a
    notebook awaits instead.
    """
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is not None and kernelapp.IPKernelApp.initialized():
        coro.close()
        raise UsageError(
            f"{name}.sync() does not nest event loops in a Jupyter kernel (it loses widget messages there): use "
            f"`await {name}(...)`",
            code="use_await",
        )
    import nest_asyncio2

    nest_asyncio2.apply(loop)
    result: dict[str, Any] = loop.run_until_complete(coro)
    return result


@overload
def graph_fn(fn: Callable[Concatenate[Broad, Q], Coroutine[Any, Any, Any]], /) -> GraphFn[...]: ...
@overload
def graph_fn(fn: Callable[Concatenate[NodeContext, Q], Coroutine[Any, Any, Any]], /) -> GraphFn[Q]: ...
@overload
def graph_fn(fn: Callable[..., Coroutine[Any, Any, Any]], /) -> GraphFn[...]: ...


@overload
def graph_fn(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    description: str | None = None,
    inputs: Sequence[str] | None = None,
    version: str | None = None,
    tags: Sequence[str] | None = None,
    entrypoint: bool = False,
    flow_id: str | None = None,
) -> GraphFnDecorator: ...


def graph_fn(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    description: str | None = None,
    inputs: Sequence[str] | None = None,
    version: str | None = None,
    tags: Sequence[str] | None = None,
    entrypoint: bool = False,
    flow_id: str | None = None,
) -> Any:
    """Make an ``async def`` an agent: ``@graph_fn`` or ``@graph_fn(name="demo", outputs=["answer"])``.

    Inputs come from the signature; a parameter named ``context``/``ctx`` (or annotated ``NodeContext``)
    receives the run's :class:`~aether_nb.runtime.context.NodeContext`. AetherGraph's ``inputs=`` (checked
    against the signature), ``version=``, ``tags=``, ``entrypoint=`` and ``flow_id=`` are accepted, so its
    decorators work unchanged; all but the first are kept on the agent (``.version``, ``.tags``, ``.entrypoint``,
    ``.flow_id``) and change nothing about how it runs: in AetherGraph they are registry metadata, and
    ``entrypoint`` ("the main graph of a flow") is documented as unused.
    """
    if isinstance(fn, str):
        raise UsageError(f"pass the name by keyword: @graph_fn(name={shown(fn)})")
    if version is not None and not isinstance(version, str):
        raise UsageError(f"@graph_fn version= takes a string, got {shown(version)}")
    # (a list made first: an int was iterated, a TypeError; a generator was consumed by the check, no tags kept)
    tag_list = list(tags) if isinstance(tags, Iterable) and not isinstance(tags, (str, bytes, bytearray)) else None
    if tags is not None and (tag_list is None or not all(isinstance(t, str) for t in tag_list)):
        raise UsageError(f"@graph_fn tags= takes a list of strings, e.g. tags=['demo'], got {shown(tags)}")
    if not isinstance(entrypoint, bool):
        raise UsageError(f"@graph_fn entrypoint= takes True or False, got {shown(entrypoint)}")
    if flow_id is not None and (not isinstance(flow_id, str) or not flow_id):
        raise UsageError(f"@graph_fn flow_id= takes a non-empty string, got {shown(flow_id)}")

    def wrap(f: Callable[..., Any]) -> GraphFn:
        made = GraphFn(f, name=name, outputs=outputs, description=description)
        check_declared_inputs(inputs, made.inputs, f"@graph_fn {made.name}")
        made.version, made.tags = version, list(tag_list or [])
        made.entrypoint, made.flow_id = entrypoint, flow_id
        return made

    return wrap if fn is None else wrap(fn)
