"""The re-run rule: what running a cell again does to the runs its previous execution started and left going.

A cell's execution may start several runs (``a = agent.start(1); b = agent.start(2)``, a batch in a list
comprehension or a ``gather``): they all belong to that execution and none stops another. When the cell runs again
and starts runs, each new run takes the place of the run the previous execution started at the same position (its
first run replaces the first, and so on): that run is cancelled if it is still going, unless it is the very same run
(same ``run_id``: it is adopted, and goes on). A run a cell resumes rather than starts (it answers a run that waited
through a restart, say) is not the cell's: it replaces nothing and is never stopped by a later execution of that
cell (a cell that answers runs one after the other, its run id edited each time, stopped the run it had answered
before). When the new execution ends, the runs of the previous one that no new run replaced (the batch got smaller)
are cancelled too. An execution that starts no run (or only resumes some) cancels nothing.

Why positions, not "everything at the first new run": a cell that starts runs with fixed ids (``run_id=f"doc-{i}"``)
adopts each of them again; cancelling the whole previous batch at the first start would stop runs the cell is
about to adopt. One case it cannot foresee: fixed ids started again in another order, where a run is replaced by
position before the execution names it again (it is cancelled then, and starting it returns that cancelled run).
Before this module a cell remembered only its last run, so the second run of an execution cancelled the first: two
agents started in one cell left one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

MAX_CELLS = 4096
"""Cells whose runs are remembered (the oldest forgotten first): a cell id is a few dozen bytes per run."""


@dataclass(frozen=True)
class Started:
    """What a run started by a cell's execution means for the runs of the cell's previous execution."""

    replaces: str | None
    """The previous execution's run this one takes the place of (cancel it if it is still going), or None."""
    adopted: bool
    """This very run was started by the cell's previous execution too (same ``run_id``): it goes on."""


@dataclass
class _Execution:
    number: Hashable  # which execution (the execute request's message id)
    started: list[str]  # the run ids it started, in order
    before: list[str]  # the run ids the cell's previous execution started
    replaced: set[str]  # those of ``before`` a run of this execution took the place of
    resumed: set[str]  # runs it resumed (answered after a restart, say): neither stopped nor replacing


class CellRuns:
    """Which runs each cell's last two executions started, in order (cells named by the front end's cell id)."""

    def __init__(self) -> None:
        self._cells: dict[str, _Execution] = {}

    def started(self, cell: str, execution: Hashable, run_id: str, *, resumed: bool = False) -> Started:
        """``run_id`` started (or was shown starting again) in ``cell``'s execution ``execution``;
        ``resumed``: the execution resumed a run that existed before (answered it after a restart, or
        ``start(run_id=...)`` of a run that left memory), which it did not start: that run replaces nothing and no
        later execution of the cell stops it."""
        last = self._cells.get(cell)
        if last is None or last.number != execution:
            # (an execution that only resumed runs started none: the runs before it stay the cell's previous ones)
            before = (last.started or last.before) if last is not None else []
            last = self._cells[cell] = _Execution(execution, [], before, set(), set())
            while len(self._cells) > MAX_CELLS:
                self._cells.pop(next(iter(self._cells)))
        ids = last.started
        if run_id in ids or run_id in last.resumed:  # the same run again within one execution: nothing changes
            return Started(None, adopted=False)
        if resumed:
            last.resumed.add(run_id)
            return Started(None, adopted=run_id in last.before)
        position = len(ids)
        ids.append(run_id)
        if run_id in last.before:
            return Started(None, adopted=True)
        replaces = last.before[position] if position < len(last.before) else None
        if replaces is None or replaces in ids or replaces in last.resumed:
            return Started(None, adopted=False)
        last.replaced.add(replaces)
        return Started(replaces, adopted=False)

    def left_over(self, cell: str, execution: Hashable) -> list[str]:
        """The runs of ``cell``'s previous execution that execution ``execution`` neither adopted nor started a run
        in the place of; empty when that execution started no run. Called when the execution ends (once: the
        previous execution is forgotten then)."""
        last = self._cells.get(cell)
        if last is None or last.number != execution or not last.started:
            return []
        before, last.before = last.before, []
        return [r for r in before if r not in last.started and r not in last.replaced and r not in last.resumed]
