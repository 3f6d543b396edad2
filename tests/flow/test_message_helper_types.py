"""The message helpers and ``StoreCheckpointer`` given a value of the wrong type raise an ``aether_nb`` error that
says what to pass (a ``TypeError`` too, for the helpers, as before) instead of Python's ``'int' object is not
iterable`` from deep inside."""

from __future__ import annotations

import json
from typing import Any

import pytest

import aether_nb as ag
import aether_nb.flow as fl
from aether_nb.flow.checkpoint import StoreCheckpointer
from aether_nb.store.memory import MemoryStore


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: fl.tool_call("add", 5), "take a dict"),
        (lambda: fl.tool_call("add", b"{}"), "take a dict"),
        (lambda: fl.tool_call("add", {"x": object()}), "JSON values"),
        (lambda: fl.tool_call(5, {}), "tool's name"),
        (lambda: fl.tool_call("add", {}, id=7), "id= takes a string"),
        (lambda: fl.assistant_message("hi", tool_calls=5), "list of tool calls"),
        (lambda: fl.assistant_message("hi", tool_calls=["add"]), "list of tool calls"),
        (lambda: fl.assistant_message("hi", tool_calls={"id": "c1"}), "list of tool calls"),
        (lambda: fl.to_openai(None), "list of message dicts"),
        (lambda: fl.to_openai({"role": "user", "content": "hi"}), r"pass \[message\]"),
        (lambda: fl.to_openai(["hi"]), "each message is a dict"),
    ],
)
def test_a_message_helper_given_a_wrong_type_says_what_to_pass(call: Any, says: str) -> None:
    with pytest.raises(ag.UsageError, match=says) as err:
        call()
    assert isinstance(err.value, TypeError)


def test_the_message_helpers_still_take_what_they_took() -> None:
    call = fl.tool_call("add", {"a": 1}, id="c1")
    assert call == {"id": "c1", "type": "function", "function": {"name": "add", "arguments": json.dumps({"a": 1})}}
    assert fl.tool_call("add", '{"a": 1}')["function"]["arguments"] == '{"a": 1}'
    msg = fl.assistant_message("hi", tool_calls=(c for c in [call]))  # any iterable of calls, as before
    assert msg["tool_calls"] == [call]
    assert "tool_calls" not in fl.assistant_message("hi", tool_calls=[])
    assert fl.to_openai(m for m in [{**msg, "id": "m1"}]) == [
        {"role": "assistant", "content": "hi", "tool_calls": [call]}
    ]


@pytest.mark.parametrize("store", ["agents.duckdb", 5, None])
def test_store_checkpointer_given_something_else_than_a_store_says_to_pass_one(store: Any) -> None:
    with pytest.raises(ag.UsageError, match=r"takes a store, e\.g\. StoreCheckpointer\(ag\.store\(\)"):
        StoreCheckpointer(store, "ns")


def test_store_checkpointer_refuses_a_namespace_that_is_not_a_string() -> None:
    with pytest.raises(ag.UsageError, match="namespace takes a non-empty string"):
        StoreCheckpointer(MemoryStore(), 5)  # type: ignore[arg-type]
    assert StoreCheckpointer(MemoryStore(), "ns").namespace == "ns"
