"""The class of a build-time node handle whose tool declares its outputs: ``handle.y`` as a property.

Why: a ``@graphify`` handle (``graphify.NodeHandle``) answers ``h.y`` in ``__getattr__``, which Python calls only
after its own lookup failed; on Python 3.11 that failure makes and discards an ``AttributeError`` with its message,
~60 % of the cost of reading ``h.y``, a build's most frequent operation (one per node of a chain, and a graph is
built at each call). A subclass with one property per declared output answers the same reference without the
failed lookup. Names the base class has (``node_id``, its methods) and dunder names are left to the lookup, as
before; the subclass has the base's name, module and docstring and adds no state (``__slots__ = ()``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from aether_nb.runtime.taskgraph import Ref, make_ref

H = TypeVar("H")

_CLASSES: dict[tuple[type[Any], tuple[str, ...]], type[Any]] = {}
"""By base class and declared outputs (bounded: tools' output lists are few)."""


def _output_property(key: str) -> property:
    """``handle.<key>``: a reference to output ``key`` of the handle's node, as the base's ``__getattr__`` gives."""

    def output(handle: Any) -> Ref:
        return make_ref(handle.node_id, key)

    return property(output)


def handle_class(base: type[H], outputs: tuple[str, ...]) -> type[H]:
    """``base``, or its subclass answering each declared output in ``outputs`` that its ``__getattr__`` would
    answer (an identifier, not a dunder name, no attribute of ``base``) with a property: ``make_ref(node_id, key)``.

    ``base``'s ``__getattr__`` must answer a declared output with exactly that reference (no error, no other
    effect), as ``graphify.NodeHandle``'s does."""
    key = (base, outputs)
    cls = _CLASSES.get(key)
    if cls is None:
        props = {
            k: _output_property(k)
            for k in outputs
            if isinstance(k, str) and k.isidentifier() and not k.startswith("__") and not hasattr(base, k)
        }
        cls = base
        if props:
            own = {"__slots__": (), "__module__": base.__module__, "__qualname__": base.__qualname__}
            cls = type(base.__name__, (base,), {**own, "__doc__": base.__doc__, **props})
        if len(_CLASSES) < 1024:
            _CLASSES[key] = cls
    return cls


__all__ = ["handle_class"]
