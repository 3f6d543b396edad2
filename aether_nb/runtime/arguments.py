"""A tool call's arguments, bound as Python binds them: what is wrong with a call that does not bind, and how a
graph node's stored inputs are passed back to its tool.

Why not ``inspect.Signature.bind``'s message: it stops at the first problem, and checks missing arguments before
unknown keywords, so ``inc(z=x)`` for ``def inc(x)`` said only "missing a required argument: 'x'" (the ``z`` the
user typed was never named). :func:`call_problems` names every problem, as Python's own ``TypeError`` would.

A ``@graphify`` node stores its inputs as ``Signature.bind`` gives them (``{"a": 1, "args": [2], "kw": {...}}``),
and the scheduler calls the tool with them by keyword: right for parameters that take keywords, wrong for
positional-only ones, ``*args`` and ``**kwargs`` (``kw`` reached the tool as one keyword named ``kw``).
:func:`node_tool` gives such a tool a ``prepare`` that passes them back as Python would.
"""

from __future__ import annotations

import difflib
import inspect
import weakref
from typing import Any

from aether_nb.runtime.context_param import find_context_param

_P = inspect.Parameter
_NAMED = (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def call_problems(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """Everything that keeps ``sig.bind(*args, **kwargs)`` from binding, in Python's words (empty: it binds)."""
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    var_args = any(p.kind is _P.VAR_POSITIONAL for p in params)
    var_kw = any(p.kind is _P.VAR_KEYWORD for p in params)
    problems: list[str] = []
    if len(args) > len(positional) and not var_args:
        takes = f"{len(positional)} positional argument{'' if len(positional) == 1 else 's'}"
        problems.append(f"takes {takes} but {len(args)} {'was' if len(args) == 1 else 'were'} given")
    by_position = {p.name for p in positional[: len(args)]}
    unexpected, multiple, by_keyword = [], [], []
    for k in kwargs:
        p = sig.parameters.get(k)
        if p is None or p.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD) or (p.kind is _P.POSITIONAL_ONLY and var_kw):
            if not var_kw:
                unexpected.append(k)
        elif p.kind is _P.POSITIONAL_ONLY:
            by_keyword.append(k)
        elif k in by_position:
            multiple.append(k)
    missing = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
        and p.name not in by_position
        and (p.kind is _P.POSITIONAL_ONLY or p.name not in kwargs)
        and p.name not in by_keyword
    ]
    if unexpected:
        some = "an unexpected keyword argument" if len(unexpected) == 1 else "unexpected keyword arguments"
        problems.append(f"got {some} {_quoted(unexpected)}")
    if multiple:
        problems.append(f"got multiple values for argument{'' if len(multiple) == 1 else 's'} {_quoted(multiple)}")
    if by_keyword:
        problems.append(
            f"positional-only argument{'' if len(by_keyword) == 1 else 's'} {_quoted(by_keyword)} passed by keyword"
        )
    if missing:
        some = "a required argument:" if len(missing) == 1 else "required arguments:"
        problems.append(f"missing {some} {_quoted(missing)}")
    return problems


def bound_arguments(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``sig.bind(*args, **kwargs).arguments`` as Python itself binds the call, in the signature's order.

    Not ``inspect``'s: before Python 3.12.4 it refused a keyword named like a positional-only parameter with a
    default when ``**kwargs`` takes it (``def f(a, b=2, /, **kw)``, ``f(1, b=3)``: Python gives ``kw={'b': 3}``).

    Raises:
        TypeError: Python would refuse the call; the message is :func:`bad_call`'s.
    """
    problems = call_problems(sig, args, kwargs)
    if problems:
        raise TypeError(bad_call(sig, args, kwargs))
    params = sig.parameters
    positional = [p for p in params.values() if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    given: dict[str, Any] = {p.name: v for p, v in zip(positional, args, strict=False)}
    extra: dict[str, Any] = {}
    for k, v in kwargs.items():
        p = params.get(k)
        if p is None or p.kind not in _NAMED:  # (no problem found: a **kwargs takes it)
            extra[k] = v
        else:
            given[k] = v
    arguments: dict[str, Any] = {}
    for p in params.values():
        if p.kind is _P.VAR_POSITIONAL:
            if len(args) > len(positional):
                arguments[p.name] = tuple(args[len(positional) :])
        elif p.kind is _P.VAR_KEYWORD:
            if extra:
                arguments[p.name] = extra
        elif p.name in given:
            arguments[p.name] = given[p.name]
    return arguments


def bad_call(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What is wrong with a call that ``sig`` refuses and what to do: every problem, then the fix — a misspelled
    keyword's likely meaning when there is one."""
    problems = call_problems(sig, args, kwargs) or ["the arguments do not fit its signature"]
    params = list(sig.parameters.values())
    taken = {p.name for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)}
    taken = {p.name for p in [p for p in params if p.name in taken][: len(args)]}  # (given by position)
    free = [p for p in params if p.kind in _NAMED and p.name not in kwargs and p.name not in taken]
    var_kw = any(p.kind is _P.VAR_KEYWORD for p in params)
    unknown = [] if var_kw else [k for k in kwargs if k not in sig.parameters]
    missing = [p.name for p in free if p.default is p.empty]
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(k, [p.name for p in free], 1)
        if close:
            hints.append(f"{close[0]}= instead of {k}=")
    if not hints and len(unknown) == 1 and len(missing) == 1:
        hints.append(f"{missing[0]}= instead of {unknown[0]}=")
    fix = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return "; ".join(problems) + fix + ". Pass the arguments its signature names, as a direct Python call would"


# -- a graph node's stored inputs, passed back to its tool -----------------------------------------------------------

_NODE_SIGNATURES: weakref.WeakKeyDictionary[Any, inspect.Signature] = weakref.WeakKeyDictionary()


def node_signature(tool: Any) -> inspect.Signature:
    """The inputs a node of ``tool`` takes (no ``self``, no context): a ``@tool``'s signature, or a DualStageTool's
    ``setup``'s. Made once per tool: building a 1,000-node graph used to make a thousand Signature objects."""
    sig = _NODE_SIGNATURES.get(tool)
    if sig is None:
        if isinstance(tool, type):  # a DualStageTool subclass (a class: its calls are its setup's)
            setup: Any = getattr(tool, "setup")  # noqa: B009 (a class attribute mypy cannot see on `type`)
            full, ctx = inspect.signature(setup), find_context_param(setup, getattr(tool, "tool_name", ""))
        else:
            full, ctx = tool.signature, tool.context_param
        sig = inspect.Signature([p for p in full.parameters.values() if p.name not in ("self", ctx)])
        _NODE_SIGNATURES[tool] = sig
    return sig


class _PassedAsPython:
    """A tool whose node inputs cannot all be passed by keyword: ``prepare((), inputs)`` calls the tool with the
    positional and keyword arguments the inputs were bound from (``Signature.bind``'s inverse)."""

    def __init__(self, tool: Any, sig: inspect.Signature) -> None:
        self.tool = tool
        self.sig = sig

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tool, name)

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        params = self.sig.parameters
        fits = not args and all(k in params for k in kwargs)
        for k, v in kwargs.items() if fits else ():
            kind = params[k].kind
            if (kind is _P.VAR_POSITIONAL and not isinstance(v, (list, tuple))) or (
                kind is _P.VAR_KEYWORD and not (isinstance(v, dict) and all(isinstance(n, str) for n in v))
            ):
                fits = False  # (a hand-edited graph's inputs: the tool's own binding says what is wrong)
        if not fits:
            return self.tool.prepare(args, kwargs)
        arguments = dict(kwargs)
        positional = [p for p in params.values() if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
        star = any(params[k].kind is _P.VAR_POSITIONAL for k in kwargs)
        upto = len(positional) if star else 0  # (the parameters passed by position)
        for i, p in enumerate(positional):
            if p.kind is _P.POSITIONAL_ONLY and p.name in kwargs:
                upto = max(upto, i + 1)
        for p in positional[:upto]:  # a gap (one left at its default: a promoted call) would end the positionals
            if p.name not in arguments and p.default is not p.empty:
                arguments[p.name] = p.default
        ctx = None if isinstance(self.tool, type) else self.tool.context_param
        sig = self.sig
        if ctx is not None:  # a @tool binds against its whole signature: None there is "inject the context"
            sig = self.tool.signature
            arguments[ctx] = None
        bound = inspect.BoundArguments(sig, arguments)
        return self.tool.prepare(bound.args, bound.kwargs)


def node_tool(tool: Any) -> Any:
    """``tool``, or for one that takes positional-only parameters, ``*args`` or ``**kwargs``, the same tool with
    a ``prepare`` that passes a node's stored inputs as the call that built the node passed them."""
    sig = node_signature(tool)
    if all(p.kind in _NAMED for p in sig.parameters.values()):
        return tool
    return _PassedAsPython(tool, sig)


__all__ = ["bad_call", "bound_arguments", "call_problems", "node_signature", "node_tool"]
