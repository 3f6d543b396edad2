"""Promotion: turn a finished graph_fn run into a static ``@graphify`` graph that reproduces it.

The run's tool calls become nodes; an argument becomes a reference when its value is an output of an earlier call
(the call's DAG parents are tried first, then the run's inputs, then any earlier call) or one of the run's inputs,
and stays a literal otherwise. Answers to questions and other non-tool steps taken during the run are kept as the
literal values they produced (the promoted graph asks nothing); control flow is the path the run took.

Limits (named in the generated source): arguments are recovered from the recorded inputs, which are previews
(strings over 2,000 characters and lists over 50 items are truncated), so such arguments are flagged.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError
from aether_nb.runtime.codec import decode
from aether_nb.runtime.registry import lookup, lookup_version
from aether_nb.runtime.taskgraph import INPUTS, NodeSpec, Ref, TaskGraph, tool_version

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run


@dataclass
class _Call:
    node_id: str
    var: str
    tool: str
    version: str | None
    args: dict[str, Any]  # values, or Ref
    outputs: dict[str, Any]
    truncated: bool


def _var(node_id: str) -> str:
    name = re.sub(r"\W", "_", node_id.replace("/", "__"))
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"n_{name}"


def _trivial(value: Any) -> bool:
    return value is None or isinstance(value, bool) or value in ("", [], {})


def _truncated(value: Any) -> bool:
    if isinstance(value, str):
        return "… (+" in value
    if isinstance(value, list):
        return any(_truncated(v) for v in value) or (
            bool(value) and isinstance(value[-1], str) and value[-1].startswith("… +")
        )
    if isinstance(value, dict):
        return "…" in value or any(_truncated(v) for v in value.values())
    return False


def analyse(run: Run) -> tuple[list[str], list[_Call], dict[str, Any], list[str]]:
    """The run's graph inputs, tool calls with references, outputs with references, and notes."""
    if run.status != "succeeded":
        raise UsageError(f"only a succeeded run can be promoted; run {run.id} is {run.status}", run_id=run.id)
    journal = {e.key: decode(e.value) for e in run.session.store.load_journal(run.id)}
    inputs = run.inputs
    notes: list[str] = []
    calls: list[_Call] = []
    produced: list[tuple[str, str, Any]] = []  # (node_id, key, value), in completion order
    graph = run.graph
    for node in graph.nodes:
        if node.kind != "tool" or node.status != "DONE":
            if node.kind in ("wait", "llm", "step") and node.status == "DONE":
                notes.append(f"{node.id} ({node.name}) produced {node.outputs!r} during the run: kept as a literal")
            continue
        outputs = journal.get(node.id)
        if not isinstance(outputs, dict):
            raise UsageError(
                f"node {node.id} has no journaled outputs (not durable), so the run cannot be promoted exactly",
                run_id=run.id,
                node_id=node.id,
            )
        parents = set(node.parents)
        args: dict[str, Any] = {}
        truncated = False
        for name, value in (node.inputs or {}).items():
            if _truncated(value):
                truncated = True
            args[name] = _match(value, parents, produced, inputs)
        version = (node.meta or {}).get("tool_version") if isinstance(node.meta, dict) else None
        calls.append(_Call(node.id, _var(node.id), node.name, version, args, outputs, truncated))
        produced.extend((node.id, k, v) for k, v in outputs.items())
    outputs = {k: _match(v, set(), produced, inputs, prefer_latest=True) for k, v in (run.outputs or {}).items()}
    used_inputs = [k for k in inputs if _uses_input(k, calls, outputs)]
    return used_inputs, calls, outputs, notes


def _match(
    value: Any,
    parents: set[str],
    produced: list[tuple[str, str, Any]],
    inputs: dict[str, Any],
    *,
    prefer_latest: bool = True,
) -> Any:
    if _trivial(value):
        return value
    candidates = list(reversed(produced)) if prefer_latest else list(produced)
    for node_id, key, v in candidates:
        if node_id in parents and v == value:
            return Ref(node_id, key)
    for k, v in inputs.items():
        if v == value:
            return Ref(INPUTS, k)
    for node_id, key, v in candidates:
        if v == value:
            return Ref(node_id, key)
    return value


def _uses_input(name: str, calls: list[_Call], outputs: dict[str, Any]) -> bool:
    values = [*[a for c in calls for a in c.args.values()], *outputs.values()]
    return any(isinstance(v, Ref) and v.node == INPUTS and v.key == name for v in values)


def _expr(value: Any, var_of: dict[str, str]) -> str:
    if isinstance(value, Ref):
        return value.key if value.node == INPUTS else f"{var_of[value.node]}.{value.key}"
    return repr(value)


def promote_source(run: Run, name: str) -> str:
    """``@graphify`` source reproducing ``run`` (see the module docstring for the rules)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise UsageError(f"the promoted graph's name must be an identifier, got {name!r}")
    used_inputs, calls, outputs, notes = analyse(run)
    var_of = {c.node_id: c.var for c in calls}
    lines = [f"# Promoted from run {run.id} of {run.graph_name}."]
    lines += [f"# {n}" for n in notes]
    lines.append(f"@ag.graphify(name={name!r}, inputs={used_inputs!r}, outputs={list(outputs)!r})")
    lines.append(f"def {name}({', '.join(used_inputs)}):")
    counters: dict[str, int] = {}
    for c in calls:
        counters[c.tool] = counters.get(c.tool, 0) + 1
        args = ", ".join(f"{k}={_expr(v, var_of)}" for k, v in c.args.items())
        control = "" if c.node_id == f"{c.tool}_{counters[c.tool]}" else f", _id={c.var!r}"
        flag = "  # an argument was truncated in the run's record: check it" if c.truncated else ""
        lines.append(f"    {c.var} = {c.tool}({args}{control}){flag}")
    body = ", ".join(f"{k!r}: {_expr(v, var_of)}" for k, v in outputs.items())
    lines.append(f"    return {{{body}}}")
    return "\n".join(lines) + "\n"


def to_taskgraph(run: Run, name: str | None = None) -> TaskGraph:
    """The promoted graph as a :class:`TaskGraph` directly (tools are looked up by name)."""
    used_inputs, calls, outputs, _ = analyse(run)
    var_of = {c.node_id: c.var for c in calls}
    nodes: dict[str, NodeSpec] = {}
    for c in calls:
        tool = (lookup_version("tool", c.tool, c.version) if c.version else None) or lookup("tool", c.tool)
        if tool is None:
            raise UsageError(f"tool {c.tool!r} is not defined in this process: run the cell that defines it")
        refs = {k: (Ref(v.node if v.node == INPUTS else var_of[v.node], v.key).to_json() if isinstance(v, Ref) else v)
                for k, v in c.args.items()}  # fmt: skip
        deps = tuple(dict.fromkeys(var_of[v.node] for v in c.args.values() if isinstance(v, Ref) and v.node != INPUTS))
        nodes[c.var] = NodeSpec(
            c.var, c.tool, tool_version(tool), refs, deps, outputs=tuple(tool.outputs or ()) or None
        )
    outs = {k: (Ref(v.node if v.node == INPUTS else var_of[v.node], v.key).to_json() if isinstance(v, Ref) else v)
            for k, v in outputs.items()}  # fmt: skip
    return TaskGraph(name or f"{run.graph_name}_static", used_inputs, {}, outs, nodes)
