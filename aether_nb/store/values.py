"""How values are stored in the DuckDB store's columns, so that any Python string and any JSON value the store
accepts comes back unchanged (see :mod:`aether_nb.store.rows` for the checks a record passes).

* **JSON columns** hold JSON text: ASCII only (a lone surrogate becomes ``\\ud800`` and round-trips),
  ``NaN``/``Infinity`` kept, nested at most :data:`MAX_JSON_DEPTH` levels. Run history's values are written by
  orjson when they are plain JSON (compact, ``{"y":1}``), else by ``json.dumps``'s encoder (:func:`json_column`).
* **Text columns** take any Python ``str``, NUL included. A string DuckDB cannot hold (one with a lone surrogate,
  which is not UTF-8) is stored escaped as :data:`ESCAPE` followed by its JSON form and read back as the original
  string (:func:`py_text`); so is a string that itself starts with :data:`ESCAPE` (U+FDD0, a Unicode
  noncharacter), so the mapping stays one to one.
* **Embeddings** travel in the history log as little-endian float32, base64 (:func:`pack_vector`).
* **Ints too long for decimal text** (Python refuses ``str()`` of an int over ``sys.get_int_max_str_digits()``
  digits, 4,300 by default, and so does every JSON encoder) are written as ``{"__aether__": "int", "hex": ...}``
  (:func:`wide_ints`), which :func:`aether_nb.runtime.codec.decode` turns back into the same int.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import struct
import sys
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "ESCAPE",
    "MAX_JSON_DEPTH",
    "PlainJSON",
    "db_text",
    "dump_json",
    "is_plain",
    "json_column",
    "json_depth",
    "json_dumps",
    "pack_vector",
    "plain_json",
    "py_text",
    "vector_literal",
    "wide_ints",
]

ESCAPE = "\ufdd0"
"""Marks an escaped text value: the JSON form of a string DuckDB cannot hold follows it."""

MAX_JSON_DEPTH = 256
"""The deepest nesting of lists and dicts a stored JSON value may have. Python's JSON encoder and decoder recurse,
so a value nested ~1,000 deep fails to encode, and one that barely encoded could fail to *decode* later from a
deeper call stack, making the history unreadable: the store refuses such values when they are written."""

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


def _not_json(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# json.dumps' own C encoder, made once: json.dumps builds one per call, which is half its cost on the small values
# history is made of. Same output as json.dumps (ASCII, ", " and ": ", NaN allowed); without the circular-reference
# check, so a cycle fails as RecursionError (caught like too deep a value).
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Any = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(None, _not_json, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
)


def dump_json(value: Any) -> str:
    """``json.dumps(value)``, faster for many small values; an int too long for decimal text is written tagged
    (:func:`wide_ints`) instead of failing.

    Raises:
        ValueError, TypeError, RecursionError: as ``json.dumps`` would, for what is not JSON.
    """
    try:
        if _C_ENCODER is None:  # pragma: no cover - CPython has the C encoder
            return json.dumps(value)
        return "".join(_C_ENCODER(value, 0))
    except ValueError:
        wide = _wide_or_none(value)
        if wide is None:
            raise
        return dump_json(wide)


def json_dumps(value: Any, **options: Any) -> str:
    """``json.dumps(value, **options)``, with any int too long for decimal text written tagged (:func:`wide_ints`,
    which the codec's ``decode`` inverts) instead of raising ``ValueError``: for whoever reads a stored value as
    text (a secret check, a search text, a display) as the store writes it. Costs nothing more for other values."""
    try:
        return json.dumps(value, **options)
    except ValueError:
        wide = _wide_or_none(value)
        if wide is None:
            raise
        return json.dumps(wide, **options)


def wide_ints(value: Any) -> Any | None:
    """``value`` (JSON: dicts, lists, tuples and scalars) with every int too long for decimal text written as
    ``{"__aether__": "int", "hex": hex(n)}``, or None when it holds none.

    Why: Python refuses to turn an int of more than ``sys.get_int_max_str_digits()`` digits (4,300 by default, a
    guard against quadratic conversions) into decimal text, so ``json.dumps`` raised ``ValueError`` where the store
    wrote a step's result (``math.factorial(2000)``): its record was dropped and the step ran again after a restart.
    Hex text has no such limit and converts in linear time both ways. Called only after an encoder refused a value
    (ordinary ints cost nothing); a value containing itself raises ``RecursionError``. An int longer than Python's
    default limit is tagged even where this process raised or lifted the limit (orjson refuses every int beyond 64
    bits, so the store's usual encoder comes here): a store must read back in a kernel that did not."""
    limit = sys.get_int_max_str_digits()
    default = sys.int_info.default_max_str_digits
    limit = limit if 0 < limit <= default else default
    found = [False]
    # b bits make at most b * log10(2) + 1 digits: at most 3 * limit bits, 0.91 * limit + 1 digits, which convert
    out = _wide(value, 3 * limit, found)
    return out if found[0] else None


def _wide(value: Any, bits: int, found: list[bool]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() <= bits:
            return value
        found[0] = True
        return {"__aether__": "int", "hex": hex(value)}  # (the codec's tag: runtime.codec decodes it)
    if isinstance(value, dict):
        return {k: _wide(v, bits, found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wide(v, bits, found) for v in value]
    return value


def _wide_or_none(value: Any) -> Any | None:
    """:func:`wide_ints`, None for a value it cannot walk (one that contains itself: the encoder's error stands)."""
    try:
        return wide_ints(value)
    except RecursionError:
        return None


# -- values ---------------------------------------------------------------------------------------------------
def db_text(value: str) -> str:
    """``value`` as DuckDB can hold it: itself, or escaped when it is not UTF-8 (see the module docstring)."""
    if value.isascii():
        return value
    if value[0] != ESCAPE:
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
    return ESCAPE + json.dumps(value)


def py_text(value: Any) -> Any:
    """The string :func:`db_text` stored (``None`` and other values unchanged)."""
    if type(value) is str and value and value[0] == ESCAPE:
        return json.loads(value[1:])
    return value


def json_depth(text: str) -> int:
    """How deep lists and dicts nest in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for ch in _STRINGS.sub("", text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


_SCALARS = (str, int, bool, type(None))


class PlainJSON(dict):  # type: ignore[type-arg]
    """A JSON object its maker vouches is plain (see :func:`_plain`), so the store's check does not walk it again.

    Why: a run's events are the bulk of its history, and most of an event's fields are typed scalars the runtime
    sets itself (ids, names, statuses, times); the walk of an 18-field ``node_ran`` event was ~6 % of a W1 step.
    The runtime checks an event's JSON payloads (inputs, outputs, errors) with :func:`is_plain` and marks the
    event's dict with this type (:meth:`aether_nb.runtime.events.Event.stored_json`). Encoders treat it as the
    dict it is (orjson and ``json.dumps`` write a dict subclass as a dict); what is read back is a plain dict."""

    __slots__ = ()


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only exact JSON types (dicts with string keys, lists, tuples, strings, ints, bools,
    None) and finite floats: what orjson writes exactly as ``json.dumps`` would read back. Anything else (NaN,
    which orjson writes as null; a UUID or an enum, which it would accept where the store refuses them; a str
    subclass; a non-string key; a tuple holding a list, dict or tuple) goes through ``json.dumps``' encoder. Why
    tuples hold scalars only: orjson refuses lists and dicts nested deeper than the store keeps (so a text it
    writes of a whole batch needs no depth check: the in-memory store's), but writes tuples nested any depth (and
    crashed the process on thousands). (The dict and list loops are written out twice on purpose: one shared loop
    over the values after a separate key check cost ~45 % more per event.)"""
    t = type(value)
    if t is dict:
        for k, x in value.items():
            if type(k) is not str:
                return False
            tx = type(x)
            if tx is str or tx is int or x is None or tx is bool:
                continue
            if tx is float:
                if x - x != 0.0:  # NaN or an infinity
                    return False
            elif not _plain(x):
                return False
        return True
    if t is PlainJSON:  # (checked by its maker)
        return True
    if t is list:
        for x in value:
            tx = type(x)
            if tx is str or tx is int or x is None or tx is bool:
                continue
            if tx is float:
                if x - x != 0.0:
                    return False
            elif not _plain(x):
                return False
        return True
    if t is tuple:  # of scalars only: orjson limits how deep lists and dicts nest, not tuples
        for x in value:
            tx = type(x)
            if tx is str or tx is int or x is None or tx is bool:
                continue
            if tx is not float or x - x != 0.0:
                return False
        return True
    if t is float:
        return bool(value - value == 0.0)
    return t in _SCALARS


is_plain = _plain
"""Whether orjson writes a value exactly as ``json.dumps`` would read back (see :func:`_plain`): the same function,
by a public name (a wrapper was a call more per payload of every event)."""


def plain_json(value: Any) -> str | None:
    """``value``'s JSON text written by orjson (compact), or None when ``value`` is not plain (see
    :func:`_plain`) or its text would not be ASCII: then ``json.dumps`` is the encoder, as it always was.

    Raises:
        RecursionError: ``value`` nests deeper than Python's stack allows (as ``json.dumps`` would).
    """
    if not _plain(value):
        return None
    try:
        raw = orjson.dumps(value)
    except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate, too deep for orjson
        # An int too long for decimal text fails every encoder: written tagged here, it is stored by those who
        # dump with ``plain_json(v) or json.dumps(v)`` too (a state graph's checkpoint holding one was refused).
        wide = _wide_or_none(value)
        return None if wide is None else dump_json(wide)
    return raw.decode() if raw.isascii() else None


def json_column(values: list[Any]) -> list[str] | None:
    """Each value's JSON text (not redacted), or None when one is not JSON or nests deeper than
    :data:`MAX_JSON_DEPTH` (only texts long enough and with enough brackets are scanned for their depth).

    Why two encoders: the values of a step's history (above all its events, a dict of ~17 fields) cost ~5 µs to
    encode with ``json.dumps``' C encoder, ~10 % of a W1 step; orjson writes them in ~0.5 µs. It is used for plain
    values only (:func:`_plain`, ~2 µs for an event) and when its output is ASCII, so what is stored reads back
    exactly as before; only the separators differ (``{"y":1}``).

    A column whose values are all plain (nearly every one) is checked in one walk and written in one
    comprehension, two calls less per value than value by value, and a column of None (a node's error) is not
    walked at all (bench/README: -2.4 k instructions a W1 step on DuckDB, with ``redact._gated``)."""
    texts = _plain_column(values)
    if texts is None:
        texts = _value_by_value(values)
        if texts is None:
            return None
    # A value nested n deep has at least 2n characters: only long texts can be too deep (usually none is).
    if texts and max(map(len, texts)) > 2 * MAX_JSON_DEPTH:
        for t in texts:
            long = len(t) > 2 * MAX_JSON_DEPTH and t.count("[") + t.count("{") > MAX_JSON_DEPTH
            if long and json_depth(t) > MAX_JSON_DEPTH:
                return None
    return texts


def _plain_column(values: list[Any]) -> list[str] | None:
    """Each value's orjson text when every value is plain (:func:`_plain`: ``None`` is, written ``null``) and
    every text is ASCII, else None (then :func:`_value_by_value` decides, value by value)."""
    if values.count(None) == len(values):  # (a node's error column: all None)
        return ["null"] * len(values)
    dumps = orjson.dumps
    try:
        if not _plain(values):
            return None
        # (each text decoded at once: orjson's bytes, ~1 KB allocated each, kept alive together cost ~2 µs apiece)
        texts = [dumps(v).decode() for v in values]
    except (orjson.JSONEncodeError, RecursionError):  # (a wide int, a lone surrogate, too deep: value by value)
        return None
    return texts if all(map(str.isascii, texts)) else None


def _value_by_value(values: list[Any]) -> list[str] | None:
    texts: list[str] = []
    enc, join = _C_ENCODER, "".join
    try:
        for v in values:
            if v is None:  # (a node's error: mostly None)
                texts.append("null")
                continue
            text = plain_json(v)
            if text is None:
                try:
                    text = join(enc(v, 0)) if enc is not None else dump_json(v)
                except ValueError:  # an int too long for decimal text: written tagged (see wide_ints)
                    text = dump_json(v)
            texts.append(text)
    except (TypeError, ValueError, RecursionError, OverflowError):
        return None
    return texts


def pack_vector(values: Sequence[Any]) -> str:
    """An embedding as the log keeps it: little-endian float32 (what the ``FLOAT[]`` column holds), base64.
    About thirty times cheaper than JSON for a few hundred floats, and exact for what the column stores."""
    try:
        packed = struct.pack(f"<{len(values)}f", *values)
        finite = math.isfinite(sum(values))
    except (struct.error, OverflowError, TypeError) as exc:
        raise ValueError(f"an embedding must hold float32 numbers ({exc})") from None
    if not finite:
        raise ValueError("an embedding must hold finite numbers")
    return base64.b64encode(packed).decode("ascii")


def vector_literal(text: str | None) -> str | None:
    """The floats of :func:`pack_vector` as a DuckDB list literal (``[0.5,-1e-05,...]``), exact for float32 (nine
    significant digits round-trip every float32, and DuckDB rounds a decimal to the nearest one).

    Why not the list of floats: DuckDB's Python binding converts a parameter float by float, holding the GIL, at
    ~1.5 ms for a 384-float embedding; the same vector as text is parsed by DuckDB's own cast about five times
    faster, and the kernel's thread is not kept waiting meanwhile (see :mod:`aether_nb.store.apply`)."""
    if text is None:
        return None
    raw = base64.b64decode(text)
    n = len(raw) // 4
    return _literal_format(n) % struct.unpack(f"<{n}f", raw)


@functools.lru_cache(maxsize=8)
def _literal_format(n: int) -> str:
    return "[" + ",".join(["%.9g"] * n) + "]"
