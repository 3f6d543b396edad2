"""Lazy public names (PEP 562): a package lists the module each name lives in, and loads it on first use.

This is what keeps ``import aether_nb`` cheap (``tests/test_imports.py``): the run machinery, the services, DuckDB
and openai load when a name that needs them is first touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

from aether_nb.errors import shown


def lazy_getattr(namespace: dict[str, Any], table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` and caches the value in ``namespace``."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {shown(package)} has no attribute {shown(name)}")
        value = getattr(import_module(module), name)
        namespace[name] = value  # later lookups are plain attribute hits
        return value

    return __getattr__
