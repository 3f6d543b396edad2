"""A dataclass state whose first input misses a required field: the error names only the fields that need a value.

Found in the thirty-second session: ``Fields without a value yet: ['count', 'name']`` listed ``count`` although
the dataclass gives it a default, sending the user to give a value that was never missing.
"""

from __future__ import annotations

import dataclasses

import pytest

from aether_nb.flow import START, StateGraph
from tests.conftest import default_session


@dataclasses.dataclass
class _DC:
    name: str
    count: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


def test_the_missing_field_error_lists_only_fields_without_a_default() -> None:
    g = StateGraph(_DC).add_node("n", lambda s: {}).add_edge(START, "n")
    with default_session(), pytest.raises(TypeError) as err:
        g.compile(checkpointer="memory").invoke({}, {"configurable": {"thread_id": "1"}})
    assert "Fields without a value yet: ['name']" in str(err.value)
    assert "'count'" not in str(err.value) and "'tags'" not in str(err.value)
