"""``context.artifacts()``: content-addressed blobs (text, JSON, bytes, files) with names and labels."""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import json
import pathlib
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.checks import check_depth, check_no_secret, check_text, lone_surrogate
from aether_nb.runtime.clock import Clock
from aether_nb.runtime.effects import ServiceCall
from aether_nb.services.artifact_text import guess_mime as guess_mime  # (re-exported)
from aether_nb.services.artifact_text import redact_blob
from aether_nb.store.protocol import Store
from aether_nb.store.records import ArtifactRecord

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

_SAFE_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\.\s-][^\x00-\x1f\x7f/\\]{0,199}$")
"""A plain file name in any script (``données.csv``, ``report (1).csv``, ``O'Brien.csv``: what a browser uploads):
no folder separator or control character, not starting with ``.``, ``-`` or a space, at most 200 characters."""


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
    if not isinstance(name, str) or not _SAFE_NAME.match(name):  # (no separator: "v1..2.csv" is a plain name)
        raise UsageError(
            f"artifact name {shown(name)} is not allowed: use a plain file name (no '/', '\\' or control characters, "
            "not starting with '.', '-' or a space; at most 200 characters)",
            code="bad_artifact_name",
        )
    return check_no_secret(name, "an artifact name")


def parse_uri(uri: Any) -> str:
    """The artifact id in ``artifact://<id>`` (or an :class:`Artifact`)."""
    if isinstance(uri, Artifact):
        return uri.id
    if not isinstance(uri, str) or not uri.startswith("artifact://") or len(uri) <= len("artifact://"):
        raise UsageError(f"expected an artifact uri like 'artifact://<id>', got {shown(uri)}")
    art_id = uri[len("artifact://") :]
    if not re.fullmatch(r"[0-9a-f]{1,64}", art_id):
        raise UsageError(
            f"no artifact {art_id[:80]!r}: artifact ids are hex digests (artifact://<id>)", code="artifact_not_found"
        )
    return art_id


def put_bytes(
    store: Store,
    clock: Clock,
    data: bytes,
    *,
    name: str,
    mime: str | None,
    kind: str,
    labels: dict[str, Any] | None,
    run_id: str | None,
    node_id: str | None,
) -> Artifact:
    """Store ``data`` as an artifact now (answer hooks use it for uploads). The id is derived from the content, the
    name and the run, so saving the same bytes twice is idempotent.

    Text artifacts (``text/*``, JSON) pass the same redaction as everything else that reaches disk: a key in a
    saved text is stored as ``[REDACTED]``.
    """
    mime = mime or guess_mime(name)
    data = redact_blob(bytes(data), mime)
    digest = hashlib.sha256(bytes(data)).hexdigest()
    art_id = hashlib.sha256(f"{digest}:{name}:{run_id}".encode()).hexdigest()[:24]
    known = store.artifact_get(art_id)
    if known is not None:
        # the same bytes under the same name in the same run (a chart saved, then sent with send_image): the same
        # artifact, so what was said about it before stays — its pin, its labels (new ones added), its time
        old = known[0]
        merged = {**(old.labels or {}), **(labels or {})}
        if merged == (old.labels or {}) and old.kind == kind and old.mime == mime:
            return Artifact.from_record(old, store)
        rec = replace(old, labels=merged, kind=kind, mime=mime)
        store.artifact_put(rec, bytes(data))
        return Artifact.from_record(rec, store)
    rec = ArtifactRecord(
        id=art_id,
        name=name,
        kind=kind,
        mime=mime,
        size=len(data),
        sha256=digest,
        labels=dict(labels or {}),
        created_at=clock.now(),
        run_id=run_id,
        node_id=node_id,
    )
    store.artifact_put(rec, bytes(data))
    return Artifact.from_record(rec, store)


def check_labels(labels: Any) -> dict[str, Any] | None:
    """Labels are a dict of JSON values (they are stored and filtered on)."""
    if labels is None:
        return None
    if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
        raise UsageError(f"labels must be a dict with string keys, got {shown(labels)}")
    for k in labels:
        check_text(k, "a label name")
    check_depth(labels, "labels", limit=20)
    try:
        json.dumps(labels)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"labels must hold JSON values (strings, numbers, lists...): {exc}") from exc
    return dict(labels)


def _meta(art: Artifact) -> dict[str, Any]:
    return {
        "id": art.id,
        "uri": art.uri,
        "name": art.name,
        "kind": art.kind,
        "mime": art.mime,
        "size": art.size,
        "labels": art.labels,
        "run_id": art.run_id,
        "pinned": art.pinned,
    }


def _check_distinct_keys(text: str) -> None:
    """Refuse JSON ``text`` with a key twice in one object. JSON keys are strings, so ``{1: "a", "1": "b"}`` (or
    ``True`` and ``"true"``, ``None`` and ``"null"``), at any depth, was written with the key twice, and
    ``load_json`` (any JSON reader) returned only one of the values: data lost without a word."""

    def distinct(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            seen: set[str] = set()
            dup = ""
            for key, _ in pairs:
                if key in seen:
                    dup = key
                    break
                seen.add(key)
            raise UsageError(
                f"save_json: a dict in the value has two keys written as the JSON key {shown(dup)} (JSON keys are "
                "strings: 1 and '1', True and 'true', None and 'null' are written alike), so loading it back would "
                "keep only one of their values; rename one of them, or save the value with kv().set, which keeps "
                "non-string keys",
                code="not_json",
            )
        return obj

    json.loads(text, object_pairs_hook=distinct)


class Artifacts:
    """Artifact service over the session's store. Every call is a journaled step of the run: a resumed run does not
    save again, and a load or list returns what it returned the first time (bytes are not copied into the journal:
    a load journals the content's sha256 and a replay reads the same immutable artifact again)."""

    def __init__(self, context: NodeContext) -> None:
        self._ctx = context

    def _call(self, method: str, inputs: Any, body: Any, **kw: Any) -> ServiceCall:
        return ServiceCall(self._ctx.scope, "artifacts", method, inputs, body, **kw)

    def _artifact(self, meta: dict[str, Any]) -> Artifact:
        store = self._ctx.session.store
        return Artifact(
            meta["id"],
            meta["uri"],
            meta["name"],
            meta["kind"],
            meta["mime"],
            meta["size"],
            dict(meta["labels"] or {}),
            meta["run_id"],
            meta["pinned"],
            functools.partial(_load_bytes, store, meta["id"]),
        )

    def save_bytes(
        self,
        data: bytes,
        *,
        name: str = "data.bin",
        mime: str | None = None,
        kind: str = "bytes",
        labels: dict[str, Any] | None = None,
    ) -> Awaitable[Artifact]:
        """Store ``data``; the id is derived from its sha256 and name, so saving twice is idempotent."""
        if not isinstance(data, (bytes, bytearray)):
            raise UsageError(f"save_bytes takes bytes, got {type(data).__name__}")
        return self._save("save_bytes", bytes(data), name=name, mime=mime, kind=kind, labels=labels)

    def _save(
        self,
        method: str,
        data: bytes | Callable[[], bytes],
        *,
        name: str,
        mime: str | None,
        kind: str,
        labels: dict[str, Any] | None,
        inputs: dict[str, Any] | None = None,
    ) -> ServiceCall:
        check_name(name)
        if mime is not None:
            check_text(mime, "mime", max_len=255)
        check_text(kind, "kind", max_len=64)
        labels = check_labels(labels)
        ctx = self._ctx

        def body(store: Any) -> Artifact:
            blob = data() if callable(data) else data
            return put_bytes(
                store,
                ctx.session.clock,
                blob,
                name=name,
                mime=mime,
                kind=kind,
                labels=labels,
                run_id=ctx.run_id,
                node_id=ctx.node_id,
            )

        call_inputs = inputs if inputs is not None else {"sha256": hashlib.sha256(data).hexdigest()}  # type: ignore[arg-type]
        call_inputs = {**call_inputs, "name": name, "mime": mime, "kind": kind, "labels": labels}
        return self._call(method, call_inputs, body, to_journal=_meta, rebuild=self._artifact)

    def save_text(
        self, text: str, *, name: str = "text.txt", labels: dict[str, Any] | None = None
    ) -> Awaitable[Artifact]:
        """Store ``text`` (UTF-8) as a ``text/plain`` artifact."""
        if not isinstance(text, str):
            raise UsageError(f"save_text takes a string, got {type(text).__name__}")
        bad = lone_surrogate(text)
        if bad is not None:
            raise UsageError(
                f"save_text: the text has a lone surrogate {shown(text[bad])} at position {bad}, which UTF-8 cannot "
                "store; clean it up, or save the raw bytes with save_bytes",
                code="bad_text",
            )
        return self._save("save_text", text.encode(), name=name, mime="text/plain", kind="text", labels=labels)

    def save_json(
        self, value: Any, *, name: str = "data.json", labels: dict[str, Any] | None = None
    ) -> Awaitable[Artifact]:
        """Store ``value`` as a JSON artifact: UTF-8, or ASCII with ``\\u`` escapes when a string holds a lone
        surrogate (a file name read with ``surrogateescape``). Such a string was written as bytes that are not
        UTF-8, which no JSON reader takes and redaction could not read (a key beside it was stored in clear).
        NaN and the infinities are refused: other JSON readers refuse them too."""
        check_depth(value, "save_json value")
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            if "Out of range float" not in str(exc):
                raise UsageError(f"save_json: value is not JSON-serialisable ({exc})") from exc
            raise UsageError(
                "save_json: the value holds NaN or an infinity, which JSON cannot hold; replace them (with None, "
                "or a string), or save the value with kv().set",
                code="not_json",
            ) from exc
        except (TypeError, RecursionError) as exc:
            raise UsageError(f"save_json: value is not JSON-serialisable ({exc})") from exc
        _check_distinct_keys(text)
        try:
            blob = text.encode("utf-8")
        except UnicodeEncodeError:
            blob = json.dumps(value).encode("ascii")
        return self._save("save_json", blob, name=name, mime="application/json", kind="json", labels=labels)

    def save_file(
        self, path: str | pathlib.Path, *, name: str | None = None, labels: dict[str, Any] | None = None
    ) -> Awaitable[Artifact]:
        """Store the file at ``path`` (read when the call executes; a resumed run does not read it again)."""
        if not isinstance(path, (str, pathlib.PurePath)):
            raise UsageError(f"save_file takes a file path, got {type(path).__name__}")
        check_text(str(path), "path", max_len=4096)
        p = pathlib.Path(path)
        try:
            is_file = p.is_file()
        except OSError as exc:
            raise UsageError(f"save_file: cannot use {str(p)[:200]!r}: {exc}") from exc
        if not is_file:
            raise UsageError(f"{str(p)[:200]} is not a file")
        return self._save(
            "save_file",
            p.read_bytes,
            name=name or p.name,
            mime=None,
            kind="file",
            labels=labels,
            inputs={"path": str(p)},
        )

    def _load(self, method: str, uri: str | Artifact, present: Callable[[bytes], Any]) -> ServiceCall:
        art_id = parse_uri(uri)
        store = self._ctx.session.store

        def body(store_view: Any) -> bytes:
            hit = store_view.artifact_get(art_id)
            if hit is None:
                raise UsageError(f"no artifact {shown(art_id)} in this store", code="artifact_not_found")
            return bytes(hit[1])

        def rebuild(j: dict[str, Any]) -> bytes:
            hit = store.artifact_get(art_id)
            if hit is None or hashlib.sha256(hit[1]).hexdigest() != j["sha256"]:
                raise UsageError(
                    f"artifact {art_id} changed or is gone since this run first loaded it, so the resumed run "
                    "cannot see what it saw then; start a new run",
                    code="artifact_changed",
                )
            return bytes(hit[1])

        return self._call(
            method,
            {"uri": f"artifact://{art_id}"},
            body,
            to_journal=lambda b: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)},
            rebuild=rebuild,
            present=present,
        )

    def load_bytes(self, uri: str | Artifact) -> Awaitable[bytes]:
        return self._load("load_bytes", uri, lambda b: b)

    def load_text(self, uri: str | Artifact) -> Awaitable[str]:
        return self._load("load_text", uri, lambda b: b.decode("utf-8", "replace"))

    def load_json(self, uri: str | Artifact) -> Awaitable[Any]:
        art_id = parse_uri(uri)

        def parsed(data: bytes) -> Any:
            try:
                return json.loads(data)
            except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8 text
                raise UsageError(
                    f"artifact {art_id} is not JSON ({exc}); read it with load_text() or load_bytes()",
                    code="artifact_not_json",
                ) from None

        return self._load("load_json", uri, parsed)

    async def to_local_path(self, uri: str | Artifact, *, directory: str | pathlib.Path | None = None) -> pathlib.Path:
        """A file on disk holding the artifact's bytes, for code that wants a path (``pandas.read_csv``, an image
        library, a subprocess).

        Written once as ``<directory>/<artifact id>/<name>`` (default directory: ``aether_nb-artifacts`` in the
        system's temp folder); later calls return the same file, written again if it was deleted or changed. Not a
        journaled step: artifacts never change, so the file is the same on every replay.
        """
        art_id = parse_uri(uri)
        hit = self._ctx.session.store.artifact_get(art_id)
        if hit is None:
            raise UsageError(f"no artifact {shown(art_id)} in this store", code="artifact_not_found")
        rec, data = hit
        if directory is not None and not isinstance(directory, (str, pathlib.PurePath)):
            raise UsageError(f"directory must be a folder path, got {type(directory).__name__}")
        if directory is not None and "\x00" in str(directory):
            raise UsageError(f"directory {shown(str(directory))} holds a NUL character: pass a folder path")
        base = (
            pathlib.Path(directory)
            if directory is not None
            else pathlib.Path(tempfile.gettempdir()) / "aether_nb-artifacts"
        )
        path = base / rec.id / rec.name
        try:
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == rec.sha256:
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a reader never sees half a file
        except OSError as exc:  # (a folder that cannot exist, under /proc or /sys; a read-only or full disk)
            raise UsageError(
                f"to_local_path cannot write the artifact under directory={shown(str(base))} "
                f"({exc.strerror or type(exc).__name__}: {shown(exc.filename)}); pass a folder you can write to, "
                "or leave directory= out for the system's temp folder",
                code="bad_directory",
            ) from None
        return path

    def get(self, uri: str | Artifact) -> Awaitable[Artifact]:
        """The artifact's metadata (``Artifact``), which displays inline in a notebook."""
        art_id = parse_uri(uri)

        def body(store: Any) -> Artifact:
            hit = store.artifact_get(art_id)
            if hit is None:
                raise UsageError(f"no artifact {shown(art_id)} in this store", code="artifact_not_found")
            return Artifact.from_record(hit[0], self._ctx.session.store)

        return self._call("get", {"uri": f"artifact://{art_id}"}, body, to_journal=_meta, rebuild=self._artifact)

    def list(
        self,
        *,
        labels: dict[str, Any] | None = None,
        kind: str | None = None,
        run_id: str | None = None,
        name: str | None = None,
        pinned: bool | None = None,
    ) -> Awaitable[list[Artifact]]:
        """Artifacts newest first, filtered by labels (all must match), kind, run, name (a glob) and pinning."""
        labels = check_labels(labels)
        for what, value in (("kind", kind), ("run_id", run_id), ("name", name)):
            if value is not None:
                check_text(value, what)
        if pinned is not None and not isinstance(pinned, bool):
            raise UsageError(f"pinned must be True, False or None, got {shown(pinned)}")
        real_store = self._ctx.session.store

        def body(store: Any) -> list[Artifact]:
            out = []
            for rec in store.artifact_list():
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
                out.append(Artifact.from_record(rec, real_store))
            return out

        inputs = {"labels": labels, "kind": kind, "run_id": run_id, "name": name, "pinned": pinned}
        return self._call(
            "list",
            inputs,
            body,
            to_journal=lambda arts: [_meta(a) for a in arts],
            rebuild=lambda metas: [self._artifact(m) for m in metas],
        )

    def pin(self, uri: str | Artifact, pinned: bool = True) -> Awaitable[Artifact]:
        """Pin an artifact (kept by any future clean-up), or unpin it with ``pinned=False``."""
        art_id = parse_uri(uri)
        if not isinstance(pinned, bool):
            raise UsageError(f"pinned must be True or False, got {shown(pinned)}")

        def body(store: Any) -> Artifact:
            if not store.artifact_set_pinned(art_id, pinned):
                raise UsageError(f"no artifact {shown(art_id)} in this store", code="artifact_not_found")
            hit = store.artifact_get(art_id)
            assert hit is not None
            return Artifact.from_record(hit[0], self._ctx.session.store)

        inputs = {"uri": f"artifact://{art_id}", "pinned": pinned}
        return self._call("pin", inputs, body, to_journal=_meta, rebuild=self._artifact)
