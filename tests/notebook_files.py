"""Notebook files for tests that need one on disk: code cells with the ids a test chooses (nbformat 4.5)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def notebook_with_cells(path: Path, ids: list[str]) -> Path:
    """Write a notebook of empty code cells with these ids to ``path``; returns ``path``."""
    nb = nbformat.v4.new_notebook()
    for i in ids:
        cell = nbformat.v4.new_code_cell("")
        cell["id"] = i
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path
