"""A value the call's depth check accepts is one the store keeps (a scratch tester's finding, the twenty-sixth
session): tuples, sets and dicts with keys that are not strings are written with the codec's tags, which nest
deeper than the value; 150 nested tuples passed ``kv.set`` and the store then dropped the record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.checks import MAX_DEPTH, check_depth, depth_problem
from aether_nb.runtime.codec import encode
from aether_nb.runtime.session import Session
from aether_nb.store.values import MAX_JSON_DEPTH, json_depth
from tests.conftest import arun


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


WRAPPERS = {
    "list": lambda v: [v],
    "dict": lambda v: {"k": v},
    "tuple": lambda v: (v,),
    "set": lambda v: frozenset([v]) if _hashable(v) else (v,),
    "int_key": lambda v: {1: v},
    "tag_key": lambda v: {"__aether__": v},
}


def _nest(kinds: list[str]) -> Any:
    value: Any = "leaf"
    for kind in kinds:
        value = WRAPPERS[kind](value)
    return value


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=260))
def test_a_value_the_check_accepts_encodes_within_the_stores_depth(kinds: list[str]) -> None:
    value = _nest(kinds)
    if depth_problem(value) is None:
        encoded = json.dumps(encode(value))
        assert json_depth(encoded) <= MAX_DEPTH < MAX_JSON_DEPTH


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_plain_lists_and_dicts_keep_their_two_hundred_levels(kind: str) -> None:
    check_depth(_nest([kind] * MAX_DEPTH), "v")
    with pytest.raises(ag.UsageError, match="more than 200 levels"):
        check_depth(_nest([kind] * (MAX_DEPTH + 1)), "v")


@pytest.mark.parametrize(("kind", "accepted"), [("tuple", 100), ("int_key", 66)])
def test_tagged_containers_count_the_levels_they_are_written_with(kind: str, accepted: int) -> None:
    check_depth(_nest([kind] * accepted), "v")
    with pytest.raises(ag.UsageError, match="a tuple or a set counts two"):
        check_depth(_nest([kind] * (accepted + 1)), "v")


def test_kv_refuses_at_the_call_a_value_of_tuples_it_could_not_store(session: Session) -> None:
    @ag.graph_fn(name="deep_tuples", outputs=["back"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        kept = _nest(["tuple"] * 100)
        await context.kv().set("kept", kept)
        with pytest.raises(ag.UsageError, match="nests too deep"):
            await context.kv().set("tuples", _nest(["tuple"] * 150))
        return {"back": await context.kv().get("kept") == kept}

    assert arun(agent()) == {"back": True}
    session.store.flush_history()  # (was: a StorageError for the dropped record; now nothing was dropped)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=320))
def test_what_the_codec_encodes_fits_the_stores_depth(kinds: list[str]) -> None:
    """A tool's result is journaled through the codec, not the call's check: 150 nested tuples were encoded (150
    Python levels) as 300 levels of JSON, and the store dropped the journal entry (the step ran again on resume)."""
    from aether_nb.runtime.codec import NotEncodable

    value = _nest(kinds)
    try:
        encoded = encode(value)
    except NotEncodable:
        return
    assert json_depth(json.dumps(encoded)) <= MAX_DEPTH


def test_a_tool_result_of_deep_tuples_is_not_encodable_rather_than_dropped_by_the_store() -> None:
    from aether_nb.runtime.codec import NotEncodable

    encode(_nest(["tuple"] * 99))
    with pytest.raises(NotEncodable, match="nests deeper"):
        encode(_nest(["tuple"] * 150))
