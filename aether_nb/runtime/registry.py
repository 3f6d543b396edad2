"""Definitions by name, so a run stored in one process can find its code again in the next.

This is a table of *definitions* (like ``sys.modules``), not of services: a graph_fn registers itself when it is
decorated, and redefining it in a later notebook cell replaces the entry, which is what a resumed run should use.
"""

from __future__ import annotations

from typing import Any, Protocol


class Runnable(Protocol):
    """What a run executes: something with a name that can run its body in a root scope."""

    name: str
    kind: str

    async def run_root(self, scope: Any, inputs: dict[str, Any]) -> dict[str, Any]: ...


_targets: dict[tuple[str, str], Any] = {}


def register(target: Any, *, kind: str | None = None, name: str | None = None) -> None:
    """Record a definition under ``(kind, name)`` (default: its ``kind`` and ``name`` attributes)."""
    _targets[(kind or target.kind, name or target.name)] = target


def lookup(kind: str, name: str) -> Any:
    """The latest definition registered under ``(kind, name)``, or None."""
    return _targets.get((kind, name))


_versions: dict[tuple[str, str], dict[str, Any]] = {}


def register_version(kind: str, name: str, version: str, target: Any) -> None:
    """Also remember ``target`` under its code version, so equally named definitions from different modules
    stay reachable (a graph built with one of them keeps finding it)."""
    _versions.setdefault((kind, name), {})[version] = target


def lookup_version(kind: str, name: str, version: str) -> Any:
    """The definition registered under ``(kind, name)`` with this code version, or None."""
    return _versions.get((kind, name), {}).get(version)
