"""LangGraph parity of snapshots, state edits and resuming calls (checked against LangGraph 1.2):

* ``StateSnapshot`` is a NamedTuple (``values, next_, *_ = snap``, ``snap[0]``, ``snap._asdict()``);
* ``update_state(config, None, as_node=END)`` keeps what finished siblings wrote (``test_partial_pending_checkpoint``);
* ``as_node="__copy__"`` with ``[StateUpdate(...)]`` applies them on a sibling copy
  (``test_fork_and_update_task_results``);
* a resuming call's configurable keys and metadata go on the new checkpoints (``test_checkpoint_metadata``), and the
  task an answer re-runs sees that call's ``remaining_steps``;
* an input that cannot be copied, or a bad ``thread_id``, is refused at the call, in the user's terms.
"""

from __future__ import annotations

import asyncio
import copy
import operator
import pickle
import threading
from typing import Annotated, Any, TypedDict

import pytest

from aether_nb.errors import UsageError
from aether_nb.flow import END, START, Command, RemainingSteps, StateGraph, StateUpdate, interrupt

pytestmark = pytest.mark.anyio


class Log(TypedDict):
    log: Annotated[list[Any], operator.add]


def _cfg(thread: str = "1", **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, **extra}}


async def test_snapshot_is_a_named_tuple(checkpointer: str) -> None:
    g = StateGraph(Log).add_node("a", lambda s: {"log": ["a"]}).add_edge(START, "a")
    app = g.compile(checkpointer=checkpointer)
    await app.ainvoke({"log": []}, _cfg())
    snap = await app.aget_state(_cfg())
    values, next_, *_ = snap
    assert (values, next_) == ({"log": ["a"]}, ())
    assert snap[0] == {"log": ["a"]} and len(snap) == 8
    assert list(snap._asdict()) == [
        "values", "next", "config", "metadata", "created_at", "parent_config", "tasks", "interrupts",
    ]  # fmt: skip
    # aether_nb's extras stay attributes, outside the tuple, also through copies and _replace
    assert snap.status == "completed" and snap.run_id and snap.state == {"log": ["a"]}
    for other in (copy.deepcopy(snap), pickle.loads(pickle.dumps(snap)), snap._replace(next=("x",))):
        assert (other.status, other.run_id, other.state) == (snap.status, snap.run_id, snap.state)
    assert snap._replace(next=("x",)).next == ("x",) and copy.deepcopy(snap) == snap
    assert snap.checkpoint_id == snap.config["configurable"]["checkpoint_id"] and snap.source == "loop"


async def test_end_clear_keeps_finished_sibling_of_an_interrupt(checkpointer: str) -> None:
    def asker(s: Log) -> dict[str, Any]:
        return {"log": ["asker:" + interrupt("q?")]}

    g = StateGraph(Log).add_node("asker", asker).add_node("worker", lambda s: {"log": ["worker done"]})
    g.add_edge(START, "asker").add_edge(START, "worker")
    app = g.compile(checkpointer=checkpointer)
    await app.ainvoke({"log": ["in"]}, _cfg())
    await app.aupdate_state(_cfg(), None, as_node=END)
    snap = await app.aget_state(_cfg())
    assert (snap.values, snap.next, snap.interrupts) == ({"log": ["in", "worker done"]}, (), ())


async def test_end_clear_keeps_finished_sibling_of_a_failure(checkpointer: str) -> None:
    worker_done = asyncio.Event()

    async def bad(s: Log) -> dict[str, Any]:
        await asyncio.wait_for(worker_done.wait(), 30)  # fails only once its sibling finished
        raise RuntimeError("boom")

    async def worker(s: Log) -> dict[str, Any]:
        worker_done.set()
        return {"log": ["worker done"]}

    g = StateGraph(Log).add_node("bad", bad).add_node("worker", worker)
    g.add_edge(START, "bad").add_edge(START, "worker")
    app = g.compile(checkpointer=checkpointer)
    with pytest.raises(RuntimeError, match="boom"):
        await app.ainvoke({"log": ["in"]}, _cfg())
    await app.aupdate_state(_cfg(), None, as_node=END)
    snap = await app.aget_state(_cfg())
    assert (snap.values, snap.next) == ({"log": ["in", "worker done"]}, ())


class Named(TypedDict):
    name: Annotated[str, lambda a, b: " > ".join([a, b]) if a else b]


async def test_copy_with_updates_applies_them_on_a_sibling_copy(checkpointer: str) -> None:
    g = StateGraph(Named).add_node("one", lambda s: {"name": "one"}).add_node("two", lambda s: {"name": "two"})
    app = g.add_edge(START, "one").add_edge("one", "two").compile(checkpointer=checkpointer)
    await app.ainvoke({"name": "start"}, _cfg())
    before_one = next(s for s in await app.aget_state_history(_cfg()) if s.next == ("one",))
    new = await app.aupdate_state(before_one.config, [StateUpdate({"name": "one*"}, "one")], as_node="__copy__")
    updated = await app.aget_state(new)
    assert (updated.values, updated.next) == ({"name": "start > one*"}, ("two",))
    assert (updated.source, updated.step) == ("update", 2)
    fork = await app.aget_state(updated.parent_config)
    assert (fork.values, fork.next, fork.source, fork.step) == ({"name": "start"}, ("one",), "fork", 1)
    assert fork.parent_config == before_one.parent_config  # a sibling of the checkpoint copied, as LangGraph's
    assert dict(await app.ainvoke(None, new)) == {"name": "start > one* > two"}
    plain = await app.aget_state(await app.aupdate_state(before_one.config, None, as_node="__copy__"))
    assert (plain.values, plain.source, plain.parent_config) == ({"name": "start"}, "fork", before_one.parent_config)


async def test_resuming_call_metadata_goes_on_new_checkpoints(checkpointer: str) -> None:
    g = StateGraph(Log).add_node("a", lambda s: {"log": ["a"]}).add_node("b", lambda s: {"log": ["b"]})
    app = g.add_edge(START, "a").add_edge("a", "b").compile(checkpointer=checkpointer, interrupt_before=["b"])
    await app.ainvoke({"log": []}, {**_cfg("t", user_id="alice", only_first=1), "metadata": {"run": "first"}})
    await app.ainvoke(None, {**_cfg("t", user_id="bob"), "metadata": {"run": "resume"}})
    head = (await app.aget_state(_cfg("t"))).metadata
    assert head is not None and (head["user_id"], head["run"], "only_first" in head) == ("bob", "resume", False)
    assert [s.step for s in await app.aget_state_history(_cfg("t"), filter={"user_id": "bob"})] == [2]
    assert [s.step for s in await app.aget_state_history(_cfg("t"), filter={"user_id": "alice"})] == [1, 0, -1]


class Budget(TypedDict):
    log: Annotated[list[Any], operator.add]
    remaining_steps: RemainingSteps


async def test_answer_reruns_the_asking_node_with_the_resuming_calls_budget(checkpointer: str) -> None:
    def ask(s: Budget) -> dict[str, Any]:
        interrupt("q")
        return {"log": [("ask", s["remaining_steps"])]}

    g = StateGraph(Budget).add_node("a", lambda s: {"log": [("a", s["remaining_steps"])]}).add_node("ask", ask)
    g.add_node("b", lambda s: {"log": [("b", s["remaining_steps"])]})
    app = g.add_edge(START, "a").add_edge("a", "ask").add_edge("ask", "b").compile(checkpointer=checkpointer)
    cfg = {**_cfg(), "recursion_limit": 10}
    await app.ainvoke({"log": []}, cfg)
    out = await app.ainvoke(Command(resume="x"), cfg)
    assert [tuple(x) for x in out["log"]] == [("a", 9), ("ask", 11), ("b", 10)]  # LangGraph's numbers


class Anything(TypedDict):
    x: Any


async def test_input_that_cannot_be_copied_is_refused_at_the_call(checkpointer: str) -> None:
    g = StateGraph(Anything).add_node("n", lambda s: {"x": 1}).add_edge(START, "n").add_edge("n", END)
    app = g.compile(checkpointer=checkpointer)
    for value in (threading.Lock(), (i for i in range(2))):
        with pytest.raises(UsageError, match="the input cannot be stored or copied") as info:
            await app.ainvoke({"x": value}, _cfg("bad"))
        assert info.value.code == "input_not_copyable" and "context=" in str(info.value)
    with pytest.raises(UsageError, match="cannot be stored or copied"):
        await app.ainvoke(Command(update={"x": threading.Lock()}), _cfg("bad"))
    snap = await app.aget_state(_cfg("bad"))
    assert (snap.values, snap.run_id) == ({}, None)  # nothing started on the thread
    assert dict(await app.ainvoke({"x": 0}, _cfg("bad"))) == {"x": 1}  # and it runs with a good input


async def test_bad_thread_id_is_reported_as_the_thread_id_the_user_typed(checkpointer: str) -> None:
    g = StateGraph(Anything).add_node("n", lambda s: {"x": 1}).add_edge(START, "n")
    app = g.compile(checkpointer=checkpointer)
    cases = [
        ("chat\x00", "config['thread_id'] contains a NUL character at position 4"),
        ("user-\udc80", "config['thread_id'] contains a lone surrogate '\\udc80' at position 5"),
        ("t" * 195, "config['thread_id'] is 195 characters long"),
    ]
    for thread_id, says in cases:
        with pytest.raises(UsageError) as info:
            await app.ainvoke({"x": 0}, {"configurable": {"thread_id": thread_id}})
        assert says in str(info.value) and "run_id" not in str(info.value)
        with pytest.raises(UsageError, match=r"config\['thread_id'\]"):  # a thread update_state makes too
            await app.aupdate_state({"configurable": {"thread_id": thread_id}}, {"x": 1})
