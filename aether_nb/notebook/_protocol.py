"""The widget protocol, mirrored by ``js/lib/protocol.ts``: keep both in step.

State travels kernel -> browser in synced traits (``graph``, ``messages``, ``waits``, ``notice``). Commands travel
browser -> kernel as anywidget custom messages, never as trait sync (which can stall for good on ipykernel 7.4,
FACTS.md); each carries an ``id`` and gets exactly one ``reply``.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

MAX_INLINE_IMAGE = 2 << 20
"""Images up to this size travel inside the ``messages`` trait as data URLs."""

MIN_SYNC_INTERVAL_S = 0.1
"""At most ~10 state messages per second reach the browser, however fast nodes run."""


class AnswerCommand(TypedDict):
    type: Literal["answer"]
    id: str
    token: str
    payload: Any


class UploadFile(TypedDict):
    name: str
    mime: str
    data_b64: str


class UploadCommand(TypedDict):
    type: Literal["upload"]
    id: str
    token: str
    files: list[UploadFile]


class StopCommand(TypedDict):
    type: Literal["stop"]
    id: str


class DownloadCommand(TypedDict):
    type: Literal["download"]
    id: str
    artifact_uri: str


COMMANDS = ("answer", "upload", "stop", "download")


def reply(request_id: str, *, ok: bool, error: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one reply a command gets (``ok`` false carries a message the widget shows under the control)."""
    msg: dict[str, Any] = {"type": "reply", "id": request_id, "ok": ok, **extra}
    if error is not None:
        msg["error"] = error
    return msg
