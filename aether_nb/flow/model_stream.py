"""A model's streamed text in ``stream_mode="messages"``: the deltas of ``context.llm().chat(...,
stream_to=context.channel())`` inside a node, streamed as the node's message chunks.

LangGraph streams a chat model's tokens with the metadata of the node that calls it and under its subgraph's
namespace, and does not stream the finished message again when the node returns it (its id was streamed as
chunks). The deltas reach aether_nb's stream as run events (a :class:`~aether_nb.runtime.events.ChannelMessage`
per token, from the LLM call's step inside the task's step), so each task registers where its step is while it
runs (:class:`TaskStreams`, on the call's :class:`~aether_nb.flow.streaming.Sink`): an event is matched to the
task whose step holds it, and a stream the task finished names the assistant message it returns with that text.
Events are handled as they are emitted (a run's subscribers are called at once), so a delta streams before the
update of the task that made it, and a finished stream is known before the task returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.runtime.events import ChannelMessage, Event

if TYPE_CHECKING:
    from aether_nb.flow.streaming import Sink

ASSISTANT_ROLES = ("assistant", "ai")


@dataclass(slots=True)
class TaskStreams:
    """A running task, as its model streams see it: the metadata and namespace of its ``messages`` chunks,
    whether they are streamed (not a subgraph's without ``subgraphs=True``, as LangGraph's), and the streams it
    finished, ``(text, message id)`` (what names the message it returns with that text)."""

    meta: dict[str, Any]
    ns: tuple[str, ...]
    shown: bool = True
    finished: list[tuple[str, str]] = field(default_factory=list)


def stream_message_id(run_id: str, message_id: str) -> str:
    """The id of a streamed model reply (its deltas', and the message's the node returns with its text): derived
    from the run and the stream's step, since step keys start over in each turn's run while the messages of a
    thread's turns share one list, where a repeated id would replace an earlier turn's message."""
    return "msg_" + hashlib.sha1(f"{run_id}/{message_id}".encode()).hexdigest()[:16]


def streams_of(sink: Sink, node_id: str | None) -> TaskStreams | None:
    """The running task whose step holds step ``node_id`` (an LLM call or a stream in it, at any depth)."""
    while node_id:
        hit = sink.model_streams.get(node_id)
        if hit is not None:
            return hit
        node_id = node_id.rpartition("/")[0]
    return None


def stream_model_event(sink: Sink, event: Event) -> None:
    """A run event, as it is emitted: a model's streamed delta goes to ``messages`` as an assistant message dict
    ``{"role", "content", "delta": True, "id"}`` with its task's metadata and namespace; a finished stream is
    noted on its task. (A stream outside any task keeps the root namespace and ``{"node", "message_id"}``.)"""
    if not isinstance(event, ChannelMessage) or event.message_type != "stream":
        return
    content = event.content if isinstance(event.content, dict) else {}
    target = streams_of(sink, event.node_id)
    if target is not None and not target.shown:
        return  # (its message streams in full when the subgraph's node returns it, as in LangGraph)
    mid = stream_message_id(event.run_id, event.message_id)
    delta = content.get("delta")
    if isinstance(delta, str) and delta:
        msg = {"role": "assistant", "content": delta, "delta": True, "id": mid}
        if target is None:
            sink("messages", (msg, {"node": event.node_id, "message_id": event.message_id}), ())
        else:
            sink("messages", (msg, dict(target.meta)), target.ns)
    elif event.final and target is not None and not content.get("stopped"):
        text = content.get("text")
        if isinstance(text, str) and text:  # (a reply of tool calls only streams no text: nothing to name)
            target.finished.append((text, mid))


def name_streamed(msg: Any, finished: list[tuple[str, str]], seen: set[str]) -> Any:
    """``msg`` (a message a task returns) with the id of the stream it finished with the same text, when it is an
    assistant message without an id: that stream is then used up and its id counts as streamed (``seen``), so
    the message is not streamed again in full. Anything else is returned as it is."""
    if isinstance(msg, tuple) and len(msg) == 2 and msg[0] in ASSISTANT_ROLES:
        role, text = "assistant", msg[1]
    elif isinstance(msg, Mapping) and msg.get("role") in ASSISTANT_ROLES and not msg.get("id"):
        role, text = str(msg["role"]), msg.get("content")
    else:
        return msg
    for i, (streamed, mid) in enumerate(finished):
        if streamed == text:
            del finished[i]
            seen.add(mid)
            return {**msg, "id": mid} if isinstance(msg, Mapping) else {"role": role, "content": text, "id": mid}
    return msg
