"""The session's cap, ``ag.configure(max_concurrency=N)``, holds for every kind of agent, not only ``@graphify``.

It used to cap graphify nodes only: a ``@graph_fn`` gathering five sync tool calls, an LLM's ``run_tools`` with
five calls and a state graph's six ``Send`` tasks all ran at once under a cap of 2. Bodies here block on a gate the
test opens, and the checks read the run's events (which step started), so they are forced, not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.flow import END, START, Send, StateGraph
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.session import Session
from aether_nb.services.llm import configure_llm
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun, make_session
from tests.gates import Gate
from tests.runtime.test_sync_limits import turns, until


@contextlib.contextmanager
def default_session_of(s: Session) -> Iterator[None]:
    """``s`` as the default session (a state graph's runs go there) for the block."""
    previous = session_mod.set_default_session(s)
    try:
        yield
    finally:
        session_mod.set_default_session(previous)


def statuses(run: ag.Run, prefix: str) -> list[str]:
    """The statuses of the run's nodes whose id starts with ``prefix``, sorted."""
    return sorted(n.status for n in run.graph.nodes if n.id.startswith(prefix))


async def hold_then_release(run: ag.Run, gate: Gate, prefix: str, cap: int, total: int) -> None:
    """With ``cap`` bodies blocked in their threads, the other steps of ``prefix`` wait for a slot (shown
    pending, not running); then the gate opens and every one of the ``total`` runs."""
    await until(lambda: gate.running == cap and len(statuses(run, prefix)) == total, runs=(run,), gate=gate)
    await turns()
    assert gate.running == cap and len(gate.started) == cap, gate.started
    assert statuses(run, prefix) == ["PENDING"] * (total - cap) + ["RUNNING"] * cap
    gate.release.set()
    await until(lambda: len(gate.finished) == total, runs=(run,), gate=gate)


def gathering_blocked_calls(gate: Gate, n: int = 5) -> Any:
    """A graph_fn gathering ``n`` sync calls ``work_1``... whose bodies block on ``gate`` until it opens."""

    @ag.tool(outputs=["v"])
    def work(i: int) -> dict[str, int]:
        gate.body(f"work {i}", block=True)
        return {"v": i}

    @ag.graph_fn(outputs=["total"])
    async def gather_five() -> dict[str, int]:
        done = await asyncio.gather(*(work(i) for i in range(n)))
        return {"total": sum(d["v"] for d in done)}

    return gather_five


def test_a_graph_fn_gathering_sync_tools_runs_at_most_the_session_cap(session: Session) -> None:
    ag.configure(max_concurrency=2)
    gate = Gate()
    gather_five = gathering_blocked_calls(gate)

    async def main() -> tuple[dict[str, Any], ag.Run]:
        run = gather_five.start()
        await hold_then_release(run, gate, "work_", cap=2, total=5)
        return await run, run

    out, run = arun(main())
    assert out == {"total": 10}
    assert gate.peak == 2 and sorted(gate.finished) == [f"work {i}" for i in range(5)]
    # a call's time counts from when it got its slot, not from when it queued (it read 3x a body's time)
    nodes = sorted(run.graph.nodes, key=lambda n: n.started_at or 0)
    first_end = min(n.ended_at or 0 for n in nodes[:2])
    assert all((n.started_at or 0) >= first_end for n in nodes[2:]), [(n.id, n.started_at) for n in nodes]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as f:
        yield f


def test_the_tool_calls_of_run_tools_respect_the_session_cap(session: Session, fake: FakeOpenAI) -> None:
    configure_llm(session, {"base_url": fake.base_url, "model": "gpt-4o-mini", "max_retries": 0})
    fake.add({"tool_calls": [{"name": "lookup", "arguments": {"i": i}} for i in range(5)]}, "all five looked up")
    ag.configure(max_concurrency=2)
    gate = Gate()

    @ag.tool(outputs=["v"])
    def lookup(i: int) -> dict[str, int]:
        gate.body(f"lookup {i}", block=True)
        return {"v": i}

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        result = await context.llm().run_tools([{"role": "user", "content": "look up five"}], tools=[lookup])
        return {"text": result.text}

    async def main() -> dict[str, Any]:
        run = agent.start()
        await hold_then_release(run, gate, "run_tools_1/lookup_", cap=2, total=5)
        return await run

    assert arun(main()) == {"text": "all five looked up"}
    assert gate.peak == 2


class Fan(TypedDict):
    items: list[int]
    out: Annotated[list[int], operator.add]


def test_a_state_graphs_send_tasks_respect_the_session_cap(session: Session) -> None:
    ag.configure(max_concurrency=2)
    gate = Gate()

    def work(arg: dict[str, int]) -> dict[str, list[int]]:
        gate.body(f"work {arg['i']}", block=True)
        return {"out": [arg["i"]]}

    g = StateGraph(Fan)
    g.add_node("work", work)
    g.add_conditional_edges(START, lambda s: [Send("work", {"i": i}) for i in s["items"]])
    g.add_edge("work", END)
    app = g.compile(checkpointer="memory")

    async def main() -> Any:
        call = asyncio.ensure_future(
            app.ainvoke({"items": list(range(6)), "out": []}, {"configurable": {"thread_id": "t"}})
        )
        await until(lambda: gate.running == 2, gate=gate)  # (the run exists once a body runs)
        (run,) = list(session.known_runs())
        await hold_then_release(run, gate, "work", cap=2, total=6)
        return await call

    result = arun(main())
    assert sorted(result["out"]) == list(range(6)) and gate.peak == 2


def test_nested_bodies_run_inside_their_parents_slot_so_a_cap_of_one_never_deadlocks(session: Session) -> None:
    """A tool awaiting another tool, a tool running an agent, a graphify node running an agent, a state graph
    node that is a subgraph: with a cap of 1 each inner body runs in its parent's slot (a second slot would wait
    for the first forever)."""
    ag.configure(max_concurrency=1)

    @ag.tool(outputs=["v"])
    def inc(x: int) -> dict[str, int]:
        return {"v": x + 1}

    @ag.tool(outputs=["v"])
    async def twice(x: int) -> dict[str, int]:
        return await inc((await inc(x))["v"])

    @ag.graph_fn(outputs=["v"])
    async def inner(x: int) -> dict[str, int]:
        return await twice(x)

    @ag.tool(outputs=["v"])
    async def via_agent(x: int) -> dict[str, int]:
        return {"v": (await inner(x=x))["v"]}

    @ag.graph_fn(outputs=["a", "b"])
    async def outer(x: int) -> dict[str, int]:
        a, b = await asyncio.gather(twice(x), via_agent(x))
        return {"a": a["v"], "b": b["v"]}

    @ag.graphify(outputs=["v"])
    def static(x: Any) -> Any:
        return {"v": via_agent(x=x).v}

    class S(TypedDict):
        log: Annotated[list[str], operator.add]

    sub = StateGraph(S)
    sub.add_node("inner", lambda s: {"log": ["inner"]})
    sub.add_edge(START, "inner")
    parent = StateGraph(S)
    parent.add_node("sub", sub.compile())
    parent.add_node("side", lambda s: {"log": ["side"]})
    parent.add_edge(START, "sub")
    parent.add_edge(START, "side")
    app = parent.compile(checkpointer="memory")

    async def main() -> tuple[Any, ...]:
        return (
            await outer(x=1),
            await static(x=1),
            await app.ainvoke({"log": []}, {"configurable": {"thread_id": "n"}}),
        )

    out, static_out, state = arun(main(), timeout=30)
    assert out == {"a": 3, "b": 3} and static_out == {"v": 3}
    assert sorted(state["log"]) == ["inner", "side"]


def test_a_tool_waiting_for_an_answer_gives_its_slot_back(session: Session) -> None:
    """Under a cap of 1 a tool that asks a person does not hold the slot while the question is open."""
    ag.configure(max_concurrency=1)
    ran = threading.Event()

    @ag.tool(outputs=["name"])
    async def ask_name(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("Your name?")}

    @ag.tool(outputs=["v"])
    def busy() -> dict[str, int]:
        ran.set()
        return {"v": 1}

    @ag.graph_fn(outputs=["name", "v"])
    async def both() -> dict[str, Any]:
        asked, worked = await asyncio.gather(ask_name(), busy())
        return {"name": asked["name"], "v": worked["v"]}

    async def main() -> dict[str, Any]:
        run = both.start()
        await until(lambda: run.status == "waiting" and ran.is_set(), runs=(run,))
        await run.answer("Ada")
        return await run

    assert arun(main()) == {"name": "Ada", "v": 1}


def test_calls_stopped_while_they_waited_for_a_slot_show_no_time_of_their_own(session: Session) -> None:
    """Stopped while queued, a call never ran: it showed the time it had queued as its own (1.6 s)."""
    ag.configure(max_concurrency=2)
    gate = Gate()
    gather_five = gathering_blocked_calls(gate)

    async def main() -> ag.Run:
        run = gather_five.start()
        await until(lambda: gate.running == 2 and statuses(run, "work_").count("PENDING") == 3, runs=(run,), gate=gate)
        await turns()
        run.cancel()
        with pytest.raises(ag.RunCancelled):
            await run
        gate.release.set()
        return run

    run = arun(main())
    never_ran = [n for n in run.graph.nodes if n.status == "CANCELLED" and n.id not in ("work_1", "work_2")]
    # no start at all (as a static graph's node that never started), not a start at its end ("stopped · 0 ms")
    assert len(never_ran) == 3 and all(n.started_at is None and n.duration is None for n in never_ran), never_ran


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cap=st.integers(min_value=1, max_value=3),
    calls=st.integers(min_value=1, max_value=6),
    nodes=st.integers(min_value=0, max_value=4),
    sends=st.integers(min_value=0, max_value=4),
)
def test_bodies_of_every_kind_of_agent_never_exceed_the_session_cap_together(
    cap: int, calls: int, nodes: int, sends: int
) -> None:
    """A graph_fn gathering sync calls, a static fan-out and a state graph's Sends, all at once: the bodies running
    at any moment (counted inside them, in their threads) never exceed the session's cap, and every one runs."""
    s, _ = make_session()
    s.config["global_max_concurrency"] = cap
    lock = threading.Lock()
    now = {"running": 0, "peak": 0, "done": 0}

    def body() -> None:
        with lock:
            now["running"] += 1
            now["peak"] = max(now["peak"], now["running"])
        time.sleep(0.005)  # (long enough for others to start beside it, were the cap not held)
        with lock:
            now["running"] -= 1
            now["done"] += 1

    @ag.tool(outputs=["v"])
    def work(i: int) -> dict[str, int]:
        body()
        return {"v": i}

    @ag.graph_fn(outputs=["n"])
    async def gathering() -> dict[str, int]:
        return {"n": len(await asyncio.gather(*(work(i) for i in range(calls))))}

    @ag.graphify(outputs=["vs"])
    def fan() -> Any:
        return {"vs": [work(i=100 + i).v for i in range(nodes)]}

    def send_work(arg: dict[str, int]) -> dict[str, list[int]]:
        body()
        return {"out": [arg["i"]]}

    g = StateGraph(Fan)
    g.add_node("work", send_work)
    g.add_conditional_edges(START, lambda st_: [Send("work", {"i": i}) for i in st_["items"]])
    g.add_edge("work", END)
    app = g.compile(checkpointer="memory")

    async def main() -> None:
        jobs: list[Any] = [gathering.start(session=s)]
        if nodes:
            jobs.append(fan.start(session=s))
        with default_session_of(s):
            if sends:
                jobs.append(app.ainvoke({"items": list(range(sends)), "out": []}, {"configurable": {"thread_id": "t"}}))
            await asyncio.gather(*jobs)

    arun(main(), timeout=60)
    assert 1 <= now["peak"] <= cap
    assert now["done"] == calls + nodes + sends


def test_a_dual_stage_tool_and_a_run_left_running_by_a_tool_count_against_the_session_cap(session: Session) -> None:
    """Under a cap of 1: a DualStageTool's setup ran beside another call (it was never capped), and a run a tool
    started and left running kept its launcher's slot marker for good, so its calls were never counted."""
    ag.configure(max_concurrency=1)
    now = {"running": 0, "peak": 0}

    async def body() -> None:
        now["running"] += 1
        now["peak"] = max(now["peak"], now["running"])
        for _ in range(5):  # (loop turns: a body beside it, were the cap not held, would start meanwhile)
            await asyncio.sleep(0)
        now["running"] -= 1

    class Approve(ag.DualStageTool, outputs=["ok"]):
        async def setup(self, amount: int) -> ag.WaitSpec:
            await body()
            return ag.WaitSpec(kind="approval", prompt=f"Pay {amount}?")

        async def on_resume(self, payload: Any, **_: Any) -> dict[str, Any]:
            return {"ok": payload["approved"]}

    @ag.tool(outputs=["v"])
    async def leaf(i: int) -> dict[str, int]:
        await body()
        return {"v": i}

    @ag.graph_fn(outputs=["v"])
    async def other(i: int) -> dict[str, int]:
        done = await asyncio.gather(leaf(i), leaf(i + 1))
        return {"v": done[0]["v"]}

    started: list[ag.Run] = []

    @ag.tool(outputs=["v"])
    async def launcher() -> dict[str, int]:
        started.append(other.start(i=10))  # left running: the tool returns at once
        return {"v": 0}

    @ag.graph_fn(outputs=["ok"])
    async def agent() -> dict[str, Any]:
        await launcher()
        approved, _, _ = await asyncio.gather(Approve(amount=5), leaf(1), leaf(2))
        return {"ok": approved["ok"]}

    async def main() -> dict[str, Any]:
        run = agent.start()
        await run.wait_for("waiting")
        await run.answer(True)
        out = await run
        await started[0]
        return out

    assert arun(main()) == {"ok": True}
    assert now["peak"] == 1


def test_a_nested_call_that_asks_keeps_the_slot_while_a_sibling_in_it_still_runs(session: Session) -> None:
    """Under a cap of 1, a tool gathering two nested calls (they run in its slot): one asks a person, the other
    goes on working. The asking one gave the whole slot back, so another run's tool started beside the one still
    working: two bodies at once under a cap of 1. The slot now goes back once nothing in it runs."""
    ag.configure(max_concurrency=1)
    busy = {"now": 0, "peak": 0, "ran": []}
    side_gate = asyncio.Event()

    def enter(label: str) -> None:
        busy["now"] += 1
        busy["peak"] = max(busy["peak"], busy["now"])
        busy["ran"].append(label)

    @ag.tool(outputs=["name"])
    async def nc_ask(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("Your name?")}

    @ag.tool(outputs=["v"])
    async def nc_side() -> dict[str, int]:
        enter("side")
        try:
            await side_gate.wait()
            return {"v": 1}
        finally:
            busy["now"] -= 1

    @ag.tool(outputs=["name", "v"])
    async def nc_parent() -> dict[str, Any]:
        asked, worked = await asyncio.gather(nc_ask(), nc_side())
        enter("parent goes on")
        busy["now"] -= 1
        return {"name": asked["name"], "v": worked["v"]}

    @ag.tool(outputs=["v"])
    async def nc_other_tool() -> dict[str, int]:
        enter("other")
        await asyncio.sleep(0)
        busy["now"] -= 1
        return {"v": 2}

    @ag.graph_fn(outputs=["name", "v"])
    async def nc_outer() -> dict[str, Any]:
        return await nc_parent()

    @ag.graph_fn(outputs=["v"])
    async def nc_other() -> dict[str, Any]:
        return await nc_other_tool()

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        outer = nc_outer.start()
        await until(lambda: outer.status == "waiting" and busy["ran"] == ["side"], runs=(outer,))
        other = nc_other.start()
        await turns()
        assert busy["ran"] == ["side"], "another run's tool started while the side call still ran in the slot"
        assert statuses(other, "nc_other_tool") == ["PENDING"]
        side_gate.set()  # the side call ends: only the question is left in the slot, which goes back
        other_out = await other
        await outer.answer("Ada")
        return await outer, other_out

    out, other_out = arun(main(), timeout=30)
    assert out == {"name": "Ada", "v": 1} and other_out == {"v": 2}
    assert busy["ran"] == ["side", "other", "parent goes on"] and busy["peak"] == 1


def test_a_nested_call_asking_twice_gives_the_slot_back_each_time(session: Session) -> None:
    """Under a cap of 1, a nested call asks, is answered and asks again: during each question another run's tool
    runs (the slot is not kept by a parent that only awaits a person)."""
    ag.configure(max_concurrency=1)
    ran: list[str] = []

    @ag.tool(outputs=["a", "b"])
    async def na_two_questions(*, context: ag.NodeContext) -> dict[str, str]:
        first = await context.channel().ask_text("First?")
        ran.append("between")
        second = await context.channel().ask_text("Second?")
        return {"a": first, "b": second}

    @ag.tool(outputs=["v"])
    async def na_quick() -> dict[str, int]:
        ran.append("quick")
        return {"v": 1}

    @ag.tool(outputs=["a", "b", "v"])
    async def na_parent() -> dict[str, Any]:
        asked, quick = await asyncio.gather(na_two_questions(), na_quick())
        return {**asked, "v": quick["v"]}

    @ag.graph_fn(outputs=["a", "b", "v"])
    async def na_outer() -> dict[str, Any]:
        return await na_parent()

    @ag.tool(outputs=["v"])
    async def na_other_tool(tag: str) -> dict[str, str]:
        ran.append(tag)
        return {"v": tag}

    @ag.graph_fn(outputs=["v"])
    async def na_other(tag: str) -> dict[str, Any]:
        return await na_other_tool(tag)

    async def main() -> dict[str, Any]:
        outer = na_outer.start()
        await until(lambda: len(outer.waits) == 1 and "quick" in ran, runs=(outer,))
        assert await na_other.start(tag="during the first") == {"v": "during the first"}
        await outer.answer("one")
        await until(lambda: len(outer.waits) == 1 and outer.waits[0].prompt == "Second?", runs=(outer,))
        assert await na_other.start(tag="during the second") == {"v": "during the second"}
        await outer.answer("two")
        return await outer

    assert arun(main(), timeout=30) == {"a": "one", "b": "two", "v": 1}
    assert ran == ["quick", "during the first", "between", "during the second"]


@settings(max_examples=25, deadline=None)
@given(
    cap=st.integers(min_value=1, max_value=2),
    trees=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["work", "ask"]), st.integers(min_value=0, max_value=40)), min_size=1, max_size=4
        ),
        min_size=1,
        max_size=3,
    ),
    answer_after=st.integers(min_value=0, max_value=6),
)
def test_runs_whose_nested_calls_ask_and_work_never_hold_more_slots_than_the_cap(
    cap: int, trees: list[list[tuple[str, int]]], answer_after: int
) -> None:
    """Runs whose tool gathers nested calls (they run in its slot), some working for a few loop turns, some asking a
    person (answered a few turns after they ask) and working after the answer. At any moment the runs with a
    nested call working are at most the cap (a nested question gave the shared slot back while a sibling
    worked), nothing deadlocks, and every call runs once."""
    s, _ = make_session()
    s.config["global_max_concurrency"] = cap
    working: dict[int, int] = {}
    peak = {"owners": 0}
    ran: list[tuple[int, int]] = []

    async def work(tag: int, turns_: int) -> None:
        working[tag] = working.get(tag, 0) + 1
        peak["owners"] = max(peak["owners"], sum(1 for n in working.values() if n))
        for _ in range(turns_):
            await asyncio.sleep(0)
        working[tag] -= 1

    @ag.tool(outputs=["v"])
    async def pr_child(tag: int, i: int, kind: str, turns_: int, *, context: ag.NodeContext) -> dict[str, int]:
        if kind == "ask":
            await context.channel().ask_text(f"{tag}.{i}?")
        await work(tag, turns_)
        ran.append((tag, i))
        return {"v": i}

    @ag.tool(outputs=["n"])
    async def pr_parent(tag: int, children: list[list[Any]]) -> dict[str, int]:
        done = await asyncio.gather(*(pr_child(tag, i, k, t) for i, (k, t) in enumerate(children)))
        return {"n": len(done)}

    @ag.graph_fn(outputs=["n"])
    async def pr_run(tag: int, children: list[list[Any]]) -> dict[str, Any]:
        return await pr_parent(tag, children)

    async def main() -> list[Any]:
        runs = [pr_run.start(tag=t, children=[list(c) for c in tree], session=s) for t, tree in enumerate(trees)]
        seen: dict[str, int] = {}
        while not all(r.done for r in runs):
            await asyncio.sleep(0)
            for r in runs:
                for w in list(r.waits) if r.status == "waiting" else []:
                    seen[w.token] = seen.get(w.token, 0) + 1
                    if seen[w.token] > answer_after:
                        await r.answer("ok", token=w.token)
        return [await r for r in runs]

    outs = arun(main(), timeout=60)
    assert outs == [{"n": len(tree)} for tree in trees]
    assert sorted(ran) == sorted((t, i) for t, tree in enumerate(trees) for i in range(len(tree)))
    assert peak["owners"] <= cap, (peak, cap)


def test_a_question_two_nested_calls_deep_gives_the_slot_back(session: Session) -> None:
    """Under a cap of 1: an agent's tool awaits a tool that awaits one that asks. The middle call, only awaiting
    the one that asks, still counted as running: another run's tool waited until the person answered."""
    ag.configure(max_concurrency=1)

    @ag.tool(outputs=["name"])
    async def deep_ask(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("Your name?")}

    @ag.tool(outputs=["name"])
    async def deep_mid() -> dict[str, str]:
        return await deep_ask()

    @ag.tool(outputs=["name"])
    async def deep_top() -> dict[str, str]:
        return await deep_mid()

    @ag.graph_fn(outputs=["name"])
    async def deep_agent() -> dict[str, Any]:
        return await deep_top()

    @ag.tool(outputs=["v"])
    async def deep_other_tool() -> dict[str, int]:
        return {"v": 1}

    @ag.graph_fn(outputs=["v"])
    async def deep_other() -> dict[str, Any]:
        return await deep_other_tool()

    async def main() -> tuple[Any, Any]:
        agent = deep_agent.start()
        await agent.wait_for("waiting", timeout=10)
        other = await deep_other.start()  # (the old code: it waited for the answer below, and the test timed out)
        await agent.answer("Ada")
        return await agent, other

    assert arun(main(), timeout=20) == ({"name": "Ada"}, {"v": 1})


@pytest.mark.parametrize("first", ["own", "nested"])
def test_once_only_a_nested_question_is_open_the_slot_goes_back_whichever_was_answered_first(
    session: Session, first: str
) -> None:
    """Under a cap of 1: a tool gathers its own question and a nested tool's. With its own answered first, it
    held the slot while the nested question stayed open, and another run's tool waited for that answer."""
    ag.configure(max_concurrency=1)

    @ag.tool(outputs=["name"])
    async def order_nested(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("nested?")}

    @ag.tool(outputs=["a", "b"])
    async def order_top(*, context: ag.NodeContext) -> dict[str, str]:
        own, nested = await asyncio.gather(context.channel().ask_text("own?"), order_nested())
        return {"a": own, "b": nested["name"]}

    @ag.graph_fn(outputs=["a", "b"])
    async def order_agent() -> dict[str, Any]:
        return await order_top()

    @ag.tool(outputs=["v"])
    async def order_other_tool() -> dict[str, int]:
        return {"v": 1}

    @ag.graph_fn(outputs=["v"])
    async def order_other() -> dict[str, Any]:
        return await order_other_tool()

    async def main() -> tuple[Any, Any]:
        agent = order_agent.start()
        await until(lambda: len(agent.waits) == 2, runs=(agent,))
        prompt = f"{first}?"
        await agent.answer("x", token=next(w.token for w in agent.waits if w.prompt == prompt))
        await until(lambda: len(agent.waits) == 1 and agent.status == "waiting", runs=(agent,))
        other = await order_other.start()
        await agent.answer("y", token=agent.waits[0].token)
        return await agent, other

    out, other = arun(main(), timeout=20)
    assert other == {"v": 1} and sorted(out.values()) == ["x", "y"]


def test_a_static_graph_node_shares_its_run_cap_slot_with_the_calls_nested_in_it(session: Session) -> None:
    """``max_concurrency=1`` on a static graph, no session cap: node 1's tool gathers a nested question and a
    nested call that keeps working. The question gave the node's slot back and node 2 started beside the working
    call (two bodies under a run cap of 1); now node 2 starts once only the question is left."""
    log: list[str] = []
    side_gate = asyncio.Event()

    @ag.tool(outputs=["name"])
    async def rc_ask(*, context: ag.NodeContext) -> dict[str, str]:
        return {"name": await context.channel().ask_text("name?")}

    @ag.tool(outputs=["v"])
    async def rc_side() -> dict[str, int]:
        log.append("side starts")
        await side_gate.wait()
        log.append("side ends")
        return {"v": 1}

    @ag.tool(outputs=["v"])
    async def rc_first(x: int) -> dict[str, int]:
        _, worked = await asyncio.gather(rc_ask(), rc_side())
        return {"v": worked["v"]}

    @ag.tool(outputs=["v"])
    async def rc_second(x: int) -> dict[str, int]:
        log.append("second")
        return {"v": 2}

    @ag.graphify(name="rc_graph", inputs=["x"], outputs=["a", "b"])
    def rc_graph(x: Any) -> dict[str, Any]:
        return {"a": rc_first(x=x).v, "b": rc_second(x=x).v}

    async def main() -> dict[str, Any]:
        run = rc_graph.start(x=1, max_concurrency=1)
        await until(lambda: run.status == "waiting" and log == ["side starts"], runs=(run,))
        await turns()
        assert log == ["side starts"], "node 2 started beside the working nested call"
        side_gate.set()
        await until(lambda: "second" in log, runs=(run,))
        await run.answer("Ada")
        return await run

    assert arun(main(), timeout=20) == {"a": 1, "b": 2}
    assert log == ["side starts", "side ends", "second"]


def test_a_question_given_up_by_wait_for_leaves_the_body_under_the_cap(session: Session) -> None:
    """Under a cap of 1: a tool gives up on a question (``asyncio.wait_for``), asks another, is answered and works.
    The given-up question was still counted as open, so the answer never took the slot again and another run's
    tool worked beside it."""
    ag.configure(max_concurrency=1)
    log: list[str] = []
    done = asyncio.Event()

    @ag.tool(outputs=["v"])
    async def gu_asks(*, context: ag.NodeContext) -> dict[str, str]:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(context.channel().ask_text("first?"), 0.05)
        answer = await context.channel().ask_text("second?")
        log.append("works")
        await done.wait()
        log.append("done")
        return {"v": answer}

    @ag.graph_fn(outputs=["v"])
    async def gu_agent() -> dict[str, Any]:
        return await gu_asks()

    @ag.tool(outputs=["v"])
    async def gu_other_tool() -> dict[str, int]:
        log.append("other")
        return {"v": 2}

    @ag.graph_fn(outputs=["v"])
    async def gu_other() -> dict[str, Any]:
        return await gu_other_tool()

    async def main() -> tuple[Any, Any]:
        agent = gu_agent.start()
        while [w.prompt for w in agent.waits] != ["second?"]:  # (the first gives up on a timer: no event to wake on)
            await asyncio.sleep(0)
        await agent.answer("x")
        await until(lambda: log == ["works"], runs=(agent,))
        other = gu_other.start()
        await turns()
        assert log == ["works"], "another run's tool started beside the answered tool"
        done.set()
        return await agent, await other

    assert arun(main(), timeout=20) == ({"v": "x"}, {"v": 2})
    assert log == ["works", "done", "other"]


def test_a_tool_awaiting_a_static_graph_under_a_cap_of_one_finishes(session: Session) -> None:
    """Under a cap of 1, a tool awaiting a ``@graphify`` agent (its sub-graph) hung for good: each node of the
    graph took a slot of the session's cap again, which the tool held."""
    ag.configure(max_concurrency=1)

    @ag.tool(outputs=["v"])
    async def sg_inc(x: int) -> dict[str, int]:
        return {"v": x + 1}

    @ag.graphify(name="sg_inner", inputs=["x"], outputs=["v", "w"])
    def sg_inner(x: Any) -> dict[str, Any]:
        return {"v": sg_inc(x=x).v, "w": sg_inc(x=x).v}

    @ag.tool(outputs=["v"])
    async def sg_tool(x: int) -> dict[str, int]:
        out = await sg_inner(x=x)
        return {"v": out["v"] + out["w"]}

    @ag.graph_fn(outputs=["v"])
    async def sg_outer(x: int) -> dict[str, Any]:
        return await sg_tool(x)

    assert arun(sg_outer(x=1), timeout=20) == {"v": 4}


def test_runs_a_tool_starts_take_slots_of_their_own_and_awaiting_them_gives_the_tools_back(session: Session) -> None:
    """Under a cap of 1: a tool that starts three runs and works on let them share its slot (four bodies working at
    once); a tool awaiting a run it started, or a state graph's ``ainvoke``, holds no slot while it waits for it
    (else its runs' calls, taking slots of their own now, would wait for it for ever)."""
    ag.configure(max_concurrency=1)
    now = {"working": 0, "peak": 0}
    launcher_gate = asyncio.Event()
    started: list[ag.Run] = []

    def enter() -> None:
        now["working"] += 1
        now["peak"] = max(now["peak"], now["working"])

    @ag.tool(outputs=["v"])
    async def lr_leaf(i: int) -> dict[str, int]:
        enter()
        await turns(20)
        now["working"] -= 1
        return {"v": i}

    @ag.graph_fn(outputs=["v"])
    async def lr_child(i: int) -> dict[str, Any]:
        return await lr_leaf(i)

    @ag.tool(outputs=["v"])
    async def lr_launcher() -> dict[str, int]:
        started.extend(lr_child.start(i=i) for i in range(3))
        enter()
        await launcher_gate.wait()
        now["working"] -= 1
        return {"v": 0}

    @ag.graph_fn(outputs=["v"])
    async def lr_parent() -> dict[str, Any]:
        return await lr_launcher()

    class Count(TypedDict):
        n: int

    async def bump(state: Count) -> dict[str, int]:
        return {"n": (await lr_leaf(state["n"]))["v"] + 1}

    flow = StateGraph(Count)
    flow.add_node("bump", bump)
    flow.add_edge(START, "bump")
    flow.add_edge("bump", END)
    app = flow.compile()

    @ag.tool(outputs=["total"])
    async def lr_awaits() -> dict[str, int]:
        one = await lr_child.start(i=7)
        two = await app.ainvoke({"n": 1})
        return {"total": one["v"] + two["n"]}

    @ag.graph_fn(outputs=["total"])
    async def lr_awaiting() -> dict[str, Any]:
        return await lr_awaits()

    async def main() -> tuple[list[Any], Any]:
        parent = lr_parent.start()
        await until(lambda: len(started) == 3 and now["working"] == 1, runs=(parent,))
        await turns()
        assert [r.status for r in started] == ["running"] * 3 and now["working"] == 1, "they worked beside it"
        launcher_gate.set()
        await parent
        children = [await r for r in started]
        with default_session_of(ag.session()):
            return children, await lr_awaiting()

    children, awaited = arun(main(), timeout=30)
    assert children == [{"v": 0}, {"v": 1}, {"v": 2}] and awaited == {"total": 9}
    assert now["peak"] == 1


def test_a_call_nested_in_a_node_that_gave_its_slot_back_waits_for_the_runs_cap(session: Session) -> None:
    """``max_concurrency=1`` on a static graph: node a's tool gathers a question and a call that starts only once the
    question is open (the node's slot given back, node b holding it now). That call ran at once, beside node b: two
    bodies under a run cap of 1. It now takes the node's slots again first, and waits for node b."""
    log: list[str] = []
    b_gate, late_go = asyncio.Event(), asyncio.Event()

    @ag.tool(outputs=["v"])
    async def nr_asks(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"v": await context.channel().ask_text("q?")}

    @ag.tool(outputs=["v"])
    async def nr_late() -> dict[str, int]:
        log.append("late")
        return {"v": 2}

    @ag.tool(outputs=["v"])
    async def nr_a(x: int) -> dict[str, int]:
        async def later() -> dict[str, int]:
            await late_go.wait()
            return await nr_late()

        await asyncio.gather(nr_asks(), later())
        return {"v": 1}

    @ag.tool(outputs=["v"])
    async def nr_b(x: int) -> dict[str, int]:
        log.append("b starts")
        await b_gate.wait()
        log.append("b ends")
        return {"v": 1}

    @ag.graphify(name="nr_graph", inputs=["x"], outputs=["a", "b"])
    def nr_graph(x: Any) -> dict[str, Any]:
        return {"a": nr_a(x=x).v, "b": nr_b(x=x).v}

    async def main() -> dict[str, Any]:
        run = nr_graph.start(x=1, max_concurrency=1)
        await until(lambda: run.status == "waiting" and log == ["b starts"], runs=(run,))
        late_go.set()
        await turns()
        assert log == ["b starts"], "the nested call ran beside node b"
        b_gate.set()
        await until(lambda: "late" in log, runs=(run,))
        await run.answer("x")
        return await run

    assert arun(main(), timeout=20) == {"a": 1, "b": 1}
    assert log == ["b starts", "b ends", "late"]
