"""A promoted graph keeps the run's order between calls that pass no data (``_after=[...]``).

Promoted from references alone, ``charge`` ran beside ``reserve`` and charged although ``reserve`` failed, and a
read ran before the write it followed. Each test runs the agent and its promoted graph and compares their outputs
and effects, on the run's inputs and on others.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.graph import GraphNode
from aether_nb.runtime.promote_order import after_edges, predecessors
from aether_nb.runtime.session import Session
from tests.conftest import arun

CHARGED: list[int] = []
NOTES: dict[str, str] = {}


@ag.tool(outputs=["ok"])
async def reserve(item: str) -> dict[str, str]:
    await asyncio.sleep(0.05)
    if item == "sold-out":
        raise LookupError(f"{item} is out of stock")
    return {"ok": "reserved"}


@ag.tool(outputs=["receipt"])
def charge(amount: int) -> dict[str, str]:
    CHARGED.append(amount)
    return {"receipt": f"charged {amount}"}


@ag.graph_fn(outputs=["receipt"])
async def checkout(item: str, amount: int, *, context: ag.NodeContext) -> dict[str, str]:
    await reserve(item)  # raises when sold out: nothing is charged
    await context.channel().send_text("reserved")  # (a context call between: the order passes through it)
    r = await charge(amount)
    return {"receipt": r["receipt"]}


@ag.tool(outputs=["ok"])
async def write_note(key: str, text: str) -> dict[str, str]:
    await asyncio.sleep(0.05)
    NOTES[key] = text
    return {"ok": "written"}


@ag.tool(outputs=["text"])
def read_note(key: str) -> dict[str, str]:
    return {"text": NOTES.get(key, "<missing>")}


@ag.graph_fn(outputs=["text"])
async def notes(key: str, text: str) -> dict[str, str]:
    await write_note(key, text)
    r = await read_note(key)
    return {"text": r["text"]}


def promoted(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {"ag": ag, "reserve": reserve, "charge": charge}
    namespace.update(write_note=write_note, read_note=read_note)
    exec(source, namespace)  # as a notebook cell runs it
    return namespace[name]


@pytest.mark.filterwarnings("ignore::aether_nb.runtime.promote_effects.PromotionWarning")
def test_a_call_after_one_that_passed_it_nothing_waits_for_it(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], list[int], list[int]]:
        run = checkout.start(item="shoe", amount=30)
        await run
        source = run.promote("checkout_static")
        graph = promoted(source, "checkout_static")
        CHARGED.clear()
        same = await graph(item="shoe", amount=30)
        effects: list[list[int]] = []
        for fn in (checkout, graph):
            CHARGED.clear()
            with pytest.raises(ag.RunFailed):
                await fn(item="sold-out", amount=99)
            effects.append(list(CHARGED))
        return source, same, effects[0], effects[1]

    source, same, agent_charged, graph_charged = arun(main())
    assert "charge_1 = charge(amount=amount, _after=[reserve_1])" in source, source
    assert same == {"receipt": "charged 30"}
    assert agent_charged == graph_charged == []  # reserve failed: neither charges


def test_a_read_after_a_write_reads_what_was_written(session: Session) -> None:
    async def main() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
        NOTES.clear()
        run = notes.start(key="a", text="hello")
        out = await run
        source = run.promote("notes_static")
        graph = promoted(source, "notes_static")
        NOTES.clear()
        same = await graph(key="a", text="hello")
        NOTES.clear()
        return source, out, same, await graph(key="b", text="other")

    source, out, same, other = arun(main())
    assert "read_note_1 = read_note(key=key, _after=[write_note_1])" in source, source
    assert out == same == {"text": "hello"}
    assert other == {"text": "other"}


def test_only_the_edges_references_do_not_imply_are_written() -> None:
    nodes = [
        GraphNode("a_1", "a", "tool", "DONE"),
        GraphNode("send_1", "send_text", "send", "DONE", parents=("a_1",)),
        GraphNode("b_1", "b", "tool", "DONE", parents=("send_1",)),
        GraphNode("c_1", "c", "tool", "DONE", parents=("b_1",)),
        GraphNode("sub_1", "sub", "graph_fn", "DONE", parents=("c_1",)),
        GraphNode("sub_1/d_1", "d", "tool", "DONE", parent="sub_1"),
        GraphNode("e_1", "e", "tool", "DONE", parents=("sub_1",)),
    ]
    promoted_ids = {"a_1", "b_1", "c_1", "sub_1/d_1", "e_1"}
    before = predecessors(nodes, promoted_ids)
    # a context call passes the order through; a nested agent stands for the calls made inside it
    assert before == {"a_1": set(), "b_1": {"a_1"}, "c_1": {"b_1"}, "sub_1/d_1": {"c_1"}, "e_1": {"sub_1/d_1"}}
    # c_1 takes b_1's output (a reference): no _after; e_1 takes a_1's only, so it is ordered after sub_1/d_1
    deps = {"c_1": ["b_1"], "e_1": ["a_1"]}
    order = ["a_1", "b_1", "c_1", "sub_1/d_1", "e_1"]
    assert after_edges(order, deps, before) == {
        "a_1": [],
        "b_1": ["a_1"],
        "c_1": [],
        "sub_1/d_1": ["c_1"],
        "e_1": ["sub_1/d_1"],
    }
