"""The widget protocol, mirrored by ``js/lib/protocol.ts``: keep both in step.

State travels kernel -> browser in synced traits (``graph``, ``messages``, ``waits``, ``notice``, ``static_html``).
Commands travel browser -> kernel as anywidget custom messages, never as trait sync (which can stall for good on
ipykernel 7.4, FACTS.md); each carries an ``id`` and gets exactly one ``reply``.

The ``graph`` trait is slim (:func:`slim_graph`): per node only what the DAG draws. The inspector fetches one
node's details (inputs, outputs, error, logs, warnings, usage) with an ``inspect`` command when it opens.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from aether_nb.runtime import status
from aether_nb.store.redact import redact_value

MAX_INLINE_IMAGE = 2 << 20
"""Images up to this size travel inside the ``messages`` trait as data URLs."""

MIN_SYNC_INTERVAL_S = 0.1
"""At most ~10 state messages per second reach the browser, however fast nodes run."""

SAVED_COPY_INTERVAL_S = 10.0
"""A running run's saved copy (its display's ``text/plain`` and ``text/html``) follows its steps within this many
seconds (longer for a large DAG, up to ``MAX_SAVED_COPY_INTERVAL_S``): each update draws its widget again (the
view hands its typed text, focus and selection over, but a click landing during a redraw is lost), and JupyterLab
saves on its own every two minutes, so a copy ten seconds behind is as good as one per step."""

MAX_SAVED_COPY_INTERVAL_S = 60.0


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


class MessageCommand(TypedDict):
    """The message box: something the user writes to the agent (``context.channel().receive()`` reads it)."""

    type: Literal["message"]
    id: str
    text: str


class ViewCommand(TypedDict):
    """A view of the widget was attached (``view``) or removed (``unview``): one live widget per run per page."""

    type: Literal["view", "unview"]
    id: str


class PingCommand(TypedDict):
    """Is this widget's kernel still there? Sent when ipywidgets reports a connection change, and every
    ``PING_INTERVAL`` of an active run; no reply within a few seconds turns the widget inert."""

    type: Literal["ping"]
    id: str


COMMANDS = ("answer", "upload", "stop", "download", "inspect", "message", "view", "unview", "ping")

SLIM_NODE_FIELDS = ("id", "name", "kind", "status", "parent", "started_at", "ended_at", "replayed")
"""Node fields the ``graph`` trait carries, plus ``shown`` (the status it shows, see
:mod:`aether_nb.runtime.status`), ``label`` (a short argument preview), ``has_error``, ``error_message``, a small
``usage``, ``where`` when a body ran on a cluster, and ``body`` when the node gave up on a sync body (see
:attr:`aether_nb.runtime.graph.GraphNode.body`)."""

MAX_LABEL = 28
"""Characters of a node's argument preview (``x=3, city='Oslo'``): enough to tell siblings apart."""

MAX_ERROR_LINE = 240
"""Characters of a failed node's error message carried in the ``graph`` trait (the header shows it)."""

DETAIL_FIELDS = ("inputs", "outputs", "error", "logs", "warnings", "usage", "calls")
"""Node fields an ``inspect`` reply carries (``{"node": {...}}``)."""

MAX_INLINE_USAGE = 256
"""A node's ``usage`` rides in the ``graph`` trait when its JSON is at most this long (token counts, cost)."""


def _short(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= MAX_LABEL else value[: MAX_LABEL - 1] + "…")
    if isinstance(value, (int, float, bool)) or value is None:
        return repr(value)
    if isinstance(value, list):  # (its length in words: "[0]" read as a list holding 0)
        return "[]" if not value else f"[{len(value)} item{'s' if len(value) > 1 else ''}]"
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    return "…"


ASK_TOOLS = frozenset({"ask_text", "ask_choices", "ask_approval", "ask_files"})
"""The question tools of :mod:`aether_nb.tools` (a ``@graphify`` graph's waits): their nodes show the question."""


def arg_preview(inputs: Any, kind: str | None = None, name: str | None = None) -> str:
    """A short preview of a call's arguments (``x=3, city='Oslo'``) that tells sibling calls of one tool apart.

    A wait shows its question (``receive()`` shows "message"), and so does a question tool's node (``name`` in
    :data:`ASK_TOOLS`): a ``@graphify`` graph's ``ask_approval`` showed ``prompt='Place order **o1…``, markdown
    and all, where an agent's showed "Place order o1 for 65 EUR?". An LLM call shows its model.
    """
    if not isinstance(inputs, dict) or not inputs:
        return ""
    asks = name in ASK_TOOLS and isinstance(inputs.get("prompt"), str)
    if kind == "wait" or asks or {"kind", "prompt"} <= set(inputs):
        prompt = inputs.get("prompt")
        text = " ".join(str(prompt).replace("**", "").replace("`", "").split()) if prompt else ""
        text = text or ("message" if inputs.get("kind") == "human" else "")
        return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
    if kind == "llm" and isinstance(inputs.get("model"), str):
        return str(inputs["model"])[:MAX_LABEL]
    parts = []
    for key, value in inputs.items():
        if str(key).startswith("_"):
            continue
        parts.append(f"{key}={_short(value)}")
    text = ", ".join(parts)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def error_line(error: Any) -> str:
    """One line saying why a node failed (``ZeroDivisionError: division by zero``)."""
    if not error:
        return ""
    if isinstance(error, dict):
        # the class name a person knows (``WaitTimeout``), not its module path (``aether_nb.errors.WaitTimeout``)
        kind, message = str(error.get("type") or "").rsplit(".", 1)[-1], error.get("message") or ""
        text = f"{kind}: {message}" if kind and message else str(kind or message)
    else:
        text = str(error)
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_LINE else text[: MAX_ERROR_LINE - 1] + "…"


def slim_node(node: dict[str, Any], shown: str | None = None, label: str | None = None) -> dict[str, Any]:
    """What the DAG needs of one node: no inputs, outputs, logs or traceback (fetched by ``inspect``)."""
    slim = {key: node.get(key) for key in SLIM_NODE_FIELDS}
    slim["replayed"] = bool(slim["replayed"])
    slim["shown"] = shown or slim["status"]
    # previews are cut short, which could cut a secret below what redaction recognises: redact first
    if label is None:
        label = arg_preview(redact_value(node.get("inputs")), node.get("kind"), node.get("name"))
    slim["label"] = label
    slim["has_error"] = bool(node.get("error"))
    if slim["has_error"]:
        slim["error_message"] = error_line(redact_value(node.get("error")))
    usage = node.get("usage")
    if usage is not None and len(json.dumps(usage, default=str)) <= MAX_INLINE_USAGE:
        slim["usage"] = usage
    if node.get("where"):
        slim["where"] = node["where"]  # the Dask worker that ran its body: the inspector names it
    if node.get("body"):
        slim["body"] = node["body"]  # a body given up on, still running in its thread or ended since
    return slim


def slim_graph(graph: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``graph`` trait's value for a full graph (``RunGraph.to_dict()`` shape): slim nodes, same edges.

    Each node carries the status it shows (:func:`aether_nb.runtime.status.shown_statuses`; a graph with
    ``cut_off``, a run nothing executes, shows no live node). A failed run carries ``failed_node`` next to its
    ``error``: the node its error was raised at, as the run recorded it (``RunFinished.failed_node``, put in the graph
    by its view), None when its body raised it; a failure a loop or the body handled is never named for it. Only a
    graph that does not say (drawn without its run) gets the deepest failed step.
    ``labels`` caches argument previews by node id (a node's inputs never change once it started; a static
    graph's node has none before it starts, nor when it ended without starting, so it is not cached until then).
    """
    nodes = graph.get("nodes", [])
    shown = status.shown_statuses(nodes, str(graph.get("status") or ""), executing=not graph.get("cut_off"))
    cache = labels if labels is not None else {}
    slim_nodes = []
    for n in nodes:
        nid = n["id"]
        label = cache.get(nid)
        if label is None:
            label = arg_preview(redact_value(n.get("inputs")), n.get("kind"), n.get("name"))
            if n.get("started_at") is not None:
                cache[nid] = label
        slim_nodes.append(slim_node(n, shown.get(nid), label))
    out = {**graph, "nodes": slim_nodes}
    if status.tone(str(graph.get("status") or "")) == "failed" and "failed_node" not in graph:
        cause = status.failure(nodes)
        out["failed_node"] = None if cause is None else cause["id"]
    return out


def node_details(node: dict[str, Any]) -> dict[str, Any]:
    """The payload of an ``inspect`` reply for one node."""
    return {key: node.get(key) for key in DETAIL_FIELDS}


def reply(request_id: str, *, ok: bool, error: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one reply a command gets (``ok`` false carries a message the widget shows under the control)."""
    msg: dict[str, Any] = {"type": "reply", "id": request_id, "ok": ok, **extra}
    if error is not None:
        msg["error"] = error
    return msg
