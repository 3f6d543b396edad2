"""Ready-made channel tools, usable as nodes of a ``@graphify`` graph (and awaited in a ``graph_fn``), like
AetherGraph's built-in toolset (``from aethergraph.tools import ask_text``).

::

    from aether_nb.tools import ask_text, ask_approval, send_text

    @ag.tool(outputs=["text"])
    def welcome(company: str, name: str) -> dict:
        return {"text": f"Welcome to {company}, {name}!"}  # text from values: built in a tool, when they exist

    @ag.graphify(name="onboard", inputs=["company"], outputs=["greeting"])
    def onboard(company):
        name = ask_text(prompt="Your name?")                  # a node that waits: WAITING in the DAG
        ok = ask_approval(prompt="Send the welcome mail?")
        greeting = welcome(company=company, name=name.text)
        send_text(text=greeting.text, _condition={"op": "eq", "left": ok.approved, "right": True})
        return {"greeting": greeting.text}

Each tool asks through the run's channel (``context.channel()``), so the question shows in the run widget and the
chat transcript, the answer is validated and persisted, and a graph that waits survives a kernel restart. Outputs
are named as in AetherGraph: ``ask_text`` -> ``text``; ``ask_choices`` -> ``choice``, ``index``; ``ask_approval``
-> ``approved``, ``choice``; ``ask_files`` -> ``files`` (dicts: name, size, mime, artifact_uri); the ``send_*``
tools -> ``ok``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.tools import tool

__all__ = [
    "ask_approval",
    "ask_choices",
    "ask_files",
    "ask_text",
    "read_env",
    "send_file",
    "send_markdown",
    "send_text",
]


def _context(context: NodeContext | None, name: str) -> NodeContext:
    if context is None:
        raise UsageError(
            f"{name} talks to a run's channel, so it runs inside a run: as a node of a @graphify graph, or "
            f"`await {name}(...)` in a graph_fn",
            code="channel_outside_run",
        )
    return context


@tool(outputs=["text"], name="ask_text")
async def ask_text(
    prompt: str, *, timeout_s: float | None = None, context: NodeContext | None = None
) -> dict[str, Any]:
    """Ask for a line of text; the node waits until it is answered."""
    return {"text": await _context(context, "ask_text").channel().ask_text(prompt, timeout_s=timeout_s)}


@tool(outputs=["choice", "index"], name="ask_choices")
async def ask_choices(
    prompt: str, options: Sequence[str], *, timeout_s: float | None = None, context: NodeContext | None = None
) -> dict[str, Any]:
    """Ask to pick one of ``options``."""
    result = await _context(context, "ask_choices").channel().ask_choices(prompt, list(options), timeout_s=timeout_s)
    return {"choice": result.choice, "index": result.index}


@tool(outputs=["approved", "choice"], name="ask_approval")
async def ask_approval(
    prompt: str,
    options: Sequence[str] = ("Approve", "Reject"),
    *,
    timeout_s: float | None = None,
    context: NodeContext | None = None,
) -> dict[str, Any]:
    """Ask for approval; ``approved`` is True when the first option was picked."""
    channel = _context(context, "ask_approval").channel()
    result = await channel.ask_approval(prompt, list(options), timeout_s=timeout_s)
    return {"approved": result.approved, "choice": result.choice}


@tool(outputs=["files"], name="ask_files")
async def ask_files(
    prompt: str,
    accept: Sequence[str] | None = None,
    multiple: bool = True,
    *,
    timeout_s: float | None = None,
    context: NodeContext | None = None,
) -> dict[str, Any]:
    """Ask for file uploads; each is stored as an artifact (``context.artifacts().to_local_path(uri)`` gives a
    path)."""
    channel = _context(context, "ask_files").channel()
    refs = await channel.ask_files(
        prompt, accept=list(accept) if accept is not None else None, multiple=multiple, timeout_s=timeout_s
    )
    return {"files": [{"name": f.name, "size": f.size, "mime": f.mime, "artifact_uri": f.artifact_uri} for f in refs]}


@tool(outputs=["ok"], name="send_text")
async def send_text(text: str, *, context: NodeContext | None = None) -> dict[str, Any]:
    """Say ``text`` in the run's chat."""
    await _context(context, "send_text").channel().send_text(str(text))
    return {"ok": True}


@tool(outputs=["ok"], name="send_markdown")
async def send_markdown(text: str, *, context: NodeContext | None = None) -> dict[str, Any]:
    """Say ``text`` in the run's chat, rendered as Markdown."""
    await _context(context, "send_markdown").channel().send_markdown(str(text))
    return {"ok": True}


@tool(outputs=["ok"], name="send_file")
async def send_file(path: str, *, context: NodeContext | None = None) -> dict[str, Any]:
    """Send a file (stored as an artifact) to the run's chat."""
    await _context(context, "send_file").channel().send_file(pathlib.Path(path))
    return {"ok": True}


@tool(outputs=["value"], name="read_env")
async def read_env(name: str) -> dict[str, Any]:
    """The value of the environment variable ``name``, read when the node runs.

    How a static graph gets an API key (a promoted graph reads the keys its agent read this way): as a node's
    result it is redacted wherever it is stored or shown and never journaled, so the node reads it again when the
    run resumes, while a key passed as a graph *input* is stored redacted and keeps the run from resuming after a
    restart.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"read_env takes the name of an environment variable, got {name!r}")
    value = os.environ.get(name)
    if value is None:
        raise UsageError(
            f"the environment variable {name} is not set in this kernel: set it (os.environ[{name!r}] = ..., or in "
            "the environment Jupyter was started from) and run the graph again",
            code="env_missing",
        )
    return {"value": value}
