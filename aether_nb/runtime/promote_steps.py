"""The run's steps that are not tool calls, as promotion sees them: what they produced, and how they are named.

A promoted graph is made of tool calls. The agent's code also took answers, called the model (``llm.chat``, the
loops of ``llm.run_tools``), read the KV store or memory, ran ``context.step`` code, and called other agents
(a nested ``@graph_fn``). A static graph makes none of these, so a value one of them produced is either

* **kept as the literal it was** when the run passed it on: an answer, an LLM reply (the text of ``llm.chat`` or
  the final text of ``run_tools``), a ``context.step`` value (:attr:`Steps.literals`); or
* when it is no such literal, **named** as the run's value of the step that returned it (a value a nested agent
  returned, a context call read): the computed input it becomes says where it came from
  (:attr:`Steps.returned`). It used to be described as "computed in Python" with nothing listed: a nested agent
  that called the model was dropped, its reply frozen into the promoted graph, and no warning said so.

A nested agent is no node of the promoted graph: ``@graphify`` calls tools, and calling an agent in its body is a
``nested_graph`` error. Its tool calls are nodes of the graph (as a plain function calling tools adds its nodes),
and its LLM calls and other context calls are listed under ``NOT IN THIS GRAPH`` beside the agent call itself
(:func:`agent_line`, :func:`llm_line`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.runtime.codec import decode
from aether_nb.runtime.promote_trace import short, trivial

if TYPE_CHECKING:
    from aether_nb.runtime.graph import GraphNode
    from aether_nb.store.records import JournalEntry

__all__ = ["Steps", "agent_line", "in_loop", "llm_line", "loop_line", "steps"]

_PRODUCING = ("wait", "llm", "step")
"""The kinds of DAG nodes whose value the run's code took as it was (kept as a literal when passed on)."""


@dataclass
class Steps:
    """What the run's steps other than tool calls produced (see the module docstring)."""

    literals: list[tuple[str, Any]] = field(default_factory=list)  # (label, value): kept as a literal when passed on
    returned: list[tuple[str, Any]] = field(default_factory=list)  # (label, value): names a computed input
    loops: set[str] = field(default_factory=set)  # the ``run_tools`` loops: steps with LLM calls among their children
    agents: dict[str, GraphNode] = field(default_factory=dict)  # nested agent calls (not inside a tool) by id


def steps(nodes: list[GraphNode], entries: Iterable[JournalEntry], journal: dict[str, Any]) -> Steps:
    """The values the run's non-tool steps produced, in the run's order (``journal``: decoded values by key)."""
    found = Steps()
    with_llm = {n.parent for n in nodes if n.kind == "llm" and n.parent is not None}
    found.loops = {n.id for n in nodes if n.kind == "step" and n.id in with_llm}  # (not an agent that called it)
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        if n.kind not in _PRODUCING or n.status != "DONE":
            continue
        value = journal.get(n.id, n.outputs)
        if n.kind == "llm" or n.id in found.loops:
            text = value.get("text") if isinstance(value, dict) else None
            if isinstance(text, str) and text:  # (a reply with tool calls only has no text)
                found.literals.append((_reply_label(n, by_id), text))
        found.literals.append((f"{n.id} ({n.name})", value))
    for e in entries:
        if e.kind == "service":
            value = decode(e.value)
            if not trivial(value):
                found.returned.append((f"{e.key} ({e.name}), a context call", value))
        elif e.kind == "graph_fn" and e.key in by_id:
            node = by_id[e.key]
            found.agents[e.key] = node
            value = journal.get(e.key, node.outputs)
            label = f"{e.key}, the agent {node.name} called in the run"
            if isinstance(value, dict):
                found.returned += [(label, v) for v in value.values() if not trivial(v)]
            if not trivial(value):
                found.returned.append((label, value))
    return found


def _reply_label(node: GraphNode, by_id: dict[str, GraphNode]) -> str:
    """``llm_1 (the LLM's reply)``, naming the nested agent it was made in (``in the agent draft_reply``)."""
    what = "run_tools' final reply" if node.kind != "llm" else "the LLM's reply"
    agent = _agent_of(node, by_id)
    return f"{node.id} ({what}{f' in the agent {agent.name}' if agent is not None else ''})"


def _agent_of(node: GraphNode, by_id: dict[str, GraphNode]) -> GraphNode | None:
    """The nearest nested agent call ``node`` was made in (None: the promoted agent's own code)."""
    at = by_id.get(node.parent) if node.parent is not None else None
    while at is not None:
        if at.kind == "graph_fn":
            return at
        at = by_id.get(at.parent) if at.parent is not None else None
    return None


def in_loop(key: str, loops: set[str]) -> bool:
    """Whether the step ``key`` is one of the calls a ``run_tools`` loop made (``run_tools_1/llm_2``)."""
    parts = key.split("/")
    return any("/".join(parts[:i]) in loops for i in range(1, len(parts)))


def llm_line(node: GraphNode | None, value: Any) -> str:
    """What an LLM call the promoted graph does not make is listed as (its reply, if the run passed it on, is a
    literal of the graph)."""
    inputs = node.inputs if node is not None and isinstance(node.inputs, dict) else {}
    model = inputs.get("model")
    text = value.get("text") if isinstance(value, dict) else None
    said = f"replied {short(text, 80)}" if isinstance(text, str) and text else "answered with tool calls"
    return (
        f"LLM call{f' ({model})' if isinstance(model, str) else ''}, {said} during the run: the graph does not call "
        "the model; where the run passed its reply on, the graph has it as a literal"
    )


def loop_line(node: GraphNode | None, value: Any) -> str:
    """What a ``run_tools`` loop is listed as: the model is not called, the tool calls it chose are nodes."""
    made = value.get("steps") if isinstance(value, dict) else None
    text = value.get("text") if isinstance(value, dict) else None
    count = f" ({made} model call(s))" if isinstance(made, int) else ""
    said = f", replied {short(text, 80)}" if isinstance(text, str) and text else ""
    return (
        f"llm.run_tools{count}{said} during the run: the graph does not call the model; the tool calls it chose are "
        "nodes with its arguments as literals"
    )


def agent_line(node: GraphNode) -> str:
    """What a nested agent call is listed as: a static graph calls tools, not agents."""
    inputs = node.inputs if isinstance(node.inputs, dict) else {}
    args = ", ".join(f"{k}={short(v, 60)}" for k, v in inputs.items())
    return (
        f"the agent {node.name}({args}) is no node of this graph (a static graph calls tools, not agents): its tool "
        "calls are nodes, its own code does not run (a value it returned that the graph uses is the run's, noted in "
        "this source), and its other calls are listed here"
    )
