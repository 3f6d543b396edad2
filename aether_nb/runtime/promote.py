"""Promotion: turn a finished graph_fn run into a static ``@graphify`` graph that reproduces it.

The run's tool calls become nodes. Each argument is traced back to where its value came from:

1. an output of an earlier call (the calls the run made just before it are tried first, then any earlier call) -> a
   reference;
2. one of the run's inputs -> a reference to the graph's input; an element of one (``skus[0]``, ``cfg["region"]``)
   -> an ``input_item`` node taking it when the graph runs (:mod:`~aether_nb.runtime.promote_items`: a loop over an
   input makes the graph the run's shape, said and enforced);
3. a constant written in the agent's source code -> a literal (a trivial value, None, True, "", [] or {}, is traced
   the same way, by exact type and with the run's order first: a tool's ``urgent=True`` passed on is a reference);
4. the answer to an approval -> a reference to the ``ask_approval`` node it is carried over as (see below); the
   answer to another question, or an LLM reply (its text), taken during the run -> a literal, noted in the source
   (the promoted graph does not ask it, calls no model: the LLM call is listed, see below);
5. anything else was **computed in Python between calls** (``double(a["y"] + 1)``). A static graph cannot
   recompute it, so it is never frozen silently: it becomes an input of the promoted graph, named after the call and
   the argument (``double_2_x``), with the run's value as its default and a comment saying so. With
   ``computed="refuse"`` the promotion lists such values and raises instead. Lists and dicts are traced element by
   element, so ``add(items=[a["y"], b["y"]])`` keeps its two references. A value a nested agent returned or a context
   call read is such an input too, its comment naming that step (:mod:`~aether_nb.runtime.promote_steps`).

A parameter of a tool left at its default (no call of the agent's code passes it, see
:mod:`~aether_nb.runtime.promote_code`) stays out of the call. A call whose result held a secret (never journaled:
``aether_nb.tools.read_env``, a login tool) is a node that runs again when the graph runs. Calls that pass no data
keep the run's order with ``_after=`` (:mod:`~aether_nb.runtime.promote_order`).

Before the source is returned it is *checked*: the source text is executed in a namespace like the notebook's and
the graph it defines is replayed against the run's journal (each node's result is looked up by tool and arguments,
no tool runs; see :mod:`~aether_nb.runtime.promote_check`) and its outputs must equal the run's. A promotion that
would not reproduce the run raises :class:`~aether_nb.errors.UsageError` saying which node differs. The source's
names are chosen so that none hides another (:mod:`~aether_nb.runtime.promote_names`): tools are called by the
name their object is bound to, and an input named like a tool makes the body read its inputs from a dict.

The agent's context calls are not tool calls (:mod:`~aether_nb.runtime.promote_effects`): an approval it asked is
carried over as an ``ask_approval`` node gating every call made after it; the others (messages, KV and memory
writes, questions, ``context.step`` code, LLM calls) are listed at the top of the source and named by a
:class:`~aether_nb.runtime.promote_effects.PromotionWarning`; a failed call the agent caught, or one it gave up on, is
noted. A nested agent is no node (``@graphify`` calls tools): its tool calls are nodes, and the agent call is listed
beside its LLM and context calls; a state graph run in the agent's body is no step of the run, so the line running it
is listed.

The graph takes every input of the agent, so it is called as the agent is (:mod:`~aether_nb.runtime.
promote_inputs`). What it holds as the run's where the run's nodes or answers decided it (computed values, literal
answers, the outputs of an approval's other branch) is named by the same warning (:mod:`~aether_nb.runtime.
promote_frozen`).

Tracing a value to its origin is :mod:`~aether_nb.runtime.promote_trace` (values compared as one truth value, so a
NumPy array a run passed is found, not a bare ValueError).

Limits: arguments are recovered from the recorded inputs, which are previews (strings over 2,000 characters and lists
over 50 items are cut short); such arguments make the check fail and are named.
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime import promote_effects
from aether_nb.runtime.arguments import node_signature
from aether_nb.runtime.codec import decode
from aether_nb.runtime.failures import FAILED
from aether_nb.runtime.promote_check import check, trace_source
from aether_nb.runtime.promote_code import (
    control_flow,
    element_names,
    iterated_names,
    names_read,
    passed_params,
    runnable_calls,
    source_constants,
    tool_defaults,
    unread_note,
    unread_of,
)
from aether_nb.runtime.promote_effects import Approval, PromotionWarning, approvals, failed_calls, gates, left_out
from aether_nb.runtime.promote_frozen import frozen, path_outputs, warning
from aether_nb.runtime.promote_inputs import declared, input_notes, remembered
from aether_nb.runtime.promote_items import TOOL_NAME, Picks, input_item
from aether_nb.runtime.promote_names import bound_name
from aether_nb.runtime.promote_order import after_edges, predecessors
from aether_nb.runtime.promote_render import render
from aether_nb.runtime.promote_secrets import env_name, unjournaled
from aether_nb.runtime.promote_steps import steps
from aether_nb.runtime.promote_trace import Tracer, is_secret, same_value, trivial
from aether_nb.runtime.registry import lookup, lookup_version
from aether_nb.runtime.taskgraph import INPUTS, NodeSpec, Ref, TaskGraph, is_ref_json, tool_version
from aether_nb.store.redact import redact_text

if TYPE_CHECKING:
    from aether_nb.runtime.graph import GraphNode
    from aether_nb.runtime.run import Run

COMPUTED_MODES = ("inputs", "refuse")


@dataclass
class PromotedCall:
    """One node of the promoted graph: a tool call of the run (or an approval it asked, carried over)."""

    node_id: str  # the run's node id
    var: str  # the promoted graph's node id
    tool: str
    version: str | None
    args: dict[str, Any]  # values, Refs, or lists/dicts holding Refs
    outputs: dict[str, Any]
    truncated: bool
    target: Any = None  # the tool object the promoted node calls (see _current_tool)
    condition: Any = None  # the approvals gating it, as a _condition holding Refs (None: ungated)
    asked: dict[str, Any] | None = None  # a node with no journaled result: the arguments the run called it with
    after: list[str] = field(default_factory=list)  # the nodes it runs after with no data from them (``_after``)


@dataclass
class Promotion:
    """What a run promotes to: graph inputs (required and computed ones with defaults), calls, outputs, notes."""

    required: list[str]  # the agent's inputs, in its order (those in ``defaults`` are optional)
    computed: dict[str, Any]  # input name -> the run's value (becomes the input's default)
    calls: list[PromotedCall]
    outputs: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    secrets: dict[str, str | None] = field(default_factory=dict)  # computed input -> environment variable or None
    left_out: list[str] = field(default_factory=list)  # context calls the promoted graph does not make
    sources: dict[str, str] = field(default_factory=dict)  # computed input -> the step whose returned value it is
    agents: list[str] = field(default_factory=list)  # the nested agent calls listed in ``left_out``
    defaults: dict[str, Any] = field(default_factory=dict)  # run inputs with the agent's default (optional ones)
    remembered: dict[str, Any] = field(default_factory=dict)  # the run's values of the inputs its code reads
    frozen: list[str] = field(default_factory=list)  # values the graph holds where the run's nodes decided them
    shape: dict[str, int] = field(default_factory=dict)  # list inputs looped over -> the run's number of elements
    unread: list[str] = field(default_factory=list)  # why an agent's code was not read (see promote_code)


def _defined_at(tool: Any) -> tuple[str, str]:
    fn = getattr(tool, "fn", tool)
    return (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", ""))


def _current_tool(name: str, version: str | None) -> Any:
    """The tool a promoted node calls: the one the run called, or its redefinition (the same function defined
    again in a cell); a tool of the same name from another module does not replace it."""
    latest = lookup("tool", name)
    ran = lookup_version("tool", name, version) if version else None
    if ran is None or (latest is not None and _defined_at(latest) == _defined_at(ran)):
        return latest
    return ran


def _var(node_id: str) -> str:
    name = re.sub(r"\W", "_", node_id.replace("/", "__"))
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"n_{name}"


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


def _refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def analyse(run: Run, *, computed: str = "inputs") -> Promotion:
    """Trace the run's tool calls (see the module docstring)."""
    if computed not in COMPUTED_MODES:
        raise UsageError(f"computed must be one of {list(COMPUTED_MODES)}, got {shown(computed)}")
    if run.status != "succeeded":
        raise UsageError(f"only a succeeded run can be promoted; run {run.id} is {run.status}", run_id=run.id)
    entries = run.session.store.load_journal(run.id)
    journal = {e.key: decode(e.value) for e in entries if e.kind != FAILED}
    inputs = run.inputs
    graph = run.graph
    produced = steps(graph.nodes, entries, journal)  # (answers, LLM replies, nested agents: see promote_steps)
    agents = [lookup(run.record.kind, run.graph_name)]
    agents += [lookup("graph_fn", n.name) for n in graph.nodes if n.kind == "graph_fn"]
    unread = unread_of([run.graph_name] + [n.name for n in graph.nodes if n.kind == "graph_fn"], agents)
    constants = [c for agent in dict.fromkeys(a for a in agents if a is not None) for c in source_constants(agent)]
    known = [a for a in dict.fromkeys(agents) if a is not None]
    reads = [names_read(a) for a in known]
    read = None if not reads or any(r is None for r in reads) else set().union(*(r for r in reads if r is not None))
    root = agents[0]
    taken = {n.id for n in graph.nodes} | {_var(n.id) for n in graph.nodes}
    indexed = element_names(root) if root is not None else None  # (the inputs whose elements the code takes)
    picks = Picks(inputs, lambda k: (read is None or k in read) and (indexed is None or k in indexed), taken)
    tracer = Tracer(inputs, constants, produced.literals, read, produced.returned, picks.ref)
    # tool-calling loops (``llm.run_tools``): a step whose own children include LLM calls; the tool calls in it are
    # the model's (a graph_fn node that calls an LLM and then tools computes their arguments in Python: not these)
    llm_nodes = {n.id: f"{n.id} ({n.name})" for n in graph.nodes if n.id in produced.loops}
    tool_ids = {n.id for n in graph.nodes if n.kind == "tool"}
    asked = {a.node_id: a for a in approvals(graph.nodes, journal, tool_ids)}
    gated = gates(graph.nodes, list(asked.values()))
    calls: list[PromotedCall] = []
    redefined: list[str] = []
    by_id = {n.id: n for n in graph.nodes}
    promoted = {n.id for n in graph.nodes if n.id in asked or _promoted_call(n, by_id)}
    before = predecessors(graph.nodes, promoted)  # (the run's order: see promote_order)
    for node in graph.nodes:
        if node.id in asked:
            calls.append(_approval(asked[node.id], tracer, gated.get(node.id, []), before[node.id]))
            # its answer is the node's output: a value the run took from it (``approved`` returned) reads the node
            tracer.produced.extend((node.id, k, v) for k, v in asked[node.id].outputs.items())
            continue
        if node.id not in promoted:
            continue  # (a call a tool's body made is the tool's own: the promoted node makes it again)
        version = (node.meta or {}).get("tool_version") if isinstance(node.meta, dict) else None
        current = _current_tool(node.name, version)
        outputs, rerun = journal.get(node.id), False
        if not isinstance(outputs, dict):
            outputs, rerun = unjournaled(run, node), True
        # the calls the run made just before this one: a value equal to one of their outputs came from it first
        parents = set(node.parents) | before[node.id]
        var = _var(node.id)
        args: dict[str, Any] = {}
        truncated = False
        chooser = llm_nodes.get(node.parent) if node.parent is not None else None
        defaults = tool_defaults(current) if chooser is None else {}
        passed = passed_params(known, current, _call_names(node.name, current)) if defaults else None
        spread = _spread_params(current)
        tracer.among((node.inputs or {}).values())
        for name, value in (node.inputs or {}).items():
            truncated = truncated or _truncated(value)
            if chooser is not None:  # a call the model made (run_tools): its reply, not a value of the code
                args[name] = tracer.chosen(value, f"{var}_{name}")
            elif name in defaults and same_value(value, defaults[name]):
                # the run records a call's inputs with its defaults bound: a parameter no call of the agent's code
                # passes was left at its default (not computed); one that may be passed is traced, and is the
                # default when nothing else holds its value (a trivial one, None or False, when it is not known
                # whether the code passes it: many outputs hold None, and the default is the likelier origin)
                if name in (passed or ()) or (passed is None and not trivial(value)):
                    found = tracer.origin(value, parents, f"{var}_{name}", fallback=_DEFAULT)
                    if found is not _DEFAULT:
                        args[name] = found
            elif spread.get(name) is inspect.Parameter.VAR_POSITIONAL and isinstance(value, (list, tuple)):
                # each value of a *args by itself: the source spreads a list (a reference cannot be spread)
                args[name] = [tracer.origin(v, parents, f"{var}_{name}_{i}") for i, v in enumerate(value, 1)]
            elif spread.get(name) is inspect.Parameter.VAR_KEYWORD and isinstance(value, dict):
                args[name] = {k: tracer.origin(v, parents, f"{var}_{name}_{k}") for k, v in value.items()}
            else:
                args[name] = tracer.origin(value, parents, f"{var}_{name}")
        if chooser is not None:
            tracer.notes.append(f"{node.id}: its arguments were chosen by the LLM ({chooser}) during the run: kept as "
                                "literals")  # fmt: skip
        now = None if current is None else (getattr(current, "version", None) or tool_version(current))
        if version and now is not None and now != version and node.name not in redefined:
            redefined.append(node.name)
        condition = _gate(gated.get(node.id, []))
        # a call whose result was not journaled (it held a secret) is checked against what the run called it with
        given = {k: node.inputs[k] for k in args} if rerun and isinstance(node.inputs, dict) else None
        call = PromotedCall(node.id, var, node.name, version, args, outputs, truncated, current, condition, given)
        calls.append(call)
        tracer.produced.extend((node.id, k, v) for k, v in outputs.items())
    # an output equal to a tool's result is that result before it is an input passed through (the agent returned
    # what a tool computed: an input of the same value is the coincidence of one run)
    made = {node_id for node_id, _, _ in tracer.produced}
    tracer.among((run.outputs or {}).values())
    outs = {k: tracer.origin(v, made, f"output_{k}") for k, v in (run.outputs or {}).items()}
    calls = _with_picks(picks, calls, outs, iterated_names(root) if root is not None else None)
    deps = {
        c.node_id: [r.node for v in [*c.args.values(), c.condition] for r in _refs(v) if r.node != INPUTS]
        for c in calls
    }
    after = after_edges([c.node_id for c in calls], deps, before)
    for c in calls:
        c.after = after.get(c.node_id, [])
    if tracer.computed and computed == "refuse":
        listing = "; ".join(f"{name} = {value!r}" for name, value in tracer.computed.items())
        raise UsageError(
            f"run {run.id} passed values computed in Python between calls, which a static graph cannot recompute: "
            f"{listing}. Compute them in a tool (so they become nodes), or promote with computed='inputs' to make "
            "each one an input of the graph (the run's value as its default)",
            run_id=run.id,
            code="computed_values",
        )
    used = {r.key for r in _all_refs(calls, outs) if r.node == INPUTS}
    graph_inputs = declared(inputs, root, used)
    flow = [f for agent in dict.fromkeys(a for a in agents if a is not None) for f in control_flow(agent)]
    notes = [unread_note(u) for u in unread]
    if flow:
        notes.append(
            f"This graph is the path run {run.id} took: the agent's code branches, loops or catches errors "
            f"({'; '.join(flow[:4])}{'; ...' if len(flow) > 4 else ''}), and a static graph calls the same tools "
            "whatever its inputs. With other inputs the agent may call other tools, or the same ones another number "
            "of times: check before reusing it, or move the decision into a tool"
        )
    notes += list(dict.fromkeys(tracer.notes))
    notes += failed_calls(graph.nodes, tool_ids)
    notes += [
        f"{a.node_id}: the approval the agent asked is a node, and the calls the run made after it run only when it "
        f"is answered as in the run (approved={a.outputs.get('approved')!r}); otherwise they are skipped"
        for a in asked.values()
    ]
    branches = bool(flow) or read is None
    shape = {p.input: p.length for p in picks.made.values() if p.length is not None}
    notes += input_notes(run.id, graph_inputs.names, used, shape)
    notes += list(picks.notes.values())
    gated_calls = {c.node_id for c in calls if c.condition is not None}
    outs, notes = promote_effects.answer_constants(
        outs, notes, asked.values(), constants, branches
    )  # (a refusal's False)
    held = path_outputs(outs, list(asked.values()), branches, gated_calls)
    if held:
        answered = ", ".join(f"{a.node_id} was answered {a.outputs.get('choice')!r}" for a in asked.values())
        notes.append(
            f"{', '.join(held)}: the run returned {'this output' if len(held) == 1 else 'these outputs'} after "
            f"{answered}, and the graph gives {'it' if len(held) == 1 else 'them'} as in the run (or None, from a "
            "node skipped after another answer): the agent's code branches, so after another answer it may return "
            "other values (see the warning)"
        )
    notes += [
        f"{name} was redefined after run {run.id}: the graph calls its current code, which may not give the run's "
        "results (the promotion was checked against the run's journal, without running anything)"
        for name in redefined
    ]
    secrets = {k: env_name(v) for k, v in tracer.computed.items() if is_secret(v)}
    # a nested agent is listed when what it did is (its LLM calls, context calls) or a value it returned is an input
    named = {k for k in produced.agents for label in tracer.sources.values() if label.startswith(f"{k}, ")}
    dropped = left_out(run, entries, graph.nodes, tool_ids, set(asked), produced, named)
    sources = {k: v for k, v in tracer.sources.items() if k not in secrets}
    agents = [k for k in (line.split(":", 1)[0] for line in dropped) if k in produced.agents]
    # a state graph run in the agent's body with astream (or another runnable) is a turn of its own, no step of this
    # run: said, as the run cannot show it (an ``ainvoke`` is a step, ``flow.<graph>.ainvoke``: listed above)
    turns_are_steps = any(line.startswith("flow.") for line in dropped)
    dropped += [
        redact_text(
            f"{line.split(':', 1)[0]} of {getattr(a, 'name', '?')}:{line.split(':', 1)[1]} runs a state graph (or "
            "another runnable) in the agent's code: its turn is no step of this run, so the graph does not run it "
            "(nor its LLM and tool calls), and a value it produced may be an input of the graph below"
        )
        for a in known
        for line in runnable_calls(a)
        if not (turns_are_steps and ".ainvoke(" in line)
    ]
    return Promotion(
        graph_inputs.names,
        dict(tracer.computed),
        calls,
        outs,
        notes,
        secrets,
        dropped,
        sources,
        agents,
        graph_inputs.defaults,
        remembered(inputs, graph_inputs, read),
        frozen(tracer, outs, list(asked.values()), branches, set(secrets), gated_calls, bool(unread)),
        shape,
        unread,
    )


def _with_picks(
    picks: Picks, calls: list[PromotedCall], outputs: dict[str, Any], iterated: set[str] | None
) -> list[PromotedCall]:
    """``calls`` after the ``input_item`` nodes they (or ``outputs``) read, each taking an element of a run input
    (see :mod:`~aether_nb.runtime.promote_items`), with the lengths the graph's shape requires."""
    picks.keep({r.node for r in _all_refs(calls, outputs)})
    picks.shape(iterated)
    version = getattr(input_item, "version", None)
    made = [
        PromotedCall(
            p.node_id,
            p.node_id,
            TOOL_NAME,
            version,
            picks.arguments(p),
            {"value": p.value},
            False,
            input_item,
            asked=picks.given(p),
        )
        for p in picks.made.values()
    ]
    return made + calls


_DEFAULT = object()
"""What the tracing of a parameter holding its default gives when nothing else holds its value: the call leaves it
out (the tool's default), rather than a computed input."""


def _promoted_call(node: GraphNode, by_id: dict[str, GraphNode]) -> bool:
    """Whether ``node`` becomes a node of the promoted graph: a tool call the agent's code made that succeeded."""
    return node.kind == "tool" and node.status == "DONE" and not _inside_tool(node.parent, by_id)


def _call_names(registered: str, tool: Any) -> set[str]:
    """The names the agent's code may call a tool by: registered, its function's, the one it is bound to."""
    fn = getattr(tool, "fn", None)
    own = getattr(fn, "__name__", None)
    names = {registered, bound_name(tool, registered)} if tool is not None else {registered}
    return names | ({own} if isinstance(own, str) else set())


def _spread_params(tool: Any) -> dict[str, Any]:
    """The ``*args`` and ``**kwargs`` parameters of ``tool`` by name, with their kinds ({} when unknown)."""
    try:
        sig = node_signature(tool) if tool is not None else None
    except (AttributeError, TypeError, ValueError):
        sig = None
    if sig is None:
        return {}
    spread = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name: p.kind for p in sig.parameters.values() if p.kind in spread}


def _inside_tool(parent: str | None, by_id: dict[str, Any]) -> bool:
    """Whether a node whose parent is ``parent`` was made inside a tool's body (at any depth). Such a call was
    promoted as a node of its own beside the tool that made it: the promoted graph then made it twice."""
    while parent is not None:
        node = by_id.get(parent)
        if node is None:
            return False
        if node.kind == "tool":
            return True
        parent = node.parent
    return False


def _gate(asked: list[Approval]) -> Any:
    """The ``_condition`` of a call the run made after ``asked`` were answered: each answered as in the run."""
    each = [{"op": "eq", "left": Ref(a.node_id, "approved"), "right": a.outputs.get("approved")} for a in asked]
    return None if not each else each[0] if len(each) == 1 else {"op": "and", "args": each}


def _approval(asked: Approval, tracer: Tracer, before: list[Approval], came_after: set[str]) -> PromotedCall:
    """The ``ask_approval`` node an approval of the agent's code becomes (its prompt traced as any argument)."""
    from aether_nb.tools import ask_approval  # (the ready-made channel tools are built on the runtime)

    var = _var(asked.node_id)
    given: dict[str, Any] = {"prompt": asked.prompt}
    if asked.options is not None:
        given["options"] = asked.options
    tracer.among(given.values())
    args = {k: tracer.origin(v, asked.parents | came_after, f"{var}_{k}") for k, v in given.items()}
    version = getattr(ask_approval, "version", None)
    return PromotedCall(
        asked.node_id, var, "ask_approval", version, args, asked.outputs, False, ask_approval, _gate(before), given
    )


def _all_refs(calls: list[PromotedCall], outputs: dict[str, Any]) -> list[Ref]:
    return [r for c in calls for v in c.args.values() for r in _refs(v)] + [
        r for v in outputs.values() for r in _refs(v)
    ]


def _to_json(value: Any, var_of: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return Ref(value.node if value.node == INPUTS else var_of[value.node], value.key).to_json()
    if isinstance(value, list):
        return [_to_json(v, var_of) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v, var_of) for k, v in value.items()}
    return value


def build(run: Run, name: str, promotion: Promotion) -> TaskGraph:
    """The promoted graph as a :class:`TaskGraph` (tools looked up by name and code version)."""
    var_of = {c.node_id: c.var for c in promotion.calls}
    nodes: dict[str, NodeSpec] = {}
    for c in promotion.calls:
        # the current definition (the promoted source calls the tool by name, so it runs the current code: a
        # redefinition since the run is noted in the source), else the one the run called
        tool = c.target if c.target is not None else _current_tool(c.tool, c.version)
        if tool is None:
            raise UsageError(f"tool {shown(c.tool)} is not defined in this process: run the cell that defines it")
        refs = {k: _to_json(v, var_of) for k, v in c.args.items()}
        used = [*c.args.values(), c.condition]
        deps = tuple(
            dict.fromkeys(
                [*(var_of[r.node] for v in used for r in _refs(v) if r.node != INPUTS), *(var_of[a] for a in c.after)]
            )
        )
        outputs = tool.outputs if hasattr(tool, "outputs") else tool.tool_outputs
        condition = None if c.condition is None else _to_json(c.condition, var_of)
        nodes[c.var] = NodeSpec(
            c.var, c.tool, tool_version(tool), refs, deps, condition, outputs=tuple(outputs or ()) or None
        )
    outs = {k: _to_json(v, var_of) for k, v in promotion.outputs.items()}
    required = [k for k in promotion.required if k not in promotion.defaults]
    graph = TaskGraph(name, required, {**promotion.defaults, **promotion.computed}, outs, nodes)
    graph.promoted_from = _origin(run, promotion)
    return graph


def _origin(run: Run, promotion: Promotion) -> dict[str, Any] | None:
    """What the promoted graph remembers of the run when some of its inputs were computed (see check_inputs)."""
    computed = [k for k in promotion.computed if promotion.secrets.get(k) is None]  # env reads are never stale
    if not computed:
        return None
    return {
        "run": run.id,
        "inputs": promotion.remembered,
        "computed": computed,
    }


def promoted_name(run: Run, name: Any) -> str:
    """``name``, or ``<agent>_static`` for None only (``0`` and ``""`` took that default silently; an array broke)."""
    chosen = f"{run.graph_name}_static" if name is None else name
    if not isinstance(chosen, str) or not chosen.isidentifier() or keyword.iskeyword(chosen):
        raise UsageError(
            f"the promoted graph's name must be an identifier string (None: {run.graph_name}_static), got "
            f"{shown(chosen, 80)}",
            code="bad_name",
        )
    return chosen


def promote_source(run: Run, name: str | None, *, computed: str = "inputs") -> str:
    """``@graphify`` source reproducing ``run`` (see the module docstring for the rules); checked before returned.

    A secret the run passed is never written into the source (it is printed in the notebook and saved with it): one
    the agent read from an environment variable becomes a ``read_env`` node reading it when the graph runs (never
    an input: a run's inputs are stored, redacted, and a run with a secret input cannot resume after a restart);
    any other becomes a required input. ``name`` None: ``<agent>_static``.

    The check runs on the text: the source is executed in a namespace like the notebook's and the graph it defines
    is replayed against the run's journal (see :mod:`~aether_nb.runtime.promote_exec`). Context calls of the agent's
    code that the graph does not make are listed in the source and named by a :class:`PromotionWarning`.
    """
    name = promoted_name(run, name)
    promotion = analyse(run, computed=computed)
    built = build(run, name, promotion)
    rendered = render(run.id, run.graph_name, name, promotion, _origin(run, promotion))
    traced = trace_source(rendered.source, name, rendered.tools)
    ids = rendered.ids
    reads = {n for n, spec in traced.nodes.items() if n not in ids.values() and spec.tool == "read_env"}
    extra = [n for n in traced.nodes if n not in ids.values() and n not in reads]
    differ = [
        n
        for n, spec in built.nodes.items()
        if ids.get(n) not in traced.nodes
        or (traced.nodes[ids[n]].tool, traced.nodes[ids[n]].condition) != (spec.tool, _renamed(spec.condition, ids))
        or set(traced.nodes[ids[n]].deps) - reads != {ids.get(d, d) for d in spec.deps}  # (the order: _after too)
    ]
    if extra or differ:
        raise UsageError(
            f"promotion check failed: the promoted source of {name} defines other nodes than the promotion found "
            f"({', '.join(extra + differ)}). This is a bug of run.promote(): please report it with the agent's code",
            run_id=run.id,
            code="promotion_check",
        )
    answers = _answers(promotion, ids)
    for node_id, spec in traced.nodes.items():
        env = spec.inputs.get("name") if spec.tool == "read_env" and isinstance(spec.inputs, dict) else None
        if isinstance(env, str) and node_id not in answers:  # (read when the graph runs: never journaled)
            answers[node_id] = (None, {"value": os.environ.get(env)})
    check(run, traced, answers, promotion.computed)
    said = warning(run.id, promotion)
    if said is not None:
        warnings.warn(PromotionWarning(said), stacklevel=3)
    return rendered.source


def _answers(promotion: Promotion, ids: dict[str, str]) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any]]]:
    """What the check takes as the results of the nodes whose result the journal does not hold (by their ids in the
    graph checked): the approvals carried over (the run asked them: no tool call) and the calls whose result held a
    secret (never journaled; the run's values, still in memory)."""
    return {ids.get(c.var, c.var): (c.asked, c.outputs) for c in promotion.calls if c.asked is not None}


def _renamed(value: Any, ids: dict[str, str]) -> Any:
    """A JSON value whose references name nodes by the ids the promoted source gives them."""
    if is_ref_json(value):
        node, key = value["$ref"]
        return Ref(ids.get(node, node), key).to_json()
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, ids) for k, v in value.items()}
    return value


def to_taskgraph(run: Run, name: str | None = None, *, computed: str = "inputs") -> TaskGraph:
    """The promoted graph as a checked :class:`TaskGraph` directly (tools are looked up by name)."""
    graph_name = promoted_name(run, name)
    promotion = analyse(run, computed=computed)
    graph = build(run, graph_name, promotion)
    check(run, graph, _answers(promotion, {}))
    return graph
