"""What a node's return becomes: writes (in order) plus where it asked to go; and a turn's input or an edit as writes.

Apart from :mod:`aether_nb.flow.nodes` (which re-exports these names) only to keep each module short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.messages import assistant_message, with_ids
from aether_nb.flow.state import ROOT, StateSpec, Write
from aether_nb.flow.types import Command, InvalidUpdate, Send

__all__ = ["NodeResult", "input_writes", "normalise_return", "update_writes"]


@dataclass(slots=True)
class NodeResult:
    """A node's return as writes (in order) plus where it asked to go (names and Sends)."""

    writes: list[Write]
    goto: list[str | Send]


def normalise_return(raw: Any, spec: StateSpec, node: str) -> NodeResult:
    """A node's return as :class:`NodeResult`.

    Accepts None, a dict of state keys, a :class:`Command`, a list (or tuple) mixing Commands and updates, a state
    object (its fields, as LangGraph writes them), and Agentflow's message returns (a message, a string, or a list
    of them, appended to ``messages``).

    Raises:
        InvalidUpdate: a return the graph cannot use.
    """
    if type(raw) is dict and spec.kind != "root" and "role" not in raw:  # (most returns: a dict of state keys)
        return NodeResult(spec.node_writes(list(zip(map(str, raw), raw.values(), strict=True)), node), [])
    if isinstance(raw, Command):
        return NodeResult(_command_writes(raw, spec, node), _goto_of(raw, node))
    if isinstance(raw, (list, tuple)) and any(isinstance(x, Command) for x in raw):  # (a tuple too, as LangGraph)
        writes: list[Write] = []
        goto: list[str | Send] = []
        for item in raw:
            if isinstance(item, Command):
                writes.extend(_command_writes(item, spec, node))
                goto.extend(_goto_of(item, node))
            else:
                writes.extend(_update_writes(item, spec, node))
        return NodeResult(writes, goto)
    return NodeResult(_update_writes(raw, spec, node), [])


def _command_writes(cmd: Command[Any], spec: StateSpec, node: str) -> list[Write]:
    if cmd.resume is not None:
        raise InvalidUpdate(
            f"node {shown(node)} returned Command(resume=...): resume is an input of ainvoke, not a return"
        )
    update = cmd.update
    if spec.kind != "root" and isinstance(update, (list, tuple)) and update and all(_is_pair(t) for t in update):
        return spec.known([(str(k), v) for k, v in update], f"node {node!r}")
    return _update_writes(update, spec, node)


def _is_pair(t: Any) -> bool:
    return isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and not _looks_like_message_pair(t)


def _looks_like_message_pair(t: tuple[Any, ...]) -> bool:
    return t[0] in ("human", "user", "ai", "assistant", "system", "tool") and isinstance(t[1], str)


def _goto_of(cmd: Command[Any], node: str) -> list[str | Send]:
    targets = cmd.goto_list()
    for t in targets:
        if not isinstance(t, (str, Send)):
            raise InvalidUpdate(
                f"node {shown(node)} returned Command(goto={shown(cmd.goto)}): targets are node names or Sends"
            )
    return targets


def _update_writes(raw: Any, spec: StateSpec, node: str) -> list[Write]:
    if raw is None:
        return []
    if spec.kind == "root":
        return [(ROOT, raw)]
    if isinstance(raw, Mapping) and "role" not in raw:
        return spec.node_writes([(str(k), v) for k, v in raw.items()], node)
    as_object = spec.object_writes(raw)
    if as_object is not None:
        return spec.known(as_object, f"node {node!r}")
    if isinstance(raw, (list, tuple, str, Mapping)) or hasattr(raw, "role"):
        if spec.fields is not None and "messages" not in spec.fields:
            raise InvalidUpdate(
                f"node {shown(node)} returned {type(raw).__name__} {raw!r:.80}: return a dict of state keys (the state "
                f"{spec.name} has no 'messages' key to append messages to), a Command, or None",
                code="bad_return",
            )
        items = list(raw) if isinstance(raw, list) else [raw]
        # Agentflow's node returning text answers as the assistant (written under "messages", a string is a user's)
        return [("messages", [assistant_message(m) if isinstance(m, str) else m for m in items])]
    raise InvalidUpdate(
        f"node {shown(node)} returned a {type(raw).__name__}; return a dict of state keys, a Command, a list of "
        f"messages, a {spec.name} object, or None",
        code="bad_return",
    )


def _agentflow_state(spec: StateSpec, value: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """Agentflow's ``{"state": {field: value}}`` input (edits of the state's fields, e.g. a reviewer's decision
    given when resuming a breakpoint) as the fields themselves, when the state has no ``state`` key of its own:
    it was dropped as an unknown key and the paused node ran without the edit. Agentflow's ``current_node``
    (moving the cursor) has no counterpart here: refused, saying what to use."""
    edits = value.get("state")
    if not isinstance(edits, Mapping) or spec.fields is None or "state" in spec.fields:
        return value
    if "current_node" in edits:
        raise UsageError(
            f"{where}: Agentflow's state.current_node (moving the cursor) is not supported; route with "
            "update_state(config, values, as_node=...) or Command(goto=...)",
            code="unsupported_input",
        )
    return {**{k: v for k, v in value.items() if k != "state"}, **edits}


def input_writes(spec: StateSpec, value: Any, where: str) -> list[Write]:
    """A turn's input as writes: only the input schema's keys, as LangGraph maps an input to its input channels;
    messages to an ``add_messages`` key get ids and default to the user's role."""
    return _writes_of(spec, value, where, spec.input_keys)


def update_writes(spec: StateSpec, value: Any, where: str) -> list[Write]:
    """An edit (``aupdate_state``'s values, ``Command(update=...)`` given to a call) as writes: any key of the state
    — its private keys and those outside ``input_schema`` too — as LangGraph's edits write any channel of the graph
    (an edit is a node's write, not an input); messages as in :func:`input_writes`."""
    return _writes_of(spec, value, where, None)


def _writes_of(spec: StateSpec, value: Any, where: str, keys: Iterable[str] | None) -> list[Write]:
    if value is None:
        return []
    if isinstance(value, Command):
        return normalise_return(Command(update=value.update), spec, where).writes
    if spec.kind == "root":
        return [(ROOT, value)]
    as_object = spec.object_writes(value)
    if as_object is not None:
        writes = spec.known(as_object, where, keys)
    elif isinstance(value, Mapping):
        value = _agentflow_state(spec, value, where)
        writes = spec.known([(str(k), v) for k, v in value.items()], where, keys)
    else:
        raise InvalidUpdate(
            f"{where} takes a dict of state keys (e.g. {{'messages': [...]}}), a {spec.name} object or None, got "
            f"{type(value).__name__}"
        )
    out: list[Write] = []
    for k, v in writes:
        if spec.is_messages(k):
            items = v if isinstance(v, list) else [v]
            v = with_ids(items, default_role="user")
        out.append((k, v))
    return out
