"""The chat a run's widget shows, folded from the run's events (:class:`ChatFold`).

Each event is folded once, so a run of thousands of steps costs no more per flush of the widget. Each question
shows once, with its answer: an ``ask_*`` question's bubble comes from the channel; a wait that no ``ask_*``
announced (a ``DualStageTool``, a StateGraph ``interrupt()``) gets its question and answer bubbles here, from the
run's ``wait_opened``/``wait_answered`` events. A question that moved to another step (an MCP server's question
asked again under the call that may own it: its first wait closed ``"moved"``) drops its first bubble: the chat
showed it twice.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aether_nb.notebook import protocol as proto
from aether_nb.runtime.events import ChannelMessage, Event, WaitAnswered, WaitClosed, WaitOpened
from aether_nb.runtime.run import Run
from aether_nb.services.artifacts import parse_uri


def _cut_off(message: dict[str, Any]) -> dict[str, Any]:
    """A streamed bubble or a progress bar whose block never ended, as one that stopped (see ``channel.stream``)."""
    return {**message, "final": True, "content": {**message["content"], "stopped": True}}


def _answer_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "choice" in value:
        return str(value["choice"])
    return json.dumps(value, default=str)


class ChatFold:
    """The chat messages of one run (the widget's ``messages`` trait before redaction), kept up to date."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._images: dict[str, str] = {}
        self._chat: dict[str, dict[str, Any]] = {}
        self._folded = 0  # events folded into _chat so far
        self._fold_events: list[Event] | None = None
        self._questions: list[str] = []  # ask_* question bubbles not yet matched to their wait
        self._question_ids: list[str] = []  # their message ids, in the same order
        self._bubble_of: dict[str, str] = {}  # an ask_* wait's token -> its question bubble's message id
        self._announced: set[str] = set()  # wait tokens whose question the chat shows from the wait itself
        self._asked: set[str] = set()  # wait tokens of ask_* questions (their bubbles come from the channel)

    def messages(self, inbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The chat as it is now, followed by ``inbox`` (messages written to the agent and not read yet)."""
        events = self.run.event_log
        if events is not self._fold_events or len(events) < self._folded:  # a new history (resumed, evicted)
            self._fold_events = events
            self._folded = 0
            self._chat = {}
            self._questions = []
            self._question_ids = []
            self._bubble_of = {}
            self._announced = set()
            self._asked = set()
        for event in events[self._folded :]:
            self._fold(event)
        self._folded = len(events)
        if self.run.live:
            return [*self._chat.values(), *inbox]
        # Not executing in this process (rebuilt from the store after the kernel died, or out of memory while it
        # waits): a bubble still streaming or a bar still moving was cut off there, and nothing will continue it
        # (a resumed step streams again, in a new bubble). It shows as stopped, not typing.
        return [_cut_off(m) if not m["final"] else m for m in self._chat.values()] + inbox

    def _fold(self, event: Event) -> None:
        if isinstance(event, ChannelMessage):
            content = dict(event.content) if isinstance(event.content, dict) else {}
            if event.message_type == "image":
                content["data_url"] = self._image_url(content)
            if event.message_type == "text" and content.get("turn") == "question" and event.role == "assistant":
                self._questions.append(str(content.get("text", "")))
                self._question_ids.append(event.message_id)
            self._chat[event.message_id] = {
                "id": event.message_id,
                "type": event.message_type,
                "role": event.role,
                "content": content,
                "final": event.final,
                "node_id": event.node_id,
            }
        elif isinstance(event, WaitOpened):
            if event.prompt is None or event.token in self._asked:
                return  # receive() (the message box is its control), or an ask_* wait opened again on resume
            if event.token not in self._announced and event.prompt in self._questions:
                at = self._questions.index(event.prompt)  # an ask_*: its question bubble is already in the chat
                del self._questions[at]
                self._bubble_of[event.token] = self._question_ids.pop(at)
                self._asked.add(event.token)
                return
            self._announced.add(event.token)
            question: dict[str, Any] = {"text": event.prompt, "turn": "question"}
            payload = self._wait_payload(event.token)
            if payload is not None:
                question["payload"] = payload
            self._chat[f"wait:{event.token}"] = {
                "id": f"wait:{event.token}",
                "type": "text",
                "role": "assistant",
                "content": question,
                "final": True,
                "node_id": event.node_id,
            }
        elif isinstance(event, WaitClosed) and event.reason == "moved":  # asked again elsewhere: shown there
            self._chat.pop(self._bubble_of.pop(event.token, ""), None)
            self._chat.pop(f"wait:{event.token}", None)
        elif isinstance(event, WaitAnswered) and event.token in self._announced:
            self._chat[f"answer:{event.token}"] = {
                "id": f"answer:{event.token}",
                "type": "text",
                "role": "user",
                "content": {"text": _answer_text(event.answer), "turn": "answer"},
                "final": True,
                "node_id": event.node_id,
            }

    def _wait_payload(self, token: str) -> Any:
        """The payload a wait carries for whoever answers it (a StateGraph ``interrupt(value)``), if any."""
        rec = self.run.session.store.get_wait(token)
        meta = rec.meta if rec is not None and isinstance(rec.meta, dict) else {}
        value = meta.get("value")
        return None if value is None or value == (rec.prompt if rec else None) else value

    def _image_url(self, content: dict[str, Any]) -> str | None:
        uri = content.get("artifact_uri")
        if not isinstance(uri, str) or (content.get("size") or 0) > proto.MAX_INLINE_IMAGE:
            return None
        if uri not in self._images:
            hit = self.run.session.store.artifact_get(parse_uri(uri))
            if hit is None:
                return None
            self._images[uri] = f"data:{hit[0].mime};base64,{base64.b64encode(hit[1]).decode()}"
        return self._images[uri]
