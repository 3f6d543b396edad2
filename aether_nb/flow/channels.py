"""LangGraph channel classes used as state annotations (``Annotated[T, EphemeralValue]``, ``Annotated[list,
Topic(str, accumulate=True)]``): what each means for a key of aether_nb's state.

LangGraph's ``StateGraph`` accepts a channel class or instance as the last ``Annotated`` metadata of a field. A class
is callable, so without this module it would be taken for a reducer and called as ``reducer(old, new)``, making the
key's value a channel object: the run would go on with corrupt state. Here each channel is recognised by its class
(by name and module, without importing LangGraph) and mapped to aether_nb's own state semantics, LangGraph's
measured behaviour:

* ``LastValue``: a plain key (one write per superstep).
* ``AnyValue``: a key that several nodes may write in one superstep (the last write, in task order, wins) and that
  is cleared after a superstep that does not write it.
* ``EphemeralValue``: a plain key (``guard=False``: the last write wins) cleared after a superstep that does not
  write it, so the nodes of the next superstep read it and later ones do not.
* ``Topic``: a list that collects every write of a superstep (a list written is flattened into it); with
  ``accumulate=True`` it keeps growing across supersteps, else it holds the last writing superstep's values and
  is cleared after a superstep that does not write it.
* ``BinaryOperatorAggregate(T, op)`` (an instance): the reducer ``op``.

``UntrackedValue`` (a value that never reaches a checkpoint) and every other channel are refused when the graph is
built, with what to write instead: aether_nb journals every write and gives each node its own copy of the state,
so a value kept out of the checkpoints could not be resumed exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from aether_nb.errors import shown
from aether_nb.flow.types import GraphBuildError

_SUPPORTED = {"LastValue", "AnyValue", "EphemeralValue", "Topic", "BinaryOperatorAggregate"}


@dataclasses.dataclass(frozen=True)
class Channel:
    """How one key behaves, from its channel annotation.

    Attributes:
        last_wins: several writes in one superstep are allowed and the last (in task order) is kept.
        transient: the key is cleared after a superstep (not an input) that does not write it.
        topic: the key is a list collecting the writes (flattening lists).
        accumulate: (topics) the list keeps the values of earlier supersteps.
        reducer: (BinaryOperatorAggregate) the reducer.
    """

    last_wins: bool = False
    transient: bool = False
    topic: bool = False
    accumulate: bool = False
    reducer: Callable[[Any, Any], Any] | None = None


def _channel_class(meta: Any) -> type | None:
    """The LangGraph channel class of ``meta`` (a class or an instance), or None when it is not a channel."""
    cls = meta if isinstance(meta, type) else type(meta)
    for base in getattr(cls, "__mro__", ()):
        if base.__name__ == "BaseChannel" and base.__module__.startswith("langgraph."):
            return cls
    return None


def is_channel(meta: Any) -> bool:
    """Whether ``meta`` (an ``Annotated`` metadata item) is a LangGraph channel class or instance."""
    return _channel_class(meta) is not None


def channel_of(meta: Any, key: str) -> Channel:
    """What the channel annotation ``meta`` of ``key`` means (see the module docstring).

    Raises:
        GraphBuildError: a channel aether_nb does not build (``UntrackedValue``, barriers, a subclass of a channel,
            ``BinaryOperatorAggregate`` without its operator); the message says what to write instead.
    """
    cls = _channel_class(meta)
    assert cls is not None
    name = cls.__name__
    is_class = isinstance(meta, type)
    if name not in _SUPPORTED or not cls.__module__.startswith("langgraph.channels"):
        raise GraphBuildError([_refusal(key, name)])
    if name == "LastValue":
        return Channel()
    if name == "AnyValue":
        return Channel(last_wins=True, transient=True)
    if name == "EphemeralValue":
        return Channel(last_wins=not getattr(meta, "guard", True), transient=True)
    if name == "Topic":
        accumulate = False if is_class else bool(getattr(meta, "accumulate", False))
        return Channel(last_wins=True, transient=not accumulate, topic=True, accumulate=accumulate)
    op = None if is_class else getattr(meta, "operator", None)
    if not callable(op):
        raise GraphBuildError(
            [
                f"state key {shown(key)}: BinaryOperatorAggregate needs its operator; write Annotated[T, reducer] "
                "(e.g. Annotated[int, operator.add]) instead"
            ]
        )
    return Channel(reducer=op)


def _refusal(key: str, name: str) -> str:
    if name == "UntrackedValue":
        return (
            f"state key {shown(key)} is annotated with UntrackedValue, which aether_nb does not build: every value "
            "of the state is journaled and checkpointed so a run resumes exactly once. Keep objects that must not be "
            "stored (clients, locks, sessions) out of the state: pass them with context=... (or "
            "compile(store=...)), or build them inside the node; or drop UntrackedValue to keep a plain, "
            "checkpointed key"
        )
    return (
        f"state key {shown(key)} is annotated with the LangGraph channel {name}, which aether_nb does not build "
        "(supported: LastValue, AnyValue, EphemeralValue, Topic, BinaryOperatorAggregate(T, op)). Use a plain key, "
        "or Annotated[T, reducer] for a key that folds its writes"
    )


def topic_add(current: list[Any], update: Any) -> list[Any]:
    """A topic's reducer: the list with the written value appended (a list written is flattened into it)."""
    return [*current, *(update if isinstance(update, list) else [update])]
