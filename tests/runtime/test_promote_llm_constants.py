"""An LLM reply the agent returned is named by the PromotionWarning even when its code also holds it as a constant.

The tester's repro: ``label, _ = await llm.chat(...)``, ``if label == "urgent": ...``, ``return {"label": label}``.
The returned 'urgent' was taken for the constant of the comparison, so the warning never named the output, and the
promoted graph answers 'urgent' whatever the message.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from aether_nb.testing import FakeOpenAI
from tests.conftest import finished_run


@ag.tool(outputs=["ok"])
def page(msg: str) -> dict[str, bool]:
    return {"ok": True}


@ag.tool(outputs=["ok"])
def enqueue(msg: str) -> dict[str, bool]:
    return {"ok": True}


@ag.graph_fn(name="triage_by_llm", outputs=["label"])
async def triage(msg: str, *, context: ag.NodeContext) -> dict[str, Any]:
    label, _ = await context.llm().chat(f"Classify: {msg}")
    if label == "urgent":
        await page(msg)
    else:
        await enqueue(msg)
    return {"label": label}


@pytest.fixture
def llm(session: Session) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(script=["urgent"]) as fake:
        ag.configure(llm={"base_url": fake.base_url, "model": "fake", "api_key": "sk-test"})
        yield fake


def test_a_returned_llm_reply_equal_to_a_constant_is_named(session: Session, llm: FakeOpenAI) -> None:
    run = finished_run(triage, msg="server on fire")
    assert run.outputs == {"label": "urgent"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote("triage_static")
    warned = " | ".join(str(w.message) for w in caught if issubclass(w.category, PromotionWarning))
    assert "output label = 'urgent'" in warned, (warned, source)
    assert "llm_1" in warned.split("output label", 1)[1], warned
