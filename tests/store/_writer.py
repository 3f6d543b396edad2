"""A second process for the DuckDB store tests: ``python _writer.py <db path> <mode>``.

Modes:
    hold     open the store, print ``ready``, keep it open until stdin closes, then close it and exit.
    read     as ``hold``, with the store opened read-only.
    journal  open the store, print ``ready``, then append journal entries to run ``r`` forever, printing each
             key after ``append_journal`` returned (the entry is durable then). Stops after 1,000,000 entries.
    unclosed open the store, write nodes and events (to the history log: a long apply delay) and exit without
             ``close()``: the atexit hook must apply the log to the tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.records import JournalEntry, NodeRecord


def main(path: str, mode: str) -> int:
    if mode in ("hold", "read"):
        store = DuckDBStore(path, read_only=mode == "read")
        print("ready", flush=True)
        sys.stdin.read()
        store.close()
        return 0
    if mode == "journal":
        store = DuckDBStore(path)
        print("ready", flush=True)
        for i in range(1_000_000):
            key = f"k{i}"
            store.append_journal(
                JournalEntry(
                    run_id="r",
                    key=key,
                    name="step",
                    kind="tool",
                    fingerprint="f",
                    value={"i": i, "pad": "x" * 100},
                    durable=True,
                    created_at=float(i),
                )
            )
            print(key, flush=True)
        store.close()
        return 0
    if mode == "unclosed":
        store = DuckDBStore(path, apply_after_s=3600)
        for i in range(3):
            store.put_node(
                NodeRecord(
                    run_id="r",
                    node_id=f"n{i}",
                    name="n",
                    kind="tool",
                    status="running",
                    parent=None,
                    parents=(),
                    inputs=None,
                    outputs=None,
                    error=None,
                    started_at=None,
                    ended_at=None,
                )
            )
        store.append_events("r", [{"i": i} for i in range(3)])
        print("written", flush=True)
        return 0  # no close(): the atexit hook applies the log
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
