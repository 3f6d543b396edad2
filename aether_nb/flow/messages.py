"""Messages in the OpenAI chat format, the ``add_messages`` reducer and :class:`AgentState`.

A message is a plain dict — ``{"role": "user", "content": "hi"}`` — so it goes to ``context.llm().chat(...)`` as
is, is JSON in the journal and the checkpoints, and needs no conversion layer. The flow adds one key, ``id``,
assigned when a message enters the state (inside a journaled step, so a resumed run sees the same ids);
``add_messages`` uses it to replace a message instead of appending a copy. Tool results carry ``tool_call_id``
and, when the call failed, ``is_error: True``. :func:`to_openai` strips the keys an API may reject.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypedDict

from aether_nb.errors import UsageError, shown


class MessageError(UsageError, ValueError):
    """A message that cannot be read, or a ``RemoveMessage`` of an id the state does not hold (a ``ValueError``,
    as LangGraph's ``add_messages`` raises)."""

    default_code = "bad_message"


class MessageTypeError(MessageError, TypeError):
    """A message helper was given a value of the wrong type (a ``TypeError`` too, which Python raised before)."""


MessageDict = dict[str, Any]
"""One chat message: ``role`` (system, user, assistant, tool), ``content``, and optionally ``tool_calls``,
``tool_call_id``, ``name``, ``id``, ``is_error``."""

ROLES = ("system", "user", "assistant", "tool", "developer")
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "function": "tool"}
REMOVE_ALL_MESSAGES = "__remove_all__"
"""``RemoveMessage(REMOVE_ALL_MESSAGES)`` clears the conversation (then the messages after it in the same update
are the new conversation)."""
_OPENAI_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "refusal")


def user_message(content: str, **extra: Any) -> MessageDict:
    """``{"role": "user", "content": content}``."""
    return {"role": "user", "content": content, **extra}


def system_message(content: str, **extra: Any) -> MessageDict:
    """``{"role": "system", "content": content}``."""
    return {"role": "system", "content": content, **extra}


def assistant_message(
    content: str | None = None, tool_calls: list[dict[str, Any]] | None = None, **extra: Any
) -> MessageDict:
    """An assistant message, optionally with OpenAI-style ``tool_calls`` (see :func:`tool_call`)."""
    calls = (
        list(tool_calls)
        if isinstance(tool_calls, Iterable) and not isinstance(tool_calls, (str, bytes, Mapping))
        else None
    )
    if tool_calls is not None and (calls is None or not all(isinstance(c, Mapping) for c in calls)):
        raise MessageTypeError(
            f"assistant_message tool_calls= takes a list of tool calls, e.g. [tool_call('add', {{'a': 1}})], "
            f"got {shown(tool_calls)}"
        )
    msg: MessageDict = {"role": "assistant", "content": content, **extra}
    if calls:
        msg["tool_calls"] = calls
    return msg


def tool_call(name: str, arguments: Mapping[str, Any] | str | None = None, id: str | None = None) -> dict[str, Any]:
    """One entry of an assistant message's ``tool_calls``: ``{"id", "type": "function", "function": {...}}``.

    ``arguments`` is a dict of JSON values or the JSON text of one (what a model sends)."""
    if not isinstance(name, str) or not name:
        raise MessageTypeError(f"tool_call takes the tool's name as a non-empty string, got {shown(name)}")
    if id is not None and not isinstance(id, str):
        raise MessageTypeError(f"tool_call id= takes a string (or None for a new id), got {shown(id)}")
    if arguments is not None and not isinstance(arguments, (str, Mapping)):
        raise MessageTypeError(
            f"tool_call arguments take a dict (e.g. {{'a': 1}}) or its JSON text, got {shown(arguments)}"
        )
    try:
        args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    except (TypeError, ValueError) as exc:
        raise MessageTypeError(f"tool_call arguments must be JSON values (a model reads them as JSON): {exc}") from exc
    call_id = id or f"call_{uuid.uuid4().hex[:12]}"
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def tool_message(content: str, tool_call_id: str, *, name: str | None = None, is_error: bool = False) -> MessageDict:
    """The result of one tool call, answering the assistant's call ``tool_call_id``."""
    msg: MessageDict = {"role": "tool", "content": content, "tool_call_id": tool_call_id}
    if name is not None:
        msg["name"] = name
    if is_error:
        msg["is_error"] = True
    return msg


def RemoveMessage(id: str) -> MessageDict:
    """A message that, written to an ``add_messages`` key, removes the message with this ``id``
    (``REMOVE_ALL_MESSAGES``: every message)."""
    if not isinstance(id, str) or not id:
        raise MessageError(f"RemoveMessage(id): id must be a message id, got {shown(id)}")
    return {"role": "remove", "id": id}


def coerce_message(value: Any, *, default_role: str = "user") -> MessageDict:
    """A message dict from a dict, a string (``default_role``: a user's, as LangChain's ``convert_to_messages``
    makes a string a human message), a ``(role, content)`` pair (``"human"``/``"ai"`` accepted as LangChain spells
    them) or an object with ``role``/``content`` (an OpenAI SDK message: its ``model_dump``)."""
    if isinstance(value, str):
        return {"role": default_role, "content": value}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        role = _ROLE_ALIASES.get(value[0], value[0])
        if role not in ROLES:
            raise MessageError(f"a (role, content) message needs a role among {ROLES}, got {shown(value[0])}")
        return {"role": role, "content": value[1]}
    if isinstance(value, Mapping):
        msg = dict(value)
    elif hasattr(value, "model_dump") and hasattr(value, "role"):
        msg = {k: v for k, v in value.model_dump().items() if v is not None}
    else:
        raise MessageError(
            "a message must be a dict like {'role': 'user', 'content': '...'} or a string, "
            f"got {type(value).__name__}"
        )
    if msg.get("role") in _ROLE_ALIASES:
        msg["role"] = _ROLE_ALIASES[msg["role"]]
    if msg.get("role") == "remove" and msg.get("id"):
        return msg
    if msg.get("role") not in ROLES:
        raise MessageError(f"a message needs a role among {ROLES}, got {msg.get('role')!r} in {shown(msg)}")
    return msg


def with_ids(messages: Iterable[Any], *, default_role: str = "user") -> list[MessageDict]:
    """Coerce messages and give each one without an ``id`` a fresh one (call inside a journaled step)."""
    out = []
    for m in messages:
        msg = coerce_message(m, default_role=default_role)
        if not msg.get("id"):
            msg["id"] = f"msg_{uuid.uuid4().hex[:16]}"
        out.append(msg)
    return out


def coerce_messages(value: Any) -> list[MessageDict]:
    """One message or a list of them, as message dicts with ids (strings are user messages, as in LangGraph's
    ``add_messages``)."""
    items = list(value) if isinstance(value, (list, tuple)) and not _is_pair(value) else [value]
    return with_ids(items)


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str)


def _ensure_ids(value: Any) -> list[MessageDict]:
    # The state's messages already are dicts with ids: only what is not gets coerced (and copied).
    if isinstance(value, list) and all(isinstance(m, dict) and m.get("id") and "role" in m for m in value):
        return list(value)
    return coerce_messages(value)


def add_messages(left: Any, right: Any) -> list[MessageDict]:
    """The reducer of chat messages: append; a message whose ``id`` is already present replaces it; a
    :func:`RemoveMessage` deletes one (or, with ``REMOVE_ALL_MESSAGES``, all before it)."""
    merged = _ensure_ids(left) if left else []
    incoming = _ensure_ids(right) if right is not None else []
    for i, m in enumerate(incoming):
        if m.get("role") == "remove" and m.get("id") == REMOVE_ALL_MESSAGES:
            return [x for x in incoming[i + 1 :] if x.get("role") != "remove"]
    index = {m["id"]: i for i, m in enumerate(merged)}
    removed: set[str] = set()
    for msg in incoming:
        mid = msg["id"]
        if msg.get("role") == "remove":
            if mid not in index:
                raise MessageError(
                    f"RemoveMessage({shown(mid)}): no message with that id in the state", code="no_message"
                )
            removed.add(mid)
        elif mid in index:
            merged[index[mid]] = msg
            removed.discard(mid)
        else:
            index[mid] = len(merged)
            merged.append(msg)
    return [m for m in merged if m["id"] not in removed]


def to_openai(messages: Iterable[MessageDict]) -> list[dict[str, Any]]:
    """The messages with only the keys the OpenAI chat API accepts (drops ``id``, ``is_error``...)."""
    given: object = messages  # (any value: the checks below are for callers passing something else)
    if isinstance(given, Mapping):
        raise MessageTypeError("to_openai takes a list of messages, got one message: pass [message]")
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise MessageTypeError(f"to_openai takes a list of message dicts, got {shown(given)}")
    out = []
    for m in given:
        if not isinstance(m, Mapping):
            raise MessageTypeError(
                f"to_openai: each message is a dict ({{'role': ..., 'content': ...}}), got {shown(m)}"
            )
        out.append({k: m[k] for k in _OPENAI_KEYS if k in m})
    return out


class _MessageKind(type):
    """``isinstance(m, Message)`` holds for every message dict (the state holds plain dicts)."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, dict)


class Message(dict[str, Any], metaclass=_MessageKind):
    """A chat message: an OpenAI-style dict (see :data:`MessageDict`), also as a type (``list[Message]``).

    Agentflow's constructors make one, so its examples run unchanged: ``Message.text_message("hi")``,
    ``Message.text_message("done", role="assistant")``, ``Message.tool_message(content, tool_call_id=...)``.
    Its ``message_id`` is the message's ``id`` here, and ``content`` is the text (not a list of blocks).
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return handler.generate_schema(dict[str, Any])  # (a state schema's messages are dicts)

    @staticmethod
    def text_message(content: str, role: str = "user", message_id: str | None = None) -> MessageDict:
        """A text message of ``role`` (Agentflow's ``Message.text_message``)."""
        msg = coerce_message((role, content))
        if message_id is not None:
            msg["id"] = str(message_id)
        return msg

    @staticmethod
    def tool_message(content: Any, tool_call_id: str = "", message_id: str | None = None) -> MessageDict:
        """A tool result answering the call ``tool_call_id`` (Agentflow's ``Message.tool_message``)."""
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        msg: MessageDict = {"role": "tool", "content": text, "tool_call_id": str(tool_call_id)}
        if message_id is not None:
            msg["id"] = str(message_id)
        return msg


class AgentState(TypedDict, total=False):
    """The usual state of an agent graph: the conversation, appended to by every node that returns messages.

    Subclass it to add fields: ``class MyState(AgentState): decision: str``. A field given a value in the class
    body (``count: int = 0``, as on Agentflow's pydantic ``AgentState``) starts with it: a node reads the default
    until something writes the key (LangGraph ignores such values; see ``StateSpec``'s defaults).
    """

    messages: Annotated[list[Message], add_messages]


MessagesState = AgentState
"""LangGraph's name for a state holding the conversation under ``messages``."""
