"""What a tool or a graph_fn declares and returns: its outputs list, checked at decoration, and its return value
turned into the outputs dict on every call; and its signature as written, for the errors that quote it."""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Sequence
from typing import Any

from aether_nb.errors import UsageError, shown


def check_outputs_decl(outputs: Sequence[str] | None, where: str) -> list[str] | None:
    """Validate a declared outputs list at decoration time."""
    if outputs is None:
        return None
    if isinstance(outputs, str):
        raise UsageError(f"{where}: outputs must be a list of names, e.g. outputs=[{shown(outputs)}], not a string")
    if not isinstance(outputs, (list, tuple)):
        raise UsageError(f"{where}: outputs must be a list of names, got {shown(outputs)}")
    names = list(outputs)
    for n in names:
        if not isinstance(n, str) or not n.isidentifier() or keyword.iskeyword(n):
            raise UsageError(f"{where}: output name {shown(n)} must be a Python identifier")
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: outputs has duplicates: {names}")
    return names


def normalise_outputs(value: Any, outputs: list[str] | None, where: str) -> dict[str, Any]:
    """Turn what a tool or graph_fn returned into its outputs dict.

    ``None`` -> ``{}``; a dict is checked against the declared outputs (passed through when none are declared);
    a tuple maps onto the declared outputs in order; any other value becomes ``{outputs[0]: value}`` (or
    ``{"result": value}`` when none are declared).

    Raises:
        UsageError: declared outputs are missing, undeclared keys are returned, or a tuple/value does not fit.
    """
    if (
        type(value) is dict
        and outputs is not None
        and len(value) == len(outputs)
        and all(map(value.__contains__, outputs))
    ):
        return dict(value)  # the common case: exactly the declared outputs (a C loop: no generator per call)
    if value is None:
        result: dict[str, Any] = {}
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UsageError(f"{where} returned a dict with non-string keys; output names must be strings")
        result = dict(value)
    elif isinstance(value, tuple) and outputs is not None:
        if len(value) != len(outputs):
            raise UsageError(
                f"{where} returned a tuple of {len(value)} values but declares {len(outputs)} outputs {outputs}",
                code="outputs_mismatch",
            )
        result = dict(zip(outputs, value, strict=True))
    elif outputs is None:
        result = {"result": value}
    elif len(outputs) == 1:
        result = {outputs[0]: value}
    else:
        raise UsageError(
            f"{where} returned a single {type(value).__name__} but declares outputs {outputs}: "
            "return a dict with those keys (or a tuple in that order)",
            code="outputs_mismatch",
        )
    if outputs is not None:
        missing = [k for k in outputs if k not in result]
        extra = [k for k in result if k not in outputs]
        if missing:
            raise UsageError(
                f"{where} did not return declared output(s) {missing}; it returned keys {sorted(result)}",
                code="missing_outputs",
            )
        if extra:
            raise UsageError(
                f"{where} returned undeclared output(s) {extra}; declare them in outputs=[...] or drop them",
                code="undeclared_outputs",
            )
    return result


def signature_text(name: str, sig: inspect.Signature) -> str:
    """``name(a: int, b=1)`` as the user wrote it (string annotations unquoted), for error messages."""
    parts = []
    for p in sig.parameters.values():
        text = (
            p.name
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            else ("*" if p.kind is p.VAR_POSITIONAL else "**") + p.name
        )
        if p.annotation is not p.empty:
            ann = p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if p.annotation is not p.empty else f"={p.default!r}"
        parts.append(text)
    return f"{name}({', '.join(parts)})"


__all__ = ["check_outputs_decl", "normalise_outputs", "signature_text"]
