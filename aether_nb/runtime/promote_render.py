"""Writing a promotion as ``@graphify`` source (the analysis is :mod:`~aether_nb.runtime.promote`'s).

The source is meant to be pasted into the notebook that ran the agent, so every name in it is chosen with
:mod:`~aether_nb.runtime.promote_names` (tools by the names their objects are bound to, variables that hide no input,
tool or import), and everything the graph does differently from the run is said in comments at its top: values
kept or made inputs, approvals carried over, context calls left out, tools renamed or redefined.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.arguments import node_signature
from aether_nb.runtime.promote_names import Names, bound_name, root_name
from aether_nb.runtime.taskgraph import INPUTS, Ref

if TYPE_CHECKING:
    from aether_nb.runtime.promote import PromotedCall, Promotion

_P = inspect.Parameter

READY_MADE = "aether_nb.tools"
"""The module of the ready-made channel tools: promoted source imports the ones it calls (``ask_approval``), each
under a private alias (:func:`alias`)."""

IMPORTED = (READY_MADE, "aether_nb.runtime.promote_items")
"""The modules whose tools promoted source imports: the channel tools, and ``input_item`` (an element of an input)."""


def alias(helper: str) -> str:
    """The private name promoted source imports a ready-made tool as (``_ag_ask_approval``): imported under its own
    name it replaced a notebook's tool called ``ask_approval`` when the source ran, and the promotion calling both
    failed its check."""
    return f"_ag_{helper}"


@dataclass
class Rendered:
    """Promoted source, and what the promotion check needs to execute it as the notebook would."""

    source: str
    tools: dict[str, Any] = field(default_factory=dict)  # the name or expression the source calls -> the tool
    env_reads: dict[str, str] = field(default_factory=dict)  # environment variable -> the read_env node's variable
    ids: dict[str, str] = field(default_factory=dict)  # the analysis' node id -> the id the source's graph gives it


def callee(call: PromotedCall) -> str:
    """How the source calls a node's tool: by the name its object is bound to in the notebook (``double``; for
    ``@ag.tool(name="inc") def increment`` that is ``increment``, not the registered ``inc``), or by the
    expression an MCP tool gives (``calc.add``; ``odd.tools['my-tool.v2']`` for a name that is no Python)."""
    expression = getattr(call.target, "source_name", None)
    if isinstance(expression, str) and expression:
        return expression
    return bound_name(call.target, call.tool) if call.target is not None else call.tool


def expr(value: Any, var_of: dict[str, str]) -> str:
    """``value`` as source: a reference as the variable (or input expression) it is read from, else its repr."""
    if isinstance(value, Ref):
        if value.node == INPUTS:
            return var_of.get(f"{INPUTS}:{value.key}", value.key)  # an input the source reads another way
        return f"{var_of[value.node]}.{value.key}"
    if isinstance(value, list):
        return "[" + ", ".join(expr(v, var_of) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {expr(v, var_of)}" for k, v in value.items()) + "}"
    return repr(value)


def call_arguments(target: Any, args: dict[str, Any], show: Callable[[Any], str]) -> list[str]:
    """A promoted call's arguments (by parameter name, as the run recorded them) as Python source that binds them
    to the same parameters: positional-only ones and those before a ``*args`` by position, ``*args`` spread,
    ``**kwargs`` as keywords (or ``**{...}``). Written all by keyword, ``rest=[2]`` and ``kw={...}`` landed in the
    tool's ``**kw`` and ``a=`` for ``def f(a, /)`` did not build. ``show``: a value as source."""
    try:
        sig = node_signature(target) if target is not None else None
    except (AttributeError, TypeError, ValueError):  # (no signature to read: written by keyword, as it was)
        sig = None
    if sig is None:
        return [f"{k}={show(v)}" for k, v in args.items()]
    params = sig.parameters
    positional = [p for p in params.values() if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    star = next((p for p in params.values() if p.kind is _P.VAR_POSITIONAL and p.name in args), None)
    upto = len(positional) if star is not None else 0
    for i, p in enumerate(positional):
        if p.kind is _P.POSITIONAL_ONLY and p.name in args:
            upto = max(upto, i + 1)
    parts = []
    for p in positional[:upto]:  # (a gap is a parameter left at its default: written, so the next one binds right)
        parts.append(show(args[p.name]) if p.name in args else repr(None if p.default is p.empty else p.default))
    if star is not None:
        spread = args[star.name]
        parts += [show(v) for v in spread] if isinstance(spread, (list, tuple)) else [f"*{show(spread)}"]
    named = [p for p in positional[upto:] if p.name in args]
    named += [p for p in params.values() if p.kind is _P.KEYWORD_ONLY and p.name in args]
    parts += [f"{p.name}={show(args[p.name])}" for p in named]
    rest = {k: v for k, v in args.items() if k not in params}  # (a schema tool's recorded arguments are flat)
    for p in params.values():
        if p.kind is _P.VAR_KEYWORD and p.name in args:
            held = args[p.name]
            if not isinstance(held, dict):
                parts.append(f"**{show(held)}")
            else:
                rest.update(held)
    plain = {k: v for k, v in rest.items() if _keyword_name(k) and k not in params}
    parts += [f"{k}={show(v)}" for k, v in plain.items()]
    others = {k: v for k, v in rest.items() if k not in plain}
    if others:
        parts.append("**" + show(others))
    return parts


def _keyword_name(key: Any) -> bool:
    """Whether ``key`` can be written as a keyword of a call in a graph body (not one of graphify's ``_id``...)."""
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("_")


def _default(name: str, value: Any, secrets: dict[str, str | None]) -> str:
    """The default written for a computed input: never a secret's value (the source lands in the notebook)."""
    return "ag.REQUIRED" if name in secrets else repr(value)


def _input_default(name: str, defaults: dict[str, Any]) -> str:
    """The default written for an input of the agent: its default (a literal), or ``ag.REQUIRED``."""
    return repr(defaults[name]) if name in defaults else "ag.REQUIRED"


def _shown_default(name: str, value: Any, secrets: dict[str, str | None]) -> str:
    if name in secrets:
        return "a secret: pass it when you call the graph (its value is not written here)"
    return repr(value)


def render(run_id: str, agent: str, name: str, promotion: Promotion, origin: dict[str, Any] | None) -> Rendered:
    """The ``@graphify`` source of ``promotion`` as graph ``name`` (``origin``: its ``promoted_from``)."""
    written = {c.node_id: callee(c) for c in promotion.calls}
    modules: dict[str, set[str]] = {}  # the ready-made tools the source imports, by module
    helpers: set[str] = set()  # the nodes calling one of them (by its private alias)
    for c in promotion.calls:
        module = getattr(getattr(c.target, "fn", None), "__module__", "")
        if module in IMPORTED:
            modules.setdefault(module, set()).add(written[c.node_id])
            written[c.node_id] = alias(written[c.node_id])
            helpers.add(c.node_id)
    env_names = [env for env in dict.fromkeys(promotion.secrets.values()) if env is not None]
    if env_names:
        modules.setdefault(READY_MADE, set()).add("read_env")
    imported = sorted(alias(n) for names in modules.values() for n in names)
    roots = {root_name(w) for w in written.values()} | set(imported) | {"ag"}
    if name in roots:
        raise UsageError(
            f"the promoted graph cannot be named {shown(name)}: its source calls {shown(name)} (defining the graph "
            "would replace it in the notebook); choose another name",
            code="bad_promoted_name",
        )
    var_of: dict[str, str] = {}
    # (a secret read from an environment variable is a read_env node, not an input)
    shown_computed = {k: v for k, v in promotion.computed.items() if promotion.secrets.get(k) is None}
    params = list(promotion.required) + list(shown_computed)
    hiding = [p for p in params if p in roots]
    names = Names(roots if hiding else roots | set(params))
    holder = names.fresh("inputs") if hiding else ""
    if hiding:
        var_of.update({f"{INPUTS}:{k}": f"{holder}[{k!r}]" for k in params})
    env_reads: dict[str, str] = {}  # environment variable -> the read_env node's variable
    for variable in env_names:
        env_reads[variable] = names.fresh(f"read_env_{len(env_reads) + 1}")
    for key, env in promotion.secrets.items():
        if env is not None:
            var_of[f"{INPUTS}:{key}"] = f"{env_reads[env]}.value"
    var_of.update({c.node_id: names.fresh(c.var) for c in promotion.calls})

    lines = [f"# Promoted from run {run_id} of {agent}."]
    lines += [f"# {n}" for n in promotion.notes]
    if promotion.left_out:
        lines.append(
            "# NOT IN THIS GRAPH: the agent's code made these context calls (LLM calls among them) and nested agent "
            "calls, which the promoted graph does not make (add them as nodes, e.g. with aether_nb.tools' send_text, "
            "or make them in a tool):"
        )
        lines += [f"#   {line}" for line in promotion.left_out]
    lines += [
        f"# {written[c.node_id]} is the tool registered as {c.tool!r}: the source calls it by the name it is bound "
        "to where it was defined; bind that name to the tool if you call this elsewhere"
        for c in {c.tool: c for c in promotion.calls}.values()
        if written[c.node_id] != c.tool and written[c.node_id].isidentifier() and c.node_id not in helpers
    ]
    if hiding:
        lines.append(
            f"# The input(s) {', '.join(hiding)} are named like a tool or name the body calls, so the body reads its "
            f"inputs from {holder}[...] (the graph's inputs keep the agent's names)"
        )
    lines += [
        f"# {node} reads the key the run read from ${env} when the graph runs (its value is not written here)"
        for env, node in env_reads.items()
    ]
    # a value a step returned (a nested agent, a context call: listed above) is that step's value in the run, not
    # one the agent computed between its calls: said so, naming the step
    returned = {k: v for k, v in shown_computed.items() if k in promotion.sources}
    python = {k: v for k, v in shown_computed.items() if k not in promotion.sources}
    if returned:
        lines.append(
            "# Returned during the run by calls the promoted graph does not make (a nested agent's code, a context "
            "call: listed above), so a static graph cannot recompute them: they are inputs with the run's values "
            "as defaults. Pass them when you call the graph with other inputs, or make them in a tool."
        )
        lines += [
            f"#   {k} = {_shown_default(k, v, promotion.secrets)}  (returned by {promotion.sources[k]})"
            for k, v in returned.items()
        ]
    if python:
        lines.append(
            (
                "# Not traced to a tool output or a run input (the agent's code was not available, see above: they "
                "may be constants of it), so a "
                if promotion.unread
                else "# Computed in Python during the run (not a tool output, a run input or a constant of the code), "
                "so a "
            )
            + "static graph cannot recompute them: they are inputs with the run's values as defaults. Pass them when "
            "you call the graph with other inputs, or compute them in a tool."
        )
        outputs = {v.key: k for k, v in promotion.outputs.items() if isinstance(v, Ref) and v.node == INPUTS}
        lines += [
            f"#   {k} = {_shown_default(k, v, promotion.secrets)}"
            + (
                f"  (the output {outputs[k]}: the graph returns the run's value whatever its nodes give)"
                if k in outputs
                else ""
            )
            for k, v in python.items()
        ]
    if shown_computed or promotion.defaults:
        decl = ", ".join(
            [
                f"{k!r}: {repr(promotion.defaults[k]) if k in promotion.defaults else 'ag.REQUIRED'}"
                for k in promotion.required
            ]
            + [f"{k!r}: {_default(k, v, promotion.secrets)}" for k, v in shown_computed.items()]
        )
        inputs_decl = "{" + decl + "}"
    else:
        inputs_decl = repr(list(promotion.required))
    guard = "" if origin is None else f", promoted_from={origin!r}"
    lines.append("import aether_nb as ag")  # (the notebook may have imported only ``tool`` and ``graph_fn``)
    lines += [
        f"from {m} import {', '.join(f'{n} as {alias(n)}' for n in sorted(modules[m]))}"
        for m in IMPORTED
        if modules.get(m)
    ]
    lines.append(f"@ag.graphify(name={name!r}, inputs={inputs_decl}, outputs={list(promotion.outputs)!r}{guard})")
    lines.append(f"def {name}({f'**{holder}' if hiding else ', '.join(params)}):")
    # the keys read for secrets the agent computed from them; when the run's own read_env calls are nodes too, these
    # take ids after theirs (read_env_1 is the run's first call: two nodes with one id failed to build)
    read = sum(c.tool == "read_env" for c in promotion.calls)
    for i, (env, node) in enumerate(env_reads.items(), 1):
        own_id = f", _id='read_env_{read + i}'" if read else ""
        lines.append(f"    {node} = {alias('read_env')}(name={env!r}{own_id})")
    counters: dict[str, int] = {"read_env": 0 if read else len(env_reads)}
    ids: dict[str, str] = {}
    for c in promotion.calls:
        counters[c.tool] = counters.get(c.tool, 0) + 1
        args = call_arguments(c.target, c.args, lambda v: expr(v, var_of))
        # the run's own id when @graphify gives it (an MCP tool's node odd.add_1 keeps its dot), else the analysis'
        auto = f"{c.tool}_{counters[c.tool]}"
        ids[c.var] = auto if c.node_id == auto else c.var
        if ids[c.var] != auto:
            args.append(f"_id={c.var!r}")
        if c.after:  # (the order of calls that pass no data: see promote_order)
            args.append(f"_after=[{', '.join(var_of[a] for a in c.after)}]")
        if c.condition is not None:
            args.append(f"_condition={expr(c.condition, var_of)}")
        flag = "  # an argument was truncated in the run's record: check it" if c.truncated else ""
        lines.append(f"    {var_of[c.node_id]} = {written[c.node_id]}({', '.join(args)}){flag}")
    body = ", ".join(f"{k!r}: {expr(v, var_of)}" for k, v in promotion.outputs.items())
    lines.append(f"    return {{{body}}}")
    tools = {written[c.node_id]: c.target for c in promotion.calls if c.target is not None}
    return Rendered("\n".join(lines) + "\n", tools, env_reads, ids)
