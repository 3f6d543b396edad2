"""The LLM response cache: what makes two requests the same one (against two FakeOpenAI endpoints)."""

from __future__ import annotations

from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import CACHE_SCOPE, configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun


@ag.graph_fn(outputs=["a", "b", "a_again"])
async def ask_both(*, context: ag.NodeContext) -> dict[str, Any]:
    a, _ = await context.llm().chat("hi", cache=True)
    b, _ = await context.llm("other").chat("hi", cache=True)
    a_again, usage = await context.llm().chat("hi", cache=True)
    assert usage.cached_calls == 1
    return {"a": a, "b": b, "a_again": a_again}


def test_the_same_request_to_another_endpoint_is_not_a_cache_hit(session: Session) -> None:
    with FakeOpenAI(rules=lambda body: "from ONE") as one, FakeOpenAI(rules=lambda body: "from TWO") as two:
        configure_llm(
            session,
            [
                {"base_url": one.base_url, "model": "llama-3"},
                {"name": "other", "base_url": two.base_url, "model": "llama-3"},
            ],
        )
        out = arun(ask_both())
        assert out == {"a": "from ONE", "b": "from TWO", "a_again": "from ONE"}
        assert len(one.chat_requests) == 1 and len(two.chat_requests) == 1  # the third call came from the cache
    assert len(session.store.kv_keys(CACHE_SCOPE)) == 2
