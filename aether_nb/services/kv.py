"""``context.kv()``: small values by key, shared by the notebook's runs (or one run's steps), with TTLs.

Every call is a journaled step of the run (see :mod:`aether_nb.runtime.effects`): a resumed run does not set or
delete again, and a ``get`` returns what it returned the first time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.checks import check_depth, check_no_secret, check_text
from aether_nb.runtime.codec import NotEncodable, decode, encode
from aether_nb.runtime.effects import ServiceCall

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext


def scope_key(scope: str, run_id: str | None) -> str:
    """Store scope for a service scope name: ``notebook`` or ``run`` (this run only)."""
    if scope == "notebook":
        return "notebook"
    if scope == "run":
        if run_id is None:
            raise UsageError("scope='run' needs a run; outside a run use scope='notebook'")
        return f"run:{run_id}"
    raise UsageError(f"scope must be 'notebook' or 'run', got {shown(scope)}")


def _check_key(key: Any) -> str:
    return check_no_secret(check_text(key, "a KV key"), "a KV key")


MAX_TTL_S = 1e12


def check_ttl(ttl_s: Any) -> float | None:
    """A TTL in seconds: None (no expiry) or a finite positive number."""
    if ttl_s is None:
        return None
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not ttl_s > 0:
        raise UsageError(f"ttl_s must be a positive, finite number of seconds or None, got {shown(ttl_s)}")
    if not ttl_s <= MAX_TTL_S:  # (NaN, infinity, and an int too big for a float: Python raised OverflowError)
        raise UsageError(
            f"ttl_s must be a finite number of seconds up to {MAX_TTL_S:.0e} (about 30,000 years), got "
            f"{shown(ttl_s)}; give ttl_s=None for a value that never expires"
        )
    return float(ttl_s)


class KV:
    """Key-value store over the session's store. Expired keys are invisible (checked on every read).

    Args:
        context: the node using it (its calls are steps of that node's run).
        scope: the store scope (``notebook`` or ``run:<id>``).
    """

    def __init__(self, context: NodeContext, scope: str) -> None:
        self._ctx = context
        self._scope = scope

    def _call(self, method: str, inputs: Any, body: Any, **kw: Any) -> ServiceCall:
        return ServiceCall(self._ctx.scope, "kv", method, inputs, body, **kw)

    def get(self, key: str, default: Any = None) -> Awaitable[Any]:
        """The value of ``key``, or ``default`` when missing or expired."""
        _check_key(key)
        scope, clock = self._scope, self._ctx.session.clock

        def body(store: Any) -> Any:
            hit = store.kv_get(scope, key)
            if hit is None:
                return default
            value, expires_at = hit
            if expires_at is not None and expires_at <= clock.now():
                store.kv_delete(scope, key)
                return default
            return decode(value)

        return self._call("get", {"key": key, "default": default}, body)

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> Awaitable[None]:
        """Store ``value`` (any JSON-friendly or picklable value) under ``key``, expiring after ``ttl_s``."""
        _check_key(key)
        ttl = check_ttl(ttl_s)
        check_depth(value, f"kv.set({key!r}) value")
        try:
            encoded = encode(value)
        except NotEncodable as exc:
            raise UsageError(f"kv.set({shown(key)}): {exc}", code="not_storable") from exc
        scope, clock = self._scope, self._ctx.session.clock

        def body(store: Any) -> None:
            store.kv_set(scope, key, encoded, None if ttl is None else clock.now() + ttl)

        return self._call("set", {"key": key, "value": value, "ttl_s": ttl}, body)

    def delete(self, key: str) -> Awaitable[bool]:
        """Remove ``key``; True when it existed."""
        _check_key(key)
        scope = self._scope
        return self._call("delete", {"key": key}, lambda store: bool(store.kv_delete(scope, key)))

    def keys(self, prefix: str = "") -> Awaitable[list[str]]:
        """Live keys starting with ``prefix``, sorted."""
        check_text(prefix, "prefix", empty=True)
        scope, clock = self._scope, self._ctx.session.clock

        def body(store: Any) -> list[str]:
            now = clock.now()
            return [k for k, exp in store.kv_keys(scope, prefix) if exp is None or exp > now]

        return self._call("keys", {"prefix": prefix}, body)

    # -- AetherGraph's names (its users' code runs unchanged) --------------------------------------------------------
    async def mget(self, keys: Sequence[str]) -> list[Any]:
        """The values of ``keys`` (None for a missing one), in order: one ``get`` step each."""
        if isinstance(keys, (str, bytes, bytearray)) or not isinstance(keys, Sequence):
            raise UsageError(f"kv.mget takes a list of keys, got {shown(keys)}")
        return [await self.get(k) for k in keys]

    async def mset(self, values: Mapping[str, Any], *, ttl_s: float | None = None) -> None:
        """Store every item of ``values``: one ``set`` step each."""
        if not isinstance(values, Mapping):
            raise UsageError(f"kv.mset takes a dict of keys to values, got {shown(values)}")
        for k, v in values.items():
            await self.set(k, v, ttl_s=ttl_s)

    def scan_keys(self, prefix: str = "") -> Awaitable[list[str]]:
        """AetherGraph's name for :meth:`keys`."""
        return self.keys(prefix)
