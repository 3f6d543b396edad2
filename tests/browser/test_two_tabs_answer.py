"""One notebook open in two Notebook 7 tabs on one kernel, both answering the same question at the same moment (a
tester's finding, the thirty-first session): the kernel takes one answer; the other tab's typed answer vanished
without a word (the refusal came back under the control, which went away with the question a moment later, and the
widget was drawn again showing the other answer). The tab whose answer was not used now says so under the question,
and keeps saying it after the widget is drawn again when the run comes to rest.

Both tabs press Enter on the same broadcast (a ``BroadcastChannel`` message each page listens for) while a cell
holds the kernel's loop, and the hold ends only once both answers are on their way (both controls say "sending"): a
broadcast reaches the two pages at different moments, and under load one tab's answer was taken and its question
dropped in the other tab before that tab pressed Enter (a CI run). Which answer the kernel takes first is left to
it, and the test follows whichever lost.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from labdriver import LabPage, LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

NAME = "two_tabs.ipynb"
CELLS = [
    """%load_ext aether_nb
import aether_nb as ag

@ag.graph_fn(name="noter", outputs=["note"])
async def noter(*, context: ag.NodeContext):
    return {"note": await context.channel().ask_text("Any note for the warehouse?")}
""",
    "run = noter.start(run_id='tabs-1'); run",
    "%aether resume tabs-1",
    # Holds the kernel's loop (widget messages wait for it) until the test says both answers went out.
    """import pathlib, time
pathlib.Path("holding.flag").touch()
deadline = time.monotonic() + 60
while not pathlib.Path("release.flag").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print("released")
""",
    "print('NOTE', (await run)['note'])",
]
HOLD, NOTE = 3, 4

# Each page presses Enter in the answer box of cell `i`'s widget when the broadcast comes (listeners are set first).
ARM = """(i) => {
  const channel = new BroadcastChannel("aether-two-tabs");
  channel.onmessage = () => {
    const cell = document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell")[i];
    const box = cell.querySelector(".aether-run [data-wait-kind='text'] input.aether-text-input");
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  };
  window.__aetherTwoTabs = channel;
}"""
GO = "() => new BroadcastChannel('aether-two-tabs').postMessage('go')"

REFUSED = (
    "Your answer '{text}' was not used: this question was already answered (from another view of this run, or in "
    "code), and the run went on with that answer."
)


def _wait_for_file(path: Path, timeout: float = 60.0) -> None:
    """Waits until the kernel made ``path`` (the hold cell has started and holds the loop)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the hold cell did not start within {timeout:g} s (no {path.name})")
        time.sleep(0.05)


def _notes(lab: LabPage, index: int) -> list[str]:
    return lab.widget(index).locator(".aether-refused").all_inner_texts()


def test_an_answer_refused_in_a_second_tab_says_so_under_the_question(
    lab_server: LabServer, open_page: OpenNotebook
) -> None:
    for flag in ("holding.flag", "release.flag"):
        (lab_server.root_dir / flag).unlink(missing_ok=True)
    tab1 = open_page(lab_server, NAME, CELLS, ui="notebook")
    tab1.run_cell(0)
    tab1.run_cell(1)
    tab1.wait_in_output(1, "[data-wait-kind='text'] input").fill("from tab1")

    tab2 = open_page(lab_server, NAME, None, ui="notebook")
    assert lab_server.kernel_id(NAME) is not None
    tab2.run_cell(2)  # the run's live widget, in the second tab
    tab2.wait_in_output(2, "[data-wait-kind='text'] input").fill("from tab2")

    tab1.page.evaluate(ARM, 1)
    tab2.page.evaluate(ARM, 2)
    tab1.run_cell(HOLD, wait=False)
    _wait_for_file(lab_server.root_dir / "holding.flag")
    tab1.page.evaluate(GO)
    sending = "(root) => root.querySelector(\".aether-wait[data-wait-kind='text'][data-state='sending']\") !== null"
    tab1.wait_in_widget(1, sending)
    tab2.wait_in_widget(2, sending)
    (lab_server.root_dir / "release.flag").touch()
    tab1.wait_for_cell(HOLD, timeout=60)
    assert "released" in tab1.output_text(HOLD)

    done = "(root) => root.dataset.runStatus === 'succeeded'"
    tab1.wait_in_widget(1, done, timeout=30)
    tab2.wait_in_widget(2, done, timeout=30)
    tab1.run_cell(NOTE)
    taken = tab1.output_text(NOTE).strip().removeprefix("NOTE ").strip()
    assert taken in ("from tab1", "from tab2"), taken
    (loser, index, text), (winner, windex) = (
        ((tab2, 2, "from tab2"), (tab1, 1)) if taken == "from tab1" else ((tab1, 1, "from tab1"), (tab2, 2))
    )
    # The line is under the question in the tab whose answer was not used, also in the view drawn when the run came
    # to rest (waited on: the view found above may be the one drawn before).
    loser.wait_in_widget(index, done + " && root.querySelector('.aether-refused') !== null")
    assert _notes(loser, index) == [REFUSED.format(text=text)]
    order = loser.widget(index).evaluate(
        "(root) => Array.from(root.querySelectorAll('.aether-messages > *'), (el) =>"
        " el.classList.contains('aether-refused') ? 'refused' : el.dataset.turn || el.className)"
    )
    assert order[:2] == ["question", "refused"], order
    assert _notes(winner, windex) == []
    shot(loser.widget(index), "two_tabs_refused_answer")
