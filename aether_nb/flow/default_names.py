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
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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
    compiled graph that holds them).

    The store's runs are scanned once per graph (:func:`_runs_elsewhere`), not at every ``get_state`` of a thread
    the graph does not hold (a loop asking for new threads paid a scan of every run each time); only the runs
    found for this thread are read again, for whether one waits now."""
    cker = graph.checkpointer
    if not has_default_name(graph) or not isinstance(cker, StoreCheckpointer):
        return []
    store = graph.session.store
    found: dict[str, bool] = {}
    for name, run_ids in _runs_elsewhere(graph).get(thread_id, {}).items():
        records = [store.get_run(run_id) for run_id in run_ids]
        found[name] = any(r is not None and r.status == "waiting" for r in records)
    return [
        (name, waits)
        for name, waits in found.items()
        if StoreCheckpointer(cker.store, name).latest_id(thread_id) is not None
    ]


_SCANS: weakref.WeakKeyDictionary[Any, tuple[Any, int, dict[str, dict[str, list[str]]]]] = weakref.WeakKeyDictionary()
"""graph -> (its session, the count of runs started under other names when scanned, thread -> name -> run ids)."""

_STARTED: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
"""session -> graph name -> how many runs this process started under it since the session was first asked."""


def _started_under(session: Any) -> dict[str, int]:
    """The runs this process starts, counted per graph name (a session observer, added once per session)."""
    counts = _STARTED.get(session)
    if counts is None:
        counts = _STARTED[session] = {}

        def observe(run: Any, counts: dict[str, int] = counts) -> None:
            name = str(getattr(run, "graph_name", ""))
            counts[name] = counts.get(name, 0) + 1

        session.run_observers.append(observe)
    return counts


def _runs_elsewhere(graph: CompiledGraph) -> dict[str, dict[str, list[str]]]:
    """Per thread, the runs of other default names of ``graph``'s schema (newest first), from one scan of the
    store's runs; scanned again only when this process has started a run under such a name since."""
    session = graph.session
    pattern = re.compile(re.escape(graph.spec.name) + f"_[0-9a-f]{{{HASH_CHARS}}}")
    counts = _started_under(session)
    stamp = sum(n for name, n in counts.items() if name != graph.name and pattern.fullmatch(name))
    cached = _SCANS.get(graph)
    if cached is not None and cached[0] is session and cached[1] == stamp:
        return cached[2]
    by_thread: dict[str, dict[str, list[str]]] = {}
    for run in session.store.list_runs():
        meta = run.meta if isinstance(run.meta, dict) else {}
        thread = meta.get("thread_id")
        if run.kind != "state_graph" or not isinstance(thread, str) or run.graph == graph.name:
            continue
        if pattern.fullmatch(run.graph):
            by_thread.setdefault(thread, {}).setdefault(run.graph, []).append(run.run_id)
    _SCANS[graph] = (session, stamp, by_thread)
    return by_thread


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
    state = f"waits at {_pause_of(graph, name, thread_id)}" if waits else "is kept"
    others = f" (and under {[n for n, _ in names if n != name]})" if len(names) > 1 else ""
    return (
        f"; it {state} under {shown(name)}{others}, the default name of a graph of {graph.spec.name} with other "
        "nodes (this graph before a node was added, renamed or removed? A graph compiled without name= is named "
        f"<State>_<hash of its node names>, and this one is {shown(graph.name)}). To go on with that thread, "
        f"compile with that name: compile(name={name!r}) or StateGraph({graph.spec.name}, name={name!r}); a "
        "pending question is then answered and the new nodes run, as in LangGraph. Give a graph whose threads "
        "you keep a fixed name="
    )


def _pause_of(graph: CompiledGraph, name: str, thread_id: str) -> str:
    """What the thread waits at under ``name``: ``interrupt()``, or a breakpoint (``interrupt_before``/``after``,
    which ``invoke(None, config)`` goes on from)."""
    store = graph.session.store
    for run_id in _runs_elsewhere(graph).get(thread_id, {}).get(name, []):
        kinds = {w.meta.get("flow") for w in store.list_waits(run_id) if isinstance(w.meta, dict)}
        if "interrupt" in kinds:
            return "interrupt()"
        if kinds & {"before", "after"}:
            return "a breakpoint"
    return "interrupt()"


def warn_if_moved(graph: CompiledGraph, thread_id: str) -> None:
    """Warn that a thread ``graph`` does not hold (its ``get_state`` is empty) waits at ``interrupt()`` under
    another default name of its schema (see :func:`moved_hint`); silent for threads that ended there, which a
    second graph of the same schema may well share an id with."""
    hint = moved_hint(graph, thread_id, waiting_only=True)
    if hint:
        warnings.warn(f"graph {shown(graph.name)} has no thread {shown(thread_id)}{hint}", UserWarning, stacklevel=4)
