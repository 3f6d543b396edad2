"""What ``@tool`` refuses at decoration, and the version it gives a tool's code.

Each check here is one a tool used to fail at every call instead (a method missing its ``self``, a generator whose
result was the un-run generator, a parameter named as a ``@graphify`` control keyword): refused once, when the cell
that defines the tool runs, with what to do instead. Apart from :mod:`~aether_nb.runtime.tools`, which keeps what
a call runs (binding, the step, the executor): nothing here runs per call but the control keywords' tuple, which a
call outside a build refuses too.
"""

from __future__ import annotations

import inspect
from typing import Any

from aether_nb.errors import UsageError, shown

CONTROL_KWARGS = ("_id", "_after", "_condition")
RESERVED_PARAMS = (*CONTROL_KWARGS, "_timeout_s")
"""Keywords of a tool call that steer a ``@graphify`` node (its id, order, condition, timeout): no tool parameter may
take one of these names (see :func:`refuse_reserved_params`)."""


def check_version(version: Any, where: str) -> None:
    """A declared ``version=`` (AetherGraph's decorator keyword) is a short non-empty string, e.g. ``"0.2.0"``.

    Raises:
        UsageError: it is something else.
    """
    if version is not None and (not isinstance(version, str) or not version.strip() or len(version) > 100):
        raise UsageError(f'{where}: version= takes a short string such as "0.2.0", got {shown(version)}')


def code_version(fingerprint: str, declared: str | None) -> str:
    """A tool's code version: the hash of its code, led by the version its decorator declares. The hash stays in
    it so that a cell re-run with edited code is still noticed (a replayed step says the tool changed, a built
    graph refuses to run the old code) when the declared version was not bumped, as AetherGraph's default
    ``"0.1.0"`` never is."""
    return fingerprint if declared is None else f"{declared}+{fingerprint}"


def refuse_unrunnable(fn: Any) -> None:
    """Refuse at decoration what a tool call could not run, saying what to do instead.

    Each of these was accepted and then misbehaved at every call: an agent or a generator gave its un-run
    coroutine or generator as the result (``{'result': <coroutine ...>}``), a method missed its ``self`` and the
    error blamed the caller's arguments.

    Raises:
        UsageError: ``fn`` is not callable, is a graph (``@graph_fn``, ``@graphify``, a state graph), a generator
            function (sync or async), or a method defined in a class body.
    """
    if not callable(fn):
        raise UsageError(f"@tool decorates a function, got {type(fn).__name__}")
    name = getattr(fn, "__name__", None) or shown(fn, 80)
    if hasattr(fn, "run_root"):  # a Runnable: it runs as a run of its own, or nested in one
        raise UsageError(
            f"{name} is an agent ({getattr(fn, 'kind', 'a graph')}), not a function: called inside a run it is "
            f"already a step of that run (a nested agent, a sub-graph node), `await {name}(...)`. Drop @tool",
            code="tool_of_agent",
        )
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise UsageError(
            f"@tool {name} is a generator function (it yields): a tool returns its outputs once, so its result would "
            "be the un-run generator. Return a list of what it yields instead (`return [...]`)",
            code="tool_generator",
        )
    parts = getattr(fn, "__qualname__", "").split(".")
    try:
        first = next(iter(inspect.signature(fn).parameters), None)
    except (TypeError, ValueError):
        first = None  # (no Python signature: Tool says so)
    if len(parts) > 1 and parts[-2] != "<locals>" and first in ("self", "cls"):
        raise UsageError(
            f"@tool {'.'.join(parts[-2:])} is a method: a call would have no {first} to pass. Decorate a plain "
            "function or a static method (@staticmethod above @ag.tool), or bind it to its object: "
            f"`{parts[-1]} = ag.tool(obj.{parts[-1]})`",
            code="tool_method",
        )


def refuse_reserved_params(signature: inspect.Signature, where: str) -> None:
    """Refuse a parameter named as a ``@graphify`` control keyword (``_id``, ``_after``, ``_condition``,
    ``_timeout_s``): such a tool was accepted, then every call giving it by keyword failed ("_id= only applies
    while building a @graphify graph"), and a graph's build took it as the node's own id.

    Raises:
        UsageError: a parameter has one of those names (code ``reserved_param``).
    """
    taken = [p for p in signature.parameters if p in RESERVED_PARAMS]
    if taken:
        names = ", ".join(RESERVED_PARAMS)
        raise UsageError(
            f"{where}: parameter {', '.join(map(repr, taken))} has a name tool calls keep for @graphify building "
            f"({names}: a node's id, order, condition and timeout). Rename it, e.g. {taken[0].lstrip('_')!r} or "
            f"'{taken[0].lstrip('_')}_'",
            code="reserved_param",
        )
