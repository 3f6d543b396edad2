"""Where a sync body ran reaches its DAG node (the inspector shows it), in the live run and in one rebuilt from the
store; bodies in the kernel's own threads say nothing."""

from __future__ import annotations

import aether_nb as ag
from aether_nb.notebook import protocol as proto
from aether_nb.runtime.events import Event, NodeFinished
from aether_nb.runtime.graph import RunGraph
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def twice(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@ag.graph_fn(name="where_demo", outputs=["y"])
async def where_demo(x: int) -> dict[str, int]:
    return {"y": (await twice(x))["y"]}


def test_a_body_run_by_an_executor_names_it_on_its_node_and_kernel_threads_do_not(session: Session) -> None:
    pool = ag.ThreadExecutor(max_workers=1)  # an executor of the run (not the kernel's default threads)
    try:

        async def main() -> tuple[ag.Run, ag.Run]:
            elsewhere = where_demo.start(x=2, executor=pool)
            await elsewhere
            local = where_demo.start(x=3)
            await local
            return elsewhere, local

        elsewhere, local = arun(main())
    finally:
        pool.shutdown()
    assert elsewhere.graph.node("twice_1").where == "thread"
    assert local.graph.node("twice_1").where is None
    session.flush()
    rebuilt = Session(session.store).get_run(elsewhere.id).graph  # as after a restart: folded from stored events
    assert rebuilt.node("twice_1").where == "thread"
    assert rebuilt.to_dict()["nodes"][0]["where"] == "thread"  # type: ignore[index,call-overload]


def test_the_event_keeps_where_through_json_and_the_slim_graph_carries_it_only_when_set() -> None:
    event = NodeFinished(run_id="r", seq=1, ts=0.0, node_id="n", status="DONE", where="tcp://127.0.0.1:1")
    assert Event.from_json(event.to_json()) == event
    graph = RunGraph("r")
    node = {"id": "a", "name": "t", "kind": "tool", "status": "DONE", "where": "tcp://127.0.0.1:1"}
    assert proto.slim_node(node)["where"] == "tcp://127.0.0.1:1"
    assert "where" not in proto.slim_node({**node, "where": None})
    assert graph.to_dict()["nodes"] == []
