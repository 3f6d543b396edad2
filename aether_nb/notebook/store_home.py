"""Which store a notebook opens at ``%load_ext``: its own, or the one it had before it was renamed.

Why: a notebook's store is named after the notebook (``Untitled.aether.duckdb`` beside ``Untitled.ipynb``), and
Jupyter tells a kernel the notebook's current name: after JupyterLab's "Rename" and a kernel restart,
``JPY_SESSION_NAME`` names ``agent.ipynb``. ``%load_ext`` would open a new, empty ``agent.aether.duckdb``, and the
runs waiting in ``Untitled.aether.duckdb`` would seem gone (the product's promise is that they survive a restart).

So a store remembers the cells of its notebook: their ids (nbformat 4.5 gives each cell a stable id, which a rename
keeps), from the notebook file when the store is made and from the cells that load the extension or start a run.
When a notebook's store does not exist yet, a store beside it whose notebook is gone and that knew one of this
notebook's cells is this notebook's, renamed: it is closed cleanly and renamed to the new name (nothing is copied;
a store another process holds is left alone). A store whose notebook is gone but that knew none of the cells (a
deleted notebook, a notebook saved before any cell had an id) is only pointed at, with the command that opens it.
Nor is a store another notebook of the folder could own as well: a copy of a notebook (File > Save As, Duplicate,
``cp``) has its cells' ids, so after the original was renamed the copy, opened first, took the original's store
and its waiting runs. When another notebook here without a store of its own has cells the store knows, neither
takes it over: the one loading is told which store it could be and how to open it (``%aether store PATH``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aether_nb.config import STORE_SUFFIX
from aether_nb.errors import AetherError
from aether_nb.store.logfile import FOLDER_SUFFIX
from aether_nb.store.protocol import Store

__all__ = [
    "CELLS_KEY", "CELLS_SCOPE", "MAX_CELLS", "Found", "adopt", "cell_ids", "describe", "find_previous",
    "remember_cells",
]  # fmt: skip

_log = logging.getLogger("aether_nb")

CELLS_SCOPE = "aether_nb"
CELLS_KEY = "notebook_cells"
"""Where a store keeps the ids of its notebook's cells (one KV value: a sorted list)."""
MAX_CELLS = 1_000
"""Cell ids a store keeps at most (beyond that, the first ones in sorted order are dropped; a notebook has far
fewer cells)."""
MAX_CANDIDATES = 8
"""Stores without a notebook examined at most per ``%load_ext`` (each is opened read-only, ~20 ms)."""


@dataclass(frozen=True)
class Found:
    """What the folder holds for a notebook whose store does not exist yet."""

    previous: Path | None  # the store this notebook had under its old name
    unclaimed: tuple[Path, ...]  # other stores whose notebook is gone (none, or more than one, knew its cells)
    contested: Path | None = None  # the one store that knew its cells, when another notebook here could own it too
    claimants: tuple[Path, ...] = ()  # those other notebooks (without a store of their own, knowing its cells)


def cell_ids(notebook: Path) -> set[str]:
    """The ids of the notebook file's cells (none when the file cannot be read or its cells have no ids)."""
    try:
        with open(notebook, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return set()
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return set()
    return {c["id"] for c in cells if isinstance(c, dict) and isinstance(c.get("id"), str) and c["id"]}


def _stores_without_notebook(store: Path) -> list[Path]:
    """Other notebook stores in ``store``'s folder whose notebook (``<name>.ipynb``) is not there."""
    out = []
    for other in sorted(store.parent.glob("*" + STORE_SUFFIX)):
        if other == store or not other.is_file():
            continue
        if not _notebook_of(other).exists():
            out.append(other)
    return out


def _known_cells(path: Path) -> set[str] | None:
    """The cell ids a store remembers (None when it cannot be opened: held by another process, not a store)."""
    from aether_nb.store.duckdb import DuckDBStore  # lazy: only when a notebook's store is missing

    try:
        store = DuckDBStore(path, read_only=True)
    except AetherError:
        return None
    try:
        hit = store.kv_get(CELLS_SCOPE, CELLS_KEY)
    except AetherError:
        return None
    finally:
        store.close()
    value = hit[0] if hit is not None else None
    return {c for c in value if isinstance(c, str)} if isinstance(value, list) else set()


def _notebook_of(store: Path) -> Path:
    """The notebook a store is named after (``a.aether.duckdb``: ``a.ipynb``)."""
    return store.with_name(store.name[: -len(STORE_SUFFIX)] + ".ipynb")


def _claimants(store: Path, known: set[str]) -> tuple[Path, ...]:
    """The other notebooks in ``store``'s folder that could own a store knowing the cells ``known``: they have
    none of their own yet (one that has would never take a store over) and share a cell id with it (a copy, or the
    original the copy was made from)."""
    this = _notebook_of(store)
    out = []
    for notebook in sorted(store.parent.glob("*.ipynb")):
        own = notebook.with_name(notebook.stem + STORE_SUFFIX)
        if notebook == this or own.exists() or not notebook.is_file():
            continue
        if cell_ids(notebook) & known:
            out.append(notebook)
    return tuple(out)


def find_previous(store: Path, cells: set[str]) -> Found:
    """For a notebook whose store ``store`` does not exist yet and whose cells have ``cells`` as ids: the store it
    had under another name (exactly one store whose notebook is gone remembers one of these cells, and no other
    notebook here could own it), and the other stores whose notebook is gone."""
    candidates = _stores_without_notebook(store)[:MAX_CANDIDATES]
    mine: list[tuple[Path, set[str]]] = []
    others: list[Path] = []
    for path in candidates:
        known = _known_cells(path) if cells else None
        if known and known & cells:
            mine.append((path, known))
        else:
            others.append(path)
    if len(mine) == 1:
        previous, known = mine[0]
        # (read only here, where a store would be taken over: the other notebooks' files are parsed)
        claimants = _claimants(store, known)
        if claimants:
            return Found(None, tuple(others), contested=previous, claimants=claimants)
        return Found(previous, tuple(others))
    return Found(None, tuple(path for path, _ in mine) + tuple(others))


def adopt(previous: Path, store: Path) -> bool:
    """Give the store ``previous`` the name ``store``: opened for writing (which fails if another process holds
    it; another store of this process must not have it open either) and closed (its history log applied, so the
    file is whole), then renamed with its artifacts' folder. False when it could not be, ``previous`` then left
    as it was."""
    from aether_nb.store.duckdb import DuckDBStore

    try:
        held = DuckDBStore(previous)
    except AetherError as exc:
        _log.info("aether_nb: not taking over %s: %s", previous, exc)
        return False
    shared = held.shared  # another store of this process has it open: renaming would pull it from under it
    held.close()
    if shared:
        _log.info("aether_nb: not taking over %s: this process has it open", previous)
        return False
    leftovers = [p for p in (Path(f"{previous}.wal"), Path(f"{previous}{FOLDER_SUFFIX}")) if p.exists()]
    if leftovers or store.exists():
        _log.info("aether_nb: not taking over %s: %s", previous, leftovers or f"{store} exists")
        return False
    artifacts = Path(f"{previous}.artifacts")  # (the artifacts' bytes: see aether_nb.store.blobs)
    moved = artifacts.exists()
    try:
        if moved:
            os.rename(artifacts, Path(f"{store}.artifacts"))
        os.rename(previous, store)
    except OSError as exc:
        if moved:  # put the artifacts back beside their store
            with contextlib.suppress(OSError):
                os.rename(Path(f"{store}.artifacts"), artifacts)
        _log.warning("aether_nb: could not rename %s to %s: %s", previous, store, exc)
        return False
    return True


def remember_cells(store: Store, cells: Iterable[str]) -> set[str]:
    """Add ``cells`` to the cell ids ``store`` remembers; returns all it remembers now (written only if new)."""
    hit = store.kv_get(CELLS_SCOPE, CELLS_KEY)
    value: Any = hit[0] if hit is not None else None
    known = {c for c in value if isinstance(c, str)} if isinstance(value, list) else set()
    new = {c for c in cells if isinstance(c, str) and c} - known
    if new:
        known |= new
        kept = sorted(known)[-MAX_CELLS:]
        store.kv_set(CELLS_SCOPE, CELLS_KEY, kept, None)
        known = set(kept)
    return known


def describe(found: Found) -> str:
    """What ``%load_ext`` says of stores whose notebook is gone (empty when there are none): one line for a store
    another notebook here could own too (:attr:`Found.contested`), one for the others. The command each line gives
    is quoted as ``%aether`` splits its line (a name with a space)."""
    lines = []
    if found.contested is not None:
        name = found.contested.name
        others = ", ".join(p.name for p in found.claimants[:3])
        more = f" (and {len(found.claimants) - 3} more)" if len(found.claimants) > 3 else ""
        lines.append(
            f"aether_nb: {name} belongs to no notebook here, and it knows cells of this notebook and of {others}{more} "
            "(a copy, or the original it was copied from, renamed): it is not taken over, since it cannot be told "
            f"whose it is. If this notebook's runs are there: `%aether store {shlex.quote(name)}` opens it; otherwise "
            "the notebook it belongs to takes it over when it next runs `%load_ext aether_nb`."
        )
    if found.unclaimed:
        names = ", ".join(p.name for p in found.unclaimed[:3])
        first = shlex.quote(found.unclaimed[0].name)
        more = f" (and {len(found.unclaimed) - 3} more)" if len(found.unclaimed) > 3 else ""
        lines.append(
            f"aether_nb: {names}{more} beside this notebook belong{'s' if len(found.unclaimed) == 1 else ''} to no "
            f"notebook here (renamed or deleted?). If this notebook's runs are there: `%aether store {first}` opens it."
        )
    return "\n".join(lines)
