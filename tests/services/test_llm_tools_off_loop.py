"""``LLM.run_tools`` outside a run: a sync ``@tool`` body runs off the event loop (as a run's does), under the
session's cap, and its result or error reaches the model as a run's call's does. Against FakeOpenAI."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.services.llm import LLM, configure_llm
from aether_nb.services.llm_config import LLMProfile
from aether_nb.testing import FakeOpenAI
from tests.conftest import arun


def call_then_echo(*calls: tuple[str, dict[str, Any]]) -> Any:
    """A model that asks for ``calls`` in its first turn, then answers with the tools' messages joined."""

    def rules(body: dict[str, Any]) -> Any:
        if body["messages"][-1]["role"] == "user":
            return {"tool_calls": [{"name": n, "arguments": a} for n, a in calls]}
        return " | ".join(m["content"] for m in body["messages"] if m["role"] == "tool")

    return rules


def test_a_sync_tool_outside_a_run_runs_off_the_loop_while_another_task_goes_on(session: Session) -> None:
    released = threading.Event()
    where: dict[str, int] = {}

    @ag.tool(outputs=["released"])
    def wait_for_release(x: int) -> dict[str, Any]:
        """Wait until another task releases it."""
        where["body"] = threading.get_ident()
        return {"released": released.wait(5)}  # (on the loop, the releasing task never ran: False after 5 s)

    async def main() -> str:
        where["loop"] = threading.get_ident()

        async def release() -> None:  # another task of the same loop: it must run while the body waits
            while "body" not in where:
                await asyncio.sleep(0.005)
            released.set()

        releaser = asyncio.create_task(release())
        result = await LLM(LLMProfile(base_url=fake.base_url, model="m")).run_tools("go", tools=[wait_for_release])
        await releaser
        return result.text

    with FakeOpenAI(rules=call_then_echo(("wait_for_release", {"x": 1}))) as fake:
        text = arun(main())
    assert text == '{"released": true}'
    assert where["body"] != where["loop"]


def test_a_sync_tools_error_outside_a_run_goes_back_to_the_model_as_in_a_run(session: Session) -> None:
    @ag.tool(outputs=["y"])
    def broken(x: int) -> dict[str, Any]:
        """Fail."""
        raise ValueError(f"no {x}")

    @ag.tool(outputs=["y", "z"])
    def short(x: int) -> dict[str, Any]:
        """Return one output of two."""
        return {"y": x}

    @ag.graph_fn(outputs=["text"])
    async def agent(*, context: ag.NodeContext) -> dict[str, Any]:
        return {"text": (await context.llm().run_tools("go", tools=[broken, short])).text}

    rules = call_then_echo(("broken", {"x": 1}), ("short", {"x": 2}))
    with FakeOpenAI(rules=rules) as fake:
        configure_llm(session, {"base_url": fake.base_url, "model": "m"})
        outside = arun(LLM(LLMProfile(base_url=fake.base_url, model="m")).run_tools("go", tools=[broken, short]))
        inside = arun(agent())["text"]
    assert outside.text == inside
    assert outside.text.startswith("Error: the tool raised ValueError: no 1 | Error: the tool raised UsageError: ")


def overlap_probe() -> tuple[Any, dict[str, int]]:
    """A sync tool that sleeps 0.3 s and counts how many of its bodies ran at once (``seen["most"]``)."""
    lock, seen = threading.Lock(), {"now": 0, "most": 0}

    @ag.tool(outputs=["done"])
    def slow(n: int) -> dict[str, Any]:
        """Work for a while."""
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.3)
        with lock:
            seen["now"] -= 1
        return {"done": n}

    return slow, seen


@pytest.mark.parametrize(("cap", "most"), [(None, 3), (1, 1)])
def test_one_turns_sync_calls_outside_a_run_run_concurrently_under_the_sessions_cap(
    session: Session, cap: int | None, most: int
) -> None:
    if cap is not None:
        ag.configure(max_concurrency=cap)
    slow, seen = overlap_probe()
    with FakeOpenAI(rules=call_then_echo(*(("slow", {"n": n}) for n in range(3)))) as fake:
        result = arun(LLM(LLMProfile(base_url=fake.base_url, model="m")).run_tools("go", tools=[slow]))
    assert result.text == '{"done": 0} | {"done": 1} | {"done": 2}'
    assert seen["most"] == most


def test_a_sync_body_given_up_on_outside_a_run_keeps_its_slot_until_it_returns(session: Session) -> None:
    ag.configure(max_concurrency=1)
    release, times = threading.Event(), {}

    @ag.tool(outputs=["ok"])
    def stuck(x: int) -> dict[str, Any]:
        """Block until released."""
        released = release.wait(5)
        times["stuck_ended"] = time.monotonic()
        return {"ok": released}

    @ag.tool(outputs=["ok"])
    def quick(x: int) -> dict[str, Any]:
        """Return at once."""
        times["quick_started"] = time.monotonic()
        return {"ok": True}

    async def main() -> str:
        llm = LLM(LLMProfile(base_url=fake.base_url, model="m"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(llm.run_tools("stuck", tools=[stuck]), 1.0)
        asyncio.get_running_loop().call_later(0.3, release.set)
        return (await llm.run_tools("quick", tools=[quick])).text

    def rules(body: dict[str, Any]) -> Any:
        last = body["messages"][-1]
        if last["role"] == "user":
            return {"tool_calls": [{"name": last["content"], "arguments": {"x": 1}}]}
        return last["content"]

    with FakeOpenAI(rules=rules) as fake:
        assert arun(main()) == '{"ok": true}'
    assert times["quick_started"] >= times["stuck_ended"]  # the cap of 1 held the abandoned body's slot
