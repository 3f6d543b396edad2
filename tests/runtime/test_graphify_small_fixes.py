"""Small things a scratch tester met around static graphs: a documented example that did not build, asyncio noise
from an abandoned body, and a resume message that named the wrong way to resume."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
from typing import Any

import pytest

import aether_nb as ag
import aether_nb.tools
from aether_nb.runtime.session import Session
from aether_nb.runtime.storable import target_missing
from aether_nb.runtime.tools import LOCAL
from aether_nb.store.records import RunRecord
from tests.conftest import arun


def test_the_example_at_the_top_of_aether_nb_tools_builds(session: Session) -> None:
    doc = aether_nb.tools.__doc__ or ""
    block = re.search(r"::\n\n(.*?)\n\n(?=\S)", doc, re.S)
    assert block is not None
    source = "\n".join(line[4:] for line in block.group(1).splitlines())
    namespace: dict[str, Any] = {"ag": ag}
    exec(compile(source, "aether_nb/tools.py docstring", "exec"), namespace)  # (our own docstring)
    graph = namespace["onboard"].build()  # the old example formatted an input into a prompt: a build error
    assert list(graph.nodes) == ["ask_text_1", "ask_approval_1", "welcome_1", "send_text_1"]


def test_an_abandoned_body_that_fails_as_the_loop_stops_makes_no_asyncio_noise() -> None:
    """A sync body given up on (a sibling failed, a timeout, a Stop) that raises just as a script's ``asyncio.run``
    ends printed "Future exception was never retrieved": the loop stopped before the callback that reads the error
    of the loop's copy of the outcome ran. Reproduced step by step: the awaiting task is cancelled, the body fails,
    the loop runs one more turn (the copy takes the error) and stops."""
    release, ended = threading.Event(), threading.Event()

    def body() -> None:
        assert release.wait(10), "the test never released the body"
        raise RuntimeError("late failure")

    submission = LOCAL.submit(body, (), {}, label="late")
    reported: list[str] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, ctx: reported.append(str(ctx.get("message"))))
    try:
        task = loop.create_task(submission.result())
        loop.call_soon(task.cancel)
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
        submission.add_done_callback(ended.set)  # (after the loop's own callback: ended means it was called)
        release.set()
        assert ended.wait(10)  # the body failed; its outcome is on its way to the loop
        loop.call_soon(loop.stop)
        loop.run_forever()  # one turn: the outcome arrives, nothing reads it afterwards
    finally:
        loop.close()
    assert submission.outcome()[0] is False  # the body's own outcome is kept (the run reports it)
    del task, submission  # (the body's future holds the loop's copy until it goes)
    gc.collect()  # an unread error reports itself when its future is collected
    assert not [m for m in reported if "never retrieved" in m], reported


def test_resuming_a_run_started_from_a_loaded_graph_says_to_call_ag_run_again() -> None:
    record = RunRecord(
        run_id="r6run",
        graph="from_json_graph",
        status="waiting",
        inputs={"x": 5},
        inputs_fingerprint="",
        created_at=0.0,
        updated_at=0.0,
        kind="graphify",
        meta={"started_from": "taskgraph"},
    )
    message = str(target_missing(record))
    assert "await ag.run(graph, <the same inputs>, run_id='r6run')" in message
    assert "TaskGraph.from_json" in message


def test_a_run_started_with_ag_run_records_where_it_came_from(session: Session) -> None:
    @ag.graphify(name="sf_plain", inputs=["x"], outputs=["v"])
    def sf_plain(x):  # type: ignore[no-untyped-def]
        return {"v": sf_double(x=x).y}

    graph = ag.TaskGraph.from_json(sf_plain.build().dumps())
    assert arun(ag.run(graph, {"x": 2}, run_id="sf")) == {"v": 4}
    record = session.store.get_run("sf")
    assert record is not None and target_missing(record).code == "target_missing"
    assert "ag.run(graph" in str(target_missing(record))


@ag.tool(outputs=["y"])
def sf_double(x: int) -> dict[str, int]:
    return {"y": 2 * x}
