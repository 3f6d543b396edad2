"""Ints too long for decimal text in answers, and in a store written by a kernel that lifted Python's limit.

The regression tester's findings (the thirty-second session): an answer holding ``factorial(2000)`` was refused
("this value cannot be stored") though tool results, KV and inputs store it; a kernel that ran
``sys.set_int_max_str_digits(0)`` (what Python's own error suggests) wrote such an int as decimal text, and a kernel
with the default limit then could not list any run of that store (a bare ``ValueError``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, make_session

BIG = math.factorial(2000)


def test_an_answer_holding_a_huge_int_is_kept_exactly(session: Session) -> None:
    from typing import TypedDict

    from aether_nb.flow import END, START, Command, StateGraph, interrupt

    class S(TypedDict):
        n: Any

    g = StateGraph(S, name="asks_for_a_number")
    g.add_node("ask", lambda s: {"n": interrupt("A number?")})
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    app = g.compile()
    cfg = {"thread_id": "t"}

    async def main() -> Any:
        await app.ainvoke({"n": 0}, cfg)
        return await app.ainvoke(Command(resume=BIG), cfg)  # (InvalidAnswer: "this value cannot be stored")

    assert arun(main())["n"] == BIG


@ag.tool(outputs=["n"])
def huge() -> dict[str, int]:
    return {"n": BIG}


@ag.graph_fn(name="returns_huge", outputs=["n"])
async def returns_huge() -> dict[str, Any]:
    return {"n": (await huge())["n"]}


def test_a_store_written_without_the_digit_limit_reads_back_with_it(tmp_path: Path) -> None:
    path = tmp_path / "nb.duckdb"
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        store = DuckDBStore(path)
        written, _ = make_session(store)

        async def main() -> Any:
            run = returns_huge.start(session=written)
            return run.id, await run.result()

        run_id, outputs = arun(main())
        assert outputs == {"n": BIG}
        written.flush()
        store.close()
    finally:
        sys.set_int_max_str_digits(before)
    assert sys.get_int_max_str_digits() == before and before > 0
    store = DuckDBStore(path)
    try:
        reader, _ = make_session(store)
        assert [r.status for r in reader.runs()] == ["succeeded"]
        assert reader.get_run(run_id).outputs == {"n": BIG}
    finally:
        store.close()
