"""The re-run rule's bookkeeping (aether_nb.notebook.reruns): which runs of a cell's previous execution a new
execution stops, adopts or leaves alone. The kernel-level behaviour is in test_extension.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aether_nb.notebook.reruns import CellRuns, Started


def test_one_execution_never_replaces_its_own_runs() -> None:
    cells = CellRuns()
    assert cells.started("c", 1, "a") == Started(None, adopted=False)
    assert cells.started("c", 1, "b") == Started(None, adopted=False)
    assert cells.started("c", 1, "a") == Started(None, adopted=False)  # shown again: nothing changes
    assert cells.left_over("c", 1) == []


def test_a_rerun_replaces_by_position_and_stops_the_rest_at_its_end() -> None:
    cells = CellRuns()
    for run in ("a", "b", "c"):
        cells.started("c1", 1, run)
    assert cells.started("c1", 2, "x") == Started("a", adopted=False)
    assert cells.started("c1", 2, "b") == Started(None, adopted=True)
    assert cells.left_over("c1", 2) == ["c"]
    assert cells.left_over("c1", 2) == []  # once


def test_a_rerun_that_starts_nothing_stops_nothing() -> None:
    cells = CellRuns()
    cells.started("c1", 1, "a")
    assert cells.left_over("c1", 2) == []
    assert cells.started("c1", 3, "b") == Started("a", adopted=False)  # the last runs the cell started


def test_cells_are_apart() -> None:
    cells = CellRuns()
    cells.started("c1", 1, "a")
    assert cells.started("c2", 2, "b") == Started(None, adopted=False)
    assert cells.left_over("c2", 2) == []


def test_a_resumed_run_replaces_nothing_and_is_not_the_cells() -> None:
    cells = CellRuns()
    assert cells.started("answer", 1, "a", resumed=True) == Started(None, adopted=False)
    assert cells.started("answer", 2, "b", resumed=True) == Started(None, adopted=False)
    assert cells.left_over("answer", 2) == []
    cells.started("c", 3, "x")
    assert cells.started("c", 4, "x", resumed=True) == Started(None, adopted=True)  # left memory, started again
    assert cells.started("c", 4, "y") == Started(None, adopted=False)  # x, resumed by this execution, is kept
    assert cells.left_over("c", 4) == []


_IDS = st.sampled_from([f"r{i}" for i in range(8)])


@settings(max_examples=400, deadline=None)
@given(executions=st.lists(st.lists(st.tuples(_IDS, st.booleans()), max_size=6), min_size=1, max_size=6))
def test_every_run_of_the_previous_execution_is_adopted_or_stopped_once(
    executions: list[list[tuple[str, bool]]],
) -> None:
    """Over any sequence of executions of one cell (run ids reused at random, as fixed ``run_id`` s are; some runs
    resumed rather than started): when an execution starts runs, each run the cell started before is adopted
    (named again) or stopped, and stopped at most once; a start never stops a run its own execution named so far;
    a resumed run is never stopped by a later execution unless that cell started it too; an execution starting
    no new run stops nothing. (A run stopped by position and then named again by the same execution, fixed ids
    in another order, is the documented exception: it was stopped before it was named again.)"""
    cells = CellRuns()
    previous: list[str] = []  # the runs the cell's last execution that started runs started
    for number, starts in enumerate(executions, start=1):
        stopped: list[str] = []
        adopted: set[str] = set()
        named: list[str] = []
        new: list[str] = []
        for run, resumed in starts:
            outcome = cells.started("cell", number, run, resumed=resumed)
            first = run not in named
            if first:
                named.append(run)
                if not resumed:
                    new.append(run)
            if outcome.adopted:
                adopted.add(run)
            if outcome.replaces is not None:
                assert outcome.replaces not in named
                stopped.append(outcome.replaces)
        left = cells.left_over("cell", number)
        assert not set(left) & set(named)
        stopped += left
        if not new:
            assert stopped == []
            continue
        assert len(stopped) == len(set(stopped))
        assert set(stopped) <= set(previous)
        assert adopted == set(previous) & set(named)
        assert set(stopped) | adopted == set(previous)
        previous = new
