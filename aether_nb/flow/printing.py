"""LangGraph's ``print_mode=`` and ``debug=True`` call options: chunks printed while the call runs as usual.

As in LangGraph (1.x), ``invoke``/``ainvoke``/``stream``/``astream`` take ``print_mode`` (a stream mode or a list of
them): the turn streams those modes too, and each such chunk is printed (``[mode] payload``, the mode in bold)
instead of being returned or yielded, so the call returns what it would return without it and a stream yields only
its own ``stream_mode``. ``debug=True`` on the call, or ``compile(debug=True)``, prints ``updates`` and ``values``
(LangGraph's rule: it replaces ``print_mode``). With ``subgraphs=True`` a subgraph's chunk carries its namespace,
``[mode] [graph=('node',)] payload``; namespaces are aether_nb's (node names, no task ids). The ``debug`` stream mode
is aether_nb's run events, so ``print_mode="debug"`` prints those.

Printing happens on the caller's side of the turn (the thread that reads its chunks), never in a node's worker
thread, so lines come in chunk order.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.streaming import Chunk, Sink

PRINTED_BY_DEBUG = ("updates", "values")
_BOLD, _YELLOW, _RESET = "\033[1m", "\033[1;33m", "\033[0m"

# compiled graphs made with compile(debug=True): every call of theirs prints (a weak set: a graph is not kept alive)
_DEBUG_GRAPHS: weakref.WeakSet[Any] = weakref.WeakSet()


def mark_debug(graph: Any) -> None:
    """Note that ``graph`` was compiled with ``debug=True``."""
    _DEBUG_GRAPHS.add(graph)


def print_modes(graph: Any, kwargs: Mapping[str, Any], allowed: Iterable[str]) -> tuple[str, ...]:
    """The modes a call prints, from its ``debug``/``print_mode`` keywords (``kwargs``) and the graph's
    ``compile(debug=...)``; empty when it prints nothing.

    Raises:
        UsageError: ``print_mode`` names a mode that is not a stream mode.
    """
    if kwargs.get("debug") or graph in _DEBUG_GRAPHS:
        return PRINTED_BY_DEBUG
    given = kwargs.get("print_mode")
    if given is None:
        return ()
    modes = [given] if isinstance(given, str) else list(given) if isinstance(given, Sequence) else None
    known = tuple(allowed)
    if modes is None or any(not isinstance(m, str) or m not in known for m in modes):
        raise UsageError(f"print_mode must be among {known} (or a list of them), got {shown(given)}")
    return tuple(dict.fromkeys(modes))


def print_chunk(chunk: Chunk, subgraphs: bool) -> None:
    """Print one chunk as LangGraph does: ``[mode] payload``, with ``[graph=ns]`` for a subgraph's chunk when the
    call streams subgraphs."""
    mode, payload, ns = chunk
    parts = [f"{_BOLD}[{mode}]{_RESET}"]
    if subgraphs and ns:
        parts.append(f"{_YELLOW}[graph={ns!r}]{_RESET}")
    parts.append(repr(payload))
    print(" ".join(parts), flush=True)


class PrintSink(Sink):
    """The sink of a call that returns its result (``invoke``) and prints the chunks of ``modes``. Nobody reads
    chunks one at a time here, so the turn never waits for a reader (:meth:`Sink.demanded`)."""

    def __init__(
        self,
        modes: Iterable[str],
        output_keys: str | Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(modes, False, self._print, output_keys, config)

    @staticmethod
    def _print(chunk: Chunk) -> None:
        print_chunk(chunk, subgraphs=False)

    async def demanded(self) -> None:
        return None


def print_sink(
    modes: tuple[str, ...], output_keys: str | Sequence[str] | None, config: Mapping[str, Any] | None
) -> PrintSink | None:
    """The sink an ``ainvoke`` that prints ``modes`` runs its turn with (None when it prints nothing)."""
    return PrintSink(modes, output_keys, config) if modes else None


def passes(chunk: Chunk, printed: tuple[str, ...], modes: Sequence[str], subgraphs: bool) -> bool:
    """Print ``chunk`` if its mode is printed; whether the stream yields it (its mode is one of ``modes``)."""
    if chunk[0] in printed:
        print_chunk(chunk, subgraphs)
    return chunk[0] in modes
