"""Coroutines a sync tool's body made and never ran: an async tool or an agent it called without ``await``.

Outside a run (a sync tool's body is outside one: it runs in a worker thread), an async tool called directly
returns a coroutine, and so does an agent. A sync body that forgot it was calling one got the un-run coroutine back
and went on: the run succeeded with ``{'receipt': <coroutine ...>}`` as its output, the call never ran (a charge
never made) and nothing said so but a ``RuntimeWarning`` on stderr, if that. A graph_fn's body making the same
mistake fails its run ("called inside a run but never awaited"); a sync tool's body fails its step the same way.

:func:`run_body` runs a sync body and refuses what it leaves un-run: the coroutines of the direct calls it made
(:func:`direct_coroutine` notes each one) and any coroutine in what it returns. They are closed first, so no
"coroutine ... was never awaited" warning follows the error.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from aether_nb.errors import UsageError
from aether_nb.runtime.checks import key_repr

T = TypeVar("T")

_made: ContextVar[list[tuple[Coroutine[Any, Any, Any], str]] | None] = ContextVar(
    "aether_nb_direct_coroutines", default=None
)
"""Set while a sync tool's body runs: the coroutines of the direct calls it made, with what each one calls."""

_SCAN_LIMIT = 1_000  # values looked at in a returned value (a big list of numbers is not searched to its end)


def direct_coroutine(coro: Coroutine[Any, Any, T], name: str, what: str) -> Coroutine[Any, Any, T]:
    """``coro``, the coroutine a direct call of ``name`` (``what``: "an async tool", "an agent") returns, named
    after it (its repr and any warning say ``name``, not the wrapper's name) and noted when a sync tool's body
    made the call, so that :func:`run_body` finds it if the body never ran it."""
    if isinstance(coro, types.CoroutineType):
        coro.__name__ = coro.__qualname__ = name
    made = _made.get()
    if made is not None:
        made.append((coro, f"{name}(...) ({what})"))
    return coro


def run_body(fn: Callable[..., Any], args: Any, kwargs: dict[str, Any], tool: str) -> Any:
    """``fn(*args, **kwargs)``, the sync body of tool ``tool``, refused if it leaves a call un-run.

    Raises:
        UsageError: the body returned a coroutine that never ran (in its value, a dict's value or a list's item), or
            made a direct call of an async tool or agent and never ran its coroutine. Code ``not_awaited``.
    """
    made: list[tuple[Coroutine[Any, Any, Any], str]] = []
    token = _made.set(made)
    try:
        raw = fn(*args, **kwargs)
    except BaseException:
        _close(c for c, _ in made)  # (the body's own error says what went wrong; no warnings after it)
        raise
    finally:
        _made.reset(token)
    refuse_unrun(raw, tool, made)
    return raw


def refuse_unrun(raw: Any, tool: str, made: Sequence[tuple[Coroutine[Any, Any, Any], str]] = ()) -> None:
    """Raise if ``raw`` (what tool ``tool``'s sync body returned) holds an un-run coroutine, or one of ``made`` (the
    coroutines of its direct calls) never ran; close them all first.

    Raises:
        UsageError: see :func:`run_body`.
    """
    returned = [(c, where) for c, where in _coroutines(raw, "", [0]) if _unrun(c)]
    left = [(c, what) for c, what in made if _unrun(c)]
    if not returned and not left:
        return
    named = dict(made)
    calls = [f"{named.get(c) or _what(c)}, returned{where} without being awaited" for c, where in returned]
    calls += [f"{what}, called and never awaited" for c, what in left if all(c is not r for r, _ in returned)]
    _close([c for c, _ in returned] + [c for c, _ in left])
    agent = (
        " An agent can also run to its end from a sync body: `agent.sync(...)`." if "(an agent)" in str(calls) else ""
    )
    raise UsageError(
        f"tool {tool}'s sync body left a call un-run: {'; '.join(calls)}. A sync body cannot await, so that call "
        f"never ran. Make {tool} an `async def` and `await` the call (inside a run it is then a step of the run), "
        f"or call a sync tool instead.{agent}",
        code="not_awaited",
    )


def _what(coro: Coroutine[Any, Any, Any]) -> str:
    """What a coroutine :func:`direct_coroutine` did not name calls: an agent's (its ``self`` has a ``run_root``)
    or some coroutine function's."""
    frame = getattr(coro, "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    name = getattr(owner, "name", None)
    if hasattr(owner, "run_root") and isinstance(name, str):
        return f"{name}(...) (an agent)"
    return f"{getattr(coro, '__qualname__', 'a coroutine')}(...) (a coroutine)"


_DEPTH_LIMIT = 32  # containers looked into below a returned value (a value that holds itself is not followed round)


def _coroutines(value: Any, where: str, seen: list[int], depth: int = 0) -> list[tuple[Coroutine[Any, Any, Any], str]]:
    """The coroutines in ``value``: itself, a dict's values, a list's or tuple's items (nested), each with where."""
    seen[0] += 1
    if seen[0] > _SCAN_LIMIT or depth > _DEPTH_LIMIT:
        return []
    if isinstance(value, types.CoroutineType):
        return [(value, where)]
    found: list[tuple[Coroutine[Any, Any, Any], str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = key_repr(k)  # (an int key past 4,300 digits has no repr: it raised here)
            found += _coroutines(v, f" as output {key}" if not where else f"{where}[{key}]", seen, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += _coroutines(v, f"{where}[{i}]" if where else f" as item {i}", seen, depth + 1)
    return found


def _unrun(coro: Coroutine[Any, Any, Any]) -> bool:
    return isinstance(coro, types.CoroutineType) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED


def _close(coros: Any) -> None:
    """Close the un-run ones: a closed coroutine that never started warns nothing when it is collected."""
    for c in coros:
        if _unrun(c):
            c.close()


__all__ = ["direct_coroutine", "refuse_unrun", "run_body"]
