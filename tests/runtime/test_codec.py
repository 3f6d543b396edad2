"""The codec: values round-trip exactly, and a call's fingerprint does not depend on which path computed it."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aether_nb.errors import StorageError, UsageError
from aether_nb.runtime import codec

SCALARS = st.one_of(
    st.integers(), st.text(), st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False)
)


def _general(value: Any) -> str:
    blob = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode(codec._canonical(value))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@settings(max_examples=500)
@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), SCALARS))
def test_the_fast_fingerprint_of_flat_calls_equals_the_general_one(call: dict[str, Any]) -> None:
    """Journals written by either path must match on resume: the shortcut is byte for byte the general path."""
    assert codec.fingerprint(call) == _general(call)


@settings(max_examples=300)
@given(
    st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)), max_leaves=10)
)
def test_values_round_trip_and_fingerprints_are_stable(value: Any) -> None:
    assert codec.decode(json.loads(json.dumps(codec.encode(value)))) == value
    assert codec.fingerprint(value) == _general(value)


class _Sub(dict):  # type: ignore[type-arg]
    pass


_ODD_SCALARS = st.one_of(
    SCALARS,
    SCALARS,  # (mostly plain: a snapshot is made, then compared)
    st.floats(),  # NaN, infinities
    st.text(min_size=1990, max_size=2010),  # around the preview's cut
    st.integers(min_value=2**2000, max_value=2**2000 + 5),  # wider than a preview shows as a number
    st.just(b"x"),
    st.tuples(st.integers()),
)
_KEYS = st.one_of(st.sampled_from(["writes", "to", "x", "__aether__"]), st.text(max_size=3), st.integers(0, 3))
_INNER = st.one_of(
    _ODD_SCALARS,
    st.dictionaries(_KEYS, _ODD_SCALARS, max_size=4),
    st.dictionaries(st.text(alphabet="abcdefgh", min_size=2, max_size=2), st.just(1), min_size=49, max_size=52),
    st.builds(_Sub, st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)),
    st.dictionaries(st.text(max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), max_size=2),
)


@settings(max_examples=600)
@given(st.dictionaries(_KEYS, _INNER, max_size=5))
@example({"writes": {"__aether__": "tuple", "items": [1]}})
@example({"to": {str(i): i for i in range(51)}})
@example({"writes": {"x": float("nan")}})
def test_a_snapshot_is_exactly_the_encoding_and_the_preview(value: dict[Any, Any]) -> None:
    """A step's journal value and its node's display share one snapshot: it must be what encode() and preview()
    make, key order included, or None (a state graph task's outcome is a dict of flat dicts)."""
    snap = codec.snapshot(value)
    if snap is None:
        return
    dumped = json.dumps(snap)
    assert dumped == json.dumps(codec.encode(value))
    assert dumped == json.dumps(codec.preview(value))


def test_a_state_graph_outcome_is_snapshotted() -> None:
    outcome = {"writes": {"x": 1, "note": "hi"}, "to": {"n1": 1}, "asked": True}
    snap = codec.snapshot(outcome)
    assert snap == outcome and snap is not outcome and snap["writes"] is not outcome["writes"]
    assert codec.snapshot({"writes": {"x": {"deep": 1}}}) is None


def test_a_value_whose_class_is_gone_says_what_to_define() -> None:
    """A pickled value of a class this process does not define (a notebook cell not run again) raises a
    UsageError naming the class and what to do, not pickle's AttributeError; a damaged pickle is a StorageError."""
    import types

    module = types.ModuleType("aether_nb_test_gone")
    exec("class Parcel:\n    def __init__(self, n):\n        self.n = n\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        encoded = codec.encode({"p": module.Parcel(3)})
        assert codec.decode(encoded)["p"].n == 3
    finally:
        del sys.modules[module.__name__]
    with pytest.raises(UsageError) as caught:
        codec.decode(encoded)
    assert caught.value.code == "missing_class" and "aether_nb_test_gone.Parcel" in str(caught.value)
    with pytest.raises(UsageError):
        codec.check_decodable([{"other": 1}, [encoded]])
    codec.check_decodable([{"plain": [1, {"a": "b"}]}])  # nothing pickled: nothing to load
    damaged = {**encoded["p"], "b64": "AAAA"}
    with pytest.raises(StorageError):
        codec.decode(damaged)


@given(
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.sampled_from([0, 1]),
)
def test_datetimes_round_trip_with_their_zone_and_fold(when: Any, fold: int) -> None:
    """ISO text kept only today's offset: a ``ZoneInfo("Europe/Oslo")`` came back as ``UTC+01:00`` (its ``key``
    gone, a day added across a DST change gave another hour), and a replayed body that read the zone failed with
    ReplayMismatch; ``fold`` was lost too."""
    import datetime as dt

    value = when.replace(fold=fold)
    back = codec.decode(json.loads(json.dumps(codec.encode(value))))
    assert back == value and back.fold == value.fold and type(back.tzinfo) is type(value.tzinfo)
    assert str(back.tzinfo) == str(value.tzinfo)
    if value.tzinfo is not None:
        day = dt.timedelta(days=1)
        assert (back + day).utcoffset() == (value + day).utcoffset()


@pytest.mark.parametrize("kind", ["PurePosixPath", "PureWindowsPath", "Path", "PurePath"])
def test_paths_keep_their_flavour(kind: str) -> None:
    import pathlib

    value = getattr(pathlib, kind)("C:/data/x.txt" if "Windows" in kind else "data/x.txt")
    back = codec.decode(json.loads(json.dumps(codec.encode(value))))
    assert back == value and type(back) is type(value)


def test_numpy_non_finite_floats_round_trip_and_old_texts_still_read() -> None:
    """A NumPy float's repr is ``np.float64(nan)``: stored as such, it could never be read back (a waiting run
    whose tool returned ``np.mean([])`` failed when answered; a KV key holding one raised on every get)."""
    np = pytest.importorskip("numpy")
    import math

    for value in (np.float64("nan"), np.float32("inf"), np.float64("-inf")):
        back = codec.decode(json.loads(json.dumps(codec.encode({"v": value, "xs": [value]}))))
        assert back["v"] == value or (math.isnan(back["v"]) and math.isnan(value))
        assert str(back["xs"][0]) == str(float(value))
        if isinstance(value, float):  # (np.float64; np.float32 is no float and is kept as itself)
            assert codec.preview(value) in ("nan", "inf", "-inf")
    old = {"__aether__": "float", "v": "np.float64(nan)"}  # written by earlier versions
    assert math.isnan(codec.decode(old)) and codec.decode({"__aether__": "float", "v": "np.float64(-inf)"}) < 0


def test_a_preview_cut_short_never_keeps_the_start_of_a_token() -> None:
    """The store masks previews, but the first 20 characters of a 40-character token cut by the preview matched
    no rule: an artifact label's repr in a ``service_call`` event kept ``ghp_A1b2C3d4E5f6G7h8…``."""
    from aether_nb.store.redact import prepare, redact_text

    prepare()  # (the detectors a configured store loads)
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"

    class Label:
        def __repr__(self) -> str:
            return "Label(" + "x" * 180 + " " + token + ")"

    for k in range(150, 200, 3):
        text = "y" * k + " " + token
        shown = codec.preview(text, max_str=200)
        assert token[:12] not in redact_text(json.dumps(shown)), k  # what the store keeps of the preview
    assert token[:12] not in redact_text(codec.preview(Label(), max_str=200))
