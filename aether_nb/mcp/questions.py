"""An MCP server's questions (elicitation) and model calls (sampling) as the node's waits and ``llm`` calls.

:mod:`aether_nb.mcp.backchannel` decides which call's task handles a request; this module does the handling, in
that task, so the questions are waits of its node and the model call is a journaled ``context.llm()`` call.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError, shown

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext
    from aether_nb.runtime.waits import Wait
    from aether_nb.services.channel import Message, Respond

ASK_TRIES = 3
"""How many times a field whose answer does not fit (``"three"`` for a number) is asked before declining."""

_YES_NO = ("Yes", "No")


# -- questions ------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Form:
    """How far a server's question (one elicitation) has got, kept while it moves between calls in flight (see
    :func:`aether_nb.mcp.backchannel.handle_while_open`): the fields answered, and the field whose question is
    open (``asking``; ``""`` for a form without fields), which the call it moves to asks again."""

    answered: dict[str, Any] = field(default_factory=dict)
    asking: str | None = None


async def ask(ctx: NodeContext, server: str, params: Any, form: Form | None = None) -> Any:
    """An elicitation as the node's questions in the run's chat: one question per field of the requested form.

    A field with an ``enum`` (or ``oneOf`` consts) is a choice, a boolean a Yes/No choice, anything else a text
    answer (numbers are parsed; an optional field answered with an empty text is left out). Each question is a
    wait of the node, journaled like any ``ask_*``.

    ``form`` is filled as the fields are answered: a form moved to another call in flight before it was finished
    asks there only the fields left, never one the person already answered; the question that was open when it
    moved is asked there as the same question, still open (:func:`still_open`), not as a new one.
    """
    from mcp_types import ElicitResult

    form = Form() if form is None else form
    answered = form.answered
    schema = params.requested_schema if isinstance(params.requested_schema, dict) else {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    channel = ctx.channel()
    message = f"{server} asks: {params.message}"
    if not props:
        moved, form.asking = form.asking == "", ""
        answer = await (still_open(ctx, channel) if moved else channel).ask_choices(message, ["Continue", "Decline"])
        form.asking = None
        return ElicitResult(action="accept" if answer.index == 0 else "decline", content={})
    for name, prop in props.items():
        if name in answered:
            continue
        prop = prop if isinstance(prop, dict) else {}
        label = str(prop.get("description") or prop.get("title") or name)
        prompt = message if len(props) == 1 else f"{message}\n{label}"
        moved, form.asking = form.asking == name, name
        asking = still_open(ctx, channel) if moved else channel
        value = await ask_field(asking, prompt, prop, optional=name not in required)
        form.asking = None
        if value is _DECLINED:
            return ElicitResult(action="decline")
        answered[name] = value
    return ElicitResult(action="accept", content={k: v for k, v in answered.items() if v is not _LEFT_OUT})


STILL_OPEN = "(the same question as above, still open)"
"""Put before the prompt of a question asked again under the call it moved to, where the chat adapter shows it."""


def still_open(ctx: NodeContext, channel: Any) -> Any:
    """The node's ``channel`` for a question that moved here from another call while it was open (seen already).

    The run's events are unchanged (the widget's chat folds the moved question into one bubble by itself); the
    session's chat *adapter* — the console that prints questions in a script or terminal — is not told the
    question again as a chat message, and is shown it marked :data:`STILL_OPEN` (with the new wait to answer), so
    a console no longer printed it twice as if it were a second question. A channel of another kind (a custom
    ``channel`` service) is used as it is.
    """
    from aether_nb.services.channel import Channel

    if not isinstance(channel, Channel):
        return channel
    return Channel(ctx, _StillOpen(channel.adapter), channel.key)


class _StillOpen:
    """A chat adapter that leaves out the repeated question's chat message and marks its presentation (see
    :func:`still_open`)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._shown = False  # the moved question presented: what follows (an answer that did not fit) is new

    def deliver(self, message: Message) -> None:
        if not self._shown and isinstance(message.content, dict) and message.content.get("turn") == "question":
            return  # the question's bubble, said already under the call it moved from
        self._inner.deliver(message)

    async def present(self, wait: Wait, respond: Respond) -> None:
        if self._shown:
            await self._inner.present(wait, respond)
            return
        self._shown = True
        prompt = f"{STILL_OPEN} {wait.prompt}" if wait.prompt else STILL_OPEN
        await self._inner.present(dataclasses.replace(wait, prompt=prompt), respond)


_DECLINED = object()
_LEFT_OUT = object()


def _options(prop: dict[str, Any]) -> tuple[list[str], list[Any]] | None:
    """``(labels, values)`` of a field with a fixed set of answers (``enum`` or ``oneOf``/``anyOf`` consts)."""
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        values = list(prop["enum"])
        names = prop.get("enumNames")
        labels = [str(n) for n in names] if isinstance(names, list) and len(names) == len(values) else None
        return labels or [str(v) for v in values], values
    for key in ("oneOf", "anyOf"):
        items = prop.get(key)
        if isinstance(items, list) and items and all(isinstance(i, dict) and "const" in i for i in items):
            return [str(i.get("title") or i["const"]) for i in items], [i["const"] for i in items]
    items = prop.get("items")
    if prop.get("type") == "array" and isinstance(items, dict):
        return _options(items)
    return None


async def ask_field(channel: Any, prompt: str, prop: dict[str, Any], *, optional: bool) -> Any:
    """One field's answer, converted to its JSON type (``_LEFT_OUT`` for an optional field left empty)."""
    options = _options(prop)
    kind = prop.get("type")
    if options is not None:
        labels, values = options
        if optional:
            labels, values = [*labels, "(leave out)"], [*values, _LEFT_OUT]
        index = (await channel.ask_choices(prompt, labels)).index
        value = values[index]
        return [value] if kind == "array" and value is not _LEFT_OUT else value
    if kind == "boolean":
        labels = [*_YES_NO, "(leave out)"] if optional else list(_YES_NO)
        index = (await channel.ask_choices(prompt, labels)).index
        return _LEFT_OUT if index == 2 else index == 0
    default = prop.get("default")
    hint = f" (empty: {default!r})" if default is not None else (" (empty: leave out)" if optional else "")
    question = prompt + hint
    for _ in range(ASK_TRIES):
        text = (await channel.ask_text(question)).strip()
        if not text and (optional or default is not None):
            return _LEFT_OUT
        value, problem = _parse(text, kind)
        if problem is None:
            problem = _violation(value, prop)
        if problem is None:
            return value
        question = f"{prompt}{hint}\n{shown(text)} does not fit: {problem}"
    return _DECLINED


def _parse(text: str, kind: Any) -> tuple[Any, str | None]:
    if kind == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, "answer with a whole number"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, "answer with a number"
        return (number, None) if math.isfinite(number) else (None, "answer with a finite number")
    if not text:
        return None, "an answer is required"
    return text, None


def _violation(value: Any, prop: dict[str, Any]) -> str | None:
    """What is wrong with ``value`` for the field's schema (``minimum``, ``maxLength``, ``format``...), or None."""
    import jsonschema

    checks = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    try:
        cls = jsonschema.validators.validator_for(checks, default=jsonschema.Draft202012Validator)
        error = next(iter(cls(checks, format_checker=cls.FORMAT_CHECKER).iter_errors(value)), None)
    except jsonschema.exceptions.SchemaError:
        return None  # a schema the server got wrong: the server checks the answer itself
    return None if error is None else error.message


# -- sampling -------------------------------------------------------------------------------------------------------
async def sample(ctx: NodeContext, server: str, params: Any) -> Any:
    """A ``sampling/createMessage`` as one journaled ``context.llm().chat(...)`` call of the node (text only)."""
    from mcp_types import CreateMessageResult, TextContent

    messages: list[dict[str, str]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for m in params.messages:
        blocks = m.content if isinstance(m.content, list) else [m.content]
        texts = [b.text for b in blocks if isinstance(b, TextContent)]
        if len(texts) != len(blocks):
            raise MCPError(
                f"MCP server {shown(server)} asked for a model call with non-text content; aether_nb's sampling "
                "passes text messages only",
                code="mcp_sampling",
            )
        messages.append({"role": m.role, "content": "\n".join(texts)})
    if params.tools:
        raise MCPError(
            f"MCP server {shown(server)} asked for a model call with tools; aether_nb's sampling does not offer "
            "tools to the model",
            code="mcp_sampling",
        )
    kw: dict[str, Any] = {"max_tokens": params.max_tokens}
    if params.temperature is not None:
        kw["temperature"] = params.temperature
    if params.stop_sequences:
        kw["stop"] = list(params.stop_sequences)
    llm = ctx.llm()
    text, _usage = await llm.chat(messages, **kw)
    model = str(getattr(getattr(llm, "profile", None), "model", None) or "aether_nb")
    return CreateMessageResult(
        role="assistant", content=TextContent(type="text", text=str(text)), model=model, stop_reason="endTurn"
    )
