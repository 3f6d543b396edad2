"""Finished runs are not kept alive by the session: a notebook that runs thousands of agents holds only the runs
someone still references (plus failed ones and ones whose outputs exist only in memory)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
async def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(outputs=["y"])
async def doubled(x: int) -> dict[str, int]:
    return {"y": (await double(x))["y"]}


@ag.graph_fn(outputs=["y"])
async def broken(x: int) -> dict[str, int]:
    raise ValueError(f"bad {x}")


class Live:
    """Not JSON, not picklable: a run returning it keeps it only in memory."""

    def __reduce__(self) -> Any:
        raise TypeError("no")


@ag.graph_fn(outputs=["obj"])
async def live_object() -> dict[str, Any]:
    return {"obj": Live()}


def _collect() -> None:
    for _ in range(3):
        gc.collect()


def test_a_finished_run_nobody_holds_is_freed_and_rebuilt_from_the_store(session: Session) -> None:
    async def main() -> None:
        run = doubled.start(x=21)
        run_id = run.id
        assert await run.result() == {"y": 42}
        ref = weakref.ref(run)
        del run
        _collect()
        assert ref() is None, "the session kept a finished run alive"
        again = ag.get_run(run_id)
        assert again.status == "succeeded"
        assert await again.result() == {"y": 42}
        assert [n.name for n in again.graph.nodes] == ["double"]

    arun(main())


@ag.graph_fn(outputs=["y", "name"])
async def asks(x: int, context: Any = None) -> dict[str, Any]:
    await context.kv().set("seen", x)  # a service call: its scope made a context
    name = await context.channel().ask_text("name?")
    return {"y": (await double(x))["y"], "name": name}


@ag.graphify(name="doubled_twice", inputs=["x"], outputs=["y"])
def doubled_twice(x: Any) -> dict[str, Any]:
    return {"y": double(x=double(x=x).y).y}


def _state_graph() -> Any:
    from typing import TypedDict

    from aether_nb.flow import END, START, StateGraph, interrupt

    class State(TypedDict, total=False):
        x: int
        answer: str

    async def ask(state: State) -> dict[str, Any]:
        return {"answer": interrupt("ok?"), "x": state["x"] + 1}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile()


def test_a_finished_run_nobody_holds_is_freed_at_once_not_by_the_garbage_collector(session: Session) -> None:
    """A finished run makes no reference cycle (its execution, scopes, contexts, recorder and a state graph's
    engine all point back at it): the last reference going frees it and its DAG at once. Left to the collector,
    every finished run (~2,000 objects for 1,000 steps) waited for a full collection (bench/README)."""
    app = _state_graph()

    async def finished() -> list[weakref.ref[Any]]:
        refs = []
        run = asks.start(x=1)
        await run.wait_for("waiting")
        await run.answer("Ada")
        assert await run.result() == {"y": 2, "name": "Ada"}
        refs.append(weakref.ref(run))
        run = doubled_twice.start(x=1)
        assert await run.result() == {"y": 4}
        refs.append(weakref.ref(run))
        assert (await app.ainvoke({"x": 1}, config={"thread_id": "t"})).status == "interrupted"
        assert (await app.ainvoke({"resume": "yes"}, config={"thread_id": "t"})).status == "completed"
        (turn,) = [r for r in ag.runs() if r.graph_name == app.name]
        refs.append(weakref.ref(turn))
        del run, turn
        return refs

    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # only reference counting frees anything from here on
    try:
        refs = arun(finished())
        assert [ref() for ref in refs] == [None, None, None], "a finished run waited for the garbage collector"
    finally:
        if was_enabled:
            gc.enable()


def test_a_held_run_is_the_object_every_lookup_returns(session: Session) -> None:
    async def main() -> None:
        run = doubled.start(x=1)
        await run.result()
        _collect()
        assert ag.get_run(run.id) is run
        assert run in list(session.known_runs())
        assert any(r is run for r in ag.runs())

    arun(main())


def test_a_failed_run_keeps_its_exception_object(session: Session) -> None:
    async def main() -> None:
        run = broken.start(x=3)
        run_id = run.id
        with pytest.raises(ag.RunFailed, match="bad 3") as first:
            await run.result()
        del run
        _collect()
        again = ag.get_run(run_id)
        with pytest.raises(ag.RunFailed, match="bad 3") as second:
            await again.result()
        assert isinstance(first.value.__cause__, ValueError)
        assert second.value.__cause__ is first.value.__cause__  # the user's exception, not a rebuilt message

    arun(main())


def test_outputs_only_this_process_holds_keep_their_run(session: Session) -> None:
    async def main() -> None:
        run = live_object.start()
        run_id = run.id
        out = await run.result()
        assert isinstance(out["obj"], Live)
        del run
        _collect()
        outputs = ag.get_run(run_id).outputs
        assert outputs is not None and outputs["obj"] is out["obj"]

    arun(main())


def test_a_rebuilt_run_is_then_the_object_lookups_return(session: Session) -> None:
    async def main() -> None:
        run = doubled.start(x=2)
        await run.result()
        run_id = run.id
        del run
        _collect()
        rebuilt = ag.get_run(run_id)
        assert rebuilt.status == "succeeded"
        assert ag.get_run(run_id) is rebuilt
        assert await rebuilt.result() == {"y": 4}

    arun(main())


def test_listing_runs_builds_freed_runs_from_the_listing_itself(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        for i in range(20):
            await doubled.start(x=i).result()
        _collect()
        looked_up: list[str] = []
        inner = session.store.inner
        real_get_run = inner.get_run
        monkeypatch.setattr(inner, "get_run", lambda run_id: looked_up.append(run_id) or real_get_run(run_id))
        listed = ag.runs()
        assert sorted(r.outputs["y"] for r in listed) == [2 * i for i in range(20)]  # type: ignore[index]
        assert looked_up == [], "ag.runs() read each run again, one query per run"

    arun(main())
