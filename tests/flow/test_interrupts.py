"""Pauses and recovery: interrupt_before/after with state edits, interrupt(), stop, failure and retry."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.errors import UsageError
from aether_nb.flow import START, AgentState, Command, StateGraph, interrupt
from aether_nb.runtime.session import Session
from tests.conftest import arun


class ReviewState(AgentState, total=False):
    amount: float
    decision: str
    trail: list[str]


def classify(state: ReviewState) -> dict[str, Any]:
    return {"amount": float(state["messages"][-1]["content"]), "trail": [*state.get("trail", []), "classify"]}


def review(state: ReviewState) -> dict[str, Any]:
    decision = state.get("decision", "")
    return {
        "trail": [*state["trail"], f"review({decision})"],
        "messages": [{"role": "assistant", "content": f"review says {decision}"}],
    }


def auto(state: ReviewState) -> dict[str, Any]:
    return {"trail": [*state["trail"], "auto"]}


def build(**compile_kw: Any) -> Any:
    g = StateGraph(ReviewState, name="review")
    g.add_node("classify", classify)
    g.add_node("review", review)
    g.add_node("auto", auto)
    g.set_entry_point("classify")
    g.add_conditional_edges(
        "classify", lambda s: "auto" if s["amount"] < 100 else "big", {"auto": "auto", "big": "review"}
    )
    g.set_finish_point("review")
    g.set_finish_point("auto")
    return g.compile(**compile_kw)


def amount(x: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": x}]}


def test_interrupt_before_pauses_then_resumes_with_the_edited_state(session: Session) -> None:
    app = build(interrupt_before=["review"])

    async def scenario() -> None:
        small = await app.ainvoke(amount("50"), config={"thread_id": "small"})
        assert small.status == "completed" and small.state["trail"] == ["classify", "auto"]
        res = await app.ainvoke(amount("500"), config={"thread_id": "big"})
        assert res.status == "interrupted" and res.next == ("review",)
        assert [(i.kind, i.node) for i in res.interrupts] == [("before", "review")]
        assert res.state["trail"] == ["classify"]  # review has not run
        snap = await app.aget_state({"thread_id": "big"})
        assert snap.status == "interrupted" and snap.next == ("review",)
        await app.aupdate_state({"thread_id": "big"}, {"decision": "approved"})
        done = await app.ainvoke(None, config={"thread_id": "big"})
        assert done.status == "completed"
        assert done.state["trail"] == ["classify", "review(approved)"]  # ran once, saw the edit
        assert done.messages[-1]["content"] == "review says approved"
        sources = [s.source for s in await app.aget_state_history({"thread_id": "big"})]
        assert sources == ["loop", "update", "loop", "loop", "input"]

    arun(scenario())


def test_interrupt_before_resumes_with_a_partial_state_as_input(session: Session) -> None:
    app = build(interrupt_before=["review"])
    arun(app.ainvoke(amount("500"), config={"thread_id": "t"}))
    done = arun(app.ainvoke({"decision": "ok"}, config={"thread_id": "t"}))
    assert done.state["trail"] == ["classify", "review(ok)"]


def test_interrupt_after_pauses_with_the_successor_chosen(session: Session) -> None:
    app = build(interrupt_after=["classify"])
    res = arun(app.ainvoke(amount("7"), config={"thread_id": "t"}))
    assert res.status == "interrupted" and res.next == ("auto",)
    assert [(i.kind, i.node) for i in res.interrupts] == [("after", "classify")]
    assert res.state["trail"] == ["classify"]
    arun(app.aupdate_state({"thread_id": "t"}, {"trail": ["edited"]}))
    res = arun(app.ainvoke({}, config={"thread_id": "t"}))
    assert res.status == "completed" and res.state["trail"] == ["edited", "auto"]


def test_interrupt_resumes_with_a_value_and_replays_the_tool_called_before_it(session: Session) -> None:
    charged: list[float] = []
    node_runs: list[int] = []

    @ag.tool(outputs=["receipt"])
    def charge(amount: float) -> dict[str, Any]:
        charged.append(amount)
        return {"receipt": f"r{len(charged)}"}

    async def human(state: ReviewState) -> dict[str, Any]:
        node_runs.append(1)
        receipt = (await charge(state["amount"]))["receipt"]
        answer = interrupt({"amount": state["amount"], "receipt": receipt}, message="Approve?")
        return {"decision": answer["decision"], "trail": [*state["trail"], receipt]}

    g = StateGraph(ReviewState, name="dyn")
    g.add_node("classify", classify)
    g.add_node("human", human)
    g.add_edge(START, "classify")
    g.add_edge("classify", "human")
    app = g.compile()

    async def scenario() -> None:
        res = await app.ainvoke(amount("900"), config={"thread_id": "t"})
        assert res.status == "interrupted"
        (pause,) = res.interrupts
        assert (pause.kind, pause.node, pause.message) == ("interrupt", "human", "Approve?")
        assert pause.value == {"amount": 900.0, "receipt": "r1"}
        with pytest.raises(UsageError, match=r"paused at interrupt\(\) in human .*Command\(resume=value\)"):
            await app.ainvoke(amount("1"), config={"thread_id": "t"})
        done = await app.ainvoke({"resume": {"decision": "rejected"}}, config={"thread_id": "t"})
        assert done.status == "completed" and done.state["decision"] == "rejected"
        assert done.state["trail"] == ["classify", "r1"]
        with pytest.raises(UsageError, match="Nothing to resume"):
            await app.ainvoke({"resume": 1}, config={"thread_id": "t"})

    arun(scenario())
    assert charged == [900.0]  # the tool before the interrupt ran once: the node's re-run replayed it
    assert node_runs == [1, 1]  # as in LangGraph, the node ran again from its start with the answer


def test_interrupt_in_a_sync_node_pauses_until_resumed(session: Session) -> None:
    def ask(state: ReviewState) -> dict[str, Any]:
        return {"decision": interrupt("decide?")}

    g = StateGraph(ReviewState, name="sync_int")
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    app = g.compile()

    async def scenario() -> None:
        res = await app.ainvoke({}, config={"thread_id": "t"})
        assert res.status == "interrupted" and res.interrupts[0].message == "decide?"
        done = await app.ainvoke({"resume": "yes"}, config={"thread_id": "t"})
        assert done.state["decision"] == "yes"

    arun(scenario())


def test_stop_pauses_the_thread_and_the_next_invoke_reruns_the_stopped_node(session: Session) -> None:
    runs: list[str] = []

    async def slow(state: AgentState) -> list[dict[str, Any]]:
        runs.append("slow")
        if len(runs) == 1:
            await asyncio.sleep(30)
        return [{"role": "assistant", "content": "slow done"}]

    g = StateGraph(AgentState, name="stoppable")
    g.add_node("first", lambda s: [{"role": "assistant", "content": "first"}])
    g.add_node("slow", slow)
    g.add_edge(START, "first")
    g.add_edge("first", "slow")
    app = g.compile()
    cfg = {"thread_id": "t"}

    async def scenario() -> None:
        task = asyncio.ensure_future(app.ainvoke({"messages": ["hi"]}, config=cfg))
        while not runs:
            await asyncio.sleep(0.01)
        assert await app.astop(cfg) == {"ok": True, "running": True, "run_id": "stoppable-t-1"}
        res = await task
        assert res.status == "stopped" and res.next == ("slow",)
        assert (await app.aget_state(cfg)).status == "stopped"
        assert await app.astop(cfg) == {"ok": True, "running": False, "reason": "not-running"}
        assert await app.astop({"thread_id": "nobody"}) == {"ok": False, "running": False, "reason": "no-state"}
        res = await app.ainvoke(None, config=cfg)
        assert res.status == "completed"
        assert [m["content"] for m in res.state["messages"]] == ["hi", "first", "slow done"]

    arun(scenario())
    assert runs == ["slow", "slow"]


def test_a_failed_node_is_retried_on_the_next_invoke_without_rerunning_the_rest(session: Session) -> None:
    calls: list[str] = []
    broken = True
    sibling_done = asyncio.Event()

    def track(name: str, fail: bool = False) -> Any:
        async def node(state: AgentState) -> list[dict[str, Any]]:
            calls.append(name)
            if name == "sibling":
                sibling_done.set()
            if fail and broken:
                await asyncio.wait_for(sibling_done.wait(), 10)  # fails once its sibling finished
                raise RuntimeError(f"{name} is broken")
            return [{"role": "assistant", "content": name}]

        return node

    g = StateGraph(AgentState, name="retry")
    g.add_node("a", track("a"))
    g.add_node("b", track("b", fail=True))
    g.add_node("sibling", track("sibling"))
    g.add_node("c", track("c"))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "sibling")
    g.add_edge("b", "c")
    app = g.compile()
    cfg = {"thread_id": "t"}
    with pytest.raises(RuntimeError, match="b is broken"):
        arun(app.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, config=cfg))
    snap = arun(app.aget_state(cfg))
    assert snap.status == "failed" and snap.next == ("b",)
    assert [(t.name, t.error, t.result is not None) for t in snap.tasks] == [
        ("b", "RuntimeError('b is broken')", False),
        ("sibling", None, True),
    ]
    assert [m["content"] for m in snap.values["messages"]] == ["hi", "a", "sibling"]
    broken = False
    res = arun(app.ainvoke({"messages": [{"role": "user", "content": "again"}]}, config=cfg))
    assert res.status == "completed"
    assert calls == ["a", "b", "sibling", "b", "c"]  # a and the sibling that succeeded did not run again
    assert [m["content"] for m in res.state["messages"]] == ["hi", "a", "again", "b", "sibling", "c"]


@pytest.mark.anyio
async def test_steps_before_the_first_interrupt_replay_in_every_later_rerun(checkpointer: str) -> None:
    """A node re-runs once per answer: the tool and the chat message before its first interrupt happen once, also
    in the third run, after a re-run that only replayed (the case that skips reading the journal back)."""
    calls: list[int] = []

    @ag.tool(outputs=["n"])
    def step(n: int) -> dict[str, Any]:
        calls.append(n)
        return {"n": n}

    async def node(state: dict[str, Any], context: Any) -> dict[str, Any]:
        first = (await step(1))["n"]
        await context.channel().send_text("working on it")
        a = interrupt("first?")
        b = interrupt("second?")
        second = (await step(2))["n"]
        return {"out": [first, a, b, second]}

    class S(TypedDict, total=False):
        out: list[Any]

    app = StateGraph(S).add_node("node", node).add_edge(START, "node").compile(checkpointer=checkpointer)
    config = {"thread_id": "t"}
    assert (await app.ainvoke({}, config=config)).status == "interrupted"
    assert (await app.ainvoke(Command(resume="A"), config=config)).status == "interrupted"
    done = await app.ainvoke(Command(resume="B"), config=config)
    assert done["out"] == [1, "A", "B", 2]
    assert calls == [1, 2]
    channel = ag.session().config["channel"]
    assert channel.texts.count("working on it") == 1


def test_a_pause_answered_in_the_widget_then_resumed_from_a_cell_returns_the_turn(session: Session) -> None:
    """The notebook's next cell still works after the interrupt was answered in the run widget: it gets the turn's
    result instead of "Nothing to resume"; a different resume value is reported as unused."""

    class S(TypedDict, total=False):
        answer: str

    def ask(state: S) -> dict[str, Any]:
        return {"answer": interrupt("go?")}

    app = StateGraph(S).add_node("ask", ask).add_edge(START, "ask").compile()
    config = {"thread_id": "w"}

    async def scenario() -> tuple[Any, Any, list[str]]:
        paused = await app.ainvoke({}, config=config)
        assert paused.status == "interrupted"
        (run,) = [r for r in ag.runs() if r.status == "waiting"]
        await run.answer("yes")  # what the widget's control does
        await run
        same = await app.ainvoke(Command(resume="yes"), config=config)
        with pytest.warns(UserWarning, match="already answered with 'yes'") as caught:
            other = await app.ainvoke(Command(resume="no"), config=config)
        return same, other, [str(w.message) for w in caught]

    same, other, _ = arun(scenario())
    assert same["answer"] == other["answer"] == "yes"


class AskState(TypedDict, total=False):
    answer: Any


@pytest.mark.parametrize(
    ("value", "asked"),
    [
        ({"question": "Send the draft?", "draft": "Dear team"}, "Send the draft?"),
        ("Approve?", "Approve?"),
        (["a", "b"], "gate paused at interrupt() and waits for your answer"),
    ],
)
def test_the_chat_asks_an_interrupts_question_in_words(session: Session, value: Any, asked: str) -> None:
    def gate(state: AskState) -> dict[str, Any]:
        return {"answer": interrupt(value)}

    g = StateGraph(AskState, name="asks")
    g.add_node("gate", gate)
    g.add_edge(START, "gate")
    app = g.compile()

    async def scenario() -> str | None:
        res = await app.ainvoke({}, config={"thread_id": "t"})
        assert res.status == "interrupted" and res["__interrupt__"][0].value == value
        (wait,) = ag.get_run(res.run_id).waits
        return wait.prompt

    assert arun(scenario()) == asked


def test_a_resume_after_the_resumed_node_failed_answers_again(session: Session) -> None:
    """The question the failed node had asked stays open (get_state lists it, as LangGraph's): a new answer runs the
    node again with it, in a new turn; ``ainvoke(None, config)`` asks it again instead."""

    def gate(state: AskState) -> dict[str, Any]:
        answer = interrupt("amount?")
        if answer == "bad":
            raise ValueError("not a number")
        return {"answer": answer}

    g = StateGraph(AskState, name="amounts")
    g.add_node("gate", gate)
    g.add_edge(START, "gate")
    app = g.compile()
    cfg = {"configurable": {"thread_id": "t"}}

    async def scenario() -> None:
        assert (await app.ainvoke({}, cfg)).status == "interrupted"
        with pytest.raises(ValueError, match="not a number"):
            await app.ainvoke(Command(resume="bad"), cfg)
        with pytest.raises(ValueError, match="not a number"):
            await app.ainvoke(Command(resume="bad"), cfg)  # (answered again, wrong again)
        assert [i.value for i in app.get_state(cfg).interrupts] == ["amount?"]
        again = await app.ainvoke(None, cfg)  # the failed node runs again and asks again
        assert again.status == "interrupted" and again["__interrupt__"][0].value == "amount?"
        assert (await app.ainvoke(Command(resume="good"), cfg))["answer"] == "good"

    arun(scenario())


def _asks_twice() -> Any:
    class S(TypedDict, total=False):
        first: Any
        second: Any

    def node(state: S) -> dict[str, Any]:
        return {"first": interrupt("first?"), "second": interrupt("second?")}

    return StateGraph(S).add_node("ask", node).add_edge(START, "ask").compile()


@pytest.mark.parametrize("how", ["another loop", "a restart"])
def test_interrupts_answered_while_no_execution_waited_end_done_in_the_dag(session: Session, how: str) -> None:
    """An interrupt answered from another event loop (`invoke` after `invoke`) or after a kernel restart is
    consumed by a fresh execution of its node: its DAG node ends DONE with the answer, never WAITING then
    CANCELLED beside a succeeded run (what the widget would show)."""
    from aether_nb.runtime import session as session_mod
    from tests.conftest import make_session

    app = _asks_twice()
    cfg = {"configurable": {"thread_id": f"t-{how}"}}
    assert app.invoke({}, cfg).status == "interrupted"
    assert app.invoke(Command(resume="one"), cfg).status == "interrupted"
    if how == "a restart":  # a new session over the same store: nothing of the first execution survives
        fresh, _ = make_session(session.store.inner)
        session_mod.set_default_session(fresh)
    res = app.invoke(Command(resume="two"), cfg)
    assert res.status == "completed" and res["first"] == "one" and res["second"] == "two"
    run = ag.get_run(res.run_id)
    statuses = {n.id: n.status for n in run.graph.nodes}
    assert statuses == {"ask_1": "DONE", "ask_1/interrupt_1": "DONE", "ask_1/interrupt_2": "DONE"}
    events = ag.session().store.load_events(res.run_id)
    assert not [e for e in events if e.get("status") == "CANCELLED"]


@pytest.mark.parametrize("cap", [2, 1000])
def test_threads_paused_beyond_the_cap_leave_memory_and_resume_exactly_once(checkpointer: str, cap: int) -> None:
    """A thousand approvals pending at once (one ``gather`` of ``ainvoke``): each thread's run is followed by its
    ``ainvoke`` until it returns, then leaves memory beyond ``max_live_waiting``; answering resumes it from the
    journal with the same outcome and the same effects as a thread that stayed in memory (cap=1000)."""
    charged: list[int] = []
    before: list[int] = []
    after: list[int] = []

    @ag.tool(outputs=["receipt"])
    def charge(i: int) -> dict[str, Any]:
        charged.append(i)
        return {"receipt": f"r{i}"}

    class S(TypedDict, total=False):
        i: int
        receipt: str
        decision: str

    async def pay(state: S) -> dict[str, Any]:
        return {"receipt": (await charge(state["i"]))["receipt"]}

    async def approve(state: S) -> dict[str, Any]:
        before.append(state["i"])
        decision = interrupt(f"approve {state['receipt']}?")
        after.append(state["i"])
        return {"decision": f"{decision}:{state['i']}"}

    g = StateGraph(S, name="approvals")
    g.add_node("pay", pay)
    g.add_node("approve", approve)
    g.add_edge(START, "pay")
    g.add_edge("pay", "approve")
    app = g.compile(checkpointer=checkpointer)
    session = ag.session()
    session.max_live_waiting = cap
    n = 8

    async def scenario() -> None:
        paused = await asyncio.gather(*(app.ainvoke({"i": i}, config={"thread_id": f"t{i}"}) for i in range(n)))
        assert [p.status for p in paused] == ["interrupted"] * n
        runs = [ag.get_run(p.run_id) for p in paused]
        while any(r.evicted and r.live for r in runs):  # evicted tasks end in the background: wait on state
            await asyncio.sleep(0)
        assert sum(r.evicted for r in runs) == (n - cap if cap < n else 0)
        assert all(r.status == "waiting" for r in runs)
        done = await asyncio.gather(
            *(app.ainvoke(Command(resume="yes"), config={"thread_id": f"t{i}"}) for i in reversed(range(n)))
        )
        assert [d.status for d in done] == ["completed"] * n
        assert [d.state["decision"] for d in done] == [f"yes:{i}" for i in reversed(range(n))]
        assert all(r.status == "succeeded" for r in runs)
        for i in range(n):  # each checkpoint's parent is the one before it, resumed in memory or from the journal
            history = list(app.get_state_history({"configurable": {"thread_id": f"t{i}"}}))
            ids = [h.config["configurable"]["checkpoint_id"] for h in history]
            parents = [(h.parent_config or {}).get("configurable", {}).get("checkpoint_id") for h in history]
            assert parents == [*ids[1:], None], (i, ids, parents)

    arun(scenario(), timeout=60)
    assert sorted(charged) == list(range(n))  # the tool before the pause ran once per thread, evicted or not
    assert sorted(after) == list(range(n))
    assert sorted(before) == sorted([*range(n), *range(n)])  # as in LangGraph: the node re-runs from its start
