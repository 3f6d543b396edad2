"""After a restart, a resumed run's widget names the completed steps it executed again instead of replaying them.

Found by a tester in JupyterLab: a step whose result holds a secret is never journaled (README, "Secrets"), so a
resume executes it again (documented). The widget said "Resumed from the store: completed steps were replayed, not
executed again" while that step (a model call, a tool that returned a key) ran again, and once it had ended "if this
run is resumed after a restart, that step runs again". It now names the step, as it names a step cut off by the
restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel_client import Kernel

pytestmark = pytest.mark.kernel

SETUP = """
%load_ext aether_nb
import os, pathlib
import aether_nb as ag
from aether_nb.notebook.extension import loaded

os.environ["SHOP_API_KEY"] = "sk-proj-" + "Zx9" * 12
EFFECTS = pathlib.Path("effects.txt")

@ag.tool(outputs=["token"])
def fetch_token() -> dict:
    with EFFECTS.open("a") as f:
        f.write("fetch_token\\n")
    return {"token": os.environ["SHOP_API_KEY"]}

@ag.tool(outputs=["n"])
def count_items() -> dict:
    with EFFECTS.open("a") as f:
        f.write("count_items\\n")
    return {"n": 3}

@ag.graph_fn(name="keyed", outputs=["ok"])
async def keyed(*, context: ag.NodeContext):
    await count_items()
    await fetch_token()
    ok, _ = await context.channel().ask_approval("Go on?", options=["Yes", "No"])
    return {"ok": ok}
"""

START = "run = keyed.start(run_id='k-1')\nrun"
NOTICE = "print(loaded(get_ipython()).views['k-1'].widget.notice)"


def test_a_resume_names_the_step_it_executed_again_because_its_result_held_a_secret(
    kernel: Kernel, tmp_path: Path
) -> None:
    kernel.ok(SETUP, cell_id="cell-setup")
    kernel.ok(START, cell_id="cell-start")
    kernel.ok("await run.wait_for('waiting', timeout=30)\nawait ag.session().store.barrier()")
    kernel.km.restart_kernel(now=True)
    kernel.kc.wait_for_ready(timeout=60)

    kernel.ok(SETUP, cell_id="cell-setup")
    kernel.ok(START, cell_id="cell-start")  # the same run id: the cut-short run goes on (resumed)
    kernel.ok("await run.wait_for('waiting', timeout=30)")
    waiting = kernel.ok(NOTICE).stdout.strip()
    # (documented: the step holding the secret ran again, the other one was replayed)
    assert (tmp_path / "effects.txt").read_text().split() == ["count_items", "fetch_token", "fetch_token"]
    said = (
        "Resumed from the store: completed steps were replayed, not executed again. Not step fetch_token_1, though: "
        "it ran again, as its result held a secret (an API key or credential), which is never stored; what it did "
        "(a model call, say) was done twice."
    )
    assert waiting == said, waiting
    assert "Zx9" not in waiting

    kernel.ok("await run.answer('Yes')\nawait run")
    assert kernel.ok(NOTICE).stdout.strip() == said  # what the resume did stays true once the run ended
