"""User-given JSON Schemas checked once when given (aether_nb.runtime.json_schema): valid, every ``$ref``
resolving inside the schema, never fetched from the network."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.json_schema import checked_validator, schema_problem, validation_errors


@pytest.mark.parametrize("ref", ["#/$defs/nope", "#/definitions/x", "other.json", "#/properties/zz", "#missing-anchor"])
def test_a_ref_that_does_not_resolve_is_named(ref: str) -> None:
    problem = schema_problem({"type": "object", "properties": {"a": {"$ref": ref}}})
    assert problem is not None and f"$ref {ref!r} does not resolve" in problem


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "number"}}},
        {"properties": {"a": {"$ref": "#here"}}, "$defs": {"A": {"$anchor": "here"}}},
        {
            "$id": "http://x.test/root",
            "properties": {"a": {"$id": "sub", "$defs": {"q": {}}}, "b": {"$ref": "sub#/$defs/q"}},
        },
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"x": {}},
            "properties": {"a": {"$ref": "#/definitions/x"}},
        },
        {"properties": {"a": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}},
        {"enum": [{"$ref": "not a ref: a value"}]},
    ],
    ids=["defs", "anchor", "embedded_id", "draft7", "meta_schema", "ref_in_a_value"],
)
def test_refs_that_resolve_pass(schema: dict[str, Any]) -> None:
    assert schema_problem(schema) is None


def test_a_remote_ref_is_refused_and_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the check opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(ag.UsageError, match="never fetched from the network") as err:
        checked_validator({"properties": {"a": {"$ref": "http://example.invalid/s.json"}}}, "schema")
    assert err.value.code == "bad_schema"


def test_refs_that_loop_without_end_are_a_usage_error_when_a_value_reaches_them() -> None:
    validator = checked_validator(
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}}, "s"
    )
    assert validation_errors(validator, {"y": 1}) == []
    with pytest.raises(ag.UsageError, match="refer to each other without end"):
        validation_errors(validator, {"x": 1})
