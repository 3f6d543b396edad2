"""A user's state-graph approvals in a real kernel, across a restart: eighty orders each pay, then wait for an
approval at ``interrupt()``; one order's note is edited while it waits; half are approved, the kernel restarts
(most of the waiting threads had left memory already: more than ``max_live_waiting`` wait), the rest are approved
in the new kernel with one ``gather``. Every payment and every shipment happens once, the edit reaches the
shipment, and each thread's checkpoints still chain parent to child.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kernel_client import Kernel
from tests.scenarios.orders import DEFINITIONS

pytestmark = pytest.mark.kernel

PARK_AND_APPROVE_HALF = r"""
paused = await asyncio.gather(*(app.ainvoke({"order": i, "trail": []}, cfg(i)) for i in range(80)))
print("PAUSED", sorted({p.status for p in paused}), len(paused))
await app.aupdate_state(cfg(47), {"note": "gift wrap"})
done = await asyncio.gather(*(app.ainvoke(Command(resume="yes"), cfg(i)) for i in range(40)))
print("DONE", sorted({d.status for d in done}))
"""

APPROVE_REST = r"""
snap = await app.aget_state(cfg(47))
print("WAITING", list(snap.next), snap.values.get("note"))
done = await asyncio.gather(*(app.ainvoke(Command(resume="yes"), cfg(i)) for i in range(40, 80)))
print("DONE", sorted({d.status for d in done}))
print("TRAIL47", json.dumps(done[7]["trail"]))
chains = []
for i in (0, 47, 79):
    history = [h async for h in app.aget_state_history(cfg(i))]
    ids = [h.config["configurable"]["checkpoint_id"] for h in history]
    parents = [(h.parent_config or {}).get("configurable", {}).get("checkpoint_id") for h in history]
    chains.append(parents == ids[1:] + [None])
print("CHAINS", chains)
"""


def test_approvals_paused_in_bulk_survive_a_restart_and_ship_once(kernel: Kernel, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    defs = DEFINITIONS.replace("EFFECTS_FILE", str(effects))
    kernel.ok(defs)
    first = kernel.ok(PARK_AND_APPROVE_HALF, timeout=120)
    assert "PAUSED ['interrupted'] 80" in first.stdout and "DONE ['completed']" in first.stdout

    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(defs)
    second = kernel.ok(APPROVE_REST, timeout=120)
    assert "WAITING ['approve'] gift wrap" in second.stdout
    assert "DONE ['completed']" in second.stdout
    trail = json.loads(second.stdout.split("TRAIL47 ", 1)[1].splitlines()[0])
    assert trail == ["paid", "yes gift wrap", "shipped"]
    assert "CHAINS [True, True, True]" in second.stdout

    lines = effects.read_text().splitlines()
    charges = sorted(int(line.split()[1]) for line in lines if line.startswith("charge"))
    ships = sorted(line for line in lines if line.startswith("ship"))
    assert charges == list(range(80))  # each order paid once, before and across the restart
    assert ships == sorted(f"ship {i} {'gift wrap' if i == 47 else '-'}" for i in range(80))  # shipped once


def test_aether_resume_of_a_waiting_thread_runs_its_asking_node_only_when_answered(
    kernel: Kernel, tmp_path: Path
) -> None:
    """After a restart, ``%aether resume RUN`` of a state graph paused at ``interrupt()`` executed the run at once:
    the asking node ran up to its question again, then again when answered (three runs of its body where LangGraph
    and a kernel without the restart make two). It now shows the question, and the answer resumes the run."""
    effects = tmp_path / "effects.txt"
    defs = DEFINITIONS.replace("EFFECTS_FILE", str(effects)).replace(
        "def approve(s: Order):\n", "def approve(s: Order):\n    effect(f\"asked {s['order']}\")\n"
    )
    kernel.ok(defs)
    kernel.ok('paused = await app.ainvoke({"order": 5, "trail": []}, cfg(5))\nprint(paused.status)')
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)
    kernel.ok(defs)
    waiting = kernel.ok("print(*[r.id for r in ag.runs(status='waiting')])").stdout.split()
    assert len(waiting) == 1, waiting
    shown = kernel.ok(f"%aether resume {waiting[0]}")
    assert "waiting for you" in json.dumps(shown.bundles)  # its widget, with the question
    assert effects.read_text().splitlines().count("asked 5") == 1  # not run up to its question again
    done = kernel.ok(f"run = ag.get_run({waiting[0]!r})\nawait run.answer('yes')\nawait run\nprint(run.status)")
    assert "succeeded" in done.stdout, done.stdout
    lines = effects.read_text().splitlines()
    assert lines.count("asked 5") == 2 and lines.count("charge 5") == 1 and lines.count("ship 5 -") == 1, lines
