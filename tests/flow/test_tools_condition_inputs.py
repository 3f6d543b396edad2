"""``tools_condition`` as LangGraph's: the state may be the list of messages itself; a messages_key that is not a
name is the caller's mistake, said in an aether_nb error (it was a bare TypeError from deep inside)."""

from __future__ import annotations

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, tools_condition

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
ASKS = {"role": "assistant", "content": "", "tool_calls": [CALL]}
SAYS = {"role": "assistant", "content": "done"}


def test_a_list_of_messages_is_routed_by_its_last_message() -> None:
    assert tools_condition([{"role": "user", "content": "hi"}, ASKS]) == "tools"
    assert tools_condition([ASKS, SAYS]) == END


def test_a_mapping_or_an_object_state_reads_its_messages_key() -> None:
    assert tools_condition({"messages": [ASKS]}) == "tools"
    assert tools_condition({"chat": [SAYS]}, messages_key="chat") == END


@pytest.mark.parametrize("key", [5, None, b"messages"])
def test_a_messages_key_that_is_not_a_name_is_refused_clearly(key: object) -> None:
    with pytest.raises(UsageError, match="messages_key must be the name"):
        tools_condition({"messages": [ASKS]}, messages_key=key)  # type: ignore[arg-type]
