"""Node caching as LangGraph's: ``add_node(..., cache_policy=CachePolicy(ttl=...))`` and ``compile(cache=...)``.

A node with a cache policy, in a graph compiled with a cache, is not called again for an input it already answered:
its return (kept by ``(node, key)``, the key made from the node's input by the policy's ``key_func``) is used as if
it had returned it, and the ``updates`` stream marks the chunk ``"__metadata__": {"cached": True}``. Without a
cache given to ``compile``, policies do nothing (as in LangGraph). A cached return still becomes the task's
journaled step, so a resumed run replays it like any other.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError, shown


def default_cache_key(value: Any) -> str:
    """A digest of the node's input (its pickle; its ``repr`` when it cannot be pickled)."""
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:  # e.g. a lock or a local class in the state: fall back to its text
        data = repr(value).encode("utf-8", "backslashreplace")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CachePolicy:
    """How a node's results are cached: ``key_func(input)`` names an input (default: a digest of it), ``ttl``
    the seconds an entry lives (None: for ever)."""

    key_func: Callable[[Any], Hashable] = default_cache_key
    ttl: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.key_func):
            raise UsageError(f"CachePolicy(key_func=...) must be callable, got {shown(self.key_func)}")
        if self.ttl is not None and (
            isinstance(self.ttl, bool) or not isinstance(self.ttl, (int, float)) or not self.ttl > 0
        ):
            raise UsageError(
                f"CachePolicy(ttl=...) must be a positive number of seconds or None, got {shown(self.ttl)}"
            )


class InMemoryCache:
    """Node results kept in this process (LangGraph's ``InMemoryCache``); thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, Hashable], tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, node: str, key: Hashable) -> tuple[bool, Any]:
        """``(True, a copy of the return)`` for a live entry, else ``(False, None)``."""
        with self._lock:
            entry = self._entries.get((node, key))
            if entry is None:
                return False, None
            value, expires = entry
            if expires is not None and time.monotonic() >= expires:
                del self._entries[(node, key)]
                return False, None
        return True, copy.deepcopy(value)

    def set(self, node: str, key: Hashable, value: Any, ttl: float | None) -> None:
        expires = time.monotonic() + ttl if ttl is not None else None
        with self._lock:
            self._entries[(node, key)] = (copy.deepcopy(value), expires)

    def clear(self, nodes: Sequence[str] | None = None) -> None:
        """Forget every entry, or those of ``nodes``."""
        with self._lock:
            if nodes is None:
                self._entries.clear()
            else:
                wanted = set(nodes)
                self._entries = {k: v for k, v in self._entries.items() if k[0] not in wanted}


def cache_key(policy: CachePolicy, node: str, state: Any) -> Hashable:
    try:
        key = policy.key_func(state)
        hash(key)
    except Exception as exc:
        raise UsageError(
            f"node {shown(node)}: its CachePolicy's key_func failed on the node's input ({type(exc).__name__}: "
            f"{exc}); make it return a hashable value (a str) for any state",
            code="cache_key",
        ) from exc
    return key


__all__ = ["CachePolicy", "InMemoryCache", "cache_key", "default_cache_key"]
