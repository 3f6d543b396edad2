"""``kv().set``, ``kv().get(default=...)`` and ``memory().record`` take an int too long for decimal text (over
4,300 digits) like any int: stored in the DuckDB file and read back exactly by a new session. Before, each raised a
bare ``ValueError("Exceeds the limit (4300 digits) for integer string conversion")`` inside the run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import aether_nb as ag
from aether_nb.runtime.codec import decode
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session

BIG = math.factorial(2000)  # 5,736 digits


def test_kv_and_memory_keep_such_an_int_across_sessions(tmp_path: Path) -> None:
    db = tmp_path / "nb.aether.duckdb"

    @ag.graph_fn(name="writes")
    async def writes(*, context: Any) -> dict[str, Any]:
        await context.kv().set("n", BIG)
        missing = await context.kv().get("missing", default=-BIG)
        await context.memory().record("note", {"n": BIG}, text="a big number")
        return {"missing": missing == -BIG, "n": await context.kv().get("n") == BIG}

    store = DuckDBStore(db)
    with default_session(store) as session:
        assert arun(writes()) == {"missing": True, "n": True}
        session.flush()
    store.close()

    @ag.graph_fn(name="reads")
    async def reads(*, context: Any) -> dict[str, Any]:
        return {"n": await context.kv().get("n")}

    store = DuckDBStore(db)
    try:
        with default_session(store):
            assert arun(reads()) == {"n": BIG}
        notes = store.memory_query("notebook", kinds=["note"])
        assert [decode(m.data) for m in notes] == [{"n": BIG}]
    finally:
        store.close()


def test_memory_record_derives_its_search_text_from_such_an_int(tmp_path: Path) -> None:
    @ag.graph_fn(name="records")
    async def records(*, context: Any) -> Any:
        event = await context.memory().record("note", {"n": BIG})
        return {"data": event.data == {"n": BIG}, "text": bool(event.text)}

    store = DuckDBStore(tmp_path / "nb.aether.duckdb")
    try:
        with default_session(store) as session:
            assert arun(records()) == {"data": True, "text": True}
            session.flush()  # (raises StorageError for history the store could not write)
        assert [decode(m.data) for m in store.memory_query("notebook", kinds=["note"])] == [{"n": BIG}]
    finally:
        store.close()
