"""Ints too long for decimal text (over Python's 4,300-digit ``str()`` limit) as dict keys and in what is shown.

Found by a regression tester (session 32): the store keeps such an int exactly (tagged as hex text in JSON), but a
dict keyed by one failed with a bare ValueError wherever it went (the repr of a path, a preview's key), and the run
graph and the widget's inspector showed a huge int output as the storage tag ``{"__aether__": "int", ...}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph
from aether_nb.runtime.checks import check_depth
from aether_nb.runtime.session import Session
from aether_nb.store.duckdb import DuckDBStore
from tests.conftest import arun, default_session, finished_run

BIG = math.factorial(2000)  # 5,736 digits
KEYED = {BIG: "x"}


@ag.tool(outputs=["v"])
def wide_give() -> dict[str, Any]:
    return {"v": KEYED}


@ag.graph_fn(outputs=["o"])
async def wide_result() -> dict[str, Any]:
    return {"o": (await wide_give())["v"]}


@ag.graph_fn(outputs=["o"])
async def wide_kv(*, context: Any) -> dict[str, Any]:
    await context.kv().set("k", KEYED)
    return {"o": await context.kv().get("k")}


@ag.graph_fn(outputs=["o"])
async def wide_input(inp: Any) -> dict[str, Any]:
    return {"o": inp}


@ag.tool(outputs=["v"])
def wide_number() -> dict[str, Any]:
    return {"v": BIG}


@ag.tool(outputs=["v"])
def tag_shaped() -> dict[str, Any]:
    return {"v": {"__aether__": "int", "hex": "0x10"}}


@ag.graph_fn(outputs=["o", "mine"])
async def wide_shown() -> dict[str, Any]:
    return {"o": (await wide_number())["v"], "mine": (await tag_shaped())["v"]}


class _S(TypedDict, total=False):
    v: Any


def test_a_dict_keyed_by_a_wide_int_goes_everywhere_a_value_goes(session: Session) -> None:
    assert finished_run(wide_result).outputs["o"] == KEYED
    assert finished_run(wide_kv).outputs["o"] == KEYED
    assert finished_run(wide_input, inp=KEYED).outputs["o"] == KEYED
    g = StateGraph(_S)
    g.add_node("a", lambda state: {"v": KEYED})
    g.add_edge(START, "a")
    g.add_edge("a", END)
    out = arun(g.compile().ainvoke({}, config={"configurable": {"thread_id": "t"}}))
    assert out["v"] == KEYED


def test_a_path_under_a_wide_int_key_is_named_in_the_message() -> None:
    deep: Any = "leaf"
    for _ in range(250):
        deep = [deep]
    with pytest.raises(ag.UsageError, match=r"\[<int of \d+ bits>\]\[0\]") as caught:
        check_depth({BIG: deep}, "the value")
    assert caught.value.code == "too_deep"


def _fresh_read(path: Path, run_id: str) -> tuple[Any, Any, Any]:
    """The run's output, and the outputs its graph shows for the two tools, read by a new session."""
    with default_session(DuckDBStore(path)) as s:
        try:
            run = s.get_run(run_id)
            node = run.graph.node
            return run.outputs["o"], node("wide_number_1").outputs["v"], node("tag_shaped_1").outputs["v"]
        finally:
            s.store.close()


def test_a_wide_int_output_shows_as_its_digits_not_the_storage_tag(tmp_path: Path) -> None:
    path = tmp_path / "nb.duckdb"
    with default_session(DuckDBStore(path)) as s:
        run = finished_run(wide_shown)
        assert run.outputs["o"] == BIG
        live = run.graph.node("wide_number_1").outputs["v"]
        s.store.close()
    value, shown_again, mine = _fresh_read(path, run.id)
    assert value == BIG  # (the value itself comes back exactly)
    hexdigits = format(BIG, "x")  # (str(BIG) is refused)
    for shown in (live, shown_again):
        assert isinstance(shown, str), shown
        assert shown.startswith("3316275092450633241175393380576324038281")
        assert hexdigits[:40] not in shown
    # A user's own dict of the tag's shape stays a dict (previews are never decoded).
    assert mine == {"__aether__": "int", "hex": "0x10"}


def test_the_widget_inspector_shows_a_wide_int_as_digits(session: Session) -> None:
    from aether_nb.notebook.widget import RunView

    async def main() -> Any:
        run = wide_shown.start()
        await run
        view = RunView(run)
        return await view._command({"type": "inspect", "id": "q1", "node_id": "wide_number_1"})

    reply = arun(main())
    assert reply["node"]["outputs"]["v"].startswith("3316275092450633241175393380576324038281")


def test_a_wide_int_key_in_a_preview(session: Session) -> None:
    run = finished_run(wide_result)
    shown = run.graph.node("wide_give_1").outputs["v"]
    assert list(shown.values()) == ["x"]
    assert next(iter(shown)).startswith("3316275092450633241175393380576324038281")
