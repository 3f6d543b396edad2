"""Which artifact bytes are text, and their secrets redacted before they are stored.

Why its own module: what counts as text is not what the MIME type says. ``mimetypes`` calls an ``.ipynb``, a
``.jsonl``, a ``.sql`` file, a shell script or a PEM key ``application/...`` (or knows no type), and text without a
byte-order mark may be UTF-16 or UTF-32: stored as binary, the keys in them were kept in clear. So bytes are read
as text by their declared charset, their byte-order mark, how they read as UTF-16 or UTF-32, or, when they hold no
NUL (binary formats do), as UTF-8 else Latin-1; and their bytes change by redaction only where a secret was.
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


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image(data: bytes) -> str | None:
    """The MIME type of image bytes by their content (PNG, JPEG, GIF, WebP, AVIF, BMP, ICO, SVG), else None.

    Why: the chat shows an image as a ``data:`` URL of its stored type, and a browser draws SVG only under
    ``image/svg+xml``: SVG bytes sent without ``mime=`` were stored as PNG and showed as a broken image."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if data[:2] == b"BM" and len(data) >= 26 and int.from_bytes(data[2:6], "little") == len(data):
        return "image/bmp"  # (its header holds the file's size: "BM" alone starts many texts)
    if data[:4] == b"\x00\x00\x01\x00" and len(data) >= 22:
        return "image/x-icon"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head):
        return "image/svg+xml"
    return None


def image_name(mime: str) -> str:
    """The name of an image sent as bytes without one, by its type (``image.svg``), so its download is named right."""
    return "image" + (mimetypes.guess_extension(mime) or ".png")


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
    if not textual and wide is None and b"\x00" in data:
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


def _wide_text(data: bytes) -> str | None:
    """The encoding of UTF-16 or UTF-32 text without a byte-order mark (``"key".encode("utf-16-le")``), or None.
    Such bytes read as UTF-8 without error (NUL is UTF-8), so a key in them was never seen.

    Judged on the first 4 KB: each wide encoding the length allows reads them as printable text without NUL, and
    the reading with the most ASCII characters wins (ASCII text read in the wrong byte order is CJK, Cyrillic read
    so is Greek; a key is ASCII). Binary data (int16 samples with zero high bytes) reads as control characters or
    without any ASCII: not text."""
    head = data[:4096]
    if len(head) < 8 or b"\x00" not in head:
        return None
    best, most = None, 0
    for codec, unit in (("utf-32-le", 4), ("utf-32-be", 4), ("utf-16-le", 2), ("utf-16-be", 2)):
        if len(data) % unit:
            continue
        text = codecs.getincrementaldecoder(codec)(errors="strict")
        try:
            read = text.decode(head[: len(head) - len(head) % unit], final=False)
        except UnicodeDecodeError:
            continue
        if not read or "\x00" in read:
            continue
        printable = sum(1 for ch in read if ch.isprintable() or ch in "\t\n\r")
        ascii_count = sum(1 for ch in read if ch < "\x80")
        if printable >= 0.95 * len(read) and ascii_count > most:
            best, most = codec, ascii_count
    return best
