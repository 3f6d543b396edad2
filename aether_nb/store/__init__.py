"""The persistence boundary: a protocol, the in-memory store, and (lazily) the DuckDB store.

The names load on first use (PEP 562): importing ``aether_nb.store.records`` must not pay for the stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aether_nb.store.memory import MemoryStore
    from aether_nb.store.protocol import Store

__all__ = ["MemoryStore", "Store"]


def __getattr__(name: str) -> Any:
    if name == "MemoryStore":
        from aether_nb.store.memory import MemoryStore

        return MemoryStore
    if name == "Store":
        from aether_nb.store.protocol import Store

        return Store
    raise AttributeError(f"module 'aether_nb.store' has no attribute {name!r}")
