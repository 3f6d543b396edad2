"""Which artifact bytes are text, and their secrets redacted before they are stored.

Why its own module: what counts as text is not what the MIME type says. ``mimetypes`` calls an ``.ipynb``, a
``.jsonl``, a ``.sql`` file, a shell script or a PEM key ``application/...`` (or knows no type), and text without a
byte-order mark may be UTF-16 or UTF-32: stored as binary, the keys in them were kept in clear. So bytes are read
as text by their declared charset, their byte-order mark, where their zero bytes fall, or as UTF-8 when they read
as UTF-8 without a NUL; and a file whose bytes change by redaction only where a secret was.
"""

from __future__ import annotations

import codecs
import mimetypes
import re

from aether_nb.store.redact import redact_text

__all__ = ["guess_mime", "redact_blob"]

_TEXT_SUFFIXES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".env": "text/plain",
    ".ini": "text/plain",
    ".cfg": "text/plain",
    ".conf": "text/plain",
    ".log": "text/plain",
    ".properties": "text/plain",
    ".md": "text/markdown",
}
"""Text files ``mimetypes`` does not know here (it took ``config.yaml``, ``.env`` and ``run.log`` for
``application/octet-stream``): as binary they were stored without redaction, keys and passwords in clear."""


def guess_mime(name: str) -> str:
    """The MIME type of a file called ``name``: ``mimetypes``' guess, the text files it misses
    (:data:`_TEXT_SUFFIXES`, ``.env`` alone too), else ``application/octet-stream``."""
    lower = name.lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    return _TEXT_SUFFIXES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def redact_blob(data: bytes, mime: str) -> bytes:
    """``data`` with its secrets redacted when it is text (``text/*``, JSON, XML, YAML, TOML); other bytes as is.

    Text is read in its ``charset`` parameter's encoding, by its byte-order mark (UTF-16 and UTF-32), else as
    UTF-8; text that is none of these (a log with one Latin-1 ``é``) is read as Latin-1, one character per byte,
    so every byte that is not part of a secret comes back as it was. Such text was stored as it was: unredacted.
    """
    kind, _, params = mime.partition(";")
    kind = kind.strip().lower()  # ("TEXT/Plain; charset=utf-8" is text/plain: case-insensitive)
    textual = kind.startswith("text/") or kind.endswith(("json", "xml", "yaml", "toml", "javascript"))
    wide = _wide_text(data)
    if not textual and wide is None and not _utf8_text(data):
        # (bytes of another type are read as text when they are text: an .ipynb, .jsonl, .sql, .pem or a shell
        # script has a type mimetypes calls application/...; stored as binary, their keys were kept in clear)
        return data
    for encoding in [wide] if wide is not None and not textual else _encodings(data, params):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        clean = redact_text(text)
        if clean == text:
            return data
        try:
            return clean.encode(encoding)
        except UnicodeEncodeError:  # (a charset that cannot write the mask: read the bytes as Latin-1 instead)
            continue
    return data  # pragma: no cover - Latin-1 reads and writes any bytes


def _encodings(data: bytes, params: str) -> list[str]:
    """The encodings to read a text artifact in, most likely first; Latin-1 (any bytes) last."""
    found = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", params, re.IGNORECASE)
    out = [found.group(1)] if found else []
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):  # (the mark is kept as U+FEFF and written back: the bytes stay as they were)
        if data.startswith(bom):
            out.append(codec)
            break
    else:
        wide = _wide_text(data)
        if wide is not None:
            out.append(wide)
    return [*out, "utf-8", "latin-1"]


def _utf8_text(data: bytes) -> bool:
    """Whether ``data`` reads as UTF-8 text (no NUL: binary formats hold them, text does not)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _wide_text(data: bytes) -> str | None:
    """The encoding of UTF-16 or UTF-32 text without a byte-order mark (``"key".encode("utf-16-le")``), judged by
    where its zero bytes fall in its first 4 KB (ASCII and Latin text in UTF-16-LE has a zero in every second
    byte), or None. Such bytes read as UTF-8 without error (NUL is UTF-8), so a key in them was never seen."""
    head = data[:4096]
    if len(head) < 8 or b"\x00" not in head:
        return None
    n = len(head)
    if len(data) % 4 == 0 and n % 4 == 0:  # (a character below U+10000 has two zero bytes in UTF-32)
        for codec, zeros in (("utf-32-le", (2, 3)), ("utf-32-be", (0, 1))):
            if all(head[i::4].count(0) == n // 4 for i in zeros):
                return codec
    if len(data) % 2 == 0:
        half = n // 2
        for codec, high, low in (("utf-16-le", 1, 0), ("utf-16-be", 0, 1)):
            if head[high::2].count(0) >= 0.9 * half and head[low::2].count(0) == 0:
                return codec
    return None
