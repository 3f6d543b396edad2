"""How Python values become JSON for the journal, the store and the widget.

The rule for values that are not plain JSON (documented in the README, section "Durability"):

1. Common non-JSON types are tagged and restored exactly: tuple, set, frozenset, bytes, datetime (its time zone
   too), date, Path, non-string dict keys, NaN/inf floats, and the dicts of :mod:`collections` (``Counter``,
   ``OrderedDict``, ``defaultdict``, whose factory is pickled) and NumPy's ``float64``, whose contents stay JSON
   (readable in ``sql()``, and searched by redaction like any dict). An int too long for decimal text (over
   ``sys.get_int_max_str_digits()`` digits) stays an int here and is tagged as hex text where JSON text is written
   (:func:`aether_nb.store.values.wide_ints`, ``json_dumps``), which :func:`decode` inverts: checking every int
   here would cost every step.
2. Anything else is pickled (tagged with its type), which restores it in a new process as long as its class can
   be imported or is defined again (a class from a notebook cell pickles by name: re-run the cell first). That
   includes every *subclass* of a JSON type (an ``IntEnum`` or ``str`` enum member, a ``dict`` or ``list``
   subclass): the JSON form is decided by the exact type, so such a value never comes back as its base type (a
   ``Counter`` replayed as a dict after a restart took another path than the live run).
3. A value that cannot be pickled either (a socket, a lambda, an open file) is *not* silently dropped:
   :func:`encode` raises :class:`NotEncodable`; the runtime then keeps the step out of the durable journal,
   adds a warning to the run and node, and executes that step again if the run is resumed.
"""

from __future__ import annotations

import base64
import collections
import datetime as _dt
import hashlib
import json
import math
import pathlib
import re
import sys
from collections.abc import Iterable
from typing import Any

from aether_nb.errors import StorageError, UsageError, shown
from aether_nb.store.values import json_dumps, wide_ints

_TAG = "__aether__"


class NotEncodable(Exception):
    """Raised by :func:`encode` for a value that neither JSON, a known tag, nor pickle can represent."""


MAX_DEPTH = 200
"""How deep an encoded value may nest (see :mod:`aether_nb.runtime.checks`); deeper ones are not encodable."""


def encode(value: Any) -> Any:
    """Return a JSON value that :func:`decode` turns back into an equal ``value``.

    Raises:
        NotEncodable: the value (or something inside it) cannot be represented; the message names its type, or
            where it nests deeper than :data:`MAX_DEPTH` levels.
    """
    if type(value) is dict and _TAG not in value and _flat(value, None):
        return dict(value)  # the common case (a tool's few named scalars), without a call per item
    return _encode(value, 0)


def pickled(value: Any) -> bool:
    """Whether encoded ``value`` (JSON as :func:`encode` made it) holds a pickle, which :func:`decode` would load."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if v.get(_TAG) == "pickle":
                return True
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _too_deep() -> NotEncodable:
    return NotEncodable(f"a value nests deeper than {MAX_DEPTH} levels, which the store does not keep")


def _encode(value: Any, depth: int) -> Any:
    # Exact types decide the JSON form (a subclass takes _encode_other): an IntEnum member is no int to restore.
    t = type(value)
    if t is str or t is int or value is None or t is bool:
        return value
    if t is float:
        return value if math.isfinite(value) else {_TAG: "float", "v": float.__repr__(value)}
    if depth >= MAX_DEPTH:
        raise _too_deep()
    d = depth + 1
    if t is list:
        return [_encode(v, d) for v in value]
    # A tagged container nests deeper in JSON than in Python (see checks.nesting): its items are counted where
    # they are written, so what is encoded fits the store's depth (150 nested tuples were 300 levels of JSON, and
    # the store dropped the record holding them).
    if t is dict:
        if _TAG not in value and all(type(k) is str for k in value):
            return {k: _encode(v, d) for k, v in value.items()}
        inner = _below(d, 2)
        return {_TAG: "dict", "items": [[_encode(k, inner), _encode(v, inner)] for k, v in value.items()]}
    if t is tuple:
        inner = _below(d, 1)
        return {_TAG: "tuple", "items": [_encode(v, inner) for v in value]}
    if t is set or t is frozenset:
        inner = _below(d, 1)
        return {_TAG: t.__name__, "items": [_encode(v, inner) for v in value]}
    if t is bytes:
        return {_TAG: "bytes", "b64": base64.b64encode(value).decode("ascii")}
    return _encode_other(value, t, d)


def _below(d: int, levels: int) -> int:
    """The depth of the items of a container at depth ``d`` written ``levels`` levels deeper than its own (a tag's
    ``items`` list, a pair); :func:`_too_deep` when those levels do not fit."""
    if d + levels > MAX_DEPTH:
        raise _too_deep()
    return d + levels


def _encode_other(value: Any, t: type, d: int) -> Any:
    """The tags beyond plain JSON's types (see the module docstring), else a pickle."""
    if t is _dt.datetime:
        return _encode_datetime(value)
    if t is _dt.date:
        return {_TAG: "date", "v": value.isoformat()}
    if t in _PATH_TYPES:
        if t is _PATH:
            return {_TAG: "path", "v": str(value)}
        return {_TAG: "path", "v": str(value), "cls": t.__name__}
    kind = _DICT_KINDS.get(t)
    if kind is not None:
        out = _encode_dict_kind(value, kind, d)
        if out is not None:
            return out
    elif t.__name__ == "float64" and t.__module__ == "numpy" and isinstance(value, float):
        return {_TAG: "float", "v": float.__repr__(value), "cls": "numpy.float64"}
    import pickle  # only for values JSON and the tags above cannot represent; not paid by ``import aether_nb``

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickle raises many types (PicklingError, TypeError, AttributeError)
        raise NotEncodable(
            f"a value of type {t.__module__}.{t.__qualname__} cannot be stored (not JSON, not picklable: {exc})"
        ) from exc
    return {_TAG: "pickle", "type": f"{t.__module__}.{t.__qualname__}", "b64": base64.b64encode(data).decode("ascii")}


def _encode_dict_kind(value: Any, kind: str, d: int) -> dict[str, Any] | None:
    """A ``Counter``, ``OrderedDict`` or ``defaultdict`` as a tagged dict: string keys as a JSON object (``map``, so
    redaction reads ``{"password": ...}`` in it as in any dict), others as pairs. None when its instance holds
    attributes of its own (pickled whole then: they would be lost)."""
    if getattr(value, "__dict__", None):
        return None
    out: dict[str, Any] = {_TAG: "dict", "cls": kind}
    if kind == "defaultdict":
        out["factory"] = _encode(value.default_factory, d)
    if _TAG not in value and all(type(k) is str for k in value):
        out["map"] = {k: _encode(v, _below(d, 1)) for k, v in value.items()}
    else:
        inner = _below(d, 2)
        out["items"] = [[_encode(k, inner), _encode(v, inner)] for k, v in value.items()]
    return out


def decode(value: Any) -> Any:
    """Invert :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    if tag == "float":
        return _float(value["v"]) if "cls" not in value else _numpy_float(value["v"])
    if tag == "int":  # (written by aether_nb.store.values.wide_ints; hex text converts without a digit limit)
        return int(value["hex"], 16)
    if tag == "dict":
        if "cls" in value:
            return _decode_dict_kind(value)
        return {decode(k): decode(v) for k, v in value["items"]}
    if tag == "tuple":
        return tuple(decode(v) for v in value["items"])
    if tag == "set":
        return {decode(v) for v in value["items"]}
    if tag == "frozenset":
        return frozenset(decode(v) for v in value["items"])
    if tag == "bytes":
        return base64.b64decode(value["b64"])
    if tag == "datetime":
        return _decode_datetime(value)
    if tag == "date":
        return _dt.date.fromisoformat(value["v"])
    if tag == "path":
        return _decode_path(value)
    if tag == "pickle":
        return _unpickle(value)
    if tag == "redacted" or tag == _MASK:
        # An object that held a secret (see aether_nb.store.redact), as a masked string is; or a tagged value under
        # a credential key, whose fields (the tag too) redaction masked: unreadable, it reads as what it was made.
        return _MASK
    raise ValueError(f"unknown encoded value tag {shown(tag)}")


_MASK = "[REDACTED]"
_PATH = type(pathlib.Path())
_PATHS = ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath")
_PATH_TYPES = frozenset(getattr(pathlib, name) for name in _PATHS)
_DICT_KINDS: dict[type, str] = {
    collections.Counter: "Counter",
    collections.OrderedDict: "OrderedDict",
    collections.defaultdict: "defaultdict",
}
_NUMPY_FLOAT = re.compile(r"np\.float\d*\((.*)\)")


def _float(text: str) -> float:
    """A non-finite float's text; ``np.float64(nan)`` is how NumPy floats were written before (their repr)."""
    old = _NUMPY_FLOAT.fullmatch(text)
    return float(old.group(1) if old else text)


def _numpy_float(text: str) -> Any:
    import numpy  # (a dependency of aether_nb; imported only when such a value is read)

    return numpy.float64(_float(text))


def _decode_dict_kind(value: dict[str, Any]) -> dict[Any, Any]:
    kind = value["cls"]
    out: dict[Any, Any]
    if kind == "Counter":
        out = collections.Counter()
    elif kind == "OrderedDict":
        out = collections.OrderedDict()
    elif kind == "defaultdict":
        out = collections.defaultdict(decode(value.get("factory")))
    else:
        raise ValueError(f"unknown encoded dict kind {shown(kind)}")
    if "map" in value:
        for k, v in value["map"].items():
            out[k] = decode(v)
    else:
        for k, v in value["items"]:
            out[decode(k)] = decode(v)
    return out


def _encode_datetime(value: _dt.datetime) -> dict[str, Any]:
    """ISO text, plus what it loses: the IANA zone of a ``ZoneInfo`` (ISO keeps only today's offset, so a replayed
    value moved across a DST change, and ``tzinfo.key``, differed from the live one), a fixed offset's own name and
    an offset finer than a minute (see :func:`_fixed_zone`), and ``fold``."""
    out: dict[str, Any] = {_TAG: "datetime", "v": value.isoformat()}
    tz = value.tzinfo
    if type(tz) is _dt.timezone:
        if tz is not _dt.UTC:  # (UTC, the common one, has neither)
            _fixed_zone(tz, out)
    else:
        key = getattr(tz, "key", None)
        if isinstance(key, str) and type(tz).__module__ == "zoneinfo":
            out["zone"] = key
    if value.fold:
        out["fold"] = 1
    return out


def _fixed_zone(tz: _dt.timezone, out: dict[str, Any]) -> None:
    """A ``datetime.timezone`` beyond what ISO text keeps, into ``out``: its name when it has one of its own
    (``timezone(timedelta(hours=1), "CET")`` came back named ``UTC+01:00``), and its offset in microseconds when
    it is not whole minutes (Python 3.11's ``fromisoformat`` read ``+00:00:00.000005`` as UTC: another instant)."""
    offset = tz.utcoffset(None)
    name = tz.tzname(None)
    if name != _dt.timezone(offset).tzname(None):
        out["tzname"] = name
    if offset.seconds % 60 or offset.microseconds or "tzname" in out:
        out["offset_us"] = offset // _dt.timedelta(microseconds=1)


def _decode_datetime(value: dict[str, Any]) -> _dt.datetime:
    out = _dt.datetime.fromisoformat(value["v"])
    if "offset_us" in value:  # (the ISO text's wall time is exact; its offset may not be)
        offset = _dt.timedelta(microseconds=value["offset_us"])
        name = value.get("tzname")
        tz = _dt.timezone(offset) if name is None else _dt.timezone(offset, name)
        out = out.replace(tzinfo=tz)
    zone = value.get("zone")
    if isinstance(zone, str):
        import contextlib
        import zoneinfo

        # a zone this machine does not know: the stored offset (the same instant) is kept
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            out = out.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    if value.get("fold"):
        out = out.replace(fold=1)
    return out


def _decode_path(value: dict[str, Any]) -> pathlib.PurePath:
    kind = value.get("cls")
    if kind == "WindowsPath" and _PATH is not pathlib.WindowsPath:
        kind = "PureWindowsPath"  # (a concrete Windows path cannot be made on another system)
    elif kind == "PosixPath" and _PATH is not pathlib.PosixPath:
        kind = "PurePosixPath"
    cls = getattr(pathlib, kind) if kind in _PATHS else pathlib.Path
    path: pathlib.PurePath = cls(value["v"])
    return path


def _unpickle(value: dict[str, Any]) -> Any:
    import pickle

    try:
        return pickle.loads(base64.b64decode(value["b64"]))
    except (AttributeError, ImportError) as exc:
        # a class from a notebook cell pickles by name: the cell has not run again in this process
        kind = shown(value.get("type") or "object", 80)
        raise UsageError(
            f"a stored value is a {kind} whose class this process does not define ({exc}): run the cell that "
            "defines it (or import its module), then try again; nothing stored was changed",
            code="missing_class",
        ) from exc
    except Exception as exc:
        raise StorageError(f"a stored pickled value cannot be read back ({exc!r})", code="bad_pickle") from exc


def check_decodable(values: Iterable[Any]) -> None:
    """Raise what :func:`decode` would raise for the first pickled value among ``values`` (encoded) that cannot be
    loaded here: a run resumed before the cell defining a class of its journal ran again is refused up front
    (its waits and answers kept) instead of failing halfway through its replay. Plain values cost a walk."""
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            if v.get(_TAG) == "pickle":
                _unpickle(v)
            else:
                stack.extend(v.values())


PREVIEW_STR = 2000
PREVIEW_ITEMS = 50


def snapshot(value: Any) -> dict[str, Any] | None:
    """A copy of ``value`` when it is both its :func:`encode` and its :func:`preview` (a dict of a few named
    scalars: most step results; or of such dicts and scalars, one level deep: a state graph task's outcome,
    ``{"writes": {...}, "to": {...}}``), so one copy serves the journal and the display; None otherwise."""
    if type(value) is not dict or len(value) > PREVIEW_ITEMS or _TAG in value:
        return None
    if _flat(value, PREVIEW_STR):
        return dict(value)
    out: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for k, v in value.items():
        if type(v) is dict:
            # (what encode and preview both make of it: a copy; a subclass, a tag or a long one they make otherwise)
            if type(k) is not str or len(v) > PREVIEW_ITEMS or _TAG in v or not _flat(v, PREVIEW_STR):
                return None
            out[k] = dict(v)
        else:
            out[k] = scalars[k] = v
    return out if _flat(scalars, PREVIEW_STR) else None


def preview(value: Any, *, max_str: int = PREVIEW_STR, max_items: int = PREVIEW_ITEMS, _depth: int = 0) -> Any:
    """A JSON value for display (widget, node records): truncated, never raising, never pickling."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() <= _SAFE_BITS or value.bit_length() <= _wide_bits():
            return value
        value = _wide_int_text(value)  # (then cut as any long text)
    if isinstance(value, float):
        return value if math.isfinite(value) else float.__repr__(value)
    if isinstance(value, str):
        if len(value) <= max_str:
            return value
        value = _redacted(value)  # before the cut: a token cut in two is no longer recognised as one
        return value if len(value) <= max_str else value[:max_str] + f"… (+{len(value) - max_str} chars)"
    if _depth >= 6:
        return f"<{type(value).__name__}>"
    if type(value) is dict and len(value) <= max_items and _flat(value, max_str):
        return dict(value)  # the common case (a few named scalars) without a call per item
    if isinstance(value, dict):
        items = list(value.items())
        out = {
            _key_text(k): preview(v, max_str=max_str, max_items=max_items, _depth=_depth + 1)
            for k, v in items[:max_items]
        }
        if len(items) > max_items:
            out["…"] = f"+{len(items) - max_items} more"
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value)
        out_list = [preview(v, max_str=max_str, max_items=max_items, _depth=_depth + 1) for v in seq[:max_items]]
        if len(seq) > max_items:
            out_list.append(f"… +{len(seq) - max_items} more")
        return out_list
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the run's display
        text = f"<{type(value).__name__} (repr failed: {exc})>"
    if len(text) <= max_str:
        return text
    text = _redacted(text)
    return text if len(text) <= max_str else text[:max_str] + "…"


_SAFE_BITS = 3 * 640
"""Ints of at most this many bits are JSON text under any digit limit Python accepts (640 digits is the lowest)."""
_DECIMAL_BITS = 60_000
"""The widest int :func:`_wide_int_text` writes out in decimal (~18,000 digits, a few ms with :mod:`decimal`)."""


def _wide_bits() -> int:
    """The widest int the store writes as a JSON number (what :func:`aether_nb.store.values.wide_ints` leaves)."""
    limit = sys.get_int_max_str_digits()
    default = sys.int_info.default_max_str_digits
    return 3 * (limit if 0 < limit <= default else default)


def _wide_int_text(value: int) -> str:
    """An int too long for ``str()`` as display text: its decimal digits (:mod:`decimal` has no digit limit), or
    for a huge one (decimal conversion is quadratic) its size. Why text, not the int: the store writes such an int
    in JSON as the codec's tag ``{"__aether__": "int", ...}``, and a preview is not decoded (a user's own dict of
    that shape must stay a dict), so the widget showed the tag."""
    if value.bit_length() <= _DECIMAL_BITS:
        import decimal  # (lazy: rarely needed, and import time counts, W6)

        return str(decimal.Decimal(value))
    return f"<int of {value.bit_length()} bits>"


def _key_text(key: Any) -> str:
    """A dict key as a preview's (JSON) key, never raising: ``str(key)``, an int too long for it as
    :func:`_wide_int_text`."""
    if type(key) is str:
        return key
    try:
        return str(key)
    except Exception:
        if isinstance(key, int):
            return _wide_int_text(key)
        return f"<{type(key).__name__}>"


def _redacted(text: str) -> str:
    """``text`` with the secrets it holds masked (see :mod:`aether_nb.store.redact`): the store masks the previews
    it is given, but the first characters of a token cut short match no rule."""
    from aether_nb.store.redact import redact_text

    return redact_text(text)


def _flat(value: dict[Any, Any], max_str: int | None) -> bool:
    """Whether a dict is string keys to JSON scalars (finite floats, strings within ``max_str``; None: any)."""
    for k, v in value.items():
        t = type(v)
        if type(k) is not str or not (
            v is None
            or (t is int and (v.bit_length() <= _SAFE_BITS or v.bit_length() <= _wide_bits()))
            or t is bool
            or (t is str and (max_str is None or len(v) <= max_str))
            or (t is float and math.isfinite(v))
        ):
            return False
    return True


def _canonical(value: Any, depth: int = 0) -> Any:
    """A JSON value that depends only on ``value``'s content (no pickle bytes, no addresses)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= MAX_DEPTH:
        raise _too_deep()
    d = depth + 1
    if isinstance(value, dict):
        if all(type(k) is str and k.isascii() and k.isidentifier() for k in value):
            # Same order as the general case, without a json.dumps per item: ASCII identifier keys need no JSON
            # escaping and hold no character below '"', so sorting the keys sorts their [key, value] JSON.
            return {"dict": [[k, _canonical(value[k], d)] for k in sorted(value)]}
        return {"dict": _sorted([[_canonical(k, d), _canonical(v, d)] for k, v in value.items()])}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, d) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"set": _sorted([_canonical(v, d) for v in value])}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, (_dt.date, pathlib.PurePath)):
        return str(value)
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}"}


def _sorted(items: list[Any]) -> list[Any]:
    """``items`` (canonical values) in the order of their JSON text; one holding an int too long for decimal text
    is ordered by its tagged text (see :func:`json_dumps`), which is no less stable."""
    try:
        return sorted(items, key=json.dumps)
    except ValueError:
        return sorted(items, key=json_dumps)


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # one encoder, not one per call


def call_fingerprint(inputs: Any, name: str) -> str:
    """:func:`fingerprint` of a call's arguments; arguments that nest too deep are the caller's mistake. (Called
    once per step: an import statement here cost ~8 k instructions each time, ~3 % of a W1 step.)"""
    if type(inputs) is dict:  # (most calls: a flat dict of arguments, hashed without a call of fingerprint())
        try:
            blob = _flat_canonical(inputs)
        except ValueError:  # (an int too long for decimal text: fingerprint() hashes its tag)
            blob = None
        if blob is not None:
            return _sha256(blob.encode()).hexdigest()[:16]
    try:
        return fingerprint(inputs)
    except NotEncodable as exc:
        raise UsageError(
            f"the arguments of {name}(...) cannot be recorded: {exc}. Pass flatter values, or save deep data as an "
            "artifact and pass its uri",
            code="too_deep",
        ) from None


def fingerprint(value: Any) -> str:
    """A short stable hash of a value's content, used to match a resumed step against its journal entry.

    A subclass of a JSON type hashes as its base type's content (``Level.HIGH`` as ``2``, a ``Counter`` as its
    dict), unlike :func:`encode`, which keeps its type: journals written before :func:`encode` told them apart
    (when a replayed body got the base type back) must still match, and equal content is the same call.

    Raises:
        NotEncodable: the value nests deeper than :data:`MAX_DEPTH` levels.
    """
    try:
        blob = _flat_canonical(value) if type(value) is dict else None
        if blob is None:
            blob = _CANONICAL_JSON.encode(_canonical(value))
    except ValueError:
        # An int too long for decimal text (math.factorial(2000)) as a call's argument: hashed as its hex tag. Not
        # checked beforehand, so ordinary ints cost nothing.
        wide = wide_ints(_canonical(value))
        if wide is None:
            raise
        blob = _CANONICAL_JSON.encode(wide)
    return _sha256(blob.encode()).hexdigest()[:16]


_sha256 = hashlib.sha256
_JSON_STR = json.encoder.encode_basestring_ascii  # what the canonical encoder writes for a string (C)


_FLAT_PLANS: dict[tuple[Any, ...], tuple[tuple[str, str], ...] | None] = {}
_UNSEEN: Any = object()
"""By a dict's keys in order: its keys sorted, each with the start of its JSON pair (None: not all identifiers)."""


def _flat_canonical(value: dict[Any, Any]) -> str | None:
    """The canonical JSON of a flat dict (identifier keys, scalar values: most tool calls) written directly, byte
    for byte what the general path gives; None for anything else."""
    shape = tuple(value)
    plan = _FLAT_PLANS.get(shape, _UNSEEN)
    if plan is _UNSEEN:
        ok = all(type(k) is str and k.isascii() and k.isidentifier() for k in shape)
        plan = tuple((k, f'["{k}",') for k in sorted(shape)) if ok else None
        if len(_FLAT_PLANS) < 1024:  # a program calls its tools with few distinct sets of argument names
            _FLAT_PLANS[shape] = plan
    if plan is None:
        return None
    parts = []
    for k, head in plan:
        v = value[k]
        t = type(v)
        if t is int:
            text = int.__repr__(v)
        elif t is str:
            text = _JSON_STR(v)
        elif v is None:
            text = "null"
        elif t is bool:
            text = "true" if v else "false"
        elif t is float and math.isfinite(v):
            text = float.__repr__(v)
        else:
            return None
        parts.append(head + text + "]")
    return '{"dict":[' + ",".join(parts) + "]}"
