"""The store's record types: the hand-written constructors of the per-step records match their fields."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from aether_nb.store.records import JournalEntry, NodeRecord


@pytest.mark.parametrize("cls", [JournalEntry, NodeRecord])
def test_the_constructor_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields
    ]


@pytest.mark.parametrize("cls", [JournalEntry, NodeRecord])
def test_records_stay_frozen_and_compare_by_value(cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    values = {name: f"v{i}" for i, name in enumerate(names)}
    record = cls(**values)
    assert record == cls(*values.values())  # positional and keyword give the same record
    assert all(getattr(record, name) == value for name, value in values.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, names[0], "changed")
    changed = dataclasses.replace(record, **{names[1]: "other"})
    assert getattr(changed, names[1]) == "other" and getattr(record, names[1]) == values[names[1]]
