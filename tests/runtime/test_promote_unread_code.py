"""Promotion without the agent's code says so.

The tester's repro: after a kernel restart, promoting a run whose agent cell was not run again gave a weaker
promotion silently (no word of where the code branches, its constants called "computed in Python"). Now the source
and the PromotionWarning say the agent's code was not available, and what to do (run its cell, promote again).
"""

from __future__ import annotations

import textwrap
import warnings
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime import promote as promote_module
from aether_nb.runtime.promote_effects import PromotionWarning
from aether_nb.runtime.session import Session
from tests.conftest import finished_run


@ag.tool(outputs=["price"])
def unread_price(sku: str) -> dict[str, int]:
    return {"price": 50}


@ag.tool(outputs=["ok"])
def unread_flag(sku: str, reason: str) -> dict[str, bool]:
    return {"ok": True}


@ag.graph_fn(name="unread_check", outputs=["p"])
async def check(sku: str) -> dict[str, Any]:
    p = await unread_price(sku)
    if p["price"] > 10:
        await unread_flag(sku, "expensive")
    return {"p": p["price"]}


def promoted(run: ag.Run, name: str) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = run.promote(name)
    return source, " | ".join(str(w.message) for w in caught if issubclass(w.category, PromotionWarning))


def test_an_agent_not_defined_in_this_kernel_is_said(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    run = finished_run(check, sku="a")
    source, warned = promoted(run, "check_static")
    assert "branches" in source and "reason='expensive'" in source, source  # (its code known: the full promotion)
    known = promote_module.lookup
    # as after a kernel restart whose agent cell was not run again: the agent is not defined
    monkeypatch.setattr(
        promote_module, "lookup", lambda kind, name: None if name == "unread_check" else known(kind, name)
    )
    source, warned = promoted(run, "check_static")
    assert "the code of agent unread_check is not available" in warned, warned
    assert "run the cell defining it, then promote again" in warned, warned
    assert "the code of agent unread_check is not available" in source, source
    assert "computed in Python" not in source + warned, (source, warned)


def test_an_agent_whose_source_cannot_be_read_is_said(session: Session) -> None:
    ns: dict[str, Any] = {"ag": ag, "unread_price": unread_price, "unread_flag": unread_flag}
    exec(  # (defined with no source file: inspect.getsource cannot read it)
        textwrap.dedent(
            """
            @ag.graph_fn(name="unread_exec_check", outputs=["p"])
            async def exec_check(sku):
                p = await unread_price(sku)
                if p["price"] > 10:
                    await unread_flag(sku, "expensive")
                return {"p": p["price"]}
            """
        ),
        ns,
    )
    run = finished_run(ns["exec_check"], sku="a")
    _, warned = promoted(run, "exec_check_static")
    assert "the code of agent unread_exec_check is not available (inspect.getsource cannot read it)" in warned, warned
