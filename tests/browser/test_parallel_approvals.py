"""Three refunds reviewed in parallel in JupyterLab: the agent asks three approvals at once; the person rejects the
second in the widget, the kernel restarts, and in the rebuilt widget approves the third, then the first. Each
decision reaches its own order, each check and refund happens once, each question shows once in the chat with its
answer under it, and the widget ends with no question open beside a finished run. Screenshots land in
test-artifacts/ (parallel_*.png) and were looked at.

What it guards (the eighteenth session): a resumed run's concurrent branches number their steps in another order
than the first execution did; an approval then reached another order's question (or the resume failed with a
``ReplayMismatch``).
"""

from __future__ import annotations

import pytest
from labdriver import LabServer, OpenNotebook, shot
from playwright.sync_api import Locator

from tests.scenarios.orders import printed
from tests.scenarios.refunds import ASKED, DEFINITIONS

pytestmark = pytest.mark.browser

START = """\
run = review.start(orders=[1, 2, 3], run_id="refunds")
run
"""

REATTACH = """\
run = ag.get_run("refunds")
run
"""

REPORT = """\
print("DECISIONS", (await run)["decisions"])
print("EFFECTS", sorted(open(EFFECTS).read().splitlines()))
"""


def _click(widget: Locator, order: int, option: str) -> None:
    """Click ``option`` on the question about ``order``, and wait until the widget shows it answered."""
    wait = widget.locator(".aether-wait", has_text=f"Refund order {order} ")
    wait.locator(f"button[data-option='{option}']").click(timeout=30_000)
    wait.wait_for(state="detached", timeout=30_000)


def test_three_approvals_asked_together_each_reach_their_order_across_a_restart(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    setup = DEFINITIONS.replace("EFFECTS_FILE", "parallel_effects.txt")
    lab = open_page(lab_server, "parallel_approvals.ipynb", [setup, START, REATTACH, REPORT])
    lab.run_cell(0)
    lab.run_cell(1, timeout=60)
    lab.wait_in_widget(1, "(root) => root.querySelectorAll('.aether-wait').length === 3", timeout=30)
    asking = lab.widget(1)
    for prompt in ASKED:
        assert asking.locator(".aether-bubble[data-turn='question']", has_text=prompt).count() == 1
    shot(asking, "parallel_01_three_questions")

    _click(asking, 2, "Reject")
    lab.wait_in_widget(1, "(root) => root.querySelectorAll('.aether-wait').length === 2", timeout=30)
    shot(lab.widget(1), "parallel_02_one_rejected")

    lab.restart_kernel()
    lab.wait_in_widget(1, "(root) => root.dataset.inert === 'true'", timeout=30)
    lab.run_cell(0)  # (the definitions again, as after any restart)
    lab.run_cell(2, timeout=60)
    lab.wait_in_widget(2, "(root) => root.querySelectorAll('.aether-wait').length === 2", timeout=30)
    rebuilt = lab.widget(2)
    shot(rebuilt, "parallel_03_rebuilt_after_restart")
    _click(rebuilt, 3, "Approve")
    _click(rebuilt, 1, "Approve")
    lab.wait_in_widget(2, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    done = lab.widget(2)
    for prompt in ASKED:  # each question once, its answer under it
        assert done.locator(".aether-bubble[data-turn='question']", has_text=prompt).count() == 1
    answers = done.locator(".aether-bubble[data-turn='answer']")
    assert sorted(answers.all_inner_texts()) == ["Approve", "Approve", "Reject"]
    assert done.locator(".aether-wait").count() == 0
    assert done.locator(".aether-node[data-status^='WAITING']").count() == 0
    shot(done, "parallel_04_done")

    lab.run_cell(3, timeout=60)
    report = lab.output_text(3)
    assert printed(report, "DECISIONS") == {"1": True, "2": False, "3": True}
    assert printed(report, "EFFECTS") == ["check 1", "check 2", "check 3", "refund 1 10", "refund 3 30"]
    lab.check_no_errors()
