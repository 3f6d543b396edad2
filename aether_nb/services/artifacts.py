"""``context.artifacts()``: content-addressed blobs (text, JSON, bytes, files) with names and labels."""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import json
import mimetypes
import pathlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.clock import Clock
from aether_nb.store.protocol import Store
from aether_nb.store.records import ArtifactRecord

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")


INLINE_DISPLAY_MAX = 8 << 20
"""Artifacts up to this size render inline in a notebook; bigger ones show a summary line."""


@dataclass(frozen=True)
class Artifact:
    """A stored artifact; displays inline in a notebook (image, text or JSON)."""

    id: str
    uri: str
    name: str
    kind: str
    mime: str
    size: int
    labels: dict[str, Any]
    run_id: str | None = None
    pinned: bool = False
    _load: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_record(cls, rec: ArtifactRecord, store: Store | None = None) -> Artifact:
        load = None if store is None else functools.partial(_load_bytes, store, rec.id)
        return cls(
            rec.id,
            rec.uri,
            rec.name,
            rec.kind,
            rec.mime,
            rec.size,
            dict(rec.labels or {}),
            rec.run_id,
            rec.pinned,
            load,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # the loader holds the live store; a pickled artifact (e.g. in a journal) is reloaded without it
        fields = (self.id, self.uri, self.name, self.kind, self.mime, self.size, self.labels, self.run_id, self.pinned)
        return (Artifact, fields)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        summary = f"Artifact {self.name} ({self.mime}, {self.size} bytes) {self.uri}"
        bundle: dict[str, Any] = {"text/plain": summary}
        if self._load is None or self.size > INLINE_DISPLAY_MAX:
            return bundle
        data = self._load()
        if self.mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
            bundle[self.mime] = base64.b64encode(data).decode("ascii")
        elif self.mime == "image/svg+xml":
            bundle[self.mime] = data.decode("utf-8", errors="replace")
        elif self.mime == "application/json":
            try:
                bundle["application/json"] = json.loads(data)
            except ValueError:
                bundle["text/plain"] = data.decode("utf-8", errors="replace")
        elif self.mime.startswith("text/"):
            bundle["text/plain"] = data.decode("utf-8", errors="replace")
        return bundle


def _load_bytes(store: Store, artifact_id: str) -> bytes:
    hit = store.artifact_get(artifact_id)
    if hit is None:
        raise UsageError(f"artifact {artifact_id} is no longer in the store", code="artifact_not_found")
    return hit[1]


def check_name(name: Any) -> str:
    """Reject names that could escape the store when written out (``../x``, ``/etc``, ``a/b``)."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise UsageError(
            f"artifact name {name!r} is not allowed: use a plain file name (letters, digits, '.', '_', '-', "
            "spaces; no '/' or '..')",
            code="bad_artifact_name",
        )
    return name


def parse_uri(uri: Any) -> str:
    if isinstance(uri, Artifact):
        return uri.id
    if not isinstance(uri, str) or not uri.startswith("artifact://") or len(uri) <= len("artifact://"):
        raise UsageError(f"expected an artifact uri like 'artifact://<id>', got {uri!r}")
    return uri[len("artifact://") :]


class Artifacts:
    """Artifact service over the session's store."""

    def __init__(self, store: Store, clock: Clock, run_id: str | None, node_id: str | None) -> None:
        self._store = store
        self._clock = clock
        self._run_id = run_id
        self._node_id = node_id

    async def save_bytes(
        self,
        data: bytes,
        *,
        name: str = "data.bin",
        mime: str | None = None,
        kind: str = "bytes",
        labels: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store ``data``; the id is derived from its sha256 and name, so saving twice is idempotent."""
        return self.put_bytes(data, name=name, mime=mime, kind=kind, labels=labels)

    def put_bytes(
        self,
        data: bytes,
        *,
        name: str = "data.bin",
        mime: str | None = None,
        kind: str = "bytes",
        labels: dict[str, Any] | None = None,
    ) -> Artifact:
        """Synchronous :meth:`save_bytes`, for code that cannot await (answer hooks, sync tools)."""
        if not isinstance(data, (bytes, bytearray)):
            raise UsageError(f"save_bytes takes bytes, got {type(data).__name__}")
        check_name(name)
        if labels is not None and not isinstance(labels, dict):
            raise UsageError(f"labels must be a dict, got {type(labels).__name__}")
        digest = hashlib.sha256(bytes(data)).hexdigest()
        art_id = hashlib.sha256(f"{digest}:{name}:{self._run_id}".encode()).hexdigest()[:24]
        rec = ArtifactRecord(
            id=art_id,
            name=name,
            kind=kind,
            mime=mime or mimetypes.guess_type(name)[0] or "application/octet-stream",
            size=len(data),
            sha256=digest,
            labels=dict(labels or {}),
            created_at=self._clock.now(),
            run_id=self._run_id,
            node_id=self._node_id,
        )
        self._store.artifact_put(rec, bytes(data))
        return Artifact.from_record(rec, self._store)

    async def save_text(self, text: str, *, name: str = "text.txt", labels: dict[str, Any] | None = None) -> Artifact:
        if not isinstance(text, str):
            raise UsageError(f"save_text takes a string, got {type(text).__name__}")
        return await self.save_bytes(text.encode(), name=name, mime="text/plain", kind="text", labels=labels)

    async def save_json(self, value: Any, *, name: str = "data.json", labels: dict[str, Any] | None = None) -> Artifact:
        try:
            blob = json.dumps(value, ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise UsageError(f"save_json: value is not JSON-serialisable ({exc})") from exc
        return await self.save_bytes(blob, name=name, mime="application/json", kind="json", labels=labels)

    async def save_file(
        self, path: str | pathlib.Path, *, name: str | None = None, labels: dict[str, Any] | None = None
    ) -> Artifact:
        p = pathlib.Path(path)
        if not p.is_file():
            raise UsageError(f"{p} is not a file")
        return await self.save_bytes(p.read_bytes(), name=name or p.name, kind="file", labels=labels)

    def _get(self, uri: Any) -> tuple[ArtifactRecord, bytes]:
        art_id = parse_uri(uri)
        hit = self._store.artifact_get(art_id)
        if hit is None:
            raise UsageError(f"no artifact {art_id!r} in this store", code="artifact_not_found")
        return hit

    async def load_bytes(self, uri: str | Artifact) -> bytes:
        return self._get(uri)[1]

    async def load_text(self, uri: str | Artifact) -> str:
        return self._get(uri)[1].decode()

    async def load_json(self, uri: str | Artifact) -> Any:
        return json.loads(self._get(uri)[1])

    async def to_local_path(self, uri: str | Artifact, *, directory: str | pathlib.Path | None = None) -> pathlib.Path:
        """A file on disk holding the artifact's bytes, for code that wants a path (``pandas.read_csv``, an image
        library, a subprocess).

        Written once as ``<directory>/<artifact id>/<name>`` (default directory: ``aether_nb-artifacts`` in the
        system's temp folder); later calls return the same file, written again if it was deleted or changed.
        """
        rec, data = self._get(uri)
        base = (
            pathlib.Path(directory)
            if directory is not None
            else pathlib.Path(tempfile.gettempdir()) / "aether_nb-artifacts"
        )
        path = base / rec.id / rec.name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == rec.sha256:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file
        return path

    async def get(self, uri: str | Artifact) -> Artifact:
        return Artifact.from_record(self._get(uri)[0], self._store)

    async def list(
        self,
        *,
        labels: dict[str, Any] | None = None,
        kind: str | None = None,
        run_id: str | None = None,
        name: str | None = None,
        pinned: bool | None = None,
    ) -> list[Artifact]:
        """Artifacts newest first, filtered by labels (all must match), kind, run, name (a glob) and pinning."""
        if labels is not None and not isinstance(labels, dict):
            raise UsageError(f"labels must be a dict, got {type(labels).__name__}")
        out = []
        for rec in self._store.artifact_list():
            if kind is not None and rec.kind != kind:
                continue
            if run_id is not None and rec.run_id != run_id:
                continue
            if name is not None and not fnmatch.fnmatchcase(rec.name, name):
                continue
            if pinned is not None and rec.pinned != pinned:
                continue
            if labels and any((rec.labels or {}).get(k) != v for k, v in labels.items()):
                continue
            out.append(Artifact.from_record(rec, self._store))
        return out

    async def pin(self, uri: str | Artifact, pinned: bool = True) -> Artifact:
        """Pin an artifact (kept by any future clean-up), or unpin it with ``pinned=False``."""
        art_id = parse_uri(uri)
        if not self._store.artifact_set_pinned(art_id, pinned):
            raise UsageError(f"no artifact {art_id!r} in this store", code="artifact_not_found")
        return Artifact.from_record(self._get(uri)[0], self._store)
