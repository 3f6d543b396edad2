"""``update_state(config, values, as_node="__input__")`` on a thread paused before a node: a documented difference
(README, the StateGraph differences table), pinned here against LangGraph so that a change on either side is seen.
LangGraph keeps the pending task next beside ``__start__`` and runs it again in the next call; aether_nb makes START
alone next, and START's routing decides what runs.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from tests.flow.conftest import lg_names
from tests.flow.conftest import thread as _thread


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def _run(lib: Any, checkpointer: Any) -> tuple[Any, ...]:
    b = lib.StateGraph(S)
    for name in ("a", "c"):
        b.add_node(name, lambda s, name=name: {"log": [name]})
    b.add_edge(lib.START, "a")
    b.add_edge("a", "c")
    app = b.compile(checkpointer=checkpointer, interrupt_before=["c"])
    app.invoke({"log": []}, _thread("t"))
    app.update_state(_thread("t"), {"log": ["edit"]}, as_node="__input__")
    after_update = tuple(app.get_state(_thread("t")).next)
    out = app.invoke(None, _thread("t"))
    return after_update, list(out["log"]), tuple(app.get_state(_thread("t")).next)


def test_an_input_update_before_a_pending_node() -> None:
    import aether_nb.flow as ours

    lg = lg_names()
    assert _run(lg, lg.InMemorySaver()) == (("__start__", "c"), ["a", "edit", "c", "a"], ("c",))
    assert _run(ours, "memory") == (("__start__",), ["a", "edit", "a"], ("c",))
