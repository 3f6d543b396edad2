"""The persistence boundary: a protocol, the in-memory store, and (lazily) the DuckDB store.

The names load on first use (PEP 562): importing ``aether_nb.store.records`` must not pay for the stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_nb.store.memory import MemoryStore
    from aether_nb.store.protocol import Store

__all__ = ["MemoryStore", "Store"]


if not TYPE_CHECKING:
    from aether_nb._lazy import lazy_getattr

    __getattr__ = lazy_getattr(
        globals(), {"MemoryStore": "aether_nb.store.memory", "Store": "aether_nb.store.protocol"}
    )
