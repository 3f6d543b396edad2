"""A value written as ``...`` after a credential's name is a placeholder, not a secret: the "no LLM is configured"
hint (``ag.configure(llm={..., 'api_key': ...})``) read ``'api_key': [REDACTED]`` in the run's error, the cell's
traceback and the widget (only the error's own message kept it), as if a key had leaked."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.store.redact import MASK, redact_text
from tests.conftest import arun, default_session


@pytest.mark.parametrize("shown", ["'api_key': ...", "api_key=...", "password: \u2026"])
def test_an_elided_value_after_a_credential_name_stays(shown: str) -> None:
    assert redact_text(f"call it as configure({shown})") == f"call it as configure({shown})"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=30))
def test_a_real_value_after_a_credential_name_is_still_masked(value: str) -> None:
    assert value not in redact_text(f"configure(api_key='{value}', password={value}9)")
    assert MASK in redact_text(f"configure(api_key='{value}')")


def test_the_no_llm_hint_reads_as_written_in_the_runs_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert "OPENAI_API_KEY" not in os.environ
    with default_session() as session:

        @ag.graph_fn(name="asker_elided")
        async def asker(q: str, *, context: ag.NodeContext) -> dict[str, Any]:
            text, _ = await context.llm().chat([{"role": "user", "content": q}])
            return {"text": text}

        async def main() -> Any:
            with pytest.raises(ag.RunFailed) as failed:
                await asker(q="hi")
            return failed.value

        err = arun(main(), timeout=20)
        session.flush()
        assert "'api_key': ...}" in str(err)
        assert MASK not in str(err)
        run = ag.get_run(err.run_id)
        assert run.error is not None and MASK not in run.error and "'api_key': ...}" in run.error
