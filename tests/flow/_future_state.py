"""State classes whose annotations are strings (``from __future__ import annotations``) naming things imported
inside a function, as issue 15 describes."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from aether_nb.flow import START, StateGraph


def build_resolvable() -> Any:
    """The class and the graph built in the same function: ``operator`` is found in the builder's locals."""
    import operator

    class State(TypedDict):
        items: Annotated[list[str], operator.add]

    return StateGraph(State).add_node("a", lambda s: {"items": ["a"]}).add_edge(START, "a").compile()


def make_state() -> Any:
    """The class alone: once returned, nothing can resolve ``operator`` in its annotation."""
    import operator

    class State(TypedDict):
        items: Annotated[list[str], operator.add]

    return State
