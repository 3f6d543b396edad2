"""A state graph's default name, and where a thread went when that name changed.

A graph compiled without ``name=`` is named ``<State>_<hash of its node names>``: the name scopes the graph's
checkpoints (and its runs) in the notebook's store, and the hash keeps two different graphs over one state schema
(a notebook's first agent and its second, both on ``MessagesState``, both with thread ``"1"``) from sharing threads.
The price: a node added (or renamed, or removed) gives the graph a new name, so the threads of the graph it was
(one paused at ``interrupt()`` included) are no longer its own. They are still in the store under the earlier name;
:func:`moved_hint` finds them there so the call that comes up empty says where the thread is and how to go on with
it (``compile(name=<earlier name>)``), rather than reporting a thread that does not exist.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aether_nb.errors import shown
from aether_nb.flow.checkpoint import StoreCheckpointer
from aether_nb.runtime.codec import fingerprint

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

HASH_CHARS = 6
"""Hex digits of the node names' fingerprint in a default name."""


def default_name(schema_name: str, nodes: Iterable[str]) -> str:
    """``<schema>_<hash of the node names>``: stable while the graph keeps its nodes (in any order)."""
    return f"{schema_name}_{fingerprint(sorted(nodes))[:HASH_CHARS]}"


def has_default_name(graph: CompiledGraph) -> bool:
    """Whether ``graph`` carries the name its schema and nodes give it (no ``name=`` chose another)."""
    return graph.name == default_name(graph.spec.name, graph.nodes)


def earlier_names(graph: CompiledGraph, thread_id: str) -> list[tuple[str, bool]]:
    """The other default names of ``graph``'s schema under which the notebook's store holds thread ``thread_id``,
    newest first, each with whether that thread waits there (a run of it is paused): empty unless ``graph`` has
    its default name and keeps its checkpoints in the store (a ``"memory"`` checkpointer's threads end with the
    compiled graph that holds them)."""
    cker = graph.checkpointer
    if not has_default_name(graph) or not isinstance(cker, StoreCheckpointer):
        return []
    pattern = re.compile(re.escape(graph.spec.name) + f"_[0-9a-f]{{{HASH_CHARS}}}")
    found: dict[str, bool] = {}
    for run in graph.session.store.list_runs():
        meta = run.meta if isinstance(run.meta, dict) else {}
        if (
            run.kind != "state_graph"
            or meta.get("thread_id") != thread_id
            or run.graph == graph.name
            or not pattern.fullmatch(run.graph)
        ):
            continue
        found[run.graph] = found.get(run.graph, False) or run.status == "waiting"
    return [
        (name, waits)
        for name, waits in found.items()
        if StoreCheckpointer(cker.store, name).latest_id(thread_id) is not None
    ]


def moved_hint(graph: CompiledGraph, thread_id: str, *, waiting_only: bool = False) -> str:
    """A clause for a message about a thread ``graph`` does not hold: that it is kept under another default name
    of the graph's schema (most likely this graph's before its nodes changed), and the ``name=`` that goes on with
    it; empty when it is nowhere else (or, ``waiting_only``, waits nowhere else)."""
    names = earlier_names(graph, thread_id)
    if waiting_only:
        names = [(n, w) for n, w in names if w]
    if not names:
        return ""
    name, waits = next(((n, w) for n, w in names if w), names[0])
    state = "waits at interrupt()" if waits else "is kept"
    others = f" (and under {[n for n, _ in names if n != name]})" if len(names) > 1 else ""
    return (
        f"; it {state} under {shown(name)}{others}, the default name of a graph of {graph.spec.name} with other "
        "nodes (this graph before a node was added, renamed or removed? A graph compiled without name= is named "
        f"<State>_<hash of its node names>, and this one is {shown(graph.name)}). To go on with that thread, "
        f"compile with that name: compile(name={name!r}) or StateGraph({graph.spec.name}, name={name!r}); a "
        "pending question is then answered and the new nodes run, as in LangGraph. Give a graph whose threads "
        "you keep a fixed name="
    )


def warn_if_moved(graph: CompiledGraph, thread_id: str) -> None:
    """Warn that a thread ``graph`` does not hold (its ``get_state`` is empty) waits at ``interrupt()`` under
    another default name of its schema (see :func:`moved_hint`); silent for threads that ended there, which a
    second graph of the same schema may well share an id with."""
    hint = moved_hint(graph, thread_id, waiting_only=True)
    if hint:
        warnings.warn(f"graph {shown(graph.name)} has no thread {shown(thread_id)}{hint}", UserWarning, stacklevel=4)
