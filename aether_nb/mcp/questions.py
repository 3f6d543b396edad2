"""An MCP server's questions (elicitation) and model calls (sampling) as the node's waits and ``llm`` calls.

:mod:`aether_nb.mcp.backchannel` decides which call's task handles a request; this module does the handling, in
that task, so the questions are waits of its node and the model call is a journaled ``context.llm()`` call.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from aether_nb.errors import MCPError, shown

if TYPE_CHECKING:
    from aether_nb.runtime.context import NodeContext

ASK_TRIES = 3
"""How many times a field whose answer does not fit (``"three"`` for a number) is asked before declining."""

_YES_NO = ("Yes", "No")


# -- questions ------------------------------------------------------------------------------------------------------
async def ask(ctx: NodeContext, server: str, params: Any, answered: dict[str, Any] | None = None) -> Any:
    """An elicitation as the node's questions in the run's chat: one question per field of the requested form.

    A field with an ``enum`` (or ``oneOf`` consts) is a choice, a boolean a Yes/No choice, anything else a text
    answer (numbers are parsed; an optional field answered with an empty text is left out). Each question is a
    wait of the node, journaled like any ``ask_*``.

    ``answered`` holds the fields answered so far, and is filled as they are: a form moved to another call in
    flight before it was finished (see :func:`aether_nb.mcp.backchannel.handle_while_open`) asks there only the
    fields left, never one the person already answered.
    """
    from mcp_types import ElicitResult

    answered = {} if answered is None else answered
    schema = params.requested_schema if isinstance(params.requested_schema, dict) else {}
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    channel = ctx.channel()
    message = f"{server} asks: {params.message}"
    if not props:
        answer = await channel.ask_choices(message, ["Continue", "Decline"])
        return ElicitResult(action="accept" if answer.index == 0 else "decline", content={})
    for name, prop in props.items():
        if name in answered:
            continue
        prop = prop if isinstance(prop, dict) else {}
        label = str(prop.get("description") or prop.get("title") or name)
        prompt = message if len(props) == 1 else f"{message}\n{label}"
        value = await ask_field(channel, prompt, prop, optional=name not in required)
        if value is _DECLINED:
            return ElicitResult(action="decline")
        answered[name] = value
    return ElicitResult(action="accept", content={k: v for k, v in answered.items() if v is not _LEFT_OUT})


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
