"""The persistence boundary: a protocol, the in-memory store, and (lazily) the DuckDB store."""

from aether_nb.store.memory import MemoryStore
from aether_nb.store.protocol import Store

__all__ = ["MemoryStore", "Store"]
