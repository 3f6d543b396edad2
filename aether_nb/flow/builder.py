"""StateGraph: the declarative builder (nodes, edges, conditional edges) and its validation at ``compile()``.

Every outgoing edge is followed: several edges out of a node run their targets concurrently in the next
superstep, and targets reached from several nodes of one superstep run once (a join). ``compile()`` checks the
whole graph and reports every problem it finds in one :class:`~aether_nb.flow.types.GraphBuildError`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.flow.nodes import NodeSpec
from aether_nb.flow.state import StateSpec
from aether_nb.flow.types import END, START, GraphBuildError
from aether_nb.runtime.codec import fingerprint

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpointer
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.runtime.session import Session


@dataclass(frozen=True)
class Branch:
    """A conditional edge: ``router(state)`` names the next node(s), mapped through ``path_map`` when given."""

    source: str
    router: Callable[..., Any]
    path_map: dict[Hashable, str] | None
    router_name: str


class StateGraph:
    """Build a graph of nodes over a shared state, then :meth:`compile` it.

    Args:
        state_schema: a TypedDict, dataclass or pydantic model (``AgentState`` for a chat agent), or None for a
            free-form dict.
        name: the graph's name: its runs are ``<name>-<thread>-<turn>`` and its checkpoints live under it in the
            notebook's store. Default: derived from the schema and the node names.
    """

    def __init__(self, state_schema: Any = None, *, name: str | None = None) -> None:
        self.spec = StateSpec(state_schema)
        self.state_schema = state_schema
        self.name = name
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.branches: list[Branch] = []

    def __repr__(self) -> str:
        return f"StateGraph({self.spec.name}, nodes={list(self.nodes)})"

    # -- building -------------------------------------------------------------------------------------------------
    def add_node(
        self, node: str | Callable[..., Any], action: Any = None, *, destinations: Sequence[str] | None = None
    ) -> StateGraph:
        """``add_node("plan", plan)`` or ``add_node(plan)`` (named after the function).

        ``destinations`` lists the nodes a ``Command(goto=...)`` from this node may go to (used by the
        reachability check; a node whose return annotation mentions ``Command`` may go anywhere).
        """
        if action is None:
            if isinstance(node, str):
                raise UsageError(f"add_node({node!r}) needs the node's function: add_node({node!r}, fn)")
            action, name = node, getattr(node, "__name__", None)
            if not isinstance(name, str):
                raise UsageError(f"cannot infer a name for {node!r}: use add_node('name', fn)")
        else:
            if not isinstance(node, str):
                raise UsageError(f"add_node(name, fn): the name must be a string, got {type(node).__name__}")
            name = node
        if not name or "/" in name or name in (START, END):
            raise UsageError(f"node name {name!r} is not allowed: use a non-empty name without '/', not START/END")
        if name in self.nodes:
            raise UsageError(f"a node named {name!r} already exists; node names are unique")
        self.nodes[name] = NodeSpec(name, action, destinations)
        return self

    def add_edge(self, start: str, end: str) -> StateGraph:
        """An edge: after ``start`` runs, ``end`` runs (every edge is followed; several run concurrently)."""
        for x in (start, end):
            if not isinstance(x, str):
                raise UsageError(f"add_edge takes node names, got {x!r}")
        if start == END or end == START:
            raise UsageError(f"add_edge({start!r}, {end!r}): nothing leaves END and nothing enters START")
        if (start, end) not in self.edges:
            self.edges.append((start, end))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any],
        path_map: Mapping[Hashable, str] | Sequence[str] | None = None,
    ) -> StateGraph:
        """After ``source``, call ``path(state)`` (or ``path(state, config)``) once; its result — a key of
        ``path_map``, or a node name / END, or a list of them — says which node(s) run next."""
        if not callable(path):
            raise UsageError(f"add_conditional_edges({source!r}, path): path must be a function")
        mapping: dict[Hashable, str] | None
        if path_map is None:
            mapping = None
        elif isinstance(path_map, Mapping):
            mapping = dict(path_map)
        else:
            mapping = {n: n for n in path_map}
        name = getattr(path, "__name__", type(path).__name__)
        self.branches.append(Branch(source, path, mapping, name))
        return self

    def set_entry_point(self, node: str) -> StateGraph:
        """Same as ``add_edge(START, node)``."""
        return self.add_edge(START, node)

    def set_conditional_entry_point(
        self, path: Callable[..., Any], path_map: Mapping[Hashable, str] | Sequence[str] | None = None
    ) -> StateGraph:
        """Route from START with a function, like :meth:`add_conditional_edges`."""
        return self.add_conditional_edges(START, path, path_map)

    def set_finish_point(self, node: str) -> StateGraph:
        """Same as ``add_edge(node, END)``."""
        return self.add_edge(node, END)

    # -- validation ---------------------------------------------------------------------------------------------
    def validate(
        self,
        *,
        interrupt_before: Iterable[str] = (),
        interrupt_after: Iterable[str] = (),
        services: Iterable[str] = (),
    ) -> list[str]:
        """Every problem with the graph (an empty list when it is fine)."""
        problems: list[str] = []
        known = set(self.nodes)
        if not self.nodes:
            problems.append("the graph has no nodes: add_node(name, fn)")
        has_entry = any(s == START for s, _ in self.edges) or any(b.source == START for b in self.branches)
        if not has_entry:
            problems.append("no entry point: add_edge(START, <first node>) or set_entry_point(<first node>)")
        for s, e in self.edges:
            for x, role in ((s, "from"), (e, "to")):
                if x not in known and x not in (START, END):
                    problems.append(f"edge {s!r} -> {e!r}: unknown node {x!r} ({role}); nodes: {sorted(known)}")
        for b in self.branches:
            if b.source not in known and b.source != START:
                problems.append(f"conditional edge from unknown node {b.source!r}; nodes: {sorted(known)}")
            for key, target in (b.path_map or {}).items():
                if target not in known and target != END:
                    problems.append(
                        f"conditional edge from {b.source!r}: path_map[{key!r}] = {target!r} is not a node; "
                        f"nodes: {sorted(known)} or END"
                    )
        for option, names in (("interrupt_before", interrupt_before), ("interrupt_after", interrupt_after)):
            for n in names:
                if n not in known:
                    problems.append(f"{option}: unknown node {n!r}; nodes: {sorted(known)}")
        for node in self.nodes.values():
            for dest in node.destinations or ():
                if dest not in known and dest != END:
                    problems.append(f"node {node.name!r}: destination {dest!r} is not a node")
            for missing in node.missing_services(services):
                problems.append(
                    f"node {node.name!r} asks for {missing!r}, which is neither state, config, context nor a "
                    f"service; pass compile(services={{{missing!r}: ...}}) or give the parameter a default"
                )
        if has_entry:
            unreachable = sorted(known - self._reachable())
            for n in unreachable:
                problems.append(
                    f"node {n!r} is unreachable from START: add an edge into it, or declare it as a Command "
                    f"target with add_node(..., destinations=[{n!r}])"
                )
        return problems

    def _reachable(self) -> set[str]:
        out: dict[str, set[str]] = {}
        everything = set(self.nodes)
        for s, e in self.edges:
            out.setdefault(s, set()).add(e)
        for b in self.branches:
            out.setdefault(b.source, set()).update(everything if b.path_map is None else set(b.path_map.values()))
        for node in self.nodes.values():
            if node.destinations is not None:
                out.setdefault(node.name, set()).update(node.destinations)
            elif node.may_command:
                out.setdefault(node.name, set()).update(everything)
        seen: set[str] = set()
        stack = [START]
        while stack:
            n = stack.pop()
            for m in out.get(n, ()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen & everything

    def default_name(self) -> str:
        """``<schema>_<hash of the node names>``: stable while the graph keeps its nodes."""
        return f"{self.spec.name}_{fingerprint(sorted(self.nodes))[:6]}"

    def compile(
        self,
        checkpointer: Checkpointer | str | None = "duckdb",
        *,
        interrupt_before: Sequence[str] | None = None,
        interrupt_after: Sequence[str] | None = None,
        recursion_limit: int = 25,
        name: str | None = None,
        services: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> CompiledGraph:
        """Check the graph and return the runnable :class:`~aether_nb.flow.compiled.CompiledGraph`.

        Args:
            checkpointer: ``"duckdb"`` (default; also ``"store"``): the session's store — the notebook's DuckDB
                file, keeping every checkpoint of every thread; ``"memory"``: this process only; or a
                :class:`~aether_nb.flow.checkpoint.Checkpointer`.
            interrupt_before: pause before these nodes run (continue with any ``ainvoke`` on the thread).
            interrupt_after: pause after these nodes ran.
            recursion_limit: the most supersteps one turn may take (per-call override: ``config``).
            name: overrides the graph's name.
            services: objects injected by parameter name into the nodes of this compiled graph only.
            session: the aether_nb session to run in (default: the notebook's).

        Raises:
            GraphBuildError: listing every problem found.
        """
        from aether_nb.flow.compiled import CompiledGraph

        before, after = list(interrupt_before or ()), list(interrupt_after or ())
        svc = dict(services or {})
        known_services = set(svc)
        try:
            from aether_nb.runtime.session import default_session

            known_services |= set((session or default_session()).services)
        except Exception:  # no session can be built here: services are checked when nodes run
            known_services |= {n for node in self.nodes.values() for n in node.missing_services(())}
        problems = self.validate(interrupt_before=before, interrupt_after=after, services=known_services)
        if isinstance(recursion_limit, bool) or not isinstance(recursion_limit, int) or recursion_limit < 1:
            problems.append(f"recursion_limit must be a positive integer, got {recursion_limit!r}")
        if problems:
            raise GraphBuildError(problems)
        graph_name = name or self.name or self.default_name()
        if "/" in graph_name or not graph_name:
            raise GraphBuildError([f"name {graph_name!r}: use a non-empty name without '/'"])
        return CompiledGraph(
            self,
            name=graph_name,
            checkpointer=checkpointer,
            interrupt_before=before,
            interrupt_after=after,
            recursion_limit=recursion_limit,
            services=svc,
            session=session,
        )
