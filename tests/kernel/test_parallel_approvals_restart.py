"""A user's agent that reviews refunds in parallel, in a real kernel across a restart: each order is checked (an
effect), then waits for its own approval, then is refunded (an effect) or kept. Four questions are asked at once
under ``asyncio.gather``; one is answered, the kernel restarts, the rest are answered in another order than they
were asked. Each decision reaches its own order, each check and refund happens once, and each question was put in
the chat once.

The first kernel's branches ask in the order their checks finish, the resumed one's in the order their replayed
checks return (at once): their steps are numbered differently, which used to give one order's approval to another
(or fail the resume with a ``ReplayMismatch``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel_client import Kernel
from tests.scenarios.refunds import ASKED, DEFINITIONS

pytestmark = pytest.mark.kernel

ASK_AND_ANSWER_ONE = r"""
run = review.start(orders=[1, 2, 3], run_id="refunds")
await run.wait_for("waiting")
for _ in range(500):
    if len(run.waits) == 3:
        break
    await asyncio.sleep(0.01)
print("ASKED", sorted(w.prompt for w in run.waits))
await answer(run, 2, "Reject")
await run.wait_for("waiting")
ag.session().flush()
print("LEFT", sorted(w.prompt for w in run.waits))
"""

ANSWER_REST = r"""
run = ag.get_run("refunds")
print("WAITING", run.status, sorted(w.prompt for w in run.waits))
await answer(run, 3, "Approve")
await answer(run, 1, "Approve")
out = await run
print("DECISIONS", json.dumps(out["decisions"], sort_keys=True))
turns = [m.text for m in ag.store().memory_query("notebook", kinds=["chat"])]
print("TURNS", json.dumps(sorted(turns)))
print("STATES", json.dumps({n.id: n.status for n in run.graph.nodes if n.kind == "wait"}, sort_keys=True))
"""


def test_parallel_approvals_answered_across_a_restart_reach_their_own_orders(kernel: Kernel, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    defs = DEFINITIONS.replace("EFFECTS_FILE", str(effects))
    kernel.ok(defs)
    first = kernel.ok(ASK_AND_ANSWER_ONE, timeout=120)
    asked = ASKED
    assert f"ASKED {asked}" in first.stdout
    assert f"LEFT {[asked[0], asked[2]]}" in first.stdout

    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(defs)
    second = kernel.ok(ANSWER_REST, timeout=120)
    assert f"WAITING waiting {[asked[0], asked[2]]}" in second.stdout
    assert 'DECISIONS {"1": true, "2": false, "3": true}' in second.stdout
    turns = second.stdout.split("TURNS ", 1)[1].splitlines()[0]
    said = ["order 1: refunded", "order 2: kept", "order 3: refunded"]
    assert turns == str(sorted([*asked, "Approve", "Approve", "Reject", *said])).replace("'", '"')
    assert 'STATES {"ask_approval_1": "DONE", "ask_approval_2": "DONE", "ask_approval_3": "DONE"}' in second.stdout

    lines = sorted(effects.read_text().splitlines())
    assert lines == ["check 1", "check 2", "check 3", "refund 1 10", "refund 3 30"]
