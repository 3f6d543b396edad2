"""StateGraph: the declarative builder (nodes, edges, waiting edges, conditional edges, sequences) and its
validation at ``compile()``.

Every outgoing edge is followed: several edges out of a node run their targets concurrently in the next
superstep. ``add_edge(["a", "b"], "join")`` waits for both. ``compile()`` checks the whole graph and reports every
problem it finds in one :class:`~aether_nb.flow.types.GraphBuildError`.
"""

from __future__ import annotations

import enum
import inspect
import itertools
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.cache import CachePolicy, InMemoryCache
from aether_nb.flow.context import check_context_schema
from aether_nb.flow.default_names import default_name
from aether_nb.flow.describe import builder_bundle
from aether_nb.flow.error_handlers import handler_node_names
from aether_nb.flow.nodes import NodeSpec
from aether_nb.flow.options import graph_name, interrupt_names, plain_name, services_of, timeout_seconds
from aether_nb.flow.printing import mark_debug
from aether_nb.flow.retry import AnyRetryPolicy, node_policies
from aether_nb.flow.routing import Branch, Topology, literal_destinations
from aether_nb.flow.state import ROOT, StateSpec, schema_kind
from aether_nb.flow.types import (
    DEFAULT_RECURSION_LIMIT,
    END,
    START,
    GraphBuildError,
    GraphDefinitionError,
    InvalidUpdate,
)
from aether_nb.runtime.checks import check_no_secret, check_text

if TYPE_CHECKING:
    from aether_nb.flow.checkpoint import Checkpointer
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.runtime.session import Session

_UNSET: Any = object()


def _caller_frames(depth: int = 4) -> list[Mapping[str, Any]]:
    """The locals of the code that builds the graph (where a state class's annotation names may live)."""
    frames: list[Mapping[str, Any]] = []
    frame = inspect.currentframe()
    try:
        f = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
        while f is not None and len(frames) < depth:
            frames.append(dict(f.f_locals))
            f = f.f_back
    finally:
        del frame
    return frames


class StateGraph:
    """Build a graph of nodes over a shared state, then :meth:`compile` it.

    Args:
        state_schema: a TypedDict, dataclass or pydantic model (``AgentState``/``MessagesState`` for a chat
            agent), or None for a free-form dict.
        context_schema: the type of the per-call ``context=`` (LangGraph >= 0.6): a dataclass, pydantic model or
            TypedDict; a dict given as ``context=`` is coerced to it. Nodes read it as ``runtime.context``
            (a ``runtime`` parameter, or :func:`~aether_nb.flow.get_runtime`). Never stored (see the README).
        input_schema: the keys an input may carry (default: the state's).
        output_schema: the keys ``ainvoke`` returns (default: the state's).
        name: the graph's name: its runs are ``<name>-<thread>-<turn>`` and its checkpoints live under it in the
            notebook's store. Default: derived from the schema and the node names.
    """

    def __init__(
        self,
        state_schema: Any = None,
        context_schema: Any = None,
        *,
        input_schema: Any = None,
        output_schema: Any = None,
        name: str | None = None,
    ) -> None:
        self._frames = _caller_frames()
        self.spec = StateSpec(state_schema, input_schema=input_schema, output_schema=output_schema, frames=self._frames)
        self.state_schema = state_schema
        check_context_schema(context_schema)
        self.context_schema = context_schema
        self.name = graph_name("StateGraph()", name)
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.waiting_edges: list[tuple[tuple[str, ...], str]] = []
        self.branches: list[Branch] = []
        self._defaults: dict[str, Any] = {}
        # nodes whose error handler is set_node_defaults' (LangGraph names it __default_error_handler__)
        self.default_handled: set[str] = set()

    def __repr__(self) -> str:
        return f"StateGraph({self.spec.name}, nodes={list(self.nodes)})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The repr and an SVG of the nodes and edges added so far, as a compiled graph and a TaskGraph show."""
        return builder_bundle(self)

    @property
    def entry_point(self) -> str | None:
        """The first node an ``add_edge(START, ...)`` names (Agentflow's attribute)."""
        return next((e for s, e in self.edges if s == START), None)

    # -- building -------------------------------------------------------------------------------------------------
    def add_node(
        self,
        node: str | Callable[..., Any],
        action: Any = None,
        *,
        defer: bool = False,
        metadata: Mapping[str, Any] | None = None,
        input_schema: Any = None,
        retry_policy: AnyRetryPolicy | Sequence[AnyRetryPolicy] | None = None,
        retry: AnyRetryPolicy | Sequence[AnyRetryPolicy] | None = None,
        timeout: float | None = None,
        error_handler: Callable[..., Any] | None = None,
        destinations: Sequence[str] | Mapping[str, str] | None = None,
        cache_policy: CachePolicy | None = None,
        **unsupported: Any,
    ) -> StateGraph:
        """``add_node("plan", plan)`` or ``add_node(plan)`` (named after the function); a compiled graph is a
        subgraph node.

        Args:
            defer: run only when nothing else is left to run in the turn (a final aggregation).
            metadata: kept on the node (``get_graph().nodes[name].metadata``).
            input_schema: the type the node receives the state as (default: the first parameter's annotation
                when it is a state class, else the graph's state schema); its keys join the state.
            retry_policy: ``RetryPolicy(...)`` (LangGraph's) or ``ag.RetryPolicy(...)`` (or several: the first
                whose ``retry_on`` matches applies).
            timeout: seconds one attempt may take (default: ``config["node_timeout"]``, else none).
            error_handler: called as ``handler(state, error: NodeError)`` after the retries failed; its return
                (an update or a ``Command``) replaces the node's, and it routes only by ``goto``.
            destinations: where the node's ``Command(goto=...)`` may lead (for drawing).
            cache_policy: ``CachePolicy(key_func=..., ttl=...)``: with ``compile(cache=InMemoryCache())``, an
                input the node already answered is answered from the cache (see :mod:`aether_nb.flow.cache`).
        """
        if unsupported:
            raise UsageError(
                f"add_node(): unsupported option(s) {sorted(unsupported)}; see the README's table of differences "
                "from LangGraph",
                code="unsupported_option",
            )
        if action is None:
            if isinstance(node, str):
                raise UsageError(f"add_node({shown(node)}) needs the node's function: add_node({shown(node)}, fn)")
            action = node
            name = getattr(node, "name", None) if _is_compiled(node) else getattr(node, "__name__", None)
            if name is None and callable(node):
                name = type(node).__name__  # a callable object: named after its class, as in LangGraph
            if not isinstance(name, str):
                raise UsageError(f"cannot infer a name for {shown(node)}: use add_node('name', fn)")
        else:
            if not isinstance(node, str):
                raise UsageError(f"add_node(name, fn): the name must be a string, got {type(node).__name__}")
            name = node
        if isinstance(name, enum.Enum):
            name = str(name.value)
        if not name or any(c in name for c in "/|:") or name in (START, END):
            raise GraphDefinitionError(
                f"node name {shown(name)} is not allowed: use a non-empty name without '/', '|' or ':' (they separate "
                "namespaces), not START/END",
                code="bad_node_name",
            )
        check_no_secret(name, "a node name", "a name for what the node does")  # (stored with every step)
        check_text(name, f"node name {shown(name)}", empty=True)  # kept as run history's node ids
        if name in self.nodes:
            raise GraphDefinitionError(f"Node `{name}` already present: node names are unique", code="duplicate_node")
        if retry_policy is not None and retry is not None:
            raise UsageError("add_node(): pass retry_policy= or retry=, not both")
        subgraph = action if _is_compiled(action) else None
        fn = _SubgraphNode(subgraph, name) if subgraph is not None else action
        if input_schema is None and subgraph is None:
            input_schema = self._inferred_input(fn)
        if input_schema is not None:
            schema_kind(input_schema)
            self.spec.add_schema(input_schema, self._frames)
        spec = NodeSpec(
            name,
            fn,
            destinations=destinations,
            retry=retry_policy if retry_policy is not None else retry,
            timeout_s=timeout,
            error_handler=error_handler,
            input_schema=input_schema,
            defer=defer,
            metadata=metadata,
        )
        spec.subgraph = subgraph
        if cache_policy is not None:
            if not isinstance(cache_policy, CachePolicy):
                raise UsageError(
                    f"add_node({shown(name)}, cache_policy=...): expected CachePolicy(...), got {shown(cache_policy)}"
                )
            spec.cache_policy = cache_policy
        self.nodes[name] = spec
        return self

    def _inferred_input(self, fn: Any) -> Any:
        """The first parameter's annotation, when it is a state class other than the graph's own."""
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return None
        if not params:
            return None
        ann = params[0].annotation
        if isinstance(ann, str):
            # the names the code building the graph sees come first (a class defined in a function shadows a
            # module-level one of the same name), then the function's module
            frames = [*_caller_frames(), *self._frames]
            local = next((f[ann] for f in frames if ann in f), None)
            if local is not None:
                ann = local
            else:
                try:
                    ann = typing.get_type_hints(fn).get(params[0].name, None)
                except Exception:  # an annotation nothing can resolve: the node gets the graph's state
                    ann = None
        if ann is None or ann is self.state_schema or not isinstance(ann, type):
            return None
        try:
            kind = schema_kind(ann)
        except UsageError:
            return None
        return ann if kind != "dict" else None

    def add_edge(self, start: str | Sequence[str], end: str) -> StateGraph:
        """After ``start`` runs, ``end`` runs (every edge is followed; several run concurrently).

        ``add_edge(["a", "b"], "join")`` is a waiting edge: ``join`` runs once both ``a`` and ``b`` finished.
        """
        end = plain_name(end)
        if not isinstance(end, str):
            raise UsageError(f"add_edge takes node names, got {shown(end)}")
        if isinstance(start, str):
            source: str = plain_name(start)
            if source == END or end == START:
                raise GraphDefinitionError(
                    f"add_edge({shown(source)}, {shown(end)}): nothing leaves END and nothing enters START"
                )
            if (source, end) not in self.edges:
                self.edges.append((source, end))
            return self
        if not isinstance(start, Iterable):
            raise UsageError(f"add_edge(start, end): start must be a node name or a list of them, got {shown(start)}")
        sources = tuple(plain_name(s) for s in start)
        if not sources or not all(isinstance(s, str) for s in sources):
            raise UsageError(f"add_edge([sources], end): sources must be node names, got {shown(start)}")
        if END in sources or end == START:
            raise GraphDefinitionError(
                f"add_edge({list(sources)}, {shown(end)}): nothing leaves END and nothing enters START"
            )
        if len(sources) == 1:
            return self.add_edge(sources[0], end)
        if (sources, end) not in self.waiting_edges:
            self.waiting_edges.append((sources, end))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any],
        path_map: Mapping[Hashable, str] | Sequence[str] | None = None,
    ) -> StateGraph:
        """After ``source``, call ``path(state)`` (or ``path(state, config)``; may be async) once; its result — a
        key of ``path_map``, a node name / END, a :class:`~aether_nb.flow.types.Send`, or a list of them — says
        what runs next."""
        source = plain_name(source)
        if not isinstance(source, str):
            raise UsageError(
                f"add_conditional_edges(source, path): source must be a node name (or START), got {shown(source)}"
            )
        if not callable(path):
            raise UsageError(f"add_conditional_edges({shown(source)}, path): path must be a function")
        _check_router_takes_state(source, path)
        mapping: dict[Hashable, str] | None
        if path_map is None:
            mapping = literal_destinations(path)  # (`-> Literal["b", "c"]`: those, as LangGraph)
        elif isinstance(path_map, Mapping):
            mapping = {k: plain_name(v) for k, v in path_map.items()}
        elif isinstance(path_map, Iterable) and not isinstance(path_map, str):
            names = list(path_map)
            if not all(isinstance(plain_name(n), str) for n in names):
                raise UsageError(
                    f"add_conditional_edges({shown(source)}, path, path_map): a list path_map names nodes, got "
                    f"{shown(path_map)}"
                )
            mapping = {n: plain_name(n) for n in names}
        else:
            raise UsageError(
                f"add_conditional_edges({shown(source)}, path, path_map): path_map must be a dict of path results to "
                f"node names or a list of node names, got {shown(path_map)}"
            )
        if mapping is not None and not all(isinstance(v, str) for v in mapping.values()):
            raise UsageError(
                f"add_conditional_edges({shown(source)}): path_map's nodes must be names, got {shown(path_map)}"
            )
        name = getattr(path, "__name__", type(path).__name__)
        schema = self._inferred_input(path)
        if schema is not None:
            self.spec.add_schema(schema, self._frames)
        self.branches.append(Branch(source, path, mapping, name, schema))
        return self

    def add_sequence(self, nodes: Sequence[Callable[..., Any] | tuple[str, Callable[..., Any]]]) -> StateGraph:
        """Add the nodes and an edge from each to the next (``(name, fn)`` pairs or functions)."""
        given: Any = nodes  # (typed as the sequence it should be; checked as what it is)
        if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
            raise UsageError(
                f"add_sequence() takes a list of nodes (functions, or (name, function) pairs), got {shown(nodes)}"
            )
        items = list(nodes)  # (a NumPy array of functions too: its truth was a bare ValueError)
        if not items:
            raise GraphDefinitionError(
                "add_sequence() needs at least one node: pass a list of functions or (name, function) pairs"
            )
        names: list[str] = []
        for item in items:
            if isinstance(item, tuple):
                self.add_node(item[0], item[1])
                names.append(item[0])
            else:
                before = set(self.nodes)
                self.add_node(item)
                names.append(next(n for n in self.nodes if n not in before))
        for a, b in itertools.pairwise(names):
            self.add_edge(a, b)
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

    def set_node_defaults(
        self,
        *,
        retry_policy: AnyRetryPolicy | Sequence[AnyRetryPolicy] | None = None,
        error_handler: Callable[..., Any] | None = None,
        timeout: float | None = None,
    ) -> StateGraph:
        """Policies for every node that does not set its own (applied at ``compile()``; checked here)."""
        if retry_policy is not None:
            self._defaults["retry"] = node_policies("set_node_defaults(retry_policy=...)", retry_policy)
        if error_handler is not None:
            NodeSpec("set_node_defaults:on_error", error_handler)  # (checks it is a function, now)
            self._defaults["error_handler"] = error_handler
        if timeout is not None:
            self._defaults["timeout"] = timeout_seconds(timeout, "set_node_defaults(timeout=...)")
        return self

    # -- validation ---------------------------------------------------------------------------------------------
    def validate(
        self,
        *,
        interrupt_before: Iterable[str] | str = (),
        interrupt_after: Iterable[str] | str = (),
        services: Iterable[str] = (),
    ) -> list[str]:
        """Every problem with the graph (an empty list when it is fine)."""
        problems: list[str] = []
        known = set(self.nodes)
        if not self.nodes:
            problems.append("the graph has no nodes: add_node(name, fn)")
        has_entry = any(s == START for s, _ in self.edges) or any(b.source == START for b in self.branches)
        if not has_entry:
            problems.append(
                "Graph must have an entrypoint: add_edge(START, <first node>) or set_entry_point(<first node>)"
            )
        for s, e in self.edges:
            for x, role in ((s, "starting"), (e, "ending")):
                if x not in known and x not in (START, END):
                    problems.append(f"Found edge {role} at unknown node {x!r} ({s!r} -> {e!r}); nodes: {sorted(known)}")
        for srcs, e in self.waiting_edges:
            for x in (*srcs, e):
                if x not in known and x not in (START, END):
                    problems.append(f"waiting edge {list(srcs)} -> {e!r}: unknown node {x!r}; nodes: {sorted(known)}")
        for b in self.branches:
            if b.source not in known and b.source != START:
                problems.append(f"Found edge starting at unknown node {b.source!r} (a conditional edge)")
            for key, target in (b.path_map or {}).items():
                if target not in known and target != END:
                    problems.append(
                        f"At {b.source!r} node, {key!r} branch found unknown target {target!r}; nodes: "
                        f"{sorted(known)} or END"
                    )
        # (LangGraph's error handler nodes are names too: they never pause, see aether_nb.flow.error_handlers)
        handlers = handler_node_names(self.nodes, self.default_handled)
        for option, names in (("interrupt_before", interrupt_before), ("interrupt_after", interrupt_after)):
            if names == "*":
                continue
            for n in names:
                if n not in known and n not in handlers:
                    problems.append(f"{option}: interrupt node {n!r} not found; nodes: {sorted(known)}")
        for node in self.nodes.values():
            for dest in node.destinations or ():
                if dest not in known and dest != END:
                    problems.append(f"node {node.name!r}: destination {dest!r} is not a node")
            for missing in node.missing_services(services):
                problems.append(
                    f"node {node.name!r} asks for {missing!r}, which is neither state, config, context nor a "
                    f"service; pass compile(services={{{missing!r}: ...}}) or give the parameter a default"
                )
        return problems

    def default_name(self) -> str:
        """``<schema>_<hash of the node names>``: stable while the graph keeps its nodes (a node added gives a new
        name, whose graph finds the earlier one's threads only with ``name=``: see :mod:`.default_names`)."""
        return default_name(self.spec.name, self.nodes)

    def topology(self) -> Topology:
        return Topology(dict(self.nodes), list(self.edges), list(self.waiting_edges), list(self.branches))

    def compile(
        self,
        checkpointer: Checkpointer | str | bool | None = "duckdb",
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        recursion_limit: int = DEFAULT_RECURSION_LIMIT,
        name: str | None = None,
        services: Mapping[str, Any] | None = None,
        session: Session | None = None,
        store: Any = None,
        debug: bool = False,
        cache: InMemoryCache | None = None,
    ) -> CompiledGraph:
        """Check the graph and return the runnable :class:`~aether_nb.flow.compiled.CompiledGraph`.

        Args:
            checkpointer: ``"duckdb"`` (default; also ``"store"`` and None): the session's store — the notebook's
                DuckDB file, keeping every checkpoint of every thread; ``"memory"``: this process only; a
                :class:`~aether_nb.flow.checkpoint.Checkpointer`; ``True`` for a subgraph that keeps its own
                state across the parent's turns.
            interrupt_before: pause before these nodes run (``"*"``: every node); continue with
                ``ainvoke(None, config)``.
            interrupt_after: pause after these nodes ran (``"*"``: every node).
            recursion_limit: the supersteps of nodes one call may run (a call resuming the turn two more), as
                LangGraph counts them (override per call with ``config={"recursion_limit": N}``); the default is
                LangGraph 1.x's (10,007: a runaway loop is stopped, a long agent loop is not).
            name: overrides the graph's name.
            services: objects injected by parameter name into the nodes of this compiled graph only.
            session: the aether_nb session to run in (default: the notebook's).
            store: any object, handed to nodes as ``runtime.store`` (and a ``store`` parameter), as LangGraph's
                ``compile(store=InMemoryStore())``; a subgraph without one gets its parent's. aether_nb keeps
                nothing in it itself.
            debug: as LangGraph's, every call prints its ``updates`` and ``values`` chunks as it runs
                (:mod:`aether_nb.flow.printing`; ``astream(stream_mode="debug")`` yields every run event).

        Raises:
            GraphBuildError: listing every problem found.
        """
        from aether_nb.flow.compiled import CompiledGraph

        before = interrupt_names("compile()", "interrupt_before", interrupt_before) or []
        after = interrupt_names("compile()", "interrupt_after", interrupt_after) or []
        svc = services_of(services)
        known_services = set(svc)
        try:
            from aether_nb.runtime.session import default_session

            known_services |= set((session or default_session()).services)
        except Exception:  # no session can be built here: services are checked when nodes run
            known_services |= {n for node in self.nodes.values() for n in node.missing_services(())}
        self._apply_defaults()
        problems = self.validate(interrupt_before=before, interrupt_after=after, services=known_services)
        if isinstance(recursion_limit, bool) or not isinstance(recursion_limit, int) or recursion_limit < 1:
            problems.append(f"recursion_limit must be a positive integer, got {recursion_limit!r}")
        if problems:
            raise GraphBuildError(problems)
        graph = CompiledGraph(
            self,
            name=graph_name("compile()", name) or self.name or self.default_name(),
            checkpointer=checkpointer,
            interrupt_before=before,
            interrupt_after=after,
            recursion_limit=recursion_limit,
            services=svc,
            session=session,
            store=store,
            cache=cache,
        )
        if debug:
            mark_debug(graph)  # (every call prints its updates and values, as LangGraph's compile(debug=True))
        return graph

    def _apply_defaults(self) -> None:
        defaults = self._defaults
        if not defaults:
            return
        for spec in self.nodes.values():
            if "retry" in defaults and not spec.retry:
                spec.retry = defaults["retry"]
            if "timeout" in defaults and spec.timeout_s is None:
                spec.timeout_s = defaults["timeout"]
            if "error_handler" in defaults and spec.error_handler is None:
                spec.error_handler = NodeSpec(f"{spec.name}:on_error", defaults["error_handler"])
                self.default_handled.add(spec.name)


def _is_compiled(obj: Any) -> bool:
    from aether_nb.flow.compiled import CompiledGraph

    return isinstance(obj, CompiledGraph)


class _SubgraphNode:
    """A compiled graph as a node of a parent graph: runs its own engine inside the node's step."""

    def __init__(self, graph: CompiledGraph, name: str) -> None:
        self.graph = graph
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<subgraph {self.graph.name!r} as node {self.__name__!r}>"

    async def __call__(self, state: Any, config: dict[str, Any]) -> Any:
        from aether_nb.flow.engine import Engine, current_engine
        from aether_nb.flow.nodes import current_node_run
        from aether_nb.runtime.execution import current_scope

        parent = current_engine()
        scope = current_scope()
        node_run = current_node_run()
        if parent is None or scope is None:
            raise UsageError("a subgraph node runs inside a compiled StateGraph", code="no_node")
        values = dict(state) if isinstance(state, Mapping) else dict(vars(state))
        sub_spec, parent_spec = self.graph.spec, parent.graph.spec
        sub_input: Any
        if sub_spec.kind == "root":
            # a single-value subgraph takes the parent's value (a single-value parent's), else its state
            sub_input = values.get(ROOT) if parent_spec.kind == "root" else values
        elif parent_spec.kind == "root":
            raise InvalidUpdate(
                f"subgraph node {shown(self.__name__)}: graph {shown(parent.graph.name)} has a single-value state, "
                f"which has no keys to give graph {shown(self.graph.name)} (state {sub_spec.name}); give both the "
                "same kind of state",
                code="bad_subgraph_state",
            )
        else:
            fields = sub_spec.fields
            sub_input = {k: v for k, v in values.items() if fields is None or k in fields}
        engine = Engine(
            self.graph,
            scope,
            {"thread_id": parent.thread_id, "input": sub_input, "config": parent.config},
            parent=parent,
            node=node_run.ns_label if node_run is not None and node_run.ns_label else self.__name__,
            parent_task=node_run.tid if node_run is not None else "",
        )
        out = sub_spec.output(await engine.main())
        if parent_spec.kind == "root":
            return out  # the subgraph's value is the node's update, merged by the parent's reducer (as LangGraph)
        if not isinstance(out, Mapping):
            raise InvalidUpdate(
                f"subgraph node {shown(self.__name__)}: graph {shown(self.graph.name)} returned a "
                f"{type(out).__name__}, not a dict of the keys of graph {shown(parent.graph.name)}",
                code="bad_subgraph_state",
            )
        mine = parent_spec.fields
        return {k: v for k, v in out.items() if mine is None or k in mine}


def _check_router_takes_state(source: str, router: Callable[..., Any]) -> None:
    """A router is called with the state (and maybe the config): one that cannot take it failed each turn after
    ``source`` with a bare TypeError (found by the options sweep: ``lambda: 1``)."""
    try:
        sig = inspect.signature(router)
    except (TypeError, ValueError):  # (a builtin without a signature: called as it is)
        return
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    if any(p.kind in kinds for p in sig.parameters.values()):
        return
    raise UsageError(
        f"add_conditional_edges({shown(source)}, path): the router {shown(getattr(router, '__name__', router))} "
        "must take the state as its first parameter (and may take the config), e.g. def route(state): ..."
    )
