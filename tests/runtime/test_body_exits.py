"""A sync tool body that raises ``SystemExit`` (``sys.exit()``, argparse rejecting its arguments) or
``KeyboardInterrupt`` in the kernel's threads fails its step like any tool error: the run fails with ``RunFailed``
naming the tool, and the event loop (the kernel's, running every run) goes on.

asyncio lets both through every task to stop the loop: ``await run`` raised a bare ``CancelledError`` for the first,
and the second ended the program.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.session import Session


@ag.tool(outputs=["v"])
def cli(x: int) -> dict[str, Any]:
    import argparse

    argparse.ArgumentParser(prog="cli").parse_args(["--bad"])  # sys.exit(2)
    return {"v": x}


@ag.tool(outputs=["v"])
def interrupted(x: int) -> dict[str, Any]:
    raise KeyboardInterrupt


@ag.tool(outputs=["v"])
def fine(x: int) -> dict[str, Any]:
    return {"v": x + 1}


@ag.graph_fn(outputs=["v"])
async def uses_cli(x: int) -> dict[str, Any]:
    return {"v": (await cli(x))["v"]}


@ag.graph_fn(outputs=["v"])
async def uses_interrupted(x: int) -> dict[str, Any]:
    return {"v": (await interrupted(x))["v"]}


@ag.graph_fn(outputs=["v"])
async def uses_fine(x: int) -> dict[str, Any]:
    return {"v": (await fine(x))["v"]}


@ag.graphify(name="exits_in_a_graph", inputs=["x"], outputs=["a", "b"])
def exits_in_a_graph(x):  # type: ignore[no-untyped-def]
    return {"a": fine(x=x).v, "b": cli(x=x).v}


def loop_survives(coro: Any) -> Any:
    """Run ``coro`` on a fresh loop; a SystemExit or KeyboardInterrupt escaping the loop is this test's failure
    (not pytest's own stop)."""
    try:
        return asyncio.run(asyncio.wait_for(coro, 20))
    except (SystemExit, KeyboardInterrupt) as exc:
        pytest.fail(f"a tool body's {type(exc).__name__} escaped the event loop")


@pytest.mark.parametrize(
    ("agent", "tool", "raised"),
    [(uses_cli, "cli", SystemExit), (uses_interrupted, "interrupted", KeyboardInterrupt)],
    ids=["SystemExit", "KeyboardInterrupt"],
)
def test_a_body_that_exits_fails_its_step_and_the_loop_goes_on(
    session: Session, agent: Any, tool: str, raised: type[BaseException]
) -> None:
    async def main() -> tuple[BaseException, ag.Run, dict[str, Any]]:
        run = agent.start(x=1)
        try:
            await run
        except BaseException as exc:  # (what it raises is the point of the test)
            error: BaseException = exc
        else:
            pytest.fail("the run succeeded")
        after = await uses_fine.start(x=1)  # the same loop runs the next run
        return error, run, after

    error, run, after = loop_survives(main())
    assert isinstance(error, ag.RunFailed), repr(error)
    assert f"{tool}_1" in str(error) and run.status == "failed"
    cause = error.__cause__
    assert isinstance(cause, ag.RunError) and cause.code == "body_exit"
    assert f"tool {tool}: its body raised {raised.__name__}" in str(cause) and "catch SystemExit" in str(cause)
    assert isinstance(cause.__cause__, raised)  # the body's own exception, with its traceback
    node = run.graph.node(f"{tool}_1")
    assert node.status == "FAILED" and node.error is not None
    assert node.error["type"] == "aether_nb.errors.RunError" and f"{raised.__name__}" in node.error["message"]
    assert after == {"v": 2}


def test_sys_exit_keeps_its_code_and_a_graph_node_fails_alone(session: Session) -> None:
    async def main() -> tuple[BaseException, ag.Run]:
        run = exits_in_a_graph.start(x=3, stop_on_first_error=False)
        with pytest.raises(ag.RunFailed) as caught:
            await run
        return caught.value, run

    error, run = loop_survives(main())
    cause = error.__cause__
    assert isinstance(cause, ag.RunError) and isinstance(cause.__cause__, SystemExit)
    assert cause.__cause__.code == 2 and "SystemExit(2)" in str(cause)
    assert {n.id: n.status for n in run.graph.nodes} == {"fine_1": "DONE", "cli_1": "FAILED"}


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt])
def test_a_state_graph_sync_node_that_exits_fails_and_the_loop_goes_on(raised: type[BaseException]) -> None:
    """A sync StateGraph node runs in a worker thread too: its SystemExit stopped the event loop."""
    from typing import TypedDict

    from aether_nb.flow import END, START, StateGraph

    class S(TypedDict):
        x: int

    def exits(state: S) -> dict[str, Any]:
        raise raised(2)

    builder = StateGraph(S)
    builder.add_node("exits", exits)
    builder.add_edge(START, "exits")
    builder.add_edge("exits", END)
    app = builder.compile(checkpointer="memory")

    async def main() -> BaseException:
        try:
            await app.ainvoke({"x": 1}, {"configurable": {"thread_id": f"exit-{raised.__name__}"}})
        except BaseException as exc:  # (what it raises is the point of the test)
            return exc
        pytest.fail("the graph succeeded")

    error = loop_survives(main())
    assert isinstance(error, ag.RunError) and error.code == "body_exit", repr(error)
    assert "node 'exits': its body raised" in str(error) and isinstance(error.__cause__, raised)


class InlineSubmission:
    """A Submission that ran its body at once, and hands back whatever it raised as it is (a user's executor)."""

    where: str | None = "inline"

    def __init__(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except BaseException as exc:  # (handed back as it is: the point of this executor)
            self._outcome = (False, exc)

    async def result(self) -> Any:
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def cancel(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def add_done_callback(self, callback: Any) -> None:
        callback()

    def outcome(self) -> tuple[bool, Any]:
        return self._outcome


class InlineExecutor:
    name = "inline"

    def submit(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, label: str) -> InlineSubmission:
        return InlineSubmission(fn, args, kwargs)


def test_a_users_executor_that_hands_back_a_system_exit_fails_the_step(session: Session) -> None:
    @ag.tool(outputs=["v"], executor=InlineExecutor())
    def exits_inline(x: int) -> dict[str, Any]:
        raise SystemExit(3)

    @ag.graph_fn(outputs=["v"])
    async def uses_inline(x: int) -> dict[str, Any]:
        return {"v": (await exits_inline(x))["v"]}

    async def main() -> BaseException:
        with pytest.raises(ag.RunFailed) as caught:
            await uses_inline.start(x=1)
        return caught.value

    error = loop_survives(main())
    cause = error.__cause__
    assert isinstance(cause, ag.RunError) and cause.code == "body_exit" and isinstance(cause.__cause__, SystemExit)
