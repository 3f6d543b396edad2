"""What promotion reads in the agent's own source code (see :mod:`~aether_nb.runtime.promote`).

A run records values, not the code that made them, so a few questions are answered from the agent's source when it
is known (``inspect.getsource`` of its function): which constants it writes (a value equal to one stays a literal),
which names it reads (an input it never reads cannot be where a value came from), where it branches, loops or
catches errors (the promoted graph is the path one run took through them), and which parameters of a tool its
calls pass at all (a parameter none of them passes was left at its default: the run's record holds the bound
default, which is not a value the agent computed).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

__all__ = [
    "control_flow",
    "element_names",
    "iterated_names",
    "names_read",
    "passed_params",
    "runnable_calls",
    "source_constants",
    "tool_defaults",
    "unread_code",
    "unread_note",
    "unread_of",
]

_RUNNABLE = frozenset({"ainvoke", "invoke", "astream", "stream", "abatch", "batch", "astream_events"})
"""Methods that run a state graph (``aether_nb.flow``, LangGraph) or another runnable: called in an agent's body, what
they do (their LLM and tool calls) is a turn of its own, no step of the agent's run."""

_BRANCHES: tuple[type[ast.AST], ...] = (
    ast.If,
    ast.While,
    ast.For,
    ast.AsyncFor,
    ast.IfExp,
    ast.Match,
    ast.Try,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)
"""The statements whose path depends on the run: branches, loops, and ``try`` (which calls ran depends on which
raised)."""


def _tree(target: Any) -> tuple[ast.AST, str, Any] | None:
    """The parsed source of an agent (its tree, its text, its function), or None when its source is unknown."""
    fn = getattr(target, "fn", None)
    if fn is None:
        return None
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        return ast.parse(source), source, fn
    except (OSError, TypeError, SyntaxError):
        return None


def source_constants(target: Any) -> list[Any]:
    """The constants written in an agent's source code (strings, numbers...), or [] when its source is unknown."""
    parsed = _tree(target)
    if parsed is None:
        return []
    found: list[Any] = []
    for node in ast.walk(parsed[0]):
        if isinstance(node, ast.Constant) and not isinstance(node.value, (bytes, type(Ellipsis))):
            found.append(node.value)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.UnaryOp)):
            try:
                found.append(ast.literal_eval(node))
            except ValueError:
                continue
    return found


def names_read(target: Any) -> set[str] | None:
    """The names an agent's source reads (``ast.Name`` loads), or None when its source is unknown."""
    parsed = _tree(target)
    if parsed is None:
        return None
    return {n.id for n in ast.walk(parsed[0]) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def iterated_names(target: Any) -> set[str] | None:
    """The names an agent's loops and comprehensions iterate over (``for s in skus``, ``(f(s) for s in skus)``,
    ``for i, s in enumerate(skus)``: any name read in what is iterated), or None when its source is unknown. An
    input iterated over decides how many calls the run made: the promoted graph has that run's shape."""
    parsed = _tree(target)
    if parsed is None:
        return None
    found: set[str] = set()
    for node in ast.walk(parsed[0]):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            found |= {n.id for n in ast.walk(node.iter) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return found


def element_names(target: Any) -> set[str] | None:
    """The names whose elements an agent's code takes: those it iterates over (:func:`iterated_names`), indexes
    (``skus[0]``, ``cfg["region"]``) or unpacks (``first, *rest = skus``); None when its source is unknown. Only
    there is a value equal to an element of an input that element: elsewhere it is the coincidence of one run (a
    count computed in Python equal to an item of a list of numbers)."""
    parsed = _tree(target)
    looped = iterated_names(target)
    if parsed is None or looped is None:
        return None
    found = set(looped)
    for node in ast.walk(parsed[0]):
        if isinstance(node, ast.Subscript):
            found |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and any(isinstance(t, (ast.Tuple, ast.List)) for t in node.targets)
        ):
            found.add(node.value.id)
    return found


def control_flow(target: Any) -> list[str]:
    """The branches, loops and ``try`` blocks of an agent's source (``line 4: if d["y"] > 10``), or [] when it has
    none or its source is unknown. A promoted graph is the path one run took through them: with other inputs the
    agent may call other tools, or the same ones another number of times (or a fallback when a call fails or is
    given up on), and the graph would not."""
    parsed = _tree(target)
    if parsed is None:
        return []
    tree, source, fn = parsed
    first = getattr(getattr(fn, "__code__", None), "co_firstlineno", 1)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, _BRANCHES):
            head = ast.get_source_segment(source, node) or ""
            head = head.splitlines()[0].strip() if head else type(node).__name__.lower()
            found.append((first + getattr(node, "lineno", 1) - 1, head[:80]))
    return [f"line {line}: {head}" for line, head in sorted(found)]


def tool_defaults(tool: Any) -> dict[str, Any]:
    """The defaults of a tool's parameters (``def scale(x, factor=3)`` -> ``{"factor": 3}``), from its function's
    signature ({} when it has none to read: an MCP tool, a built-in)."""
    fn = getattr(tool, "fn", None)
    if fn is None:
        setup = getattr(tool, "setup", None)  # (a DualStageTool is called with its setup's parameters)
        fn = setup if callable(setup) else None
    if fn is None:
        return {}
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def passed_params(agents: list[Any], tool: Any, names: set[str]) -> set[str] | None:
    """The parameters of ``tool`` that some call in the agents' source passes (by position or keyword), or None
    when that is unknown: a source that cannot be read, a call with ``*args`` or ``**kwargs``, or a tool called
    under no name of ``names`` (through a variable, by a model in ``run_tools``). A parameter no call passes was
    left at its default by every call."""
    fn = getattr(tool, "fn", None)
    try:
        params = list(inspect.signature(fn).parameters) if fn is not None else None
    except (TypeError, ValueError):
        params = None
    if params is None:
        return None
    passed: set[str] = set()
    sites = 0
    for agent in agents:
        parsed = _tree(agent)
        if parsed is None:
            return None
        for node in ast.walk(parsed[0]):
            if not isinstance(node, ast.Call) or _called(node.func) not in names:
                continue
            sites += 1
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                return None
            passed.update(params[: len(node.args)])
            passed.update(k.arg for k in node.keywords if k.arg is not None)
    return passed if sites else None


def _called(func: ast.expr) -> str | None:
    """The name a call's function is written as (``scale`` in ``scale(x)`` and ``tools.scale(x)``)."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def runnable_calls(target: Any) -> list[str]:
    """The calls of an agent's source that run a state graph or another runnable (``line 12: app.ainvoke(...)``),
    or [] when it has none or its source is unknown. Such a call is a turn of its own: promotion cannot see its LLM
    or tool calls, so a value it produced looked computed in Python and the call went unmentioned. (An ``ainvoke``
    is also a journaled step of the run, ``flow.<graph>.ainvoke``, which promotion lists itself: see
    :mod:`aether_nb.flow.in_run`; ``astream`` and other runnables are in no step.)"""
    parsed = _tree(target)
    if parsed is None:
        return []
    tree, source, fn = parsed
    first = getattr(getattr(fn, "__code__", None), "co_firstlineno", 1)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RUNNABLE:
            text = (ast.get_source_segment(source, node) or node.func.attr).splitlines()[0].strip()
            found.append((first + node.lineno - 1, text[:80]))
    return [f"line {line}: {text}" for line, text in sorted(found)]


def unread_of(names: list[str], agents: list[Any]) -> list[str]:
    """Why the code of each agent (``names[i]``: ``agents[i]``, None when not defined here) was not read, once each."""
    return list(dict.fromkeys(u for n, a in zip(names, agents, strict=True) if (u := unread_code(n, a))))


def unread_note(why: str) -> str:
    """The promotion's note for an agent whose code was not read (:func:`unread_code` says why)."""
    return f"{why}: branches and constants of its code are not known, so its constants may be shown as computed inputs"


def unread_code(name: str, target: Any) -> str | None:
    """Why the code of agent ``name`` (``target``: its registered object, None when it is not defined) cannot be
    read, or None. Without it promotion cannot see its branches or its constants, and said nothing: promoted after a
    kernel restart without running the agent's cell, the path warning went missing and constants were called
    values computed in Python."""
    if target is None:
        return (
            f"the code of agent {name} is not available (it is not defined in this kernel: run the cell defining it, "
            "then promote again)"
        )
    if _tree(target) is None:
        return f"the code of agent {name} is not available (inspect.getsource cannot read it)"
    return None
