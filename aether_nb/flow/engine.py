"""The body of a state-graph run: supersteps over the aether_nb runtime.

One turn (``ainvoke`` on a thread) is one aether_nb Run whose body is :meth:`Engine.run`:

1. ``start`` (journaled): read the thread's latest checkpoint, merge the turn's input with the reducers, choose
   the first nodes (the pending ones of a stopped or failed turn, else the entry), write an ``input`` checkpoint.
2. Each superstep runs its active nodes concurrently, each as a journaled step of the run (a DAG node whose
   parents are the nodes that routed to it). Tool and LLM calls inside a node are nested steps, so a resumed run
   replays them instead of calling them again.
3. The updates are merged (reducers; conflicting writes are an error), the next active set is routed (a node's
   ``Command.goto`` overrides its edges; every edge is followed), and a ``loop`` checkpoint is written — itself
   a journaled step, so a resumed run neither re-routes nor writes it twice.
4. ``interrupt_before``/``interrupt_after`` and ``interrupt()`` are durable waits of the run. After one was
   answered, the state is re-read from the checkpointer (journaled), so ``aupdate_state`` edits made during the
   pause apply.

A node that fails ends the run; an ``error`` checkpoint keeps the results of its successful siblings, so the next
turn on the thread re-runs only the failed node(s).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aether_nb.flow.checkpoint import Checkpoint
from aether_nb.flow.messages import with_ids
from aether_nb.flow.nodes import normalise_return
from aether_nb.flow.types import END, START, GraphRecursionError, InvalidUpdate
from aether_nb.runtime.codec import fingerprint
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.waits import WaitSpec

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

Sink = Callable[[str, Any], None]


def input_update(graph: CompiledGraph, value: Any, where: str) -> dict[str, Any]:
    """A turn's input (or an ``aupdate_state`` value) as a state update; messages given ids (role: user)."""
    if value is None:
        return {}
    as_object = graph.spec.from_object(value)
    if as_object is not None:
        value = as_object
    if not isinstance(value, dict):
        raise InvalidUpdate(
            f"{where} takes a dict of state keys (e.g. {{'messages': [...]}}), a {graph.spec.name} object or "
            f"None, got {type(value).__name__}"
        )
    update = dict(value)
    graph.spec.check_keys(update, where)
    if "messages" in update:
        msgs = update["messages"]
        update["messages"] = with_ids(msgs if isinstance(msgs, (list, tuple)) else [msgs], default_role="user")
    return update


class Engine:
    """Executes one run of a compiled graph on one thread."""

    def __init__(self, graph: CompiledGraph, scope: Scope, inputs: dict[str, Any]) -> None:
        self.graph = graph
        self.scope = scope
        self.run = scope.run
        self.thread_id: str = inputs["thread_id"]
        self.input = inputs.get("input")
        self.config: dict[str, Any] = dict(inputs.get("config") or {})
        self.checkpointer = graph.checkpointer_for(self.run.session)
        self.limit = int(self.config.get("recursion_limit", graph.recursion_limit))
        self.interrupted = False
        self.sources: dict[str, list[str]] = {}  # next node -> step keys of the nodes that routed to it
        self.turn_start = 0

    @property
    def sink(self) -> Sink | None:
        return self.graph.sink(self.run.id)

    def emit(self, mode: str, payload: Any) -> None:
        sink = self.sink
        if sink is not None:
            sink(mode, payload)

    async def journaled(self, name: str, fn: Callable[[], Any], fp_data: Any) -> tuple[Any, bool]:
        """Run ``fn`` once as a journaled (undrawn) step; on resume its journaled value is returned instead.
        Returns ``(value, replayed)``."""
        key = self.scope.next_key(name)
        replayed = key in self.scope.execution.journal

        async def execute(_: Scope) -> Any:
            return fn()

        value = await self.scope.run_step(key, name, "flow", fp_data, execute, node=False, fp=fingerprint(fp_data))
        return value, replayed

    # -- the loop -----------------------------------------------------------------------------------------------
    async def main(self) -> dict[str, Any]:
        start, replayed = await self.journaled("start", self._prepare, {"thread": self.thread_id})
        values: dict[str, Any] = start["values"]
        active: list[str] = list(start["next"])
        pending: dict[str, Any] = dict(start["pending"])
        step: int = start["step"]
        self.turn_start = start["turn_start"]
        if not replayed:
            self.emit("values", values)
        path: list[list[str]] = []
        while active:
            if len(path) >= self.limit:
                shown = " -> ".join(n[0] if len(n) == 1 else "(" + ", ".join(n) + ")" for n in [*path, active])
                raise GraphRecursionError(
                    f"graph {self.graph.name!r} took {self.limit} supersteps on thread {self.thread_id!r} without "
                    f"reaching END (recursion_limit={self.limit}). Path: {shown}. Add a condition that routes to "
                    "END, or raise the limit with config={'recursion_limit': N}",
                    [*path, active],
                    run_id=self.run.id,
                )
            before = [n for n in active if n in self.graph.interrupt_before]
            if before:
                values = await self._pause("before", before, values)
            values, active, ran = await self._superstep(active, values, step, pending)
            pending = {}
            path.append(ran)
            step += 1
            after = [n for n in ran if n in self.graph.interrupt_after]
            if after and active:
                values = await self._pause("after", after, values)
        return {"thread_id": self.thread_id, "supersteps": len(path)}

    def _prepare(self) -> dict[str, Any]:
        cp = self.checkpointer
        latest = cp.latest(self.thread_id)
        if latest is not None and latest.run_id == self.run.id and latest.source == "input":
            # this run already started once (the process died before the start step was journaled)
            return _start_info(latest)
        values = dict(latest.values) if latest is not None else self.graph.spec.initial()
        step = latest.step + 1 if latest is not None else 0
        msgs = values.get("messages")
        turn_start = len(msgs) if isinstance(msgs, list) else 0
        update = input_update(self.graph, self.input, "the input")
        if update:
            values = self.graph.spec.merge(values, [("input", update)])
        active = list(latest.next) if latest is not None else []
        pending = dict(latest.pending) if latest is not None and latest.pending else {}
        if not active:
            active, self.sources = self._route_from([(START, None)], values, step, {START: ""})
            pending = {}
        cp_new = cp.put(
            self.thread_id,
            Checkpoint(
                values=values,
                next=tuple(active),
                step=step - 1,
                source="input",
                run_id=self.run.id,
                created_at=self.run.session.clock.now(),
                pending=pending,
                turn_start=turn_start,
            ),
        )
        return _start_info(cp_new)

    async def _superstep(
        self, active: list[str], values: dict[str, Any], step: int, pending: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str], list[str]]:
        keys = {n: self.scope.next_key(n) for n in active if n not in pending}
        journal = self.scope.execution.journal
        replayed = all(k in journal for k in keys.values())
        tasks = {n: self._node_step(n, keys[n], values, step) for n in keys}
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
        results: dict[str, Any] = dict(pending)
        failures: list[tuple[str, BaseException]] = []
        for n, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                failures.append((n, outcome))
            else:
                results[n] = outcome
        if failures:
            self._error_checkpoint(values, active, step, results, failures)
            raise failures[0][1]
        base = values
        if self.interrupted:  # the state may have been edited (aupdate_state) while a node waited
            self.interrupted = False
            base, _ = await self.journaled("reload", self._latest_values, {"step": step})
        writes = [(n, results[n]["update"]) for n in active]
        try:
            new_values = self.graph.spec.merge(base, writes)
        except InvalidUpdate:
            self._error_checkpoint(values, active, step, {}, [])
            raise
        keyed = {n: keys.get(n, "") for n in active}
        routed, cp_replayed = await self.journaled(
            "checkpoint",
            lambda: self._route_and_save(active, results, new_values, step, keyed),
            {"step": step, "nodes": active},
        )
        self.sources = {k: list(v) for k, v in routed["sources"].items()}
        if not (replayed and cp_replayed):
            for n in active:
                update = results[n]["update"]
                self.emit("updates", {n: update})
                msgs = update.get("messages")
                for msg in msgs if isinstance(msgs, list) else []:
                    self.emit("messages", (msg, {"node": n, "step": step}))
            self.emit("values", new_values)
        return new_values, list(routed["next"]), list(active)

    async def _node_step(self, node: str, key: str, values: dict[str, Any], step: int) -> dict[str, Any]:
        graph = self.graph
        spec = graph.nodes[node]

        async def execute(child: Scope) -> dict[str, Any]:
            state = graph.spec.to_state(values)
            config = {
                **self.config,
                "thread_id": self.thread_id,
                "run_id": self.run.id,
                "node": node,
                "step": step,
            }
            services = {**self.run.session.services, **graph.services}
            raw = await spec.call(state, config, child, services, self._on_interrupt)
            return normalise_return(raw, graph.spec, values, node, graph.nodes)

        parents = tuple(p for p in self.sources.get(node, []) if p)
        value = await self.scope.run_step(
            key,
            node,
            "state_node",
            values,
            execute,
            fp=fingerprint({"node": node, "step": step}),
            parents=parents,
            meta={"graph": graph.name, "step": step},
        )
        assert isinstance(value, dict)
        return value

    def _on_interrupt(self) -> None:
        self.interrupted = True

    async def _pause(self, kind: str, nodes: list[str], values: dict[str, Any]) -> dict[str, Any]:
        node = nodes[0]
        prompt = f"Paused {kind} {', '.join(nodes)}: continue?"
        spec = WaitSpec(kind="human", prompt=prompt, meta={"flow": kind, "node": node, "nodes": nodes})
        await self.scope.wait(spec, name=f"interrupt_{kind}")
        latest, _ = await self.journaled("reload", self._latest_values, {"pause": kind, "nodes": nodes})
        return dict(latest) if latest is not None else values

    def _latest_values(self) -> dict[str, Any]:
        latest = self.checkpointer.latest(self.thread_id)
        assert latest is not None
        return latest.values

    # -- routing and checkpoints ----------------------------------------------------------------------------------
    def _route_and_save(
        self,
        ran: list[str],
        results: dict[str, Any],
        values: dict[str, Any],
        step: int,
        keys: dict[str, str],
    ) -> dict[str, Any]:
        active, sources = self._route_from([(n, results[n].get("goto")) for n in ran], values, step, keys)
        self.checkpointer.put(
            self.thread_id,
            Checkpoint(
                values=values,
                next=tuple(active),
                step=step,
                source="loop",
                run_id=self.run.id,
                created_at=self.run.session.clock.now(),
                turn_start=self.turn_start,
            ),
        )
        return {"next": active, "sources": sources}

    def _route_from(
        self, ran: list[tuple[str, list[str] | None]], values: dict[str, Any], step: int, keys: dict[str, str]
    ) -> tuple[list[str], dict[str, list[str]]]:
        graph = self.graph
        active: list[str] = []
        sources: dict[str, list[str]] = {}
        state: Any = None
        for node, goto in ran:
            if goto is not None:
                targets = list(goto)
            else:
                targets = [e for s, e in graph.edges if s == node]
                for branch in graph.branches:
                    if branch.source != node:
                        continue
                    if state is None:
                        state = graph.spec.to_state(values)
                    targets.extend(self._branch_targets(branch, state, step))
            for t in targets:
                if t == END:
                    continue
                if t not in active:
                    active.append(t)
                sources.setdefault(t, []).append(keys.get(node, ""))
        return active, sources

    def _branch_targets(self, branch: Any, state: Any, step: int) -> list[str]:
        config = {**self.config, "thread_id": self.thread_id, "run_id": self.run.id, "step": step}
        try:
            params = inspect.signature(branch.router).parameters
            result = branch.router(state, config) if len(params) >= 2 else branch.router(state)
        except Exception as exc:
            exc.add_note(f"(in router {branch.router_name!r} of the conditional edge from {branch.source!r})")
            raise
        if inspect.isawaitable(result):
            raise InvalidUpdate(
                f"router {branch.router_name!r} of the conditional edge from {branch.source!r} is async; routers "
                "must be plain functions of the state (do async work in a node and store the result in the state)",
                code="async_router",
            )
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        targets = []
        for r in results:
            if branch.path_map is not None:
                if r not in branch.path_map:
                    raise InvalidUpdate(
                        f"router {branch.router_name!r} of the conditional edge from {branch.source!r} returned "
                        f"{r!r}, which is not a key of its path_map {sorted(map(str, branch.path_map))}",
                        code="unknown_route",
                    )
                targets.append(branch.path_map[r])
            elif isinstance(r, str) and (r == END or r in self.graph.nodes):
                targets.append(r)
            else:
                raise InvalidUpdate(
                    f"router {branch.router_name!r} of the conditional edge from {branch.source!r} returned {r!r}, "
                    f"which is not a node name; return one of {sorted(self.graph.nodes)} or END, or pass a path_map",
                    code="unknown_route",
                )
        return targets

    def _error_checkpoint(
        self,
        values: dict[str, Any],
        active: list[str],
        step: int,
        succeeded: dict[str, Any],
        failures: list[tuple[str, BaseException]],
    ) -> None:
        error = "; ".join(f"{n}: {type(e).__name__}: {e}" for n, e in failures) or None
        self.checkpointer.put(
            self.thread_id,
            Checkpoint(
                values=values,
                next=tuple(active),
                step=step - 1,
                source="error",
                run_id=self.run.id,
                created_at=self.run.session.clock.now(),
                pending=succeeded,
                error=error,
                turn_start=self.turn_start,
            ),
        )


def _start_info(cp: Checkpoint) -> dict[str, Any]:
    return {
        "values": cp.values,
        "next": list(cp.next),
        "pending": dict(cp.pending),
        "step": cp.step + 1,
        "turn_start": cp.turn_start,
    }
