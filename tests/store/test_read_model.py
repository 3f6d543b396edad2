"""The DuckDB store's reads against a model: the in-memory store, given the same writes.

The DuckDB store answers a read from three places: the typed tables, the history log's pending rows (merged; one
generation possibly being applied in the background meanwhile), and the snapshots of runs it read ahead (cached,
and kept up to date by every apply). A stateful property test mixes writes, updates of keyed rows (a run's status,
a wait's answer, a node's status), applies of the log (at once, or in the background after every write),
announced reads, read-aheads and reopenings of the file, and checks every read against the in-memory store after
each step.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.memory import MemoryStore
from aether_nb.store.records import HistoryBatch, JournalEntry, NodeRecord, RunRecord, WaitRecord

RUNS = [f"run-{i}" for i in range(4)] + ["run-\ud800", "run-é"]
STATUSES = ["running", "waiting", "succeeded", "failed"]
_n = itertools.count()


class ReadsMatchTheModel(RuleBasedStateMachine):
    @initialize(eager=st.booleans())
    def open(self, eager: bool) -> None:
        # eager: the background applier applies after every write, concurrently with the reads below
        self.apply_after_s = 0.0 if eager else 3600.0
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "s.duckdb"
        self.duck = DuckDBStore(self.path, apply_after_s=self.apply_after_s)
        self.model = MemoryStore()
        self.tokens: list[str] = []

    def both(self, write: Any) -> None:
        write(self.model)
        write(self.duck)

    @rule(run=st.sampled_from(RUNS), status=st.sampled_from(STATUSES), steps=st.integers(0, 3), big=st.booleans())
    def history(self, run: str, status: str, steps: int, big: bool) -> None:
        i = next(_n)
        batch = HistoryBatch(
            runs=[RunRecord(run, "g", status, {"i": i}, "fp", float(i % 3), float(i))],  # type: ignore[arg-type]
            journal=[
                JournalEntry(run, f"k{i}-{j}", "step", "tool", "f", {"j": j}, True, float(i)) for j in range(steps)
            ],
            nodes=[
                NodeRecord(run, f"n{j}", "step", "tool", status, None, (), {"i": i}, None, None, float(i), None)
                for j in range(steps)
            ],
            events=[(run, {"kind": "e", "i": i, "j": j}) for j in range(steps)],
        )
        if big:  # a batch big enough to go straight to the tables, with the log's pending rows
            batch.events += [(run, {"kind": "bulk", "i": i, "j": j}) for j in range(500)]
        self.both(lambda s: s.write_history(batch))

    @rule(run=st.sampled_from(RUNS), answered=st.booleans())
    def wait(self, run: str, answered: bool) -> None:
        i = next(_n)
        if answered and self.tokens:
            token = self.tokens[i % len(self.tokens)]
            current = self.model.get_wait(token)
            assert current is not None
            record = WaitRecord(token, current.run_id, current.node_id, "ask_text", "q?", None, None, None,
                                current.created_at, "answered", {"a": i})  # fmt: skip
        else:
            token = f"t{i}"
            self.tokens.append(token)
            record = WaitRecord(token, run, f"ask_{i}", "ask_text", "q?", None, None, None, float(i % 4))
        self.both(lambda s: s.write_history(HistoryBatch(waits=[record])))

    @rule()
    def apply(self) -> None:
        self.duck.sql("select 1")

    @rule(runs=st.lists(st.sampled_from(RUNS), max_size=3))
    def announce(self, runs: list[str]) -> None:
        self.duck.expect_reads(runs)
        self.model.expect_reads(runs)

    @rule()
    def reopen(self) -> None:
        self.duck.close()
        self.duck = DuckDBStore(self.path, apply_after_s=self.apply_after_s)

    @rule(run=st.sampled_from(RUNS))
    def read_one_run_first(self, run: str) -> None:
        # reading a run first (e.g. its journal) may read ahead the others: the later reads must agree
        assert self.duck.load_journal(run) == self.model.load_journal(run)

    @invariant()
    def reads_agree(self) -> None:
        if not hasattr(self, "duck"):
            return
        for run in RUNS:
            assert self.duck.get_run(run) == self.model.get_run(run), run
            assert self.duck.load_journal(run) == self.model.load_journal(run), run
            assert self.duck.load_events(run) == self.model.load_events(run), run
            assert [(n.node_id, n.status) for n in self.duck.list_nodes(run)] == [
                (n.node_id, n.status) for n in self.model.list_nodes(run)
            ], run
            for status in (None, "open", "answered"):
                assert self.duck.list_waits(run, status=status) == self.model.list_waits(run, status=status), run
        for token in self.tokens:
            assert self.duck.get_wait(token) == self.model.get_wait(token)
        assert self.duck.list_waits(status=None) == self.model.list_waits(status=None)
        for status in (None, "waiting"):
            assert [r.run_id for r in self.duck.list_runs(status=status)] == [
                r.run_id for r in self.model.list_runs(status=status)
            ]

    def teardown(self) -> None:
        if hasattr(self, "duck"):
            self.duck.close()
            self.tmp.cleanup()


ReadsMatchTheModel.TestCase.settings = settings(
    max_examples=12, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_reads_match_the_model = ReadsMatchTheModel.TestCase
