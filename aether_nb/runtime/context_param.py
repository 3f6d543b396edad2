"""Which parameter of a tool, graph_fn or DualStageTool method receives the :class:`NodeContext`.

A parameter named ``context`` or ``ctx``, or one annotated ``NodeContext`` under any name, as AetherGraph injects
it. The annotation may say the context is optional (``Optional[NodeContext]``, ``NodeContext | None``,
``Union[NodeContext, None]``, ``Annotated[NodeContext, ...]``), and may be text: under ``from __future__ import
annotations`` every annotation is a string, which is read as written (parsed, never evaluated: a name imported
only under ``TYPE_CHECKING`` is still recognised, and reading a signature runs no user code). A parameter that
only matched a bare ``NodeContext`` silently got None for ``c: Optional[NodeContext] = None``, and became an input.
"""

from __future__ import annotations

import ast
import inspect
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

from aether_nb.errors import UsageError

CONTEXT_NAMES = ("context", "ctx")
"""Parameter names that receive the context whatever their annotation."""

_CONTEXT_CLASS = "NodeContext"


def find_context_param(fn: Callable[..., Any], where: str) -> str | None:
    """The parameter that receives the NodeContext: named ``context``/``ctx`` or annotated ``NodeContext`` (or
    that ``| None``); None when there is none. ``*args``/``**kwargs`` never receive it.

    Raises:
        UsageError: more than one parameter would receive it.

    A plain function's answer is kept (a DualStageTool's ``setup`` and ``on_resume`` are looked at on every call,
    and reading a signature, annotations parsed, was most of preparing one), while its code and annotations stay
    the ones it was found with.
    """
    memo = type(fn) is types.FunctionType
    if memo:
        hit = _FOUND.get(fn)
        if hit is not None and hit[0] is fn.__code__ and hit[1] is fn.__annotations__:
            return hit[2]
    found = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and (p.name in CONTEXT_NAMES or (p.annotation is not p.empty and is_context_annotation(p.annotation)))
    ]
    if len(found) > 1:
        raise UsageError(f"{where} has more than one context parameter ({found}); keep one")
    name = found[0] if found else None
    if memo:
        _FOUND[fn] = (fn.__code__, fn.__annotations__, name)
    return name


_FOUND: weakref.WeakKeyDictionary[Callable[..., Any], tuple[Any, Any, str | None]] = weakref.WeakKeyDictionary()


def is_context_annotation(annotation: Any) -> bool:
    """Whether ``annotation`` says NodeContext: the class (by name, so a re-exported ``ag.NodeContext`` counts and
    this module imports no runtime), an optional or ``Annotated`` form of it, or the text of either."""
    if isinstance(annotation, str):
        return _text_is_context(annotation)
    if isinstance(annotation, typing.ForwardRef):
        return _text_is_context(annotation.__forward_arg__)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return is_context_annotation(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(members) == 1 and is_context_annotation(members[0])
    return isinstance(annotation, type) and annotation.__name__ == _CONTEXT_CLASS


def _text_is_context(text: str) -> bool:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    return _node_is_context(tree.body)


def _node_is_context(node: ast.expr) -> bool:
    """The text forms: ``NodeContext``, ``ag.NodeContext``, ``Optional[...]``, ``Union[..., None]``,
    ``... | None``, ``Annotated[..., ...]``, and a quoted one inside any of them."""
    if isinstance(node, ast.Name):
        return node.id == _CONTEXT_CLASS
    if isinstance(node, ast.Attribute):
        return node.attr == _CONTEXT_CLASS
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _text_is_context(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _one_context(_union_members(node))
    if isinstance(node, ast.Subscript):
        head = _last_name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional" and len(args) == 1:
            return _node_is_context(args[0])
        if head == "Union":
            return _one_context(args)
        if head == "Annotated" and args:
            return _node_is_context(args[0])
    return False


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    return [node]


def _one_context(members: list[ast.expr]) -> bool:
    """A union that is the context or None, nothing else."""
    rest = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
    return len(rest) == 1 and _node_is_context(rest[0])


def _last_name(node: ast.expr) -> str:
    """``Optional`` for ``Optional``, ``typing.Optional`` and ``t.Optional``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


__all__ = ["CONTEXT_NAMES", "find_context_param", "is_context_annotation"]
