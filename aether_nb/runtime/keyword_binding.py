"""A ``@graphify`` body's tool calls bound as ``inspect.Signature.bind`` binds them, for the usual call: by keywords
to a tool whose parameters all take keywords (``inc(x=h.y)``).

Why not ``Signature.bind``: a build binds every call of its body, and a graph is built at each call of it;
``inspect``'s general binding was most of a node's build. Any other call (positional arguments, other parameter
kinds, or one ``bind`` would refuse, for its message) is left to the general binding (``keyword_bind`` says None).
"""

from __future__ import annotations

import inspect
from typing import Any

KeywordPlan = tuple[tuple[str, ...], frozenset[str], frozenset[str]]
"""A signature of named parameters only: their names in order, the required ones, all of them as a set."""

_PLANS: dict[int, tuple[inspect.Signature, KeywordPlan | None]] = {}
"""By ``id`` of the signature (hashing a Signature hashes all its parameters), which the entry keeps alive."""


def keyword_plan(sig: inspect.Signature) -> KeywordPlan | None:
    """How :func:`keyword_bind` binds a call to ``sig`` (None: not by keywords alone), made once per signature."""
    hit = _PLANS.get(id(sig))
    if hit is not None and hit[0] is sig:
        return hit[1]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = sig.parameters.values()
    plan = (
        (
            tuple(p.name for p in params),
            frozenset(p.name for p in params if p.default is p.empty),
            frozenset(p.name for p in params),
        )
        if all(p.kind in named for p in params)
        else None
    )
    if len(_PLANS) < 4096:  # signatures of build-time tools: few; bounded all the same
        _PLANS[id(sig)] = (sig, plan)
    return plan


def keyword_bind(plan: KeywordPlan | None, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``sig.bind(**kwargs).arguments`` for a call by keywords to a signature of named parameters (how graphs are
    built: ``inc(x=h.y)``), without inspect's general binding; None sends the call through ``sig.bind`` (any other
    signature, and every call it would refuse, for its error message)."""
    if plan is None:
        return None
    names, required, allowed = plan
    if not kwargs.keys() <= allowed:
        return None
    if len(kwargs) == len(names):  # every parameter given (a subset of their size: all of them)
        # in the signature's order, as BoundArguments keeps them: kwargs itself when given in that order (the build
        # only reads what this returns)
        return kwargs if tuple(kwargs) == names else {n: kwargs[n] for n in names}
    if not required <= kwargs.keys():
        return None
    return {n: kwargs[n] for n in names if n in kwargs}  # in the signature's order, as BoundArguments keeps them


__all__ = ["KeywordPlan", "keyword_bind", "keyword_plan"]
