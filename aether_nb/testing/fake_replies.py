"""What a :class:`~aether_nb.testing.FakeOpenAI` reply may be, checked where it is given.

A script item the fake could not turn into a response (``{"tool_calls": "x"}``, a tool call without a name) used to
kill the server's handler thread: a traceback on stderr, and the client under test told "could not reach the LLM
endpoint", far from the script's mistake. Script items are checked when the script is given (``script=``,
``add``), rule results when the rule returns them (an HTTP 500 whose message names the fault).
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

from aether_nb.errors import UsageError, shown

KEYS = ("text", "json", "tool_calls", "status", "message", "delay", "finish_reason")
"""The keys of a dict reply (see the module docstring of :mod:`aether_nb.testing.fake_openai`)."""

FORMS = (
    "a string (the assistant's text), or a dict of {'text': str}, {'json': value}, "
    "{'tool_calls': [{'name': str, 'arguments': dict or JSON text, 'id'?: str}]} or {'status': 400-599, "
    "'message'?: str}, each optionally with 'delay' (seconds) and 'finish_reason' (str)"
)


def reply_fault(reply: Any) -> str | None:
    """What is wrong with ``reply`` as a chat reply, or None when the fake can send it."""
    if isinstance(reply, str):
        return None
    if not isinstance(reply, dict):
        return f"a reply is {FORMS}; got a {type(reply).__name__}"
    unknown = [k for k in reply if k not in KEYS]
    if unknown:
        return f"unknown key {', '.join(map(repr, unknown))} (a dict reply takes {', '.join(KEYS)})"
    if "status" in reply:
        status = reply["status"]
        if isinstance(status, bool) or not isinstance(status, numbers.Integral) or not 400 <= int(status) <= 599:
            return f"'status' must be an HTTP error status (an int from 400 to 599), got {shown(status, 80)}"
    for key in ("text", "message", "finish_reason"):
        if reply.get(key) is not None and not isinstance(reply[key], str):
            return f"{key!r} must be a string, got {shown(reply[key], 80)}"
    delay = reply.get("delay")
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, numbers.Real) or not math.isfinite(delay) or delay < 0
    ):
        return f"'delay' must be a finite number of seconds, 0 or more, got {shown(delay, 80)}"
    if "json" in reply and _not_json(reply["json"]):
        return f"'json' must be a JSON value, got {shown(reply['json'], 80)}"
    calls = reply.get("tool_calls")
    if calls is None:
        return None
    if not isinstance(calls, (list, tuple)):
        return f"'tool_calls' must be a list of {{'name': ..., 'arguments': ...}} dicts, got {shown(calls, 80)}"
    for i, call in enumerate(calls):
        fault = _call_fault(call)
        if fault is not None:
            return f"tool_calls[{i}]: {fault}"
    return None


def _call_fault(call: Any) -> str | None:
    if not isinstance(call, dict):
        return f"a tool call is a dict {{'name': str, 'arguments': dict or JSON text, 'id'?: str}}, got {shown(call)}"
    unknown = [k for k in call if k not in ("name", "arguments", "id")]
    if unknown:
        return f"unknown key {', '.join(map(repr, unknown))} (a tool call takes name, arguments, id)"
    if not isinstance(call.get("name"), str) or not call["name"]:
        return f"'name' must be the tool's name (a non-empty string), got {shown(call.get('name'), 80)}"
    if call.get("id") is not None and not isinstance(call["id"], str):
        return f"'id' must be a string, got {shown(call['id'], 80)}"
    arguments = call.get("arguments")
    if arguments is not None and not isinstance(arguments, str) and _not_json(arguments):
        return f"'arguments' must be a dict of JSON values or JSON text, got {shown(arguments, 80)}"
    return None


def _not_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return True
    return False


def check_script(items: list[Any], where: str) -> list[Any]:
    """``items`` (script replies), each checked.

    Raises:
        UsageError: an item the fake could not send, named by its place and value.
    """
    for i, item in enumerate(items):
        fault = reply_fault(item)
        if fault is not None:
            raise UsageError(f"{where} item {i} ({shown(item, 80)}): {fault}", code="bad_argument")
    return items


__all__ = ["FORMS", "KEYS", "check_script", "reply_fault"]
