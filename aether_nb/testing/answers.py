"""Scripted answers for notebooks that must also run unattended (CI, ``make demo``).

With ``AETHER_NB_SCRIPTED=1`` in the environment, :func:`answer_or_wait` answers a run's questions from a script;
without it, it just waits while the person answers in the run's widget (a cell may ``await`` while widget events
are handled, ipykernel >= 7.4). One notebook serves both.
"""

from __future__ import annotations

import os
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.run import Run
from aether_nb.testing.checks import check_number

ENV = "AETHER_NB_SCRIPTED"


def scripted() -> bool:
    """Whether this kernel runs unattended (``AETHER_NB_SCRIPTED`` set to a non-empty value other than ``0``)."""
    return os.environ.get(ENV, "") not in ("", "0")


async def answer_or_wait(run: Run, *answers: Any, timeout: float | None = None) -> dict[str, Any]:
    """Answer ``run``'s questions in order when scripted; otherwise wait for the person. Returns the outputs.

    Raises:
        UsageError: ``run`` is not a run (``agent.start(...)`` makes one; ``ag.get_run(run_id)`` finds one by its id),
            or ``timeout`` is not a positive number of seconds.
    """
    given: object = run  # (any value: a notebook passes what it has)
    if not isinstance(given, Run):
        hint = f" (a run id? `ag.get_run({run!r})` gives its run)" if isinstance(run, str) else ""
        raise UsageError(
            f"answer_or_wait(run, ...) takes a run, e.g. `run = agent.start(...)`, got {shown(run, 80)}{hint}",
            code="bad_argument",
        )
    if timeout is not None and check_number(timeout, "answer_or_wait(timeout=...) (seconds)") <= 0:
        raise UsageError(f"answer_or_wait(timeout=...) must be more than 0 seconds, got {shown(timeout)}")
    if scripted():
        for answer in answers:
            await run.wait_for("waiting", timeout=timeout or 60.0)
            print(f"(scripted answer: {answer!r})")
            await run.answer(answer)
    return await run.result()
