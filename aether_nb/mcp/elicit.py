"""Questions of a served run as MCP elicitations, and the answers back as the run's answers.

An ``ask_text`` / ``ask_choices`` / ``ask_approval`` (or a wait with a flat JSON schema) becomes a *form*
elicitation: a flat object schema the client renders as a form. Its answer is turned into the payload the wait
accepts. ``ask_files`` cannot be asked over MCP (elicitation forms hold only strings, numbers and booleans).
"""

from __future__ import annotations

from typing import Any

from aether_nb.runtime.waits import DEFAULT_APPROVAL_OPTIONS, Wait

_PRIMITIVE = {"string", "number", "integer", "boolean"}


class CannotAsk(Exception):
    """This wait has no form an MCP client could render (the message says why)."""


def form_for(wait: Wait) -> tuple[str, dict[str, Any], bool]:
    """``(message, requested_schema, wrapped)`` for a wait; ``wrapped``: the answer is under ``"answer"``.

    Raises:
        CannotAsk: a files wait, or a schema that is not flat (elicitation forms hold primitive fields only).
    """
    message = wait.prompt or f"The agent waits for an answer ({wait.kind})"
    options = list(wait.options or ())
    if wait.kind == "text":
        return message, _answer_form({"type": "string", "title": "Answer"}), True
    if wait.kind in ("choice", "approval"):
        opts = options or list(DEFAULT_APPROVAL_OPTIONS)
        return message, _answer_form({"type": "string", "title": "Choice", "enum": opts}), True
    if wait.kind == "files":
        raise CannotAsk(
            f"it asks for files ({message!r}), and MCP elicitation forms can only hold text, numbers and booleans"
        )
    schema = wait.schema
    if schema is None:
        field: dict[str, Any] = {"type": "string", "title": "Answer"}
        if options:
            field["enum"] = options
        return message, _answer_form(field), True
    if not isinstance(schema, dict):
        raise CannotAsk(f"its answer schema {schema!r} is not a JSON object schema")
    if schema.get("type") in _PRIMITIVE:
        return message, _answer_form(dict(schema)), True
    props = schema.get("properties")
    if schema.get("type") == "object" and isinstance(props, dict) and all(_flat(p) for p in props.values()):
        form = {"type": "object", "properties": props}
        if isinstance(schema.get("required"), list):
            form["required"] = list(schema["required"])
        return message, form, False
    raise CannotAsk(
        "its answer schema is not a flat object of strings, numbers and booleans, which is all an MCP "
        "elicitation form can hold"
    )


def _answer_form(field: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"answer": field}, "required": ["answer"]}


def _flat(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("type") in _PRIMITIVE


def payload_of(wait: Wait, action: str, content: dict[str, Any] | None, wrapped: bool) -> tuple[bool, Any]:
    """``(answered, payload)`` for an elicitation result: what to give the wait, if anything.

    A declined approval is a rejection; any other decline, or a cancel, is no answer (``(False, None)``).
    """
    if action == "accept":
        data = dict(content or {})
        return True, (data.get("answer") if wrapped else data)
    if action == "decline" and wait.kind == "approval":
        return True, False
    return False, None
