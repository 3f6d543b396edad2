"""The content-addressed folder beside a DuckDB store file that holds artifacts too big for a table row.

DuckDB is a poor place for many-megabyte blobs, so :class:`~aether_nb.store.duckdb.DuckDBStore` keeps bytes
over :data:`~aether_nb.store.duckdb.INLINE_BLOB_MAX` in ``<file>.artifacts/<sha256>`` and stores only the file
name in the row. This module owns that folder: writes are atomic (temp file, fsync, ``os.replace``) so a row
never points at a half-written file, and reads verify the content against its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from aether_nb.errors import StorageError, shown

__all__ = ["BlobFolder"]


class BlobFolder:
    """``<store file>.artifacts/``: artifact bytes named by their SHA-256.

    Args:
        location: the store file the folder sits beside (named in error messages).
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(os.path.abspath(location + ".artifacts"))  # (an os.chdir later changes nothing)

    def write(self, data: bytes) -> str:
        """Store ``data`` as ``<file>.artifacts/<sha256>`` (atomically, fsynced) and return the file name."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path / digest
        try:
            if target.exists() and target.stat().st_size == len(data):
                return digest
            self.path.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=self.path)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageError(
                f"cannot write artifact bytes to {target} (beside the store {self.location}): {exc}",
                code="io",
            ) from exc
        return digest

    def read(self, artifact_id: str, name: str) -> bytes:
        """The bytes of file ``name`` (artifact ``artifact_id``), checked against the SHA-256 that names it."""
        path = self.path / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StorageError(
                f"the bytes of artifact {shown(artifact_id)} are missing: cannot read {path} ({exc}). The folder "
                f"{self.path.name} must stay beside {self.location}.",
                code="missing_blob",
            ) from exc
        if hashlib.sha256(data).hexdigest() != name:
            raise StorageError(f"the bytes of artifact {shown(artifact_id)} in {path} are corrupt", code="corrupt_blob")
        return data
