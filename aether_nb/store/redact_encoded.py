"""Secrets hidden by an encoding from the text rules of :mod:`aether_nb.store.redact`: JSON escapes and base64 values.

* **JSON escapes.** The rules read text as it is, and stored JSON escapes what is not plain ASCII: a tool result
  ``send the header “Bearer abc...”`` (typographic quotes, as LLMs write them) is ``\\u201cBearer abc...`` in the
  stored JSON, where no rule sees a word start before ``Bearer`` (the escape ends in a hex digit); so is ``clé`` +
  ``Bearer`` (``cl\\u00e9Bearer``), a key after ``\\t`` or inside ``\\"...\\"``. A string of JSON text holding an
  escape is read back as the Python string it stands for and takes the same rules (:func:`redact_escaped_strings`):
  whatever the escapes, JSON text is masked at least as its strings are in plain text.
* **Base64 values** (``bytes``, and objects JSON cannot hold, pickled): their bytes are read as Latin-1 (one
  character per byte) and take the rules (:func:`redact_blobs`). Text inside a pickle may also be UTF-32 or UTF-16
  (numpy keeps its ``str`` arrays and ``np.str_`` as UTF-32: ``s\\0\\0\\0k\\0\\0\\0-...``): the bytes are also read
  one in every two and one in every four, from each offset, where such text is contiguous.

The caller gives the rules (``redact``: the text redaction) and its cheap gate (``gate``: whether a text may hold a
secret), so this module needs nothing private of :mod:`aether_nb.store.redact`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable

__all__ = ["redact_blobs", "redact_escaped_strings", "redact_with_blobs"]

Redact = Callable[[str], str]
Gate = Callable[[str], bool]

_STRING = re.compile(r'"(?:[^"\\]|\\[\s\S])*+(?:"|\\?\Z)')
"""A JSON string; one left open (plain text, a cut log line) runs to the text's end, where it fails to decode and is
left to the other rules. Possessive, and an open one matched whole: with a closing quote required, text of many
escaped quotes after an opening one was tried again from each of them (quadratic)."""


def redact_escaped_strings(text: str, redact: Redact, gate: Gate) -> str:
    """``text`` with each JSON string of it that holds an escape (``\\u201c``, ``\\n``, ``\\"``, ``\\\\``...) and
    whose decoded value ``redact`` changes replaced by the JSON of the redacted value (escaped as the string was:
    ASCII when it was ASCII), so the text stays JSON of the same shape.

    Only strings with a backslash are decoded (a string without one reads the same decoded, and the rules saw it
    already), and of those only the ones ``gate`` does not clear (an ASCII escaped string holds every word the gate
    looks for that its value holds: the gate's words are ASCII with nothing JSON escapes, and it also holds the
    known secrets' escaped forms). Nested JSON (``\\\\u201c`` in a JSON string inside a JSON string) is handled by
    ``redact``, which comes back here for the decoded string."""
    if "\\" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _STRING.finditer(text):
        literal = m.group(0)
        if "\\" not in literal or (literal.isascii() and not gate(literal)):
            continue
        try:
            value = json.loads(literal)
        except ValueError:  # (an open string, or quotes of text that is not JSON: the other rules cover it)
            continue
        if not isinstance(value, str):
            continue
        masked = redact(value)
        if masked == value:
            continue
        out += [text[pos : m.start()], _string_json(masked, ascii_only=literal.isascii())]
        pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _string_json(value: str, *, ascii_only: bool) -> str:
    """``value`` as a JSON string; ASCII when asked, or when it holds a lone surrogate (not UTF-8: the store keeps
    such a character escaped)."""
    if not ascii_only:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            ascii_only = True
    return json.dumps(value, ensure_ascii=ascii_only)


BLOB = re.compile(
    r'\{"__aether__": ?"(bytes|pickle)", ?(?:"type": ?"((?:[^"\\]|\\.)*)", ?)?"b64": ?"([A-Za-z0-9+/=]*)"\}'
)
"""A value the codec keeps as base64 (``bytes``, and objects JSON cannot hold, pickled): no rule sees through it."""


def redact_blobs(text: str, redact: Redact, gate: Gate) -> str:
    """``text`` with the secrets inside its base64 values masked: ``kv.set("token", os.environ["X_TOKEN"].encode())``
    or a pickled object holding a key reached the store whole. The bytes are read as Latin-1 (one character per
    byte, so whatever is not a secret comes back byte for byte) and take ``redact``; bytes may change length
    (``[REDACTED]`` in place of the secret). A pickle cannot (its lengths are inside it): the whole object is stored
    as ``{"__aether__": "redacted"}`` and read back as ``"[REDACTED]"``, as a string under a credential key is.

    Text of two or four bytes a character (see :func:`_wide_text_holds_secret`) cannot be masked in place either:
    bytes or a pickle holding a secret so is stored as ``{"__aether__": "redacted"}`` too."""

    def one(found: re.Match[str]) -> str:
        try:
            raw = base64.b64decode(found.group(3), validate=True)
        except (binascii.Error, ValueError):
            return found.group(0)
        inner = raw.decode("latin-1")
        masked = redact(inner)
        if masked == inner:
            if not _wide_text_holds_secret(raw, redact, gate):
                return found.group(0)
        elif found.group(1) == "bytes":
            return '{"__aether__": "bytes", "b64": "' + base64.b64encode(masked.encode("latin-1")).decode() + '"}'
        return '{"__aether__": "redacted", "type": "' + (found.group(2) or _untyped(found.group(1))) + '"}'

    return BLOB.sub(one, text)


_HIDDEN = "AetherHiddenB64x"
"""What stands for a base64 payload while the text rules read the text around it (see :func:`redact_with_blobs`)."""


def redact_with_blobs(text: str, redact: Redact, gate: Gate) -> str:
    """``text`` (holding base64 values) redacted: its values' bytes by :func:`redact_blobs`, the rest by ``redact``
    with each payload set aside. Why: the text rules read base64 as text, and binary data's base64 holds what looks
    like a key (an AWS key id is ``ACCA`` and 16 capitals and digits: a pickled ``np.arange(1000.0)`` holds one), which
    was masked inside the payload: the value could not be read back ("pickle data was truncated"). A payload's
    secrets are its bytes', which :func:`redact_blobs` masks."""
    payloads: list[str] = []

    def hide(m: re.Match[str]) -> str:
        payloads.append(m.group(3))
        whole, base = m.group(0), m.start()
        return whole[: m.start(3) - base] + f"{_HIDDEN}{len(payloads) - 1}" + whole[m.end(3) - base :]

    hidden = BLOB.sub(hide, redact_blobs(text, redact, gate))
    out = redact(hidden)
    if not payloads:
        return out

    def restore(m: re.Match[str]) -> str:
        held = m.group(3)
        if not held.startswith(_HIDDEN) or not held[len(_HIDDEN) :].isdigit():
            return m.group(0)
        whole, base = m.group(0), m.start()
        return whole[: m.start(3) - base] + payloads[int(held[len(_HIDDEN) :])] + whole[m.end(3) - base :]

    return BLOB.sub(restore, out)


def _untyped(kind: str) -> str:
    return "bytes" if kind == "bytes" else ""


def _wide_text_holds_secret(raw: bytes, redact: Redact, gate: Gate) -> bool:
    """Whether ``raw`` holds a secret written as UTF-32 or UTF-16 text (either byte order): numpy's ``str`` arrays
    and scalars pickle their text as UTF-32, where a key's characters are four bytes apart. Each of its bytes read
    one in four (from the four offsets) and one in two (from the two) lines such text up as Latin-1 characters; each
    view takes ``gate`` first (one linear search; ``raw`` is binary, nearly always with no gate word at all) and
    ``redact`` only when the gate does not clear it. Text of other characters than Latin-1 ones is not searched."""
    if b"\x00" not in raw:
        return False  # (wide text of Latin-1 characters has a zero byte in each)
    for step in (4, 2):
        for start in range(step):
            view = raw[start::step].decode("latin-1")
            if gate(view) and redact(view) != view:
                return True
    return False
