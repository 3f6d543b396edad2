"""``context.kv()``: small values by key, shared by the notebook's runs (or one run's steps), with TTLs."""

from __future__ import annotations

from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.clock import Clock
from aether_nb.runtime.codec import NotEncodable, decode, encode
from aether_nb.store.protocol import Store


def scope_key(scope: str, run_id: str | None) -> str:
    """Store scope for a service scope name: ``notebook`` or ``run`` (this run only)."""
    if scope == "notebook":
        return "notebook"
    if scope == "run":
        if run_id is None:
            raise UsageError("scope='run' needs a run; outside a run use scope='notebook'")
        return f"run:{run_id}"
    raise UsageError(f"scope must be 'notebook' or 'run', got {scope!r}")


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise UsageError(f"a key must be a non-empty string, got {key!r}")
    return key


class KV:
    """Key-value store over the session's store. Expired keys are invisible (checked on every read)."""

    def __init__(self, store: Store, clock: Clock, scope: str) -> None:
        self._store = store
        self._clock = clock
        self._scope = scope

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when missing or expired."""
        hit = self._store.kv_get(self._scope, _check_key(key))
        if hit is None:
            return default
        value, expires_at = hit
        if expires_at is not None and expires_at <= self._clock.now():
            self._store.kv_delete(self._scope, key)
            return default
        return decode(value)

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """Store ``value`` (any JSON-friendly or picklable value) under ``key``, expiring after ``ttl_s``."""
        _check_key(key)
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or ttl_s <= 0):
            raise UsageError(f"ttl_s must be a positive number of seconds or None, got {ttl_s!r}")
        try:
            encoded = encode(value)
        except NotEncodable as exc:
            raise UsageError(f"kv.set({key!r}): {exc}", code="not_storable") from exc
        expires = None if ttl_s is None else self._clock.now() + float(ttl_s)
        self._store.kv_set(self._scope, key, encoded, expires)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        return self._store.kv_delete(self._scope, _check_key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with ``prefix``, sorted."""
        if not isinstance(prefix, str):
            raise UsageError(f"prefix must be a string, got {prefix!r}")
        now = self._clock.now()
        return [k for k, exp in self._store.kv_keys(self._scope, prefix) if exp is None or exp > now]
