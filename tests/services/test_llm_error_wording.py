"""How the LLM service's failure messages read (a tester's finding, the thirty-first session): the ``openai``
client's own message ends with a period, and ours went on with ". Check base_url", so the user read
"Connection error.. Check base_url". Through the real ``openai`` client against a port nothing listens on."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.errors import RunFailed
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from tests.conftest import arun


def _closed_port() -> int:
    """A loopback port that refuses connections: one the OS just handed out and that nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_endpoint_reads_as_one_sentence_per_period(session: Session) -> None:
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    configure_llm(session, {"base_url": base, "model": "m", "api_key": "sk-test-x", "max_retries": 0})

    @ag.graph_fn(outputs=["t"])
    async def ask(*, context: ag.NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat([{"role": "user", "content": "hi"}])
        return {"t": text}

    with pytest.raises(RunFailed) as info:
        arun(ask())
    message = str(info.value)
    assert "could not reach the LLM endpoint" in message, message
    assert "Connection error. Check base_url" in message, message
    assert ".." not in message.replace("...", ""), message


@pytest.mark.parametrize(
    ("said", "clause_"),
    [("Connection error.", "Connection error"), ("Bad gateway", "Bad gateway"), ("wait...", "wait...")],
)
def test_a_client_message_loses_only_its_own_closing_period(said: str, clause_: str) -> None:
    from aether_nb.services.llm_call import clause

    assert clause(said) == clause_
