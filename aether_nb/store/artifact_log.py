"""Artifacts in the DuckDB store's history log: their rows as durable as history, and blob files no row points at.

Why: :meth:`~aether_nb.store.duckdb.DuckDBStore.artifact_put` writes its row to the ``artifacts`` table at once
(the artifact is in the store when it returns), so the row lived only in DuckDB's ``<file>.wal`` until DuckDB's
next checkpoint. A ``.wal`` cut short (half-copied, damaged; DuckDB then drops its tail without a word) opened
with the artifact missing and nothing said, while the history written in the same moment survived in the history
log (:mod:`aether_nb.store.logfile`). So each artifact write is first one frame of that log (synced), then the
table's statement, and the frames are kept exactly as long as history frames are:

* at the next open after a process died (:meth:`~aether_nb.store.log.FileState.recover`), the artifact frames the
  tables do not cover (``seq`` above ``log_state.applied_upto``) are written again, in order (:func:`redo`): a put
  is an upsert of the whole row, a pin sets one flag, so writing again what the table already holds changes
  nothing, and what the ``.wal`` lost comes back (and is said, naming the artifacts);
* a read-only open cannot write: it names the artifacts the table lacks and says to open the store read-write once.

A frame is JSON like every frame of the log, but an object (``{"artifact": row}``, ``{"pinned": [id, flag]}``)
where a history batch is a list. Bytes kept in the row (up to 1 MiB) travel as base64; bigger ones are already in
their own file (``<file>.artifacts/<sha256>``, written and synced before the frame), and the row names it.

What the log cannot bring back (a ``.wal`` cut short after the log was applied and its segments deleted, as for
history) leaves blob files that no row points at: :func:`unclaimed_blobs` finds them at open, and the store says
so, naming them.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from aether_nb.store.schema import ARTIFACT_UPSERT, transaction
from aether_nb.store.values import py_text

__all__ = [
    "ArtifactOp",
    "artifact_op",
    "pinned_frame",
    "put_frame",
    "redo",
    "report_missing",
    "report_unclaimed",
    "unclaimed_blobs",
]

_log = logging.getLogger("aether_nb")

_BLOB_NAME = re.compile(r"[0-9a-f]{64}")
_SHOWN = 10


@dataclass(frozen=True, slots=True)
class ArtifactOp:
    """One artifact write read back from the log: a whole row (``row``, the ``artifacts`` table's columns in order)
    or a pin (``pinned``) of ``artifact_id`` (the stored form of its id)."""

    artifact_id: str
    row: tuple[Any, ...] | None = None
    pinned: bool | None = None


def put_frame(row: Sequence[Any]) -> str:
    """The log frame of an ``artifacts`` row (every column in table order; the bytes column as base64)."""
    values = list(row)
    data = values[12]
    values[12] = None if data is None else base64.b64encode(bytes(data)).decode("ascii")
    return json.dumps({"artifact": values}, allow_nan=True)


def pinned_frame(artifact_id: str, pinned: bool) -> str:
    """The log frame of a pin (``artifact_id`` in its stored form)."""
    return json.dumps({"pinned": [artifact_id, bool(pinned)]})


def artifact_op(text: str) -> ArtifactOp | None:
    """The artifact write a frame's text holds, or None when it is a history batch (a JSON list).

    Raises:
        ValueError: the text is an object that is no artifact frame (the log reports the batch unreadable).
    """
    if not text.startswith("{"):
        return None
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("artifact"), list) and len(data["artifact"]) == 14:
        values = list(data["artifact"])
        values[12] = None if values[12] is None else base64.b64decode(values[12])
        return ArtifactOp(str(values[0]), row=tuple(values))
    pin = data.get("pinned") if isinstance(data, dict) else None
    if isinstance(pin, list) and len(pin) == 2 and isinstance(pin[0], str) and isinstance(pin[1], bool):
        return ArtifactOp(pin[0], pinned=pin[1])
    raise ValueError("an object that is neither a history batch nor an artifact write")


def _held(con: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    rows = con.execute("SELECT id FROM artifacts WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()
    return {r[0] for r in rows}


def _lost(con: duckdb.DuckDBPyConnection, ops: Sequence[ArtifactOp]) -> list[str]:
    """The ids (stored forms) of the artifacts ``ops`` write whose rows the table lacks, in the log's order."""
    ids = list(dict.fromkeys(op.artifact_id for op in ops if op.row is not None))
    held = _held(con, ids) if ids else set()
    return [i for i in ids if i not in held]


def _names(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(py_text(i)) for i in ids[:_SHOWN])
    return shown + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")


def redo(con: duckdb.DuckDBPyConnection, ops: Sequence[ArtifactOp], location: str) -> None:
    """Write ``ops`` (in log order) again, in one transaction, and say which artifacts the table had lost.
    Raises duckdb.Error (nothing changed)."""
    if not ops:
        return
    lost = _lost(con, ops)
    with transaction(con):
        for op in ops:
            if op.row is not None:
                con.execute(ARTIFACT_UPSERT, list(op.row))
            else:
                con.execute("UPDATE artifacts SET pinned = ? WHERE id = ?", [op.pinned, op.artifact_id])
    last = ops[-1]
    if lost == [last.artifact_id] and last.row is not None:
        # the log's last write is the one the table lacks: the process stopped between its two writes (a kill
        # while artifact_put ran: it never returned), which is no damage; the step storing it runs again anyway
        _log.info(
            "aether_nb: %s: the artifact being stored when its process stopped (%s) was written again from the "
            "store's history log.",
            location, _names(lost),
        )  # fmt: skip
    elif lost:
        _log.warning(
            "aether_nb: %s lacked the rows of %d artifact(s) stored before its process stopped: %s. DuckDB's "
            "write-ahead log (%s.wal) was cut short or damaged (a copy made while a kernel held the store?); "
            "they were restored from the store's history log.",
            location, len(lost), _names(lost), location,
        )  # fmt: skip


def report_missing(con: duckdb.DuckDBPyConnection, ops: Sequence[ArtifactOp], location: str) -> None:
    """For a read-only open (which cannot write them again): say which artifacts of ``ops`` the table lacks."""
    lost = _lost(con, ops) if ops else []
    if lost:
        _log.warning(
            "aether_nb: %s lacks the rows of %d artifact(s) its history log holds: %s (DuckDB's write-ahead log, "
            "%s.wal, was cut short or damaged). A read-only store cannot restore them: open it once without "
            "read_only=True, which writes them back from the log.",
            location, len(lost), _names(lost), location,
        )  # fmt: skip


def report_unclaimed(con: duckdb.DuckDBPyConnection, folder: Path, location: str) -> None:
    """At open: say which files of ``folder`` (``<file>.artifacts/``) no artifact row points at (their rows are
    gone), naming them. The files are left alone: they are the only copy of those bytes."""
    unclaimed = unclaimed_blobs(con, folder)
    if unclaimed:
        shown = ", ".join(p.name for p in unclaimed[:_SHOWN])
        more = f" and {len(unclaimed) - _SHOWN} more" if len(unclaimed) > _SHOWN else ""
        _log.warning(
            "aether_nb: %d file(s) of %s hold artifact bytes that no artifact of the store points at (%s%s): "
            "their rows are gone. Either DuckDB's write-ahead log (%s.wal) was cut short or damaged after the "
            "store's history log was applied, or the process died while storing them (artifact_put never "
            "returned). The bytes are kept: a file's name is the SHA-256 of its content; delete the files you "
            "do not need.",
            len(unclaimed), folder, shown, more, location,
        )  # fmt: skip


def unclaimed_blobs(con: duckdb.DuckDBPyConnection, folder: Path) -> list[Path]:
    """The files of ``<file>.artifacts/`` that no artifact row points at (the folder listed, one statement)."""
    try:
        files = [p for p in folder.iterdir() if _BLOB_NAME.fullmatch(p.name) and p.is_file()]
    except OSError:  # no folder (no big artifact yet), or unreadable: nothing to say here (a read says it)
        return []
    if not files:
        return []
    rows = con.execute("SELECT DISTINCT blob_file FROM artifacts WHERE blob_file IS NOT NULL").fetchall()
    claimed = {r[0] for r in rows}
    return sorted(p for p in files if p.name not in claimed)
