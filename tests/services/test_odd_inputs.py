"""What a scratch tester typed into the services that escaped as a bare Python error or kept a secret (the
twenty-fifth session): each now a UsageError saying what to do, or redacted."""

from __future__ import annotations

import math
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.config import register_context_service
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.session import Session
from aether_nb.services.artifacts import redact_blob
from aether_nb.services.kv import check_ttl
from aether_nb.services.llm import _messages
from tests.conftest import arun

KEY = "sk-" + "A1b2C3d4E5" * 4


@pytest.mark.parametrize("ttl", [10**400, math.inf, 1e13, math.nan, -1, 0, True, "5"])
def test_a_ttl_out_of_range_is_a_usage_error(ttl: Any) -> None:
    with pytest.raises(ag.UsageError, match="ttl_s"):
        check_ttl(ttl)  # (10**400 raised OverflowError)


def test_a_ttl_in_range_is_kept() -> None:
    assert check_ttl(5) == 5.0
    assert check_ttl(1e12) == 1e12
    assert check_ttl(None) is None


@pytest.mark.parametrize("content", [math.nan, object(), {"x": math.inf}])
def test_llm_messages_that_are_not_json_are_a_usage_error_before_any_request(content: Any) -> None:
    with pytest.raises(ag.UsageError, match="JSON values only"):
        _messages([{"role": "user", "content": content}])  # (ValueError / TypeError from inside the client)


def test_llm_messages_keep_the_clients_own_models() -> None:
    class Model:  # stands for an openai pydantic model appended to the conversation (a reply's message)
        def model_dump(self) -> dict[str, Any]:
            return {"role": "assistant", "content": "hi"}

    msgs = _messages([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "extra": Model()}])
    assert len(msgs) == 2


@pytest.mark.parametrize("name", sorted(n for n in dir(NodeContext) if not n.startswith("_")))
def test_no_service_can_take_a_name_the_context_has(name: str) -> None:
    """``run_id``, ``node_id``, ``scope`` and ``sleep`` were taken silently, then hidden by the built-in."""
    with pytest.raises(ag.UsageError, match="built-in NodeContext name"):
        register_context_service(name, object())


@pytest.mark.parametrize(
    "mime", ["text/plain", "TEXT/PLAIN", "Text/Markdown; charset=utf-8", "application/json; charset=utf-8"]
)
def test_text_artifacts_are_redacted_whatever_the_case_and_parameters_of_their_mime(mime: str) -> None:
    assert KEY.encode() not in redact_blob(f"key = {KEY}\n".encode(), mime)


def test_binary_artifacts_are_kept_as_they_are() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00" + f"key = {KEY}".encode()
    assert redact_blob(data, "image/png") == data
    # (text is text whatever its label: bytes that read as UTF-8 are redacted, tests/services/test_artifact_kinds.py)
    assert KEY.encode() not in redact_blob(f"key = {KEY}".encode(), "image/png")


def test_a_memory_role_holding_a_secret_is_refused(session: Session) -> None:
    @ag.graph_fn(name="records_a_role")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        await context.memory().record("note", {"x": 1}, role=KEY)
        return {}

    with pytest.raises(ag.RunFailed, match="a memory role holds a secret"):
        arun(agent())


def test_bytes_where_a_list_of_names_is_expected_say_so(session: Session) -> None:
    """``tags=b"ab"`` was iterated as numbers: "a memory tag must be a string, got int"."""
    said: list[str] = []

    @ag.graph_fn(name="bytes_for_lists")
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        mem = context.memory()
        for call in (
            lambda: mem.record("note", {"x": 1}, tags=b"ab"),  # type: ignore[arg-type]
            lambda: mem.recent(kinds=b"k"),  # type: ignore[arg-type]
            lambda: context.kv().mget(b"ab"),  # type: ignore[arg-type]
            lambda: context.channel().ask_choices("Pick?", b"ab"),  # type: ignore[arg-type]
        ):
            with pytest.raises(ag.UsageError) as info:
                await call()
            said.append(str(info.value))
        return {}

    arun(agent())
    assert len(said) == 4 and all("b'" in s and "got int" not in s for s in said), said
