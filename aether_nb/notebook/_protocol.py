"""The widget protocol, mirrored by ``js/lib/protocol.ts``: keep both in step.

State travels kernel -> browser in synced traits (``graph``, ``messages``, ``waits``, ``notice``). Commands travel
browser -> kernel as anywidget custom messages, never as trait sync (which can stall for good on ipykernel 7.4,
FACTS.md); each carries an ``id`` and gets exactly one ``reply``.

The ``graph`` trait is slim (:func:`slim_graph`): per node only what the DAG draws. The inspector fetches one
node's details (inputs, outputs, error, logs, warnings, usage) with an ``inspect`` command when it opens.
"""

from __future__ import annotations

import json
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


class InspectCommand(TypedDict):
    type: Literal["inspect"]
    id: str
    node_id: str


COMMANDS = ("answer", "upload", "stop", "download", "inspect")

SLIM_NODE_FIELDS = ("id", "name", "kind", "status", "parent", "started_at", "ended_at", "replayed")
"""Node fields the ``graph`` trait carries, plus ``has_error``, a small ``usage`` and ``where`` when a body ran on
a cluster."""

DETAIL_FIELDS = ("inputs", "outputs", "error", "logs", "warnings", "usage")
"""Node fields an ``inspect`` reply carries (``{"node": {...}}``)."""

MAX_INLINE_USAGE = 256
"""A node's ``usage`` rides in the ``graph`` trait when its JSON is at most this long (token counts, cost)."""


def slim_node(node: dict[str, Any]) -> dict[str, Any]:
    """What the DAG needs of one node: no inputs, outputs, logs or traceback (fetched by ``inspect``)."""
    slim = {key: node.get(key) for key in SLIM_NODE_FIELDS}
    slim["replayed"] = bool(slim["replayed"])
    slim["has_error"] = bool(node.get("error"))
    usage = node.get("usage")
    if usage is not None and len(json.dumps(usage, default=str)) <= MAX_INLINE_USAGE:
        slim["usage"] = usage
    if node.get("where"):
        slim["where"] = node["where"]  # the Dask worker that ran its body: the inspector names it
    return slim


def slim_graph(graph: dict[str, Any]) -> dict[str, Any]:
    """The ``graph`` trait's value for a full graph (``RunGraph.to_dict()`` shape): slim nodes, same edges."""
    return {**graph, "nodes": [slim_node(n) for n in graph.get("nodes", [])]}


def node_details(node: dict[str, Any]) -> dict[str, Any]:
    """The payload of an ``inspect`` reply for one node."""
    return {key: node.get(key) for key in DETAIL_FIELDS}


def reply(request_id: str, *, ok: bool, error: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one reply a command gets (``ok`` false carries a message the widget shows under the control)."""
    msg: dict[str, Any] = {"type": "reply", "id": request_id, "ok": ok, **extra}
    if error is not None:
        msg["error"] = error
    return msg
