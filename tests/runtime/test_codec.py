"""The codec: values round-trip exactly, and a call's fingerprint does not depend on which path computed it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
