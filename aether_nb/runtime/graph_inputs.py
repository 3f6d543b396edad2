"""A ``@graphify`` graph's inputs: the ones a call gives, and the ones its body can be called with.

(Split from :mod:`aether_nb.runtime.graphify`, which stays a module of readable size.)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aether_nb.errors import UsageError, shown


def check_graph_inputs(name: str, required: list[str], optional: dict[str, Any], given: dict[str, Any]) -> None:
    """A graph's inputs as given, or a :class:`UsageError` naming the missing and the unknown ones (calling the graph
    and ``ag.run`` say the same)."""
    missing = [k for k in required if k not in given]
    unknown = [k for k in given if k not in required and k not in optional]
    if missing or unknown:
        raise UsageError(
            f"graph {shown(name)} takes inputs {required + list(optional)}; missing {missing}, unknown {unknown}",
            code="bad_inputs",
        )


def check_body_takes(fn: Callable[..., Any], graph: str, declared: list[str]) -> None:
    """Refuse ``inputs=`` that the body could not be called with (it is called with every input by name): a
    declared input it has no parameter for (and no ``**kwargs``), or a parameter without a default that is not
    declared. Both were a raw ``TypeError`` from calling the body at build, naming neither the graph nor the fix."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # (no signature to compare: the build says what it says)
        return
    by_name = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    any_name = any(p.kind is p.VAR_KEYWORD for p in params)
    untaken = [k for k in declared if k not in by_name and not any_name]
    undeclared = [
        p.name
        for p in params
        if p.name not in declared and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.default is p.empty
    ]
    said = [f"declares inputs {untaken} the body has no parameter for"] if untaken else []
    said += [f"the body's parameters {undeclared} (without defaults) are not declared"] if undeclared else []
    if said:
        raise UsageError(
            f"@graphify {graph}: {'; '.join(said)}. The body is called with each declared input by name: make "
            f"inputs= name exactly the body's parameters ({[p.name for p in params]}), or leave inputs= out to take "
            "them from the signature",
            code="bad_inputs",
        )


__all__ = ["check_body_takes", "check_graph_inputs"]
