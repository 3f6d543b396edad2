"""RunGraph: the DAG of a run, folded from its events.

It is derived state: :meth:`RunGraph.apply` is the only way it changes, and it changes only from events, so a run
rebuilt from the store's events (after a kernel restart) looks exactly like the live one did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.events import (
    Event,
    GraphPlanned,
    LogRecord,
    NodeFinished,
    NodeRan,
    NodeStarted,
    NodeStatusChanged,
    RunFinished,
    RunStarted,
    RunStatusChanged,
    RunWarning,
    ServiceCalled,
)
from aether_nb.store.records import JSON, NodeRecord

FINAL_NODE_STATUSES = frozenset({"DONE", "FAILED", "FAILED_TIMEOUT", "SKIPPED", "CANCELLED"})
WAITING_STATUSES = frozenset({"WAITING_HUMAN", "WAITING_EXTERNAL", "WAITING_TIME", "WAITING_EVENT"})
NOT_RUN_STATUSES = frozenset({"SKIPPED", "CANCELLED"})
"""Final statuses of a static graph's node that produced nothing: a resumed run decides again (pending again)."""
_LISTED = 20  # node ids an UnknownNode error names


class UnknownNode(UsageError, KeyError):
    """``run.graph.node("typo")``: the run has no node of that id. A ``UsageError`` like every other misuse, and a
    ``KeyError`` too, as it always was: ``except KeyError`` keeps working."""

    default_code = "unknown_node"

    def __str__(self) -> str:
        return self.message  # (KeyError's own __str__ shows the repr: quotes and escaped newlines)


_RAN_STATUSES = frozenset({"DONE", "FAILED", "FAILED_TIMEOUT", "RUNNING", *WAITING_STATUSES})
"""Statuses of a node whose edges are the ones it ran with (a replayed step keeps them): it ended, or it started."""


_BODY_CODES = frozenset({"abandoned_body", "abandoned_body_ended"})


def _body_state(event: RunWarning) -> str:
    """What an ``abandoned_body`` warning says of the node's body (see :attr:`GraphNode.body`), from its code and
    detail; an ``abandoned_body_ended`` written before the detail existed says "ended"."""
    if event.code == "abandoned_body":
        return "running"
    returned = event.detail.get("returned") if isinstance(event.detail, dict) else None
    return "ended" if returned is None else "returned" if returned else "raised"


@dataclass(slots=True)
class GraphNode:
    """One node of a run's DAG: a tool call, nested graph_fn, LLM call or wait."""

    id: str
    name: str
    kind: str
    status: str
    parent: str | None = None
    parents: tuple[str, ...] = ()
    inputs: JSON = None
    outputs: JSON = None
    error: JSON = None
    started_at: float | None = None
    ended_at: float | None = None
    replayed: bool = False
    usage: JSON = None
    meta: JSON = None
    where: str | None = None
    """Where its body ran when not in the kernel: the address of the Dask worker (None: in the kernel)."""
    body: str | None = None
    """A sync body the node gave up on (a Stop, a timeout), which Python cannot stop: ``"running"`` while it still
    runs in its thread, then ``"returned"`` or ``"raised"`` (its effect may have happened though the node says
    stopped: the DAG says so, not only the inspector). Folded from the run's ``abandoned_body`` warnings."""
    # Lists made by the first record that needs one: most nodes have none, and three empty lists per node were
    # three of the five objects per step a long run keeps, which every collection of the garbage collector walks.
    _logs: list[dict[str, Any]] | None = field(default=None, repr=False)
    _warnings: list[str] | None = field(default=None, repr=False)
    _calls: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """Log records of the node's code (``level``, ``message``, ``ts``), in order (a copy)."""
        return list(self._logs or ())

    @property
    def warnings(self) -> list[str]:
        """Warnings about this node (a copy)."""
        return list(self._warnings or ())

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Service calls this node's code made (memory, KV, artifacts...), in order: each a journaled step (a
        copy)."""
        return list(self._calls or ())

    def add_log(self, entry: dict[str, Any]) -> None:
        """Fold a log record of the node's code in (see :meth:`RunGraph.apply`)."""
        if self._logs is None:
            self._logs = [entry]
        else:
            self._logs.append(entry)

    def add_warning(self, message: str) -> None:
        """Fold a warning about this node in."""
        if self._warnings is None:
            self._warnings = [message]
        else:
            self._warnings.append(message)

    def add_call(self, call: dict[str, Any]) -> None:
        """Fold a service call of the node's code in: one replayed after a resume replaces the same call (by key)."""
        if self._calls is None:
            self._calls = [call]
            return
        for i, known in enumerate(self._calls):
            if known["key"] == call["key"]:
                self._calls[i] = call
                return
        self._calls.append(call)

    @property
    def duration(self) -> float | None:
        """Seconds between start and end, once both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_record(self, run_id: str) -> NodeRecord:
        # (positional: one per node of every batch written)
        return NodeRecord(
            run_id, self.id, self.name, self.kind, self.status, self.parent, self.parents, self.inputs, self.outputs,
            self.error, self.started_at, self.ended_at,
        )  # fmt: skip


class RunGraph:
    """Nodes and edges of one run, in the order nodes started."""

    def __init__(self, run_id: str, name: str = "") -> None:
        self.run_id = run_id
        self.name = name
        self.status = "pending"
        self._nodes: dict[str, GraphNode] = {}
        self._calls: dict[str, dict[str, Any]] = {}  # service calls of the run's own body, by step key
        self._ended_before: dict[str, float] = {}  # a replayed node's first end, until its replay ends
        self.warnings: list[str] = []  # warnings about the run as a whole (not about one node)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Service calls made by the run's own body (memory, KV, artifacts...), in order."""
        return list(self._calls.values())

    def called(self, node_id: str | None, key: str) -> bool:
        """Whether the service call ``key`` of node ``node_id`` (None: the run's own body) is folded in, done."""
        if node_id is None:
            call = self._calls.get(key)
        else:
            node = self._nodes.get(node_id)
            call = next((c for c in node.calls if c["key"] == key), None) if node is not None else None
        return call is not None and call["error"] is None

    def done_calls(self) -> set[tuple[str | None, str]]:
        """``(node id or None, key)`` of every service call folded in that did not fail (see ``Recorder.forget``)."""
        done: set[tuple[str | None, str]] = {(None, k) for k, call in self._calls.items() if call["error"] is None}
        for node in self._nodes.values():
            done.update((node.id, call["key"]) for call in node.calls if call["error"] is None)
        return done

    @property
    def nodes(self) -> list[GraphNode]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[tuple[str, str]]:
        """``(from_id, to_id)`` pairs: data/causal order between siblings."""
        return [(p, n.id) for n in self._nodes.values() for p in n.parents]

    def node(self, node_id: str) -> GraphNode:
        """The node with this id.

        Raises:
            UnknownNode: there is none (a ``UsageError`` and a ``KeyError``); the message lists the ids that exist.
        """
        try:
            return self._nodes[node_id]
        except (KeyError, TypeError):  # (TypeError: an unhashable id)
            pass
        ids = list(self._nodes)
        if not ids:
            known = "it has no nodes yet (a node is a step: a tool call, an agent, an LLM call, a wait)"
        else:
            more = f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else ""
            known = f"its nodes: {', '.join(ids[:_LISTED])}{more}"
        raise UnknownNode(
            f"no node {shown(node_id)} in run {self.run_id}; {known}. `[n.id for n in run.graph.nodes]` lists them, "
            "`node_id in run.graph` tells whether one is there",
            run_id=self.run_id,
        )

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def mark_resumed(self) -> None:
        """What a resumption did to the steps done before it, for a DAG folded from the store: the resumed execution
        replayed each of them (its result read from the journal), but a replayed step's end is stored only when the
        history did not show it done (``Recorder``), so the stored events do not say so. A nested graph_fn done as a
        whole is replayed as one step: its own steps are left as they ran, as the live DAG shows them."""
        nodes = self._nodes
        for node in nodes.values():
            if node.status == "DONE" and not node.replayed:
                parent = nodes.get(node.parent) if node.parent is not None else None
                if parent is None or parent.status != "DONE":
                    node.replayed = True

    def _first_times(self, node_id: str, replayed: bool) -> tuple[float | None, float | None] | None:
        """When a node id starts again, the times it keeps from before: a step replayed from the journal keeps
        when it really ran (start and end), and a step that was under way when its run stopped and goes on from
        where it was (a wait, a nested graph_fn or tool around steps of its own) keeps its start, so a resumed
        run's DAG and elapsed time read as the live run's would. A step run again for real gets the new times: a
        failed one retried, one cut off while its own code ran (:meth:`runs_again`: its first start was in a
        process that died, and a duration from it counted the time nothing ran), one that never had a slot; one
        whose failure is raised again from the journal keeps its own (it showed 0 ms). None: nothing kept.

        A replayed step never takes the replay's moment as its start: it ran in an earlier execution. When the
        history lacks its end (its journal entry was written, its end event died with the process: a step's end
        is written with the next batch), the end is the replay event's ``ts``, the time of its journal entry
        (see ``Scope.run_step``); when the history never saw it start either (a step that ended in the loop turn
        it started in), it has no start, as a node that never started: no duration at all, where the replay's
        start showed it running for 0 ms at the resume."""
        before = self._nodes.get(node_id)
        if replayed:
            if before is None or before.status == "PENDING":  # (planned, or queued for a slot: it never ran)
                return None, None
            if before.status in ("DONE", "FAILED", "FAILED_TIMEOUT"):  # (a failure raised again, too)
                return before.started_at, before.ended_at
            return before.started_at, None
        if before is None or before.started_at is None:
            return None
        if before.status in WAITING_STATUSES or (before.status == "RUNNING" and self._holds_steps(node_id)):
            return before.started_at, None
        return None

    def _holds_steps(self, node_id: str) -> bool:
        """Whether a node of this DAG was made inside ``node_id`` (a step of a nested graph_fn or of a tool): drawn
        inside it, or keyed under it (an ``interrupt()`` in a tool a state graph's ToolNode runs is drawn beside the
        tool, in the tool node's group, and keyed ``<tool's key>/interrupt_1``)."""
        under = node_id + "/"
        return any(n.parent == node_id or n.id.startswith(under) for n in self._nodes.values())

    def runs_again(self, node_id: str) -> bool:
        """Whether ``node_id``, about to start in a resumed execution, runs its code again from the top: an earlier
        execution started it and was running its own code when it stopped (not waiting, no step inside it that
        the journal could give back), so whatever it did before the stop may happen twice. Only resumes ask (a
        key is never started twice in one execution), and each such node once: the scan is over the DAG.

        A tool of an MCP server (its meta's ``source`` is ``mcp:<server>``) runs again whenever it was under way,
        even waiting on its server's question: the answers replay from the journal, but the call is sent to the
        server again, and what the server did before asking happens again."""
        before = self._nodes.get(node_id)
        if before is None:
            return False
        if before.status == "RUNNING" and not self._holds_steps(node_id):
            return True
        return (before.status == "RUNNING" or before.status in WAITING_STATUSES) and _remote(before.meta)

    def ran_parents(self, node_id: str) -> tuple[str, ...] | None:
        """The edges into ``node_id`` when it ran in an earlier execution (it ended done or failed, or its start
        is all the history kept of it), else None. Only replayed steps ask: one the history shows started did run
        with the edges it started with (its journal entry says it completed; its end event was lost).

        Why: a resumed body replays its journaled steps at once, so concurrent branches (``asyncio.gather``) see
        each other's replays complete before they start, which never happened live; the step engine moves its
        frontier along these recorded edges instead, so the steps after the replay get the edges they had live."""
        before = self._nodes.get(node_id)
        if before is None or before.status not in _RAN_STATUSES:
            return None
        return before.parents

    def _parents(self, node_id: str, parents: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """A step replayed from the journal keeps the edges it ran with: a resumed body replays concurrent branches
        in another order (at once), and the stored history, which does not hold the replay, shows the first ones
        (or only its start, when its end event was lost: the edges it started with)."""
        before = self._nodes.get(node_id)
        if before is not None and before.status in _RAN_STATUSES:
            return before.parents
        return tuple(parents)

    def apply(self, event: Event) -> GraphNode | None:
        """Fold one event in; returns the node it touched, if any."""
        if type(event) is NodeRan:  # first: one per step of every run (a chain of trivial steps is nothing else)
            first = self._first_times(event.node_id, event.replayed)
            # (positional, in GraphNode's field order: keywords cost ~15 % more per step's node)
            node = GraphNode(
                event.node_id, event.name, event.node_kind, event.status, event.parent,
                self._parents(event.node_id, event.parents) if event.replayed else tuple(event.parents),
                event.inputs, event.outputs, event.error,
                event.started_at if first is None else first[0],
                event.ts if first is None or first[1] is None else first[1],
                event.replayed, event.usage, event.meta, event.where,
            )  # fmt: skip
            self._nodes[event.node_id] = node
            return node
        if isinstance(event, NodeStarted):
            first = self._first_times(event.node_id, event.replayed)
            if first is not None and first[1] is not None:
                self._ended_before[event.node_id] = first[1]
            node = GraphNode(
                id=event.node_id,
                name=event.name,
                kind=event.node_kind,
                status="RUNNING",
                parent=event.parent,
                parents=self._parents(event.node_id, event.parents) if event.replayed else tuple(event.parents),
                inputs=event.inputs,
                started_at=event.ts if first is None else first[0],
                replayed=event.replayed,
                meta=event.meta,
            )
            self._nodes[event.node_id] = node
            return node
        if isinstance(event, NodeStatusChanged):
            node = self._nodes[event.node_id]
            if node.status == "PENDING" and event.status == "RUNNING":
                node.started_at = event.ts  # it waited for a slot of a cap: its time counts from when it got one
            node.status = event.status
            return node
        if isinstance(event, NodeFinished):
            node = self._nodes[event.node_id]
            if node.status == "PENDING" and not event.replayed and node.ended_at is None:
                # it ended while it waited for a slot: it never ran, so it has no start (as a static graph's node
                # that never started: no duration at all, where a start at its end showed "0 ms"). One pending
                # between two attempts (ended_at: its failed attempt's end) did run: it keeps its start.
                node.started_at = None
            node.status = event.status
            node.outputs = event.outputs
            node.error = event.error
            ended_before = self._ended_before.pop(event.node_id, None)
            node.ended_at = ended_before if event.replayed and ended_before is not None else event.ts
            node.replayed = node.replayed or event.replayed
            if event.usage is not None:
                node.usage = event.usage
            if event.where is not None:
                node.where = event.where
            return node
        if isinstance(event, LogRecord) and event.node_id in self._nodes:
            node = self._nodes[event.node_id]
            node.add_log({"level": event.level, "message": event.message, "ts": event.ts})
            return node
        if isinstance(event, RunWarning):
            if event.node_id in self._nodes:
                node = self._nodes[event.node_id]
                node.add_warning(event.message)
                if event.code in _BODY_CODES:
                    node.body = _body_state(event)
                return node
            self.warnings.append(event.message)
            return None
        if isinstance(event, ServiceCalled):
            call = {
                "key": event.key,
                "service": event.service,
                "method": event.method,
                "inputs": event.inputs,
                "outputs": event.outputs,
                "error": event.error,
                "replayed": event.replayed,
                "ts": event.ts,
            }
            owner = self._nodes.get(event.node_id) if event.node_id is not None else None
            if owner is None:
                self._calls[event.key] = call
                return None
            owner.add_call(call)
            return owner
        if isinstance(event, GraphPlanned):
            # A planned node has no start: a node that ends without starting (skipped) shows no time of its own.
            ids, names, edges = event.node_ids or [], event.names or [], event.edges or []
            parents: dict[str, list[str]] = {}
            for i in range(0, len(edges) - 1, 2):
                parents.setdefault(ids[edges[i + 1]], []).append(ids[edges[i]])
            nodes, parent = self._nodes, event.parent
            for node_id, name in zip(ids, names, strict=True):
                known = nodes.get(node_id)
                # a node a resumed run planned again that had not run (skipped, cancelled) is pending again
                if known is None or known.status in NOT_RUN_STATUSES:
                    before = tuple(parents.get(node_id, ()))
                    nodes[node_id] = GraphNode(node_id, name, "tool", "PENDING", parent, before)
            return None
        if isinstance(event, RunStarted):
            self.name = event.graph
            self.status = "running"
        elif isinstance(event, (RunStatusChanged, RunFinished)):
            self.status = event.status
        return None

    def to_dict(self) -> dict[str, JSON]:
        """The JSON shape the run widget renders."""
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "nodes": [
                {
                    "id": n.id,
                    "name": n.name,
                    "kind": n.kind,
                    "status": n.status,
                    "parent": n.parent,
                    "started_at": n.started_at,
                    "ended_at": n.ended_at,
                    "inputs": n.inputs,
                    "outputs": n.outputs,
                    "error": n.error,
                    "replayed": n.replayed,
                    "usage": n.usage,
                    "logs": n.logs,
                    "warnings": n.warnings,
                    "calls": n.calls,
                    "where": n.where,
                    "body": n.body,
                }
                for n in self._nodes.values()
            ],
            "edges": [list(e) for e in self.edges],
            "calls": self.calls,
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for n in self._nodes.values():
            counts[n.status] = counts.get(n.status, 0) + 1
        summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        return f"RunGraph({self.run_id!r}, {len(self._nodes)} nodes: {summary})"


def _remote(meta: Any) -> bool:
    """Whether a node's meta says it is a call of a tool in another process (an MCP server's: ``mcp:<server>``)."""
    source = meta.get("source") if isinstance(meta, dict) else None
    return isinstance(source, str) and source.startswith("mcp:")
