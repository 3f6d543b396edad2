"""``artifacts().save_json`` refuses a dict whose keys JSON would write alike (JSON keys are strings): the file had
the key twice and ``load_json`` returned one of the two values, the other lost without a word."""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@pytest.mark.parametrize(
    "value",
    [
        {1: "first run", "1": "user-entered"},
        {"scores": {1: "first run", "1": "user-entered"}},  # nested
        [{"ok": 1}, {"deep": [{True: "a", "true": "b"}]}],  # in a list
        {None: "a", "null": "b"},
        {1.5: "a", "1.5": "b"},
    ],
)
def test_save_json_of_keys_written_alike_is_a_usage_error_saying_what_to_do(session: Session, value: Any) -> None:
    @ag.graph_fn(name="saves_clash")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        with pytest.raises(ag.UsageError, match="two keys written as the JSON key") as err:
            await context.artifacts().save_json(value, name="scores.json")
        assert "kv().set" in str(err.value)
        return {"saved": [a.name for a in await context.artifacts().list()]}

    assert arun(agent()) == {"saved": []}


def test_save_json_of_distinct_non_string_keys_still_saves_them_as_json_does(session: Session) -> None:
    @ag.graph_fn(name="saves_int_keys")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        arts = context.artifacts()
        art = await arts.save_json({"scores": {1: "a", 2: "b", "x": "c"}, "on": {True: 1, None: 2}})
        return {"back": await arts.load_json(art.uri)}

    assert arun(agent()) == {"back": {"scores": {"1": "a", "2": "b", "x": "c"}, "on": {"true": 1, "null": 2}}}
