"""A notebook executed headless (nbclient, papermill, ``nbconvert --execute``) keeps only the messages a cell sent
while it ran: a run's widget state must be current when its cell ends, not up to ~0.1 s later (its throttle), or
the saved notebook shows a run that waits for an answer as "pending", with no step and no question (a scratch
tester's nbclient notebook, the twenty-fifth session)."""

from __future__ import annotations

import pytest

from tests.kernel_client import Kernel, kernel

pytestmark = pytest.mark.kernel
__all__ = ["kernel"]

AGENT = """
%load_ext aether_nb
import aether_nb as ag

@ag.tool(outputs=["y"])
def double(x: int) -> dict:
    return {"y": 2 * x}

@ag.graph_fn(outputs=["answer"])
async def ask(x: int, *, context):
    d = await double(x)
    ok, _ = await context.channel().ask_approval(f"Use {d['y']}?")
    return {"answer": d["y"] if ok else None}
"""


def _statuses(comms: list[dict]) -> list[str]:
    out = []
    for content in comms:
        state = (content.get("data") or {}).get("state") or {}
        graph = state.get("graph")
        if isinstance(graph, dict) and graph.get("status"):
            out.append(graph["status"])
    return out


def test_a_run_waiting_when_its_cell_ends_has_said_so_within_the_cell(kernel: Kernel) -> None:
    kernel.ok(AGENT)
    res = kernel.ok("run = ask.start(x=21)\nawait run.wait_for('waiting')")
    statuses = _statuses(res.comms)
    assert statuses and statuses[-1] == "waiting", statuses  # (was "pending": the rest came after the cell)
    last = [c["data"]["state"] for c in res.comms if "waits" in ((c.get("data") or {}).get("state") or {})]
    assert last and len(last[-1]["waits"]) == 1, last[-1:]
    kernel.ok("run.cancel()")


def test_every_display_of_a_run_says_how_it_ended(kernel: Kernel) -> None:
    """A run shown in one cell and again in another (``%aether resume``, or ``run`` as a cell's value, with no
    browser attached): only the newest display was updated when it ended, and a notebook executed headless kept the
    first one at "waiting for you" beside the answer's "done"."""
    kernel.ok(AGENT)
    first = kernel.ok("run = ask.start(x=21, run_id='shown-twice')\nawait run.wait_for('waiting')")
    second = kernel.ok("%aether resume shown-twice")
    shown = set(first.displayed) | set(second.displayed)
    assert len(shown) == 2, (first.displayed, second.displayed)  # (no browser: no pointer line, a second widget)
    end = kernel.ok("await run.answer(True)\nawait run")
    assert shown <= set(end.updated), (shown, end.updated)
