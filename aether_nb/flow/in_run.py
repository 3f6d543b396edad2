"""A state graph's turn run by an agent's body (``await app.ainvoke(...)`` inside a ``@graph_fn``): a step of it.

The turn is a run of its own (on its thread, with its checkpoints), but the agent's run knew nothing of it: a
resumed agent (after a kernel restart, at the answer to a question asked after the turn) executes its body again,
and the turn ran again, with every tool call and LLM call in it (a charge made twice). So the call is a journaled
step of the calling run, as a service call is (:class:`~aether_nb.runtime.effects.ServiceCall`, named
``flow.<graph>.ainvoke``): a resumed body gets the turn's result from the journal and the graph does not run.

The turn runs outside the step's write capture: its own run journals its own steps (a service call made by one of
its nodes is that node's step, not part of the agent's step).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aether_nb.runtime.codec import NotEncodable, encode
from aether_nb.runtime.effects import ServiceCall, inside_step
from aether_nb.runtime.execution import current_scope


def _to_journal(result: Any) -> Any:
    """The result itself (an ``InvokeResult`` with its state and interrupts, pickled by the store's codec), or its
    values only when the state holds something the store cannot keep."""
    try:
        encode(result)
    except NotEncodable:
        return {"values": dict(result)}
    return {"result": result}


def _rebuild(stored: Any) -> Any:
    return stored["result"] if "result" in stored else dict(stored["values"])


async def turn_of_the_run(
    graph_name: str, input: Any, config: Mapping[str, Any] | None, run_turn: Callable[[], Awaitable[Any]]
) -> Any:
    """``await run_turn()`` (the turn), as a journaled step of the run whose body calls it; outside a run's body
    (a script, a cell, a node of another graph: see :mod:`aether_nb.flow.nested_calls`) it just runs."""
    scope = current_scope()
    if scope is None or inside_step.get() is not None:
        return await run_turn()

    async def body(_store: Any) -> Any:
        token = inside_step.set(None)  # (the turn's run journals its own steps: see the module's docstring)
        try:
            return await run_turn()
        finally:
            inside_step.reset(token)

    configurable = (config or {}).get("configurable") if isinstance(config, Mapping) else None
    thread = (configurable or {}).get("thread_id") if isinstance(configurable, Mapping) else None
    inputs = {"input": input, "thread_id": thread}
    call = ServiceCall(scope, "flow", f"{graph_name}.ainvoke", inputs, body, to_journal=_to_journal, rebuild=_rebuild)
    return await call


__all__ = ["turn_of_the_run"]
