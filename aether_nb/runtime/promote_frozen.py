"""The values a promoted graph holds as the run's where the run's nodes (or answers) decided them, said loudly.

A static graph recomputes what flows through references: a node's output, an input, an element of an input. Three
kinds of values do not, and a promoted graph then gives the run's value whatever its nodes give now:

* a value **computed in Python** from node outputs or inputs (``sum(p["price"] for p in prices)``): an input of the
  graph with the run's value as its default;
* a value a step the graph does not make **produced** (a question's answer, an LLM reply): kept as a literal;
* an **output that is no node's** (a constant, an input passed through) of an agent that asked an approval and
  branches: the agent may return another value after another answer (``if not approved: return {"report":
  None}``), the graph returns the run's.

Each was a comment in the source at most; an output frozen from the approval's answer (``approved=True`` returned
after a refusal) was not even that, since the answer's value was no origin promotion knew. Now an answer is the
approval node's output (promotion references it), and the rest are named by a
:class:`~aether_nb.runtime.promote_effects.PromotionWarning` and in the source (:func:`frozen`, :func:`path_note`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aether_nb.runtime.promote_inputs import shape_warning
from aether_nb.runtime.promote_trace import has_ref, short
from aether_nb.runtime.taskgraph import INPUTS, Ref
from aether_nb.store.redact import redact_text

if TYPE_CHECKING:
    from aether_nb.runtime.promote import Promotion
    from aether_nb.runtime.promote_effects import Approval
    from aether_nb.runtime.promote_trace import Tracer

__all__ = ["OUTPUT", "frozen", "path_outputs", "warning", "warning_text"]

OUTPUT = "output_"
"""How a computed input that stands for an output is named (``output_total``)."""


def _node_ref(value: Any) -> bool:
    """Whether ``value`` reads some node's output (not only inputs and literals)."""
    if isinstance(value, Ref):
        return value.node != INPUTS
    if isinstance(value, list):
        return any(_node_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_node_ref(v) for v in value.values())
    return False


def _computed_name(value: Any, computed: dict[str, Any]) -> str | None:
    return value.key if isinstance(value, Ref) and value.node == INPUTS and value.key in computed else None


def _reads(value: Any, nodes: set[str]) -> bool:
    if isinstance(value, Ref):
        return value.node in nodes
    if isinstance(value, list):
        return any(_reads(v, nodes) for v in value)
    if isinstance(value, dict):
        return any(_reads(v, nodes) for v in value.values())
    return False


def path_outputs(outputs: dict[str, Any], asked: list[Approval], branches: bool, gated: set[str]) -> list[str]:
    """The outputs that are the run's path, of a run that asked ``asked`` and whose code branches (``branches``;
    True when its source is unknown): those no node gives (a constant, an input passed through: the run's values
    after its answers) and those reading a node gated on an answer (``gated``: None when it is skipped). After
    another answer the agent may return other values: the graph returns these."""
    if not asked or not branches:
        return []
    return [k for k, v in outputs.items() if not _node_ref(v) or _reads(v, gated)]


def frozen(
    tracer: Tracer,
    outputs: dict[str, Any],
    asked: list[Approval],
    branches: bool,
    secrets: set[str],
    gated: set[str],
    unknown: bool = False,
) -> list[str]:
    """One line per value the graph holds as the run's (see the module docstring), outputs first. ``unknown``: the
    agent's code was not available (a constant of it is not known as one, so none is called computed in Python)."""
    in_python = (
        "not traced: the agent's code was not available, so it may be a constant of that code"
        if unknown
        else "computed in Python"
    )
    computed = {k: v for k, v in tracer.computed.items() if k not in secrets}
    lines: list[str] = []
    said: set[str] = set()
    for name, value, step in tracer.frozen:  # (a literal: an answer, an LLM reply)
        what = f"output {name[len(OUTPUT) :]}" if name.startswith(OUTPUT) and name[len(OUTPUT) :] in outputs else name
        lines.append(
            f"{what} = {short(value, 60)} (what {step} produced during the run, written as a literal: the graph does "
            "not make that step)"
        )
        said.add(name)
    for k, v in outputs.items():
        held = _computed_name(v, computed)
        if held is not None:
            where = tracer.sources.get(held)
            how = f"returned by {where}" if where else (in_python if unknown else f"{in_python} during the run")
            lines.append(f"output {k} = {short(computed[held], 60)} ({how}: input {held} holds it)")
            said.add(held)
    lines += [
        f"{k} = {short(v, 60)} ({f'returned by {tracer.sources[k]}' if k in tracer.sources else in_python})"
        for k, v in computed.items()
        if k not in said
    ]
    answers = ", ".join(f"{a.node_id} answered {a.outputs.get('choice')!r}" for a in asked)
    for k in path_outputs(outputs, asked, branches, gated):
        if f"{OUTPUT}{k}" in said or _computed_name(outputs[k], computed) in said:
            continue
        value = outputs[k]
        if _reads(value, gated):
            lines.append(
                f"output {k} reads a node that runs only when {answers.replace(' answered', ' is answered')} as in "
                "the run: after another answer it is None, where the agent's code (which branches) may return "
                "another value"
            )
            continue
        shown = f"input {value.key}" if isinstance(value, Ref) else short(value, 60) if not has_ref(value) else "…"
        lines.append(
            f"output {k} = {shown} (the run's value after {answers}: the agent's code branches, so after another "
            "answer it may return another value; the graph returns this one)"
        )
    return [redact_text(line) for line in lines]


def warning_text(lines: list[str]) -> str:
    """What the PromotionWarning says of ``lines`` (see :func:`frozen`)."""
    return (
        f"does not follow the agent for {len(lines)} value(s), which it cannot recompute from its nodes, answers and "
        f"inputs: {'; '.join(lines)}. With other inputs, answers or tool results these may differ from what the "
        "agent gives (they are listed at the top of the source): pass the inputs holding them when you call it "
        "(edit a literal in the source), or compute them in a tool"
    )


def warning(run_id: str, promotion: Promotion) -> str | None:
    """The one PromotionWarning of a promotion, or None: what the graph does not make (the context calls, nested
    agents and state graphs listed in ``left_out``), the values it does not follow the agent for (``frozen``), and
    the run's shape it has (``shape``, see :mod:`~aether_nb.runtime.promote_items`)."""
    said = [
        f"was made without the agent's code: {u}; so it may follow the run's path without saying where the code "
        "branches, and make constants of the code inputs holding the run's values"
        for u in promotion.unread
    ]
    if promotion.left_out:
        keys = [line.split(":", 1)[0] for line in promotion.left_out]
        code = [k for k in keys if k.startswith("line ")]
        context = [k for k in keys if k not in promotion.agents and k not in code]
        parts = [f"{len(context)} context call(s) of the agent's code ({', '.join(context)})"] if context else []
        if code:
            parts.append(f"the state graph call(s) at {', '.join(code)}")
        if promotion.agents:
            parts.append(
                f"the nested agent call(s) {', '.join(promotion.agents)} (a static graph calls tools, not agents: "
                "their tool calls are nodes, their own code and their other calls are not)"
            )
        said.append(
            f"leaves out {' and '.join(parts)}: it does not make them. They are listed at the top of the source"
        )
    if promotion.frozen:
        said.append(warning_text(promotion.frozen))
    if promotion.shape:
        said.append(shape_warning(promotion.shape))
    return f"the graph promoted from run {run_id} {'. It '.join(said)}" if said else None
