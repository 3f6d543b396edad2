"""The codec: values round-trip exactly, and a call's fingerprint does not depend on which path computed it."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
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
