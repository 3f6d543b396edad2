"""The waits of ``interrupt()`` inside a task (:mod:`aether_nb.flow.tasks`): the question a pause asks and LangGraph's
``response_schema`` (the answers a resumed execution already has: :mod:`aether_nb.flow.interrupt_keys`).

A ``response_schema`` that is a type (a pydantic model, a TypedDict, a dataclass) becomes the wait's JSON Schema,
so an answer that does not fit is refused where every answer is checked (``run.answer``, the widget,
``Command(resume=...)``): an :class:`~aether_nb.errors.InvalidAnswer`, the question still pending. ``interrupt()``
then returns the answer validated into the type. A JSON Schema given as a dict is shown with the question and not
enforced, as in LangGraph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.types import GraphInterrupt, Interrupt
from aether_nb.runtime.waits import WaitSpec

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope


async def await_answer(scope: Scope, key: str, spec: WaitSpec) -> Any:
    """Park on a wait opened at ``key`` (the runtime's ``Scope.await_answer``)."""
    return await scope.await_answer(key, spec, None)


async def ready(value: Any) -> Any:
    """``value``, awaitable (a journaled step whose value is already known)."""
    return value


_PROMPT_KEYS = ("question", "prompt", "message", "text", "query", "title")


def interrupt_prompt(node: str, value: Any, message: str | None) -> str:
    """What the chat asks for an ``interrupt(value)``: its message, a string value, or a dict value's question
    (``interrupt({"question": ..., "draft": ...})``, LangGraph's usual shape); else it says which node waits. The
    value itself is shown under the question."""
    if message is not None:
        return message
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in _PROMPT_KEYS:
            text = value.get(key)
            if isinstance(text, str) and text.strip():
                return text
    return f"{node} paused at interrupt() and waits for your answer"


def interrupt_wait(node: str, gi: GraphInterrupt) -> WaitSpec:
    """The wait an ``interrupt()`` opens: its question, its value (shown under it) and its ``response_schema``,
    which checks the answers when it came from a type."""
    meta: dict[str, Any] = {"flow": "interrupt", "node": node, "value": gi.value}
    if gi.response_schema is not None:
        meta["response_schema"] = gi.response_schema
    if gi.reason is not None:
        meta["reason"] = gi.reason
    schema = gi.response_schema if gi.checks else None
    return WaitSpec(kind="human", prompt=interrupt_prompt(node, gi.value, gi.message), schema=schema, meta=meta)


def response_adapter(schema: Any) -> Any:
    """A pydantic ``TypeAdapter`` for an ``interrupt(response_schema=...)`` type (None for None or a JSON Schema
    dict, which LangGraph does not validate either)."""
    if schema is None or isinstance(schema, Mapping):
        return None
    try:
        from pydantic import TypeAdapter
    except ImportError as exc:  # pragma: no cover - pydantic comes with openai
        raise UsageError("interrupt(response_schema=<a type>) needs pydantic (pip install pydantic)") from exc
    try:
        return TypeAdapter(schema)
    except Exception as exc:
        raise UsageError(
            f"interrupt(response_schema=...): {shown(schema)} is not a type pydantic can validate (a pydantic model, "
            f"TypedDict or dataclass), nor a JSON Schema dict: {exc}",
            code="bad_schema",
        ) from exc


def answer_form(interrupt: Interrupt, value: Any) -> Any:
    """A resume value as the wait checks it: a pydantic model or dataclass given to ``Command(resume=...)`` for an
    interrupt with a ``response_schema`` is checked (and stored) as its JSON form; ``interrupt()`` validates it
    back into the type."""
    if interrupt.response_schema is None or isinstance(value, (str, int, float, bool, list, dict, type(None))):
        return value
    try:
        from pydantic_core import to_jsonable_python
    except ImportError:  # pragma: no cover - pydantic comes with openai
        return value
    try:
        return to_jsonable_python(value)
    except Exception:  # (not convertible: the schema check says what is wrong with it)
        return value
