"""``%aether``'s line parsing: a line that does not split into arguments is a UsageError with the usage text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.notebook.magics import AetherMagics

COMMANDS = ["store", "promote", "resume", "runs", "llm", "mcp", "help"]


@pytest.mark.parametrize("line", ['store "unbalanced', "promote 'run-x", "resume run-1 'x", "store a\\"])
def test_an_unparsable_line_is_a_usage_error_with_the_usage_text(line: str) -> None:
    magics = AetherMagics(None, extension=None)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="does not split into arguments") as info:
        magics.aether(line)
    assert "%aether store [PATH]" in str(info.value)


@given(
    cmd=st.sampled_from(COMMANDS),
    quote=st.sampled_from(["'", '"']),
    rest=st.text(alphabet=st.characters(blacklist_characters="'\"\\", blacklist_categories=["Cs"]), max_size=20),
)
def test_any_unclosed_quote_is_a_usage_error(cmd: str, quote: str, rest: str) -> None:
    magics = AetherMagics(None, extension=None)  # type: ignore[arg-type]
    with pytest.raises(ag.UsageError, match="close each quote"):
        magics.aether(f"{cmd} {quote}{rest}")
