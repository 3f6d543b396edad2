"""The waits of ``interrupt()`` inside a task (:mod:`aether_nb.flow.tasks`): the question a pause asks, the answers
a resumed execution already has, and LangGraph's ``response_schema``.

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
from aether_nb.runtime.codec import decode, preview
from aether_nb.runtime.events import WaitAnswered
from aether_nb.runtime.waits import WaitSpec

if TYPE_CHECKING:
    from aether_nb.runtime.execution import Scope
    from aether_nb.store.records import WaitRecord


async def await_answer(scope: Scope, key: str, spec: WaitSpec) -> Any:
    """Park on a wait opened at ``key`` (the runtime's ``Scope.await_answer``)."""
    return await scope.await_answer(key, spec, None)


def prior_answers(child: Scope) -> tuple[list[Any], list[tuple[int, WaitRecord]]]:
    """In an execution resumed from the store: the answers this task's ``interrupt()`` calls already have, in
    order (journaled, or given while no process ran it), so the node runs once with all of them instead of once
    per answer; and the waits among them answered but not journaled (their step is completed by
    :func:`settle_answered`)."""
    execution = child.execution
    if not execution.resumed:
        return [], []
    out: list[Any] = []
    unjournaled: list[tuple[int, WaitRecord]] = []
    waits: dict[str, WaitRecord] | None = None
    while True:
        key = f"{child.prefix}interrupt_{len(out) + 1}"
        entry = execution.journal.get(key)
        if entry is not None:
            out.append(decode(entry.value))
            continue
        if waits is None:
            known = execution.known_waits
            records = (
                known.values()
                if known is not None
                else execution.host.session.store.list_waits(execution.host.id, status=None)
            )
            waits = {w.node_id: w for w in records}
        rec = waits.get(key)
        if rec is None or rec.status != "answered":
            return out, unjournaled
        unjournaled.append((len(out), rec))
        out.append(decode(rec.answer))


async def settle_answered(child: Scope, node: str, index: int, rec: WaitRecord, answer: Any) -> None:
    """Complete the step of an ``interrupt()`` answered while no execution waited on it (a kernel restart, or a
    resume from another event loop): its DAG node ends DONE with the answer, as it would have live, instead of
    being left waiting and closed as cancelled when the run ends; the step is journaled like a live answer, and
    the run says it was answered (the widget shows the answer under its question, as for a live one)."""
    inputs = {"kind": rec.kind, "prompt": rec.prompt, "options": None, "index": index}

    def answered(_s: Scope) -> Any:
        child.run.emit(WaitAnswered, token=rec.token, node_id=rec.node_id, answer=preview(answer))
        return ready(answer)

    await child.run_step(rec.node_id, "interrupt", "wait", inputs, answered, fp=f"flow-interrupt:{node}:{index}")


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
