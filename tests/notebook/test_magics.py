"""``%aether``: a line that does not split into arguments is a UsageError with the usage text; what it prints holds
no secret."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.notebook.magics import AetherMagics, llm_command, mcp_listing, runs_table
from aether_nb.runtime.session import Session
from tests.conftest import arun

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


# -- what %aether prints is saved with the notebook: it passes the store's redaction (README, "Secrets") ----------
KEY = "sk-proj-SUPERSECRETVALUE0123456789abcdef"


def test_the_runs_table_shows_a_waiting_runs_question_redacted(session: Session) -> None:
    """A question built from a key: the store and the run widget keep ``[REDACTED]``, and so must the table's
    text/plain, its text/html and the saved view written into the ``.ipynb`` (they showed the key)."""

    @ag.graph_fn(name="sec")
    async def sec(*, context: ag.NodeContext) -> dict[str, Any]:
        ok = await context.channel().ask_approval(f"Call the API with Authorization: Bearer {KEY}?")
        return {"ok": ok.approved}

    async def main() -> tuple[dict[str, Any], str]:
        run = sec.start(run_id="s1")
        await run.wait_for("waiting")
        table = runs_table(None)  # type: ignore[arg-type]  # (no button is clicked: no extension needed)
        bundle = table._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        snapshot = str(table.children[-1].snapshot)
        run.cancel()
        return data, snapshot

    data, snapshot = arun(main())
    for text in (data["text/plain"], data["text/html"], snapshot):
        assert KEY not in text
        assert "Bearer [REDACTED]" in text


def test_aether_llm_prints_a_base_url_without_its_password_or_key(session: Session) -> None:
    out = llm_command(["--model", "m", "--base-url", "https://bob:hunter2password@llm.example.com/v1"])
    assert "hunter2password" not in out
    assert "https://bob:[REDACTED]@llm.example.com/v1" in out
    out = llm_command(["--base-url", "https://llm.example.com/v1?api_key=abcdefSECRET123456"])
    assert "abcdefSECRET123456" not in out and "?api_key=[REDACTED]" in out


def test_aether_mcp_lists_a_server_url_without_its_password(session: Session) -> None:
    ag.configure(mcp={"calc": {"url": "https://bob:hunter2password@mcp.example.com/mcp?api_key=abcdef123456"}})
    try:
        listing = mcp_listing()
    finally:
        ag.configure(mcp={"calc": None})
    assert "calc · http" in listing
    assert "hunter2password" not in listing and "abcdef123456" not in listing
