"""What promotion does with the agent's own context calls: the steps of a run that are not tool calls.

A promoted graph is made of the run's tool calls. The agent's code also talked to its ``NodeContext``: it asked for
approval, sent messages, wrote to the KV store or to memory, ran ``context.step`` code, and caught a tool's error to
call it again. Dropping these silently made a graph that pays without asking, so:

* an **approval** the agent asked (``context.channel().ask_approval``) is carried over as an ``ask_approval`` node
  of :mod:`aether_nb.tools`, and every tool call the run made after the answer (its descendants in the run's DAG)
  is gated on it: ``_condition={'op': 'eq', 'left': ask_approval_1.approved, 'right': True}`` (the run's answer),
  so a refusal skips them;
* every other context call is **listed** at the top of the promoted source with its step key (``kv.set_1: kv.set
  ('last_receipt', ...)``) and :class:`PromotionWarning` names them when ``run.promote()`` returns: the promoted graph
  does not make them. LLM calls are among them (a ``run_tools`` loop once), and so are nested agent calls that made
  such calls or returned a value the graph takes as an input (:mod:`~aether_nb.runtime.promote_steps`);
* a tool call that **failed** and was caught by the agent is noted (the graph leaves it out and has no retry), and
  so is one the agent **gave up on** (``asyncio.wait_for``'s timeout, a cancelled task: it ends ``CANCELLED``) and
  went on without, often to a fallback (the graph leaves it out and makes the fallback whatever its inputs).

Context calls made inside a tool's body are part of that tool (the promoted node calls the tool, which makes them
again) and are neither carried over nor listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_nb.runtime.codec import decode
from aether_nb.runtime.failures import FAILED
from aether_nb.runtime.promote_steps import Steps, agent_line, in_loop, llm_line, loop_line
from aether_nb.store.redact import redact_text

if TYPE_CHECKING:
    from aether_nb.runtime.graph import GraphNode
    from aether_nb.runtime.run import Run
    from aether_nb.store.records import JournalEntry

APPROVAL_OPTIONS = ["Approve", "Reject"]
"""The options of ``aether_nb.tools.ask_approval`` by default (a carried-over approval writes others only)."""

_FAILED_STATUSES = ("FAILED", "FAILED_TIMEOUT")
_GIVEN_UP = "CANCELLED"
"""A tool call of a run that succeeded ends cancelled when the agent's code gave up on it (``asyncio.wait_for``'s
timeout, a cancelled task, a failed sibling in a task group) and went on without it."""


class PromotionWarning(UserWarning):
    """``run.promote()`` left some of the agent's context calls out of the promoted graph (listed in the source)."""


@dataclass
class Approval:
    """An approval the run asked outside any tool: carried over as an ``ask_approval`` node."""

    node_id: str
    prompt: Any
    options: list[Any] | None  # None: the default options
    outputs: dict[str, Any]  # what the run's answer gives as the tool's outputs (approved, choice)
    parents: set[str]


def in_tool(node_id: str, tools: set[str]) -> bool:
    """Whether the step ``node_id`` (a DAG node id or a journal key, ``pay_1/kv.set_1``) ran inside a tool call's
    body: its key starts with the key of a tool node."""
    parts = node_id.split("/")
    return any("/".join(parts[:i]) in tools for i in range(1, len(parts)))


def approvals(nodes: Iterable[GraphNode], journal: dict[str, Any], tools: set[str]) -> list[Approval]:
    """The approvals asked by the agent's own code (not inside a tool) that were answered."""
    found = []
    for n in nodes:
        inputs = n.inputs if isinstance(n.inputs, dict) else {}
        if n.kind != "wait" or n.status != "DONE" or inputs.get("kind") != "approval" or in_tool(n.id, tools):
            continue
        answer = journal.get(n.id, n.outputs)
        if not isinstance(answer, dict) or "approved" not in answer:
            continue
        options = inputs.get("options")
        found.append(
            Approval(
                n.id,
                inputs.get("prompt"),
                None if options in (None, APPROVAL_OPTIONS) else list(options),
                {"approved": answer.get("approved"), "choice": answer.get("choice")},
                set(n.parents),
            )
        )
    return found


def gates(nodes: list[GraphNode], asked: list[Approval]) -> dict[str, list[Approval]]:
    """For each node, the approvals it came after in the run: those it descends from in the DAG, directly or
    through the node that contains it (a call inside a nested agent called after the answer)."""
    children: dict[str, set[str]] = {}
    for n in nodes:
        for p in n.parents:
            children.setdefault(p, set()).add(n.id)
    parent_of = {n.id: n.parent for n in nodes}
    after: dict[str, set[str]] = {}
    for a in asked:
        seen: set[str] = set()
        todo = [a.node_id]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        after[a.node_id] = seen
    out: dict[str, list[Approval]] = {}
    for n in nodes:
        chain: list[str] = []
        at: str | None = n.id
        while at is not None:
            chain.append(at)
            at = parent_of.get(at)
        out[n.id] = [a for a in asked if any(c in after[a.node_id] for c in chain)]
    return out


def failed_calls(nodes: Iterable[GraphNode], tools: set[str]) -> list[str]:
    """Notes for the tool calls that failed in the run, or that the agent gave up on, while it went on (it caught
    the error, or the timeout: the run succeeded)."""
    notes = []
    for n in nodes:
        if n.kind != "tool" or in_tool(n.id, tools):
            continue
        if n.status == _GIVEN_UP:
            notes.append(
                redact_text(
                    f"{n.id}: {n.name}({_short(n.inputs)}) was given up on during the run (cancelled: the agent's "
                    "code stopped waiting for it, e.g. asyncio.wait_for's timeout) and the agent went on without it: "
                    "the graph leaves that call out, and makes what the agent did instead whatever its inputs. To "
                    "keep the call with a time limit, give its node _timeout_s=... and decide on the fallback in a "
                    "tool"
                )
            )
            continue
        if n.status not in _FAILED_STATUSES:
            continue
        error = n.error if isinstance(n.error, dict) else {}
        why = f"{error.get('type', 'an error')}: {error.get('message', '')}".strip(": ")
        notes.append(
            redact_text(
                f"{n.id}: {n.name}({_short(n.inputs)}) failed during the run ({why[:120]}) and the agent went on (it "
                "caught the error): the graph leaves that call out. If the agent called it again to retry, the "
                "graph has no retry: run it with retry=ag.RetryPolicy(max_attempts=...)"
            )
        )
    return notes


def left_out(
    run: Run,
    entries: list[JournalEntry],
    nodes: list[GraphNode],
    tools: set[str],
    skip: set[str],
    produced: Steps | None = None,
    named: Iterable[str] = (),
) -> list[str]:
    """One line per context call of the agent's code the promoted graph does not make (``skip``: steps carried
    over, such as the approvals), its LLM calls and ``run_tools`` loops among them (they were skipped: a nested
    agent's reply was frozen into the graph with no word), and one per nested agent call that did such calls or
    returned a value the graph takes as an input (``named``), listed before its own calls (see
    :mod:`~aether_nb.runtime.promote_steps`)."""
    produced = produced if produced is not None else Steps()
    calls = {c["key"]: c for c in run.graph.calls}
    for n in nodes:
        calls.update((c["key"], c) for c in n.calls)
    said = {
        e.get("message_id"): e.get("content")
        for e in run.session.store.load_events(run.id)
        if isinstance(e, dict) and e.get("kind") == "channel_message"
    }
    waits = {n.id: n for n in nodes if n.kind == "wait"}
    by_id = {n.id: n for n in nodes}
    lines: list[tuple[str, str]] = []
    for e in entries:
        if e.key in skip or e.kind in ("tool", "graph_fn", FAILED) or e.name == "chat_turn":
            continue
        if in_tool(e.key, tools) or (e.kind == "llm" and in_loop(e.key, produced.loops)):
            continue
        if e.kind == "llm":
            what = llm_line(by_id.get(e.key), decode(e.value))
        elif e.key in produced.loops:
            what = loop_line(by_id.get(e.key), decode(e.value))
        elif e.kind == "service":
            call = calls.get(e.key, {})
            what = f"{e.name}({_short(call.get('inputs'), 80)})"
        elif e.kind == "send":
            content = said.get(e.key)
            text = content.get("text") if isinstance(content, dict) else None
            what = f"channel {e.name}({_short(text, 80) if text is not None else '...'}): not sent"
        elif e.kind == "wait":
            node = waits.get(e.key)
            inputs = node.inputs if node is not None and isinstance(node.inputs, dict) else {}
            what = (
                f"{e.name} ({inputs.get('kind', 'wait')}: {_short(inputs.get('prompt'), 60)}), answered "
                f"{_short(e.value, 60)} during the run: not asked"
            )
        elif e.kind == "step":
            what = f"context.step({e.name!r}): its code does not run"
        else:
            what = f"{e.name} ({e.kind})"
        lines.append((e.key, redact_text(f"{e.key}: {what}")))
    return _with_agents(lines, produced, tools, set(named))


def _with_agents(lines: list[tuple[str, str]], produced: Steps, tools: set[str], named: set[str]) -> list[str]:
    """``lines`` with a line for each nested agent call (outside tools) that made some of them or returned a value
    the graph takes as an input, before its first call listed (or at the end)."""
    out = [line for _, line in lines]
    agents = [
        (key, node)
        for key, node in produced.agents.items()
        if not in_tool(key, tools) and (key in named or any(k.startswith(f"{key}/") for k, _ in lines))
    ]
    for key, node in reversed(agents):
        at = next((i for i, (k, _) in enumerate(lines) if k.startswith(f"{key}/")), len(lines))
        out.insert(at, redact_text(f"{key}: {agent_line(node)}"))
        lines.insert(at, (key, ""))
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_constants(
    outputs: dict[str, Any], notes: list[str], asked: Iterable[Approval], constants: list[Any], branches: bool
) -> tuple[dict[str, Any], list[str]]:
    """``outputs`` with each one that read an approval's answer only because it equals it made the constant of the
    agent's code it also is: a branching agent returning ``{"shipped": False}`` after a refusal was promoted to
    return ``ask_approval_1.approved``, so approving the promoted graph said shipped=True with ship never called.
    As a constant of the path taken it is one of the outputs the PromotionWarning names (``path_outputs``); the
    notes saying the graph took the answer for it are dropped from ``notes``."""
    from aether_nb.runtime.promote_trace import same_value
    from aether_nb.runtime.taskgraph import Ref

    ids = {a.node_id: a for a in asked}
    if not ids or not branches:
        return outputs, notes
    changed = dict(outputs)
    for k, v in outputs.items():
        if isinstance(v, Ref) and v.node in ids and v.key in ids[v.node].outputs:
            value = ids[v.node].outputs[v.key]
            if isinstance(value, bool) and any(same_value(c, value) for c in constants):
                changed[k] = value
    kept = [n for n in notes if not any(n.startswith(f"output_{k}: ") for k in changed if changed[k] is not outputs[k])]
    return changed, kept
