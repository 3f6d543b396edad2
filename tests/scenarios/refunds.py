"""Refunds reviewed in parallel, as an agent a user writes in a cell: each order is checked (an effect), waits for
its own approval (``ask_approval`` under ``asyncio.gather``: the questions are asked together), then is refunded
(an effect) or kept. Every effect is a line in ``EFFECTS_FILE``, so "exactly once" is checked on the effects.

The first orders take longest to check, so the branches ask in another order the first time than when a resumed
run replays their checks (which return at once): their steps are numbered differently, and each decision must still
reach its own order. Run by ``tests/kernel/test_parallel_approvals_restart.py`` (answered from code) and
``tests/browser/test_parallel_approvals.py`` (answered in the widget, across a restart).
"""

from __future__ import annotations

DEFINITIONS = r"""
%load_ext aether_nb
import asyncio, json
import aether_nb as ag
EFFECTS = "EFFECTS_FILE"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\n")

@ag.tool(outputs=["amount"])
async def check(order: int) -> dict:
    effect(f"check {order}")
    for _ in range(4 - order):  # the first orders take longest to check
        await asyncio.sleep(0)
    return {"amount": 10 * order}

@ag.tool(outputs=["done"])
async def refund(order: int, amount: int) -> dict:
    effect(f"refund {order} {amount}")
    return {"done": True}

@ag.graph_fn(outputs=["decisions"])
async def review(orders: list, *, context) -> dict:
    async def one(order):
        amount = (await check(order))["amount"]
        approved, _ = await context.channel().ask_approval(f"Refund order {order} ({amount} EUR)?")
        if approved:
            await refund(order, amount)
        await context.channel().send_text(f"order {order}: {'refunded' if approved else 'kept'}")
        return approved
    oks = await asyncio.gather(*(one(o) for o in orders))
    return {"decisions": dict(zip(map(str, orders), oks))}

async def answer(run, order, choice):
    (wait,) = [w for w in run.waits if w.prompt.startswith(f"Refund order {order} ")]
    await run.answer(choice, token=wait.token)
"""
"""A cell: the definitions (``answer(run, order, choice)`` answers one order's question from code)."""

ASKED = [f"Refund order {i} ({10 * i} EUR)?" for i in (1, 2, 3)]
"""The three questions ``review(orders=[1, 2, 3])`` asks."""
