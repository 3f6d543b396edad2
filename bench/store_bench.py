"""Store benchmark: the DuckDB store's hot paths against raw DuckDB measured in the same run.

    python bench/store_bench.py [--json bench/results/store.json]

Workloads: journal append (one durable commit per step, and group commit as the runtime does for steps that
complete together), KV set and hot get (p50), memory record, semantic memory search over 20k events, and user SQL
(``store.sql()``: a point query and an aggregate, against the same statements on a plain connection, interleaved).
Baselines: raw ``executemany`` and a raw bulk insert of column lists into an identical table.
Targets (issue 3): journal append >= 50k steps/s sustained; hot KV get p50 < 50 us; search over 20k < 50 ms;
(issue 13) ``sql()`` adds at most 0.5 ms to the plain statement (its own cursor, and a transaction it rolls back:
what makes it read-only whatever the statement). Redaction of hostile text (a tool's output made of one secret
format's prefix repeated, and the like) grows at most 16x when the text grows 8x: linear is 8x, quadratic 64x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from aether_nb.services.memory import Memory, local_embed
from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.query import ENGINE_CONFIG
from aether_nb.store.records import HistoryBatch, JournalEntry, MemoryRecord, RunRecord
from aether_nb.store.redact import prepare, redact_text


def entry(i: int) -> JournalEntry:
    return JournalEntry("bench", f"step_{i}", "tool", "tool", "fp", {"y": i}, True, float(i))


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    store = DuckDBStore(tmp / "bench.duckdb")

    n_single = 500
    t = timed(lambda: [store.append_journal(entry(i)) for i in range(n_single)])
    out["journal_append_single_commit_per_s"] = n_single / t
    batches, size = 20, 5000
    t = timed(lambda: [store.append_journal_many([entry(b * size + i) for i in range(size)]) for b in range(batches)])
    out["journal_append_group_commit_per_s"] = batches * size / t

    raw = duckdb.connect(str(tmp / "raw.duckdb"))
    raw.execute("CREATE TABLE j (seq BIGINT, run_id VARCHAR, k VARCHAR, v VARCHAR)")
    rows = [(i, "bench", f"step_{i}", json.dumps({"y": i})) for i in range(2000)]
    t = timed(lambda: raw.executemany("INSERT INTO j VALUES (?, ?, ?, ?)", rows))
    out["raw_executemany_per_s"] = len(rows) / t
    cols = [list(c) for c in zip(*[(i, "bench", f"s{i}", "{}") for i in range(100_000)], strict=True)]
    t = timed(
        lambda: raw.execute(
            "INSERT INTO j SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            cols,
        )
    )
    out["raw_bulk_insert_per_s"] = 100_000 / t
    raw.close()

    n_kv = 1000
    t = timed(lambda: [store.kv_set("notebook", f"k{i}", {"v": i}, None) for i in range(n_kv)])
    out["kv_set_per_s"] = n_kv / t
    samples = []
    for i in range(5000):
        t0 = time.perf_counter()
        store.kv_get("notebook", f"k{i % n_kv}")
        samples.append(time.perf_counter() - t0)
    out["kv_get_hot_p50_us"] = statistics.median(samples) * 1e6

    mem_scope = "notebook"
    n_mem = 20_000
    batch = [
        MemoryRecord(f"m{i}", mem_scope, "note", {"text": f"note {i}"}, f"note number {i} about topic {i % 97}",
                     (), float(i), embedding=tuple(local_embed(f"note number {i} about topic {i % 97}")))
        for i in range(n_mem)
    ]  # fmt: skip
    t = timed(lambda: [store.memory_append(r) for r in batch[:500]])
    out["memory_record_per_s"] = 500 / t
    store.write_history(HistoryBatch(memory=batch[500:]))
    q = local_embed("topic 42")
    store.memory_search(mem_scope, q, limit=5)  # warm up
    lat = [timed(lambda: store.memory_search(mem_scope, q, limit=5)) for _ in range(10)]
    out["memory_semantic_search_20k_ms"] = statistics.median(lat) * 1e3

    async def service_search() -> None:
        mem = Memory(store, _Clock(), mem_scope, None, None)
        await mem.search("topic 42", limit=5, mode="semantic")

    lat = [timed(lambda: asyncio.run(service_search())) for _ in range(5)]
    out["memory_service_semantic_search_20k_ms"] = statistics.median(lat) * 1e3
    out.update(sql_bench(store))
    store.close()
    return out


def sql_bench(store: DuckDBStore, n: int = 300) -> dict[str, float]:
    """``store.sql()`` (a cursor, a transaction rolled back) against the same statement on a plain connection to
    the same database, alternating, so both see the same load."""
    store.write_history(
        HistoryBatch(
            runs=[RunRecord(f"r{i}", "demo", "succeeded", {"i": i}, "fp", float(i), float(i)) for i in range(2000)]
        )
    )
    raw = duckdb.connect(store.location, config=dict(ENGINE_CONFIG))  # same process: the store's own database
    queries = {
        "point": ("select status, outputs from runs where run_id = ?", ["r1234"]),
        "aggregate": ("select status, count(*) from runs group by status", []),
    }
    out: dict[str, float] = {}
    for name, (sql, params) in queries.items():
        ours: list[float] = []
        theirs: list[float] = []
        store.sql(sql, params)
        for i in range(n):
            for target, samples in ((store, ours), (raw, theirs)) if i % 2 else ((raw, theirs), (store, ours)):
                t0 = time.perf_counter()
                if target is raw:
                    raw.execute(sql, params).fetchall()
                else:
                    store.sql(sql, params)
                samples.append(time.perf_counter() - t0)
        out[f"sql_{name}_p50_ms"] = statistics.median(ours) * 1e3
        out[f"raw_{name}_p50_ms"] = statistics.median(theirs) * 1e3
        out[f"sql_{name}_vs_raw"] = statistics.median(ours) / statistics.median(theirs)
        out[f"sql_{name}_overhead_ms"] = (statistics.median(ours) - statistics.median(theirs)) * 1e3
    raw.close()
    return out


class _Clock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


HOSTILE: dict[str, Any] = {
    "jwt prefixes": lambda n: "eyJ" * n,
    "private key headers, foreign end": lambda n: "-----BEGIN RSA PRIVATE KEY-----\\n" * (n // 10) + "-----END X",
    "sk- prefixes in one token": lambda n: "T3BlbkFJ z" + "sk-ant-z" * (n // 2),
    "AWS key ids": lambda n: "AKIA" * n,
    "escaped quotes after a credential key": lambda n: 'ask: "credentials": [' + '\\"' * n,
    "URLs beside a password": lambda n: "password " + "https://a:b.example/x " * (n // 8),
    "Slack digits": lambda n: "xoxb-" + "1-" * n,
}
"""Texts that made a redaction pattern backtrack (quadratic or worse) before it was rewritten, by how many repeats."""


def redaction_bench(n: int = 10_000) -> dict[str, float]:
    """The worst growth of redaction's time over :data:`HOSTILE` when the text grows 8x, and the worst time."""
    prepare()

    def best(text: str) -> float:
        return min(timed(lambda: redact_text(text)) for _ in range(3))

    growth, worst = 0.0, 0.0
    for make in HOSTILE.values():
        small, large = best(make(n)), best(make(8 * n))
        growth, worst = max(growth, large / max(small, 1e-6)), max(worst, large)
    return {"redact_hostile_growth_x8": growth, "redact_hostile_worst_ms": worst * 1e3}


TARGETS = {
    "journal_append_group_commit_per_s": (">=", 50_000),
    "kv_get_hot_p50_us": ("<", 50),
    "memory_semantic_search_20k_ms": ("<", 50),
    "sql_point_overhead_ms": ("<=", 0.5),
    "sql_aggregate_overhead_ms": ("<=", 0.5),
    "redact_hostile_growth_x8": ("<=", 16),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", default="bench/results/store.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = bench(Path(tmp))
    res.update(redaction_bench())
    print(f"{'metric':45} {'value':>14}  target")
    for k, v in res.items():
        target = TARGETS.get(k)
        verdict = ""
        if target:
            op, bound = target
            ok = {">=": v >= bound, "<": v < bound, "<=": v <= bound}[op]
            verdict = f"{op} {bound}  {'met' if ok else 'MISSED'}"
        print(f"{k:45} {v:14.1f}  {verdict}")
    meta = {"python": sys.version.split()[0], "duckdb": duckdb.__version__, "machine": platform.machine()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "results": res}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
