"""A failure the body handled is part of what the run did: a resumed run gets the same error at the same call.

Found with a realistic agent: a flaky tool whose error ``llm.run_tools`` handed to the model, then an approval,
then a kernel restart. The resumed run executed the tool again (its effect twice); it succeeded this time, so the
model's next request differed from the journaled one and the run failed with ``ReplayMismatch``. A "restart" here
is a new session over the same store, the old loop gone (as in ``test_durability.py``).
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest

import aether_nb as ag
from aether_nb.flow import END, START, StateGraph, interrupt
from aether_nb.runtime import session as session_mod
from aether_nb.runtime.failures import rebuild
from aether_nb.runtime.run import Run
from aether_nb.services.llm import configure_llm
from aether_nb.store.memory import MemoryStore
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun, make_session

CALLS: dict[str, int] = {}


def _count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    CALLS.clear()
    previous = session_mod.set_default_session(None)
    yield
    session_mod.set_default_session(previous)


def _process(store: MemoryStore, fake: FakeOpenAI | None = None) -> None:
    """A new "process" over ``store``: every step durable when it completes (what survives a kill)."""
    s, _ = make_session(store)
    s.store.durability = "sync"
    if fake is not None:
        configure_llm(s, {"base_url": fake.base_url, "model": "fake", "max_retries": 0})
    session_mod.set_default_session(s)


# -- an LLM agent: a flaky tool's error went to the model, then an approval, then a restart -------------------------
@ag.tool(outputs=["n"])
async def fs_stock(item: str) -> dict[str, int]:
    """How many of an item are in stock."""
    if _count("stock") == 1:
        raise TimeoutError("warehouse API timed out")
    return {"n": 3}


@ag.tool(outputs=["done"])
async def fs_refund(order: str, *, context: ag.NodeContext) -> dict[str, bool]:
    """Refund an order once a person approves."""
    approved, _ = await context.channel().ask_approval(f"Refund {order}?")
    _count("refund")
    return {"done": bool(approved)}


@ag.graph_fn(outputs=["text"])
async def fs_agent(q: str, *, context: ag.NodeContext) -> dict[str, str]:
    result = await context.llm().run_tools(q, tools=[fs_stock, fs_refund])
    return {"text": result.text}


def _model(body: dict[str, Any]) -> Any:
    results = [m for m in body["messages"] if m.get("role") == "tool"]
    if not results:
        return {"tool_calls": [{"name": "fs_stock", "arguments": {"item": "lamp"}, "id": "c1"}]}
    if len(results) == 1:
        return {"tool_calls": [{"name": "fs_refund", "arguments": {"order": "A"}, "id": "c2"}]}
    return "done: " + " | ".join(str(m["content"]) for m in results)


def test_a_tool_error_the_model_saw_is_not_executed_again_after_a_restart() -> None:
    store = MemoryStore()
    with FakeOpenAI(rules=_model) as fake:
        _process(store, fake)

        async def first() -> None:
            run = fs_agent.start(q="refund order A", run_id="agent")
            await run.wait_for("waiting", timeout=10)
            assert [w.prompt for w in run.waits] == ["Refund A?"]

        arun(first())
        _process(store, fake)  # the kernel restarted while the approval was open

        async def second() -> dict[str, Any]:
            run = ag.get_run("agent")
            await run.answer("Approve")
            return await run

        out = arun(second())
        assert out["text"].startswith("done: Error: the tool raised TimeoutError: warehouse API timed out")
        assert CALLS == {"stock": 1, "refund": 1}  # the failed call once, as the model was told
        assert len(fake.chat_requests) == 3  # each model turn once
        node = ag.get_run("agent").graph.node("run_tools_1/fs_stock_1")
        assert node.status == "FAILED" and node.replayed and "warehouse API timed out" in node.error["message"]


# -- a body that catches a failure and asks a person -----------------------------------------------------------------
class CardDeclined(Exception):
    def __init__(self, reason: str, *, retry_in: int) -> None:
        super().__init__(f"card declined: {reason}")
        self.retry_in = retry_in


@ag.tool(outputs=["receipt"])
async def fs_charge(amount: int) -> dict[str, str]:
    if _count("charge") == 1:
        raise CardDeclined("insufficient funds", retry_in=60)
    return {"receipt": f"r-{amount}"}


@ag.graph_fn(outputs=["outcome"])
async def fs_checkout(amount: int, *, context: ag.NodeContext) -> dict[str, str]:
    ch = context.channel()
    try:
        receipt = (await fs_charge(amount))["receipt"]
    except CardDeclined as exc:
        choice = await ch.ask_choices(f"{exc} — what now?", ["other card", "cancel"])
        return {"outcome": f"{type(exc).__name__} {exc} -> {choice.choice}"}
    await ch.send_text(f"charged: {receipt}")
    return {"outcome": receipt}


async def _answer_the_question(run: Run) -> dict[str, Any]:
    (wait,) = run.waits
    assert wait.prompt == "card declined: insufficient funds — what now?"
    await run.answer("cancel")
    return await run


def _check_checkout(out: dict[str, Any]) -> None:
    assert out == {"outcome": "CardDeclined card declined: insufficient funds -> cancel"}
    assert CALLS == {"charge": 1}  # not charged again (on the old code: charged, and the answer went nowhere)
    assert ag.session().store.list_waits("checkout", status="open") == []


def test_a_handled_failure_sends_the_run_resumed_after_a_restart_down_the_same_path() -> None:
    store = MemoryStore()
    _process(store)

    async def first() -> None:
        run = fs_checkout.start(amount=12, run_id="checkout")
        await run.wait_for("waiting", timeout=10)

    arun(first())
    _process(store)
    _check_checkout(arun(_answer_the_question(ag.get_run("checkout"))))


def test_a_failure_raised_again_from_the_journal_keeps_the_times_it_ran_with() -> None:
    """The widget drew the replayed failed charge as "0 ms" (replayed DONE steps kept their times)."""
    store = MemoryStore()
    _process(store)

    async def first() -> tuple[float | None, float | None]:
        run = fs_checkout.start(amount=12, run_id="checkout")
        await run.wait_for("waiting", timeout=10)
        node = run.graph.node("fs_charge_1")
        return node.started_at, node.ended_at

    started, ended = arun(first())
    assert started is not None and ended is not None
    _process(store)
    run = ag.get_run("checkout")
    _check_checkout(arun(_answer_the_question(run)))
    node = run.graph.node("fs_charge_1")
    assert node.status == "FAILED" and node.replayed
    assert (node.started_at, node.ended_at) == (started, ended)


def test_a_handled_failure_sends_the_run_back_from_leaving_memory_down_the_same_path() -> None:
    _process(MemoryStore())
    ag.session().max_live_waiting = 0  # a parked run leaves memory as soon as it can

    async def main() -> dict[str, Any]:
        run = fs_checkout.start(amount=12, run_id="checkout")
        await run.wait_for("waiting", timeout=10)
        while run.live:  # it leaves a loop turn after it parks (under arun's timeout)
            await asyncio.sleep(0)
        return await _answer_the_question(run)

    _check_checkout(arun(main()))


def test_the_replayed_error_is_the_same_exception_class_with_the_same_message_and_arguments() -> None:
    exc = rebuild(
        {"type": f"{__name__}:CardDeclined", "name": "CardDeclined", "message": "card declined: x", "args": None}
    )
    assert isinstance(exc, CardDeclined) and str(exc) == "card declined: x"
    gone = rebuild({"type": "no_such_module:Gone", "name": "Gone", "message": "gone", "args": ["gone"]})
    assert type(gone).__name__ == "Gone" and str(gone) == "gone" and isinstance(gone, Exception)
    again = rebuild({"type": "builtins:KeyError", "name": "KeyError", "message": "'k'", "args": ["k"]})
    assert type(again) is KeyError and again.args == ("k",)


# -- a node retried by its policy, then a question, then a restart ----------------------------------------------------
@ag.tool(outputs=["v"])
async def fs_fetch(x: int) -> dict[str, int]:
    if _count("fetch") == 1:
        raise ConnectionError("connection reset")
    return {"v": x}


class FsConfirm(ag.DualStageTool, outputs=["ok"]):
    async def setup(self, v: int) -> Any:
        return ag.WaitSpec(kind="text", prompt=f"Use {v}?")

    async def on_resume(self, payload: Any) -> dict[str, Any]:
        return {"ok": payload}


@ag.graphify(name="fs_retrying", inputs=["x"], outputs=["v", "ok"])
def fs_retrying(x: Any) -> dict[str, Any]:
    fetched = fs_fetch(x=x)
    confirmed = FsConfirm(v=fetched.v)
    return {"v": fetched.v, "ok": confirmed.ok}


def test_a_node_whose_retry_succeeded_replays_its_result_not_its_first_failure() -> None:
    store = MemoryStore()
    _process(store)

    async def first() -> None:
        run = fs_retrying.start(x=7, run_id="retrying", retry=ag.RetryPolicy(max_attempts=3, backoff_s=0.01))
        await run.wait_for("waiting", timeout=10)

    arun(first())
    assert CALLS == {"fetch": 2}
    _process(store)

    async def second() -> dict[str, Any]:
        run = ag.get_run("retrying")
        await run.answer("yes")
        return await run

    assert arun(second()) == {"v": 7, "ok": "yes"}
    assert CALLS == {"fetch": 2}
    node = ag.get_run("retrying").graph.node("fs_fetch_1")
    assert node.status == "DONE" and node.replayed


# -- a state-graph node that caught a tool's failure, then asked ------------------------------------------------------
class _Flow(TypedDict):
    out: Annotated[list[str], operator.add]


@ag.tool(outputs=["v"])
async def fs_quote() -> dict[str, str]:
    if _count("quote") == 1:
        raise TimeoutError("pricing service slow")
    return {"v": "12 EUR"}


async def _quote_node(state: _Flow) -> dict[str, Any]:
    try:
        price = (await fs_quote())["v"]
    except TimeoutError:
        price = "unknown"
    answer = interrupt(f"Price {price}: go on?")
    return {"out": [f"{price}:{answer}"]}


def _quote_app() -> Any:
    g = StateGraph(_Flow, name="fs_quote_flow")
    g.add_node("quote", _quote_node)
    g.add_edge(START, "quote")
    g.add_edge("quote", END)
    return g.compile()


@pytest.mark.parametrize("restart", [False, True])
def test_a_state_graph_node_run_again_after_an_answer_meets_the_failure_it_handled(restart: bool) -> None:
    """As in LangGraph the node runs again from its start once answered; its completed calls replay, and so does
    its failed one: the answer given to "Price unknown" is not turned into "12 EUR:yes" by a second call."""
    store = MemoryStore()
    _process(store)
    app = _quote_app()
    config = {"thread_id": "q"}

    async def ask() -> str:
        res = await app.ainvoke({"out": []}, config=config)
        assert [i.value for i in res.interrupts] == ["Price unknown: go on?"]
        return str(res.run_id)

    async def answer(run_id: str) -> None:
        run = ag.get_run(run_id)
        await run.answer("yes")
        await run

    async def both() -> None:  # one process, one loop
        await answer(await ask())

    if restart:
        run_id = arun(ask())
        _process(store)
        app = _quote_app()
        arun(answer(run_id))
    else:
        arun(both())
    assert app.get_state(config).values["out"] == ["unknown:yes"]
    assert CALLS == {"quote": 1}


# -- the same call twice: it succeeded, then failed ------------------------------------------------------------------
@ag.tool(outputs=["v"])
async def fs_ping(host: str) -> dict[str, str]:
    if _count("ping") == 2:
        raise ConnectionError(f"{host} unreachable")
    return {"v": "pong"}


@ag.graph_fn(outputs=["seen"])
async def fs_pinger(*, context: ag.NodeContext) -> dict[str, Any]:
    seen = []
    for _ in range(2):  # two equal calls: each replays what it did, not the other's
        try:
            seen.append((await fs_ping("db"))["v"])
        except ConnectionError as exc:
            seen.append(str(exc))
    seen.append(await context.channel().ask_text("Go on?"))
    return {"seen": seen}


def test_equal_calls_replay_their_own_outcome() -> None:
    store = MemoryStore()
    _process(store)

    async def first() -> None:
        run = fs_pinger.start(run_id="pinger")
        await run.wait_for("waiting", timeout=10)

    arun(first())
    _process(store)

    async def second() -> dict[str, Any]:
        run = ag.get_run("pinger")
        await run.answer("yes")
        return await run

    assert arun(second()) == {"seen": ["pong", "db unreachable", "yes"]}
    assert CALLS == {"ping": 2}


# -- a graph_fn run that failed, retried with resume_mode="failed_nodes" ---------------------------------------------
@ag.tool(outputs=["id"])
async def fs_book(city: str) -> dict[str, str]:
    _count("book")
    return {"id": f"b-{city}"}


@ag.tool(outputs=["ok"])
async def fs_notify(booking: str) -> dict[str, bool]:
    if _count("notify") == 1:
        raise ConnectionError("mail server down")
    return {"ok": True}


@ag.graph_fn(outputs=["booking", "sent"])
async def fs_trip(city: str) -> dict[str, Any]:
    booking = (await fs_book(city))["id"]
    sent = (await fs_notify(booking))["ok"]
    return {"booking": booking, "sent": sent}


def test_a_failed_graph_fn_run_is_retried_with_resume_mode_failed_nodes() -> None:
    """What the README and the abandoned-body warning tell a graph_fn user to do: ``start(run_id=..., resume_mode=
    "failed_nodes")`` runs the failed run again, its completed steps replayed (the booking is not made twice) and
    its failed step executed again; without it the failed run is returned as it is; a bad mode says what it takes."""
    store = MemoryStore()
    _process(store)

    async def main() -> tuple[str, dict[str, Any]]:
        with pytest.raises(ag.RunFailed):
            await fs_trip.start(city="Oslo", run_id="trip")
        assert fs_trip.start(city="Oslo", run_id="trip").status == "failed"  # returned as it is
        with pytest.raises(ag.UsageError, match="resume_mode must be None or 'failed_nodes'"):
            fs_trip.start(city="Oslo", run_id="trip", resume_mode="everything")
        run = fs_trip.start(city="Oslo", run_id="trip", resume_mode="failed_nodes")
        out = await run
        return run.status, out

    assert arun(main()) == ("succeeded", {"booking": "b-Oslo", "sent": True})
    assert CALLS == {"book": 1, "notify": 2}
