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
chat transcript, the answer is validated and persisted, and a graph that waits survives a kernel restart. As in
AetherGraph, where they are dual-stage tools, an ask tool's node is itself the wait: ``WAITING_HUMAN`` while it
waits (and its concurrency slot given back), not a running node with a waiting child. Outputs
are named as in AetherGraph: ``ask_text`` -> ``text``; ``ask_choices`` -> ``choice``, ``index``; ``ask_approval``
-> ``approved``, ``choice``; ``ask_files`` -> ``files`` (dicts: name, size, mime, artifact_uri); the ``send_*``
tools -> ``ok``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.events import ChannelMessage
from aether_nb.runtime.execution import Scope
from aether_nb.runtime.tools import tool
from aether_nb.runtime.waits import Wait, WaitSpec
from aether_nb.services.channel import Message, files_text

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


async def _ask(context: NodeContext | None, name: str, spec: WaitSpec) -> Any:
    """Ask ``spec`` with the tool's own node as the wait, the way a DualStageTool's node waits, and return the
    validated answer.

    ``context.channel().ask_*`` opens its wait as a step of its caller: a node of its own, under the tool's. The
    tool's node then read RUNNING for as long as it waited (only its child read WAITING_HUMAN), where AetherGraph's
    built-in ask tools put the node itself in WAITING_HUMAN. So the wait is opened here on the node's own key (its
    status, its slot given back while it waits, found again after a restart), with the channel's adapter showing
    it, and the question and the answer are said in the chat as the channel's asks say them.
    """
    ctx = _context(context, name)
    scope, node_id, session = ctx.scope, ctx.node_id, ctx.session
    if node_id is None:  # (the function itself, called with the run's context: no node of its own to wait)
        raise UsageError(f"{name} is a tool: call it (`await {name}(...)`), not its function", code="bad_arguments")
    adapter = ctx.channel().adapter

    async def present(wait: Wait) -> None:
        await adapter.present(wait, lambda payload: session.answer(wait.token, payload))

    async def await_answer(_: Scope) -> Any:
        return await scope.await_answer(node_id, spec, present)

    await _chat_turn(ctx, "assistant", spec.prompt or "", "question")
    inputs = {"kind": spec.kind, "prompt": spec.prompt}
    value = await scope.run_step(scope.next_key("answer"), "answer", "wait", inputs, await_answer, node=False)
    if spec.kind == "files" and isinstance(value, list):
        files = [{k: f.get(k) for k in ("name", "size", "mime", "artifact_uri")} for f in value if isinstance(f, dict)]
        await _chat_turn(ctx, "user", files_text(files), "answer", files=files)
    else:
        await _chat_turn(ctx, "user", str(value.get("choice", value) if isinstance(value, dict) else value), "answer")
    return value


async def _chat_turn(
    ctx: NodeContext, role: str, text: str, turn: str, files: list[dict[str, Any]] | None = None
) -> None:
    """A question or an answer as a chat bubble (a wait shows under its question) and a memory turn, as the
    channel's asks say them: a journaled step, so never said twice."""
    scope = ctx.scope
    key = scope.next_key("chat_turn")
    adapter = ctx.channel().adapter
    mtype = "text" if files is None else "files"
    content: dict[str, Any] = {"text": text, "turn": turn} if files is None else {"text": text, "turn": turn,
                                                                                   "files": files}  # fmt: skip

    async def execute(_: Scope) -> None:
        ctx.run.emit(ChannelMessage, node_id=ctx.node_id, message_id=key, message_type=mtype, role=role,
                     content=content)  # fmt: skip
        adapter.deliver(Message(ctx.run_id, ctx.node_id, key, mtype, role, content))
        if "memory" in ctx.session.service_factories:
            await ctx.memory().record("chat", {"role": role, "text": text, "type": turn}, text=text, role=role)

    await scope.run_step(key, "chat_turn", "send", [role, text], execute, node=False)


def _prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise UsageError(f"a prompt must be a non-empty string, got {shown(prompt)}")
    return prompt


def _options(options: Any, least: int) -> list[str]:
    if isinstance(options, (str, bytes, bytearray)) or not isinstance(options, Sequence) or len(options) < least:
        raise UsageError(f"options must be a list of at least {least} strings, got {shown(options)}")
    return list(options)


@tool(outputs=["text"], name="ask_text")
async def ask_text(
    prompt: str, *, timeout_s: float | None = None, context: NodeContext | None = None
) -> dict[str, Any]:
    """Ask for a line of text; the node waits until it is answered."""
    return {"text": await _ask(context, "ask_text", WaitSpec("text", _prompt(prompt), timeout_s=timeout_s))}


@tool(outputs=["choice", "index"], name="ask_choices")
async def ask_choices(
    prompt: str, options: Sequence[str], *, timeout_s: float | None = None, context: NodeContext | None = None
) -> dict[str, Any]:
    """Ask to pick one of ``options``."""
    spec = WaitSpec("choice", _prompt(prompt), _options(options, 1), timeout_s=timeout_s)
    value = await _ask(context, "ask_choices", spec)
    return {"choice": value["choice"], "index": value["index"]}


@tool(outputs=["approved", "choice"], name="ask_approval")
async def ask_approval(
    prompt: str,
    options: Sequence[str] = ("Approve", "Reject"),
    *,
    timeout_s: float | None = None,
    context: NodeContext | None = None,
) -> dict[str, Any]:
    """Ask for approval; ``approved`` is True when the first option was picked."""
    spec = WaitSpec("approval", _prompt(prompt), _options(options, 2), timeout_s=timeout_s)
    value = await _ask(context, "ask_approval", spec)
    return {"approved": value["approved"], "choice": value["choice"]}


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
    if accept is not None and (
        not isinstance(accept, (list, tuple)) or not all(isinstance(a, str) and a for a in accept)
    ):
        raise UsageError(f"accept must be a list like ['.csv', 'image/*'], got {shown(accept)}")
    if not isinstance(multiple, bool):
        raise UsageError(f"multiple must be True or False, got {shown(multiple, 80)}")
    meta = {"accept": list(accept or []), "multiple": multiple}
    value = await _ask(context, "ask_files", WaitSpec("files", _prompt(prompt), timeout_s=timeout_s, meta=meta))
    return {"files": [{k: f[k] for k in ("name", "size", "mime", "artifact_uri")} for f in value]}


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
