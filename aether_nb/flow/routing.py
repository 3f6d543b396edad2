"""Where a state graph goes after a node: static edges, conditional edges (routers), ``Command(goto=...)``,
:class:`~aether_nb.flow.types.Send` fan-out, waiting edges (joins) and deferred nodes.

As in LangGraph, every edge out of a node is followed (a ``goto`` adds targets, it does not replace the edges),
a router sees the state with the node's own writes applied (not its siblings'), and the next superstep's tasks
are the Sends first (in the order they were made) and then the triggered nodes, by name. A waiting edge
``add_edge(["a", "b"], "join")`` runs ``join`` once both ``a`` and ``b`` finished since it last ran, even in
different supersteps; a node whose ``error_handler`` recovered does not count (as LangGraph, the handler leads only
where its ``Command(goto=...)`` says). A node added with ``defer=True`` waits until nothing else is left to run.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import shown
from aether_nb.flow.context import DEFAULT_RUNTIME, Runtime
from aether_nb.flow.nodes import routing_runtime
from aether_nb.flow.types import END, START, InvalidUpdate, Send, UnknownRoute

if TYPE_CHECKING:
    from aether_nb.flow.nodes import NodeSpec


def literal_destinations(router: Callable[..., Any]) -> dict[Hashable, str] | None:
    """The path map a router's ``-> Literal["b", "c"]`` return annotation stands for, as LangGraph reads it when
    no path map is given: the graph is drawn with those edges only, and a result outside them fails the call.

    Only a function's (or method's) annotation counts, and only a plain ``Literal`` of names (LangGraph reads
    neither a callable object's nor an ``Optional``/``Union`` of Literals); anything else routes by name."""
    if not (inspect.isfunction(router) or inspect.ismethod(router)):
        return None
    try:
        returns = typing.get_type_hints(router).get("return")
    except Exception:  # names the annotation cannot resolve: route by name, as LangGraph then does
        return None
    if typing.get_origin(returns) is not typing.Literal:
        return None
    names = typing.get_args(returns)
    if not names or not all(isinstance(n, str) for n in names):
        return None
    return {n: n for n in names}


@dataclass(frozen=True)
class Branch:
    """A conditional edge: ``router(state)`` names the next node(s), mapped through ``path_map`` when given."""

    source: str
    router: Callable[..., Any]
    path_map: dict[Hashable, str] | None
    router_name: str
    schema: Any = None

    @functools.cached_property
    def takes_config(self) -> bool:
        """Whether the router is called as ``router(state, config)``: it has a ``config`` parameter, or two
        positional parameters without defaults."""
        try:
            params = list(inspect.signature(self.router).parameters.values())
        except (TypeError, ValueError):
            return False
        if any(p.name == "config" for p in params):
            return True
        required = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty
            and not _is_runtime_param(p)
        ]
        return len(required) >= 2

    @functools.cached_property
    def runtime_param(self) -> str | None:
        """The router's parameter that takes the :class:`~aether_nb.flow.context.Runtime` (named ``runtime``, or
        annotated ``Runtime``), as LangGraph injects it into conditional edges."""
        try:
            params = inspect.signature(self.router).parameters.values()
        except (TypeError, ValueError):
            return None
        return next((p.name for p in params if _is_runtime_param(p)), None)

    def input_schema(self) -> Any:
        """The state class the router's first parameter is annotated with (None: the graph's state)."""
        return self.schema


def _is_runtime_param(p: inspect.Parameter) -> bool:
    ann = p.annotation
    if isinstance(ann, str):
        named = re.fullmatch(r"(\w+\.)*Runtime(\[.*\])?", ann.strip()) is not None
    else:
        named = ann is Runtime or typing.get_origin(ann) is Runtime
    return p.name == "runtime" or named


@dataclass(slots=True)
class Route:
    """Where one finished task leads: node names, Sends, and whether it counts for the waiting edges it is a
    source of (``joins``: not when its error handler recovered, whose result follows none of the node's edges)."""

    names: list[str] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    joins: bool = True

    def to_json(self) -> dict[str, Any]:
        # node names as keys, not values: the journal's secret check reads string values only, so a route costs
        # nothing to check (and JSON objects keep their order)
        data: dict[str, Any] = {"to": dict.fromkeys(self.names, 1), "send": [{s.node: s.arg} for s in self.sends]}
        if not self.joins:
            data["handled"] = 1
        return data

    @classmethod
    def from_goto(cls, goto: Sequence[str | Send]) -> Route:
        """A node's ``Command(goto=...)`` targets as a route (its names and its Sends), to keep as JSON."""
        return cls([g for g in goto if isinstance(g, str)], [g for g in goto if isinstance(g, Send)])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        sends = [Send(node, arg) for item in data.get("send") or [] for node, arg in item.items()]
        return cls(list(data.get("to") or {}), sends, not data.get("handled"))


def barrier_key(sources: Sequence[str], target: str) -> str:
    return f"{'+'.join(sources)}>{target}"


class Topology:
    """The edges of a compiled graph, and the routing decisions made from them."""

    def __init__(
        self,
        nodes: Mapping[str, NodeSpec],
        edges: Sequence[tuple[str, str]],
        waiting: Sequence[tuple[tuple[str, ...], str]],
        branches: Sequence[Branch],
    ) -> None:
        self.nodes = nodes
        self.edges = list(edges)
        self.waiting = list(waiting)
        self.branches = list(branches)
        self._out: dict[str, list[str]] = {}
        for s, e in self.edges:
            self._out.setdefault(s, []).append(e)
        self._branches: dict[str, list[Branch]] = {}
        for b in self.branches:
            self._branches.setdefault(b.source, []).append(b)
        self._joins: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for srcs, target in self.waiting:
            for s in srcs:
                self._joins.setdefault(s, []).append((srcs, target))
        # each source's edges as the route's first names (END left out, each once), when every target is a node:
        # what route() would add edge by edge, worked out once (a target that is not a node raises there instead)
        self._edge_names: dict[str, tuple[str, ...]] = {}
        for s, targets in self._out.items():
            if all(t == END or t in nodes for t in targets):
                self._edge_names[s] = tuple(dict.fromkeys(t for t in targets if t != END))
        # no waiting edges and no deferred nodes: the next tasks are the Sends and the named nodes (most graphs)
        self._plain = not self.waiting and not any(n.defer for n in nodes.values())

    def has_branches(self, node: str) -> bool:
        return node in self._branches

    async def route(
        self,
        node: str,
        goto: Sequence[str | Send],
        state: Callable[[Any], Any],
        config: dict[str, Any],
        *,
        follow_edges: bool = True,
        runtime: Callable[[], Runtime[Any]] | None = None,
    ) -> Route:
        """Where ``node`` leads: its edges (unless ``follow_edges`` is False: an error handler's result, which
        then counts for no waiting edge either), its routers' answers (``state(schema)`` builds the router's input
        lazily) and its ``goto``. ``runtime`` makes the Runtime routers get (a ``runtime`` parameter, or
        ``get_runtime()`` inside them).

        Raises:
            InvalidUpdate: a router answered something that is not a node, END, a Send or a path_map key.
        """
        if not follow_edges or node not in self._branches:
            return self.route_plain(node, goto, follow_edges)
        route = self.route_plain(node, (), True)
        for branch in self._branches[node]:
            for target in await self._ask(branch, state, config, runtime):
                self._add(route, target, node, f"router {branch.router_name!r}")
        for target in goto:
            self._add(route, target, node, "Command(goto=...)")
        return route

    def route_plain(self, node: str, goto: Sequence[str | Send], follow_edges: bool = True) -> Route:
        """:meth:`route` for a node without routers (or not following its edges), which awaits nothing: its
        edges, then its ``goto``. (A coroutine less for most tasks.)

        Raises:
            InvalidUpdate: an edge or a ``goto`` leads to something that is not a node of the graph.
        """
        names = self._edge_names.get(node) if follow_edges else None
        route = Route(list(names), [], True) if names is not None else Route(joins=follow_edges)
        if follow_edges and names is None:
            for e in self._out.get(node, ()):
                self._add(route, e, node, "edge")
        for target in goto:
            self._add(route, target, node, "Command(goto=...)")
        return route

    def _add(self, route: Route, target: str | Send, source: str, how: str) -> None:
        name = target.node if isinstance(target, Send) else target
        if name == END and not isinstance(target, Send):
            return
        if name not in self.nodes:
            raise InvalidUpdate(
                f"node {shown(source)} ({how}) leads to {shown(name)}, which is not a node of the graph; nodes: "
                f"{sorted(self.nodes)} or END",
                code="unknown_goto",
            )
        if isinstance(target, Send):
            route.sends.append(target)
        elif target not in route.names:
            route.names.append(target)

    async def _ask(
        self,
        branch: Branch,
        state: Callable[[Any], Any],
        config: dict[str, Any],
        runtime: Callable[[], Runtime[Any]] | None,
    ) -> list[str | Send]:
        value = state(branch.input_schema())
        kwargs: dict[str, Any] = {}
        name = branch.runtime_param
        if name is not None:
            kwargs[name] = runtime() if runtime is not None else DEFAULT_RUNTIME
        try:
            with routing_runtime(runtime):
                args = (value, config) if branch.takes_config else (value,)
                result = branch.router(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except Exception as exc:
            exc.add_note(f"(in router {branch.router_name!r} of the conditional edge from {branch.source!r})")
            raise
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        targets: list[str | Send] = []
        for r in results:
            if r is None or (r == START and branch.path_map is None):
                # LangGraph refuses these too ("Branch did not return a valid destination"): a router whose branch
                # forgot its `return` must not end the graph silently
                raise InvalidUpdate(
                    f"router {shown(branch.router_name)} of the conditional edge from {shown(branch.source)} "
                    f"returned {shown(result)}, which is not a valid destination: return a node name, END, a Send or "
                    "a list of them (an empty list goes nowhere); did one of its branches forget its `return`?",
                    code="unknown_route",
                )
            if isinstance(r, Send):
                targets.append(r)
            elif branch.path_map is not None:
                if r not in branch.path_map:
                    raise UnknownRoute(
                        f"router {shown(branch.router_name)} of the conditional edge from "
                        f"{shown(branch.source)} returned {shown(r)}, which is not a key of its path_map "
                        f"{sorted(map(str, branch.path_map))} (given, or its -> Literal[...] annotation)",
                        code="unknown_route",
                    )
                targets.append(branch.path_map[r])
            elif isinstance(r, str) and (r == END or r in self.nodes):
                targets.append(r)
            else:
                raise InvalidUpdate(
                    f"router {shown(branch.router_name)} of the conditional edge from {shown(branch.source)} "
                    f"returned {shown(r)}, "
                    f"which is not a node name; return one of {sorted(self.nodes)} or END, or pass a path_map",
                    code="unknown_route",
                )
        return targets

    def next_tasks(
        self,
        finished: Sequence[tuple[str, Route]],
        barriers: Mapping[str, list[str]],
        deferred: Sequence[str],
        pending: Collection[str] = (),
        *,
        edit: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, list[str]], list[str]]:
        """The next superstep's tasks from the routes of the tasks that finished (in task order), with the
        waiting edges' progress and the deferred nodes still waiting. ``edit``: ``finished`` is an
        ``update_state``'s node, written while the checkpoint's tasks wait (``pending``: those it runs by name).

        A waiting edge whose sources all finished stays complete until its join runs, as LangGraph's barrier
        channel (consumed by the task it triggers, not when that task is scheduled): an ``update_state`` made
        while the join waits (a breakpoint before it, after its last source, or at a past checkpoint) routes
        it again, and the join still runs (after an edit as the join itself too: that is not the join's task).
        A complete one whose join neither ran nor waits (``pending`` or ``deferred``) is left from tasks an
        edit or a new input dropped (LangGraph consumes it with them): it is cleared. (Checkpoints of older
        aether_nb cleared it when the join was scheduled: the join runs all the same.)

        Returns:
            ``(tasks, barriers, deferred)``: Sends first, then triggered nodes by name; deferred nodes join only
            when nothing else would run.
        """
        if self._plain and not barriers and not deferred:
            if len(finished) == 1 and not finished[0][1].sends:  # (one task, no Sends: a chain's superstep)
                names = finished[0][1].names
                if len(names) == 1:  # (one edge out: no set, no sort)
                    return ([] if names[0] == END else [{"node": names[0]}]), {}, []
                return [{"node": n} for n in sorted({*names} - {END})], {}, []
            plain_sends: list[dict[str, Any]] = []
            named: set[str] = set()
            for _, route in finished:
                for s in route.sends:
                    plain_sends.append({"node": s.node, "send": s.arg})
                named.update(route.names)
            named.discard(END)
            return [*plain_sends, *({"node": n} for n in sorted(named))], {}, []
        new_barriers = {k: list(v) for k, v in barriers.items()}
        ran = set() if edit else {node for node, _ in finished}
        waits = {*pending, *deferred}
        for srcs, target in self.waiting:
            key = barrier_key(srcs, target)
            if set(new_barriers.get(key, ())) >= set(srcs) and (target in ran or target not in waits):
                new_barriers[key] = []  # consumed by its join, which ran (or was dropped), before this step's writes
        sends: list[dict[str, Any]] = []
        pulls: set[str] = set(deferred)
        for node, route in finished:
            for s in route.sends:
                sends.append({"node": s.node, "send": s.arg})
            pulls.update(n for n in route.names if n != END)
            for srcs, target in self._joins.get(node, ()) if route.joins else ():
                key = barrier_key(srcs, target)
                seen = new_barriers.setdefault(key, [])
                if node not in seen:
                    seen.append(node)
        released: set[str] = set()  # (deferred joins an edit finds among the tasks: they wait no longer)
        for srcs, target in self.waiting:
            key = barrier_key(srcs, target)
            if set(new_barriers.get(key, ())) >= set(srcs):
                if target == END:
                    new_barriers[key] = []  # (nothing runs to consume it)
                else:
                    pulls.add(target)  # (kept complete until the join runs: see above)
                    if edit and target in pending:
                        released.add(target)
        new_barriers = {k: v for k, v in new_barriers.items() if v}
        waiting = sorted(n for n in pulls if self.nodes[n].defer and n not in released)
        ready = sorted(n for n in pulls if not self.nodes[n].defer or n in released)
        if sends or ready:
            return [*sends, *({"node": n} for n in ready)], new_barriers, waiting
        return [{"node": n} for n in waiting], new_barriers, []

    def start_tasks(self, route: Route) -> tuple[list[dict[str, Any]], list[str]]:
        """The first tasks of a turn, from START's route, and the deferred nodes it triggered that wait for them
        (as LangGraph: a ``defer=True`` node reached from START runs once nothing else is pending, so it sees
        what its siblings wrote)."""
        tasks, _, deferred = self.next_tasks([(START, route)], {}, [])
        return tasks, deferred


def add_goto(tasks: list[dict[str, Any]], goto: list[str | Send], nodes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pending tasks plus the ones ``Command(goto=...)`` names (an input at a pause)."""
    out = list(tasks)
    names = {t["node"] for t in tasks if "send" not in t}
    for g in goto:
        node = g.node if isinstance(g, Send) else g
        if node == END and not isinstance(g, Send):
            continue  # (a goto to END adds nothing, as a route to END)
        if node not in nodes:
            raise InvalidUpdate(
                f"Command(goto={shown(node)}): no such node; nodes: {sorted(nodes)}", code="unknown_goto"
            )
        if isinstance(g, Send):
            out.insert(sum(1 for t in out if "send" in t), {"node": g.node, "send": g.arg})
        elif g not in names:
            out.append({"node": g})
            names.add(g)
    return out
