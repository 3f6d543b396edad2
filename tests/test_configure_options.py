"""``ag.configure`` given a keyword it does not have raises a ``UsageError`` naming its options (and the closest
one), not Python's ``unexpected keyword argument``; nothing is applied."""

from __future__ import annotations

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session


def test_configure_of_an_unknown_option_names_the_valid_ones_and_applies_nothing(session: Session) -> None:
    store = session.store
    with pytest.raises(ag.UsageError, match=r"has no option 'foo'; its options: store, channel, clock") as err:
        ag.configure(foo=1)  # type: ignore[call-arg]
    assert err.value.code == "bad_arguments"
    with pytest.raises(ag.UsageError, match=r"no options 'stor', 'zz' \(did you mean store=\?\)"):
        ag.configure(store=":memory:", stor="x.duckdb", zz=2)  # type: ignore[call-arg]
    assert ag.session().store is store
