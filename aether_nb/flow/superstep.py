"""The tasks of a superstep, made from the task descriptions its checkpoint names.

A description is ``{"node": name}`` (triggered by edges) or ``{"node": name, "send": arg}`` (a Send); each becomes a
:class:`~aether_nb.flow.tasks.Task` with a fresh step key and the step keys of the tasks that led to it. A superstep
going on after a failed or stopped turn also reuses what its tasks did there (``pending``: results kept on its
checkpoint, and the ledger of where they ran, :mod:`aether_nb.flow.ledger`). Every superstep comes here; the usual
one (one task, nothing kept) costs a call and one ``Task``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aether_nb.flow.checkpoint import task_id
from aether_nb.flow.ledger import RAN_KEY, sources_of
from aether_nb.flow.tasks import NO_ARG, Task
from aether_nb.flow.types import GraphRecursionError


def superstep_tasks(
    descs: Sequence[dict[str, Any]],
    pending: Mapping[str, Any],
    sources: Mapping[str, list[str]],
    next_key: Callable[[str], str],
) -> list[Task]:
    """The superstep's tasks in the order of ``descs``: each with its next step key (none for a result reused
    from ``pending``, unless its router failed there) and the step keys that led to it (``sources``: by task
    id, else by node)."""
    if not pending and len(descs) == 1:
        d = descs[0]
        if "send" not in d:  # (its id is its node's name: see checkpoint.task_id)
            node = d["node"]
            tid = node if type(node) is str else str(node)
            found = sources.get(tid)
            return [Task(node, tid, next_key(node), sources=() if found is None else tuple(found))]
    ledger = pending.get(RAN_KEY) or {}  # where a failed or stopped turn ran them
    tasks: list[Task] = []
    for i, d in enumerate(descs):
        tid = task_id(d, i)
        done = pending.get(tid)
        tasks.append(
            Task(
                node=d["node"],
                tid=tid,
                key="" if done is not None and not done.get("unrouted") else next_key(d["node"]),
                arg=d.get("send", NO_ARG),
                sources=tuple(sources[tid] if tid in sources else sources.get(d["node"], ())),
                pending=done,
                ran=sources_of(ledger, tid) if ledger else (),
            )
        )
    return tasks


def out_of_steps(
    graph: str, thread_id: str, run_id: str, limit: int, supersteps: int, path: list[list[str]], tasks: list[Any]
) -> GraphRecursionError:
    """The error of a turn that reached its recursion limit with ``tasks`` still to run (``path``: the nodes each
    superstep ran)."""
    shown = " -> ".join(n[0] if len(n) == 1 else "(" + ", ".join(n) + ")" for n in path)
    then = f", then {[t['node'] for t in tasks]}" if tasks else ""
    return GraphRecursionError(
        f"Recursion limit of {limit} reached without hitting a stop condition: graph {graph!r} on "
        f"thread {thread_id!r} took {supersteps} supersteps (path: {shown or '-'}{then}). Add a condition "
        "that routes to END, or raise the limit with config={'recursion_limit': N}",
        [*path, [t["node"] for t in tasks]] if tasks else path,
        run_id=run_id,
    )
