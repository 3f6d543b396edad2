"""The tool calls of one ``run_tools`` turn: started in the model's order, run concurrently, and every outcome (an
error too) turned into the ``tool`` message that goes back to the model.

Inside a run each call is a step (a DAG node) and the runtime runs a sync body on an executor. Outside a run
(``LLM(profile).run_tools(...)`` in a cell or a script) there is no step, but a sync ``@tool`` body must not run on
the event loop all the same: in a notebook that loop is the kernel's, and a body that blocks (a request, a wait on
a lock) froze every widget and every other run for as long as it ran. :func:`call_off_loop` runs it where a run
would (the tool's executor, else the session's for a body without a context, else this process's threads), under
the session's cap (``ag.configure(max_concurrency=N)``); a body given up on (the caller's ``asyncio.wait_for``, a
cancel) keeps its slot until its thread really returns, as in a run (README, "Sync tools keep their limits"). Its
result or error reaches the model as a run's call's does.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import reprlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.runtime.execution import current_scope, detach_scope
from aether_nb.runtime.executors import Executor, body_exit, linger
from aether_nb.runtime.outputs import normalise_outputs
from aether_nb.runtime.slots import in_session_slot, in_worker_thread
from aether_nb.runtime.tools import LOCAL, Tool
from aether_nb.services.llm_schema import ToolSpec, describe_validation_error

if TYPE_CHECKING:
    from aether_nb.runtime.session import Session

__all__ = ["call_off_loop", "run_calls", "tool_result_text"]


async def run_calls(
    by_name: dict[str, ToolSpec], calls: list[dict[str, Any]], session: Callable[[], Session]
) -> list[dict[str, Any]]:
    """Run one turn's tool calls concurrently; every outcome (errors too) becomes a ``tool`` message.

    ``session()`` is the session whose executor and cap a sync tool called outside a run uses (asked only then)."""
    pending: list[Any] = []
    for call in calls:  # steps are created in the model's order, so node ids do not depend on scheduling
        pending.append(_start_call(by_name, call, session))

    async def settle(item: Any) -> str:
        if isinstance(item, str):
            return item
        try:
            out = await item if inspect.isawaitable(item) else item
        except Exception as exc:
            return f"Error: the tool raised {type(exc).__name__}: {exc}"
        return tool_result_text(out)

    results = await asyncio.gather(*(settle(p) for p in pending))
    return [{"role": "tool", "tool_call_id": c["id"], "content": r} for c, r in zip(calls, results, strict=True)]


def tool_result_text(out: Any) -> str:
    """A tool's result as the text of its ``tool`` message: JSON, or (a value that contains itself, or nests deeper
    than the encoder goes) a bounded ``repr`` saying so. It was encoded outside the guard of the tool's errors: the
    tool had done its work, and the whole ``run_tools`` step failed with ``Circular reference detected``."""
    try:
        return json.dumps(out, default=repr, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError) as exc:
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        return f"(the result is not JSON: {why}) " + _SHORT.repr(out)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 8, 2000, 200, 50, 50


def _start_call(by_name: dict[str, ToolSpec], call: dict[str, Any], session: Callable[[], Session]) -> Any:
    """The tool's step (an awaitable inside a run; outside one, a sync tool's body run off the loop), or the error
    text to send back to the model."""
    spec = by_name.get(call["name"])
    if spec is None:
        return f"Error: there is no tool named {call['name']!r}; the tools are {sorted(by_name)}"
    try:
        args = json.loads(call["arguments"] or "{}")
    except (ValueError, RecursionError) as exc:  # (a 4,300-digit int, deep nesting: not JSONDecodeErrors)
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        return f"Error: the arguments are not valid JSON ({why}); send a JSON object"
    if not isinstance(args, dict):
        return f"Error: the arguments must be a JSON object, got {type(args).__name__}"
    try:
        checked = spec.validate(args)
    except Exception as exc:
        return f"Error: invalid arguments for {spec.name}: " + "; ".join(describe_validation_error(exc))
    tool = spec.tool
    if isinstance(tool, Tool) and not tool.is_async and current_scope() is None:
        return call_off_loop(tool, checked, session())
    try:
        return tool(**checked)
    except UsageError as exc:
        return f"Error: {exc.message}"


def _executor_for(tool: Tool, session: Session) -> Executor:
    """Where a run of ``session`` would run ``tool``'s sync body (``Tool.executor_for`` without a step): the tool's
    pin, else the session's executor (``ag.configure(executor=...)``) for a body that takes no context, else this
    process's threads."""
    if tool.executor is not None:
        return tool.executor
    if tool.context_param is None and session.executor is not None:
        return session.executor
    return LOCAL


def _in_worker(tool: Tool, arguments: dict[str, Any]) -> Any:
    """In the worker thread (a copy of the caller's context): the tool's direct call, as it ran on the loop before
    (arguments bound, the context parameter None, the outputs normalised). A run the body executes there
    (``agent.sync()``) takes no state of the caller's loop, and runs its calls in the body's unit of the cap."""
    detach_scope()
    with in_worker_thread():
        return tool(**arguments)


async def call_off_loop(tool: Tool, arguments: dict[str, Any], session: Session) -> dict[str, Any]:
    """``tool(**arguments)`` of a sync tool outside a run, off the event loop (see the module docstring): its outputs
    dict, or its error raised (``SystemExit`` / ``KeyboardInterrupt`` as a ``RunError``, as in a run)."""
    executor = _executor_for(tool, session)

    async def body() -> dict[str, Any]:
        if executor is LOCAL:
            submission = executor.submit(_in_worker, (tool, arguments), {}, label=tool.name)
        else:  # (a body with a context never gets here: those run in this process)
            submission = executor.submit(tool.fn, (), dict(arguments), label=tool.name)
        try:
            raw = await submission.result()
        except (SystemExit, KeyboardInterrupt) as exc:  # (an executor of the user's that hands them back as such)
            raise body_exit(exc, tool.name) from exc
        except asyncio.CancelledError:
            # given up on: a running thread cannot be stopped, so it keeps its slot of the cap until it returns
            if not submission.done() and not submission.cancel():
                linger(submission)
            raise
        return raw if executor is LOCAL else normalise_outputs(raw, tool.outputs, f"tool {tool.name}")

    return await in_session_slot(session.config, body)
