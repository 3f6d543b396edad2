"""The event stream: typed, immutable, ordered — checked on random agent programs with hypothesis."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.events import (
    Event,
    NodeFinished,
    NodeRan,
    NodeStarted,
    RunFinished,
    RunStarted,
    make_event,
)
from tests.conftest import arun, make_session


@ag.tool(outputs=["v"])
async def leaf(v: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"v": v + 1}


@ag.graph_fn(outputs=["v"])
async def nested(program: Any, v: int) -> dict[str, int]:
    return {"v": await interpret(program, v)}


async def interpret(program: list[Any], v: int) -> int:
    for stmt in program:
        if stmt == "call":
            v = (await leaf(v))["v"]
        elif stmt[0] == "gather":
            results = await asyncio.gather(*(leaf(v) for _ in range(stmt[1])))
            v = max(r["v"] for r in results)
        else:
            v = (await nested(program=stmt[1], v=v))["v"]
    return v


def count_nodes(program: list[Any]) -> int:
    n = 0
    for stmt in program:
        if stmt == "call":
            n += 1
        elif stmt[0] == "gather":
            n += stmt[1]
        else:
            n += 1 + count_nodes(stmt[1])
    return n


programs = st.recursive(
    st.lists(st.one_of(st.just("call"), st.tuples(st.just("gather"), st.integers(1, 4))), max_size=4),
    lambda inner: st.lists(
        st.one_of(st.just("call"), st.tuples(st.just("gather"), st.integers(1, 3)), st.tuples(st.just("sub"), inner)),
        max_size=4,
    ),
    max_leaves=12,
)


@ag.graph_fn(outputs=["v"])
async def root(program: Any) -> dict[str, int]:
    return {"v": await interpret(program, 0)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_event_order_on_random_programs(program: list[Any]) -> None:
    s, _ = make_session()
    previous = session_mod.set_default_session(s)
    try:

        async def main() -> list[Event]:
            run = root.start(program=program)
            await run
            return [e async for e in run.events()]

        events = arun(main())
    finally:
        session_mod.set_default_session(previous)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].status == "succeeded"
    # a node that starts and ends within one loop turn is one NodeRan event (its start and its end)
    started = {e.node_id: i for i, e in enumerate(events) if isinstance(e, (NodeStarted, NodeRan))}
    finished = {e.node_id: i for i, e in enumerate(events) if isinstance(e, (NodeFinished, NodeRan))}
    assert len(started) == len(finished) == count_nodes(program)
    assert sum(isinstance(e, (NodeStarted, NodeRan)) for e in events) == len(started)  # one start per node
    assert not any(isinstance(e, NodeFinished) and e.node_id not in started for e in events)
    for e in events:
        if isinstance(e, (NodeStarted, NodeRan)):
            for p in e.parents:
                assert finished[p] < started[e.node_id], f"edge {p} -> {e.node_id} out of order"
            if e.parent is not None:
                assert started[e.parent] < started[e.node_id]
                assert finished[e.node_id] < finished[e.parent]
    for node_id in started:
        assert started[node_id] <= finished[node_id]


def test_events_are_immutable_and_round_trip_through_json() -> None:
    s, _ = make_session()
    previous = session_mod.set_default_session(s)
    try:

        async def main() -> list[Event]:
            run = root.start(program=["call", ("gather", 2)])
            await run
            return [e async for e in run.events()]

        events = arun(main())
    finally:
        session_mod.set_default_session(previous)
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].seq = 99  # type: ignore[misc]
    assert [Event.from_json(e.to_json()) for e in events] == events
    assert s.store.load_events(events[0].run_id) == [e.to_json() for e in events]


def test_events_stream_live_to_a_subscriber() -> None:
    s, _ = make_session(answers=[])
    previous = session_mod.set_default_session(s)

    @ag.graph_fn
    async def asks(*, context: ag.NodeContext) -> dict[str, str]:
        return {"a": await context.channel().ask_text("q?")}

    async def main() -> list[str]:
        run = asks.start()
        seen: list[str] = []
        async for event in run.events():
            seen.append(event.kind)
            # the run says "waiting" once its wait is durable; answering then wakes it
            if event.kind == "run_status" and getattr(event, "status", None) == "waiting":
                await run.answer("yes")
        return seen

    try:
        kinds = arun(main())
    finally:
        session_mod.set_default_session(previous)
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.index("wait_opened") < kinds.index("wait_answered")
    assert "run_status" in kinds


def _field_values() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_make_event_builds_what_the_dataclass_builds(data: st.DataObject) -> None:
    """The recorder makes events with ``make_event`` (faster than the frozen dataclass's ``__init__``): for every
    event class, any mix of given and defaulted fields gives an equal, equally frozen event, and a wrong field
    (unknown, not settable, or a required one missing) is the same TypeError ``__init__`` raises."""
    cls = data.draw(st.sampled_from(sorted(Event.registry.values(), key=lambda c: c.__name__)))
    settable = [f for f in dataclasses.fields(cls) if f.init and f.name not in ("run_id", "seq")]
    values = {
        f.name: data.draw(_field_values())
        for f in settable
        if f.default is dataclasses.MISSING or data.draw(st.booleans())
    }
    made = make_event(cls, "run-1", 7, dict(values))
    assert type(made) is cls
    assert made == cls(run_id="run-1", seq=7, **values)
    assert made.kind == cls.__dataclass_fields__["kind"].default
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.seq = 8  # type: ignore[misc]
    wrong = data.draw(st.sampled_from(["bogus", "kind", "run_id", "missing"]))
    if wrong == "missing":
        required = [f.name for f in settable if f.default is dataclasses.MISSING]
        if not required:
            return
        values.pop(data.draw(st.sampled_from(required)))
    else:
        values[wrong] = 1
    with pytest.raises(TypeError):
        cls(run_id="run-1", seq=7, **values)
    with pytest.raises(TypeError):
        make_event(cls, "run-1", 7, dict(values))


def test_an_async_subscriber_is_refused_with_what_to_do_instead(session: Any) -> None:
    """It was accepted, and each event made a coroutine nobody awaited: the callback never ran, and nothing said so."""

    @ag.graph_fn
    async def quick() -> dict[str, int]:
        return {"a": 1}

    class AsyncCallable:
        async def __call__(self, event: Event) -> None: ...

    async def on_event(event: Event) -> None: ...

    async def main() -> None:
        run = quick.start()
        for callback in (on_event, AsyncCallable()):
            with pytest.raises(ag.UsageError, match=r"async for event in run\.events"):
                run.subscribe(callback)
        run.subscribe(lambda event: None)  # a plain function still is one
        await run

    arun(main())


@pytest.mark.parametrize("raised", [RuntimeError("observer bug"), SystemExit(3)])
def test_a_subscriber_that_raises_is_unsubscribed_and_the_run_goes_on(session: Any, raised: BaseException) -> None:
    """A subscriber's SystemExit went through the run's task and stopped the event loop (the kernel's)."""

    @ag.graph_fn
    async def two_steps(*, context: ag.NodeContext) -> dict[str, int]:
        await context.step("a", asyncio.sleep, 0)
        return {"a": 1}

    def observer(event: Event) -> None:
        raise raised

    async def main() -> tuple[dict[str, Any], list[str]]:
        run = two_steps.start()
        run.subscribe(observer)
        out = await run
        return out, [e.code for e in run.history if e.kind == "warning"]

    try:
        out, codes = asyncio.run(asyncio.wait_for(main(), 20))
    except SystemExit:
        pytest.fail("a subscriber's SystemExit stopped the event loop")
    assert out == {"a": 1} and codes == ["subscriber_failed"]
