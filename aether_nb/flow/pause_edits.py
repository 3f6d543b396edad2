"""An edit of a graph's state (``aupdate_state``) while one of its subgraph nodes waits at an ``interrupt()``: the
edit reaches the waiting subgraph's own state too.

Why: in LangGraph such an edit routes the parent again, so the subgraph node is a new task whose subgraph starts
over from the edited state (its question is asked again and the resume answers it). Here the subgraph resumes
from its own checkpoint (nothing it did runs again, see README "Differences"), and its node runs again with the
answer on *its* state: without this, that state still held the values from before the edit, and the subgraph's
output (its whole state, for a subgraph sharing the parent's keys) overwrote the edit when it merged into the
parent. So the edit's writes are merged into the head checkpoint of each subgraph on the path to the waiting
node, as the subgraph's input would have carried them (its input schema's keys, its reducers; the same writes the
parent applied, so messages keep their ids), without routing it again: the waiting node reruns on the edited
state once answered, as a waiting node of the parent itself does. A subgraph started by a ``Send`` is left as
it is (its input is the ``Send``'s argument, not the parent's state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aether_nb.flow.checkpoint import Checkpointer, thread_key
from aether_nb.flow.state import Write
from aether_nb.flow.threads import INPUT, subgraph_at
from aether_nb.flow.types import Interrupt

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph


def edit_waiting_subgraphs(
    root: CompiledGraph,
    cker: Checkpointer,
    thread_id: str,
    ns: str,
    writes: Sequence[Write],
    pauses: Sequence[Interrupt],
    *,
    now: float,
) -> list[str]:
    """Merge ``writes`` (what an edit at namespace ``ns`` applied there) into the state of every subgraph between
    ``ns`` and a node that waits at an ``interrupt()`` (``pauses``). Returns the namespaces written."""
    written: list[str] = []
    prefix = f"{ns.replace('|', '/')}/" if ns else ""
    for pause in pauses:
        if pause.kind != "interrupt" or not pause.node.startswith(prefix):
            continue
        levels = pause.node[len(prefix) :].split("/")[:-1]  # (the last part is the node that asked)
        graph, at, carried = subgraph_at(root, ns), ns, list(writes)
        for part in levels:
            spec = graph.nodes.get(part)  # (a "node:<key>" part, a Send's subgraph, is no node: left as it is)
            sub = spec.subgraph if spec is not None else None
            if sub is None or graph.spec.kind == "root" or sub.spec.kind == "root":
                break
            at = f"{at}|{part}" if at else part
            graph = sub
            keys = sub.spec.input_keys
            carried = [(k, v) for k, v in carried if keys is None or k in keys]
            if not carried:
                break
            if at in written:
                continue
            key = thread_key(thread_id, at)
            head = cker.latest(key)
            if head is None:
                break
            cker.put(
                key,
                replace(
                    head,
                    values=sub.spec.apply(head.values, [(INPUT, list(carried))]),
                    source="update",
                    run_id=head.run_id,
                    created_at=now,
                    parent=head.id,
                    step=head.step + 1,
                    writers=(INPUT,),
                    errors={},
                ),
            )
            written.append(at)
    return written
