"""How a node function is called, run on LangGraph and on aether_nb and compared: the state goes positionally as
the first argument (a plain decorator's ``*args, **kwargs`` wrapper and a positional-only ``state`` get it), a first
parameter named ``ctx`` or ``context`` is the state, and ``context=None`` keeps its default; functions that cannot
take the state fail with a ``TypeError`` in both (here when the node is added). Skipped without LangGraph.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

import pytest

import aether_nb as ag
import aether_nb.flow as ours
from aether_nb.errors import UsageError
from tests.flow.conftest import lg_names, thread

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig  # (LangGraph injects these only under their annotations)
    from langgraph.types import StreamWriter


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A typical logging decorator, without functools.wraps: its wrapper's signature is ``(*args, **kwargs)``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


@logged
def wrapped(state: S) -> dict[str, Any]:
    return {"log": [f"wrapped saw {state['log']}"]}


def posonly(state: S, /) -> dict[str, Any]:
    return {"log": [f"posonly saw {state['log']}"]}


def star_args(*args: Any) -> dict[str, Any]:
    return {"log": [f"star saw {len(args)} {args[0]['log']}"]}


def first_named_ctx(ctx: Any) -> dict[str, Any]:
    return {"log": [f"ctx is {type(ctx).__name__} {ctx['log']}"]}


def context_defaulted(state: S, context: Any = None) -> dict[str, Any]:
    return {"log": [f"context={context!r}"]}


def with_config(state: S, config: RunnableConfig) -> dict[str, Any]:
    return {"log": [f"thread={config['configurable']['thread_id']}"]}


def with_writer_and_previous(state: S, *, writer: StreamWriter, previous: Any = None) -> dict[str, Any]:
    writer("hi")
    return {"log": [f"previous={previous!r}"]}


class Callable_:
    def __call__(self, state: S) -> dict[str, Any]:
        return {"log": ["callable object"]}


def extra(state: S, suffix: str) -> dict[str, Any]:
    return {"log": [f"partial {suffix}"]}


NODES: dict[str, Any] = {
    "wrapper(*args, **kwargs)": wrapped,
    "(state, /)": posonly,
    "(*args)": star_args,
    "(ctx)": first_named_ctx,
    "(state, context=None)": context_defaulted,
    "(state, config)": with_config,
    "(state, *, writer, previous=None)": with_writer_and_previous,
    "callable object": Callable_(),
    "functools.partial": functools.partial(extra, suffix="x"),
}


def _run(lib: Any, saver: Any, fn: Any) -> Any:
    g = lib.StateGraph(S)
    g.add_node("n", fn)
    g.add_edge(lib.START, "n")
    return dict(g.compile(checkpointer=saver).invoke({"log": ["x"]}, thread()))


@pytest.mark.parametrize("label", list(NODES))
def test_a_node_gets_the_state_as_langgraph_passes_it(label: str) -> None:
    lg = lg_names()
    theirs = _run(lg, lg.InMemorySaver(), NODES[label])
    assert _run(ours, "memory", NODES[label]) == theirs


def no_params() -> dict[str, Any]:
    return {"log": ["ran"]}


def only_kwargs(**kw: Any) -> dict[str, Any]:
    return {"log": ["ran"]}


def later_posonly(state: S, extra: int, /) -> dict[str, Any]:
    return {"log": ["ran"]}


@pytest.mark.parametrize("fn", [no_params, only_kwargs, later_posonly], ids=lambda f: f.__name__)
def test_a_function_that_cannot_take_the_state_is_a_type_error_in_both(fn: Any) -> None:
    lg = lg_names()
    with pytest.raises(TypeError):
        _run(lg, lg.InMemorySaver(), fn)
    with pytest.raises(TypeError) as caught:
        ours.StateGraph(S).add_node("n", fn)  # (refused when added, not at the first call)
    assert isinstance(caught.value, UsageError)
    assert "def n(state)" in str(caught.value) or "remove the '/'" in str(caught.value)  # (what to do)


def test_aether_nb_context_comes_by_annotation_or_a_later_required_name() -> None:
    """aether_nb's own injection stays where LangGraph would fail: a required ``context``/``ctx`` after the state,
    a ``NodeContext`` annotation anywhere, and a parameter named ``state`` beside an injected first one."""
    seen: list[str] = []

    def later_ctx(state: S, ctx: Any) -> None:
        seen.append(type(ctx).__name__)

    def annotated_first(c: ag.NodeContext, state: S) -> None:
        seen.append(f"{type(c).__name__} {state['log']}")

    def annotated_default(state: S, context: ag.NodeContext | None = None) -> None:
        seen.append(type(context).__name__)

    def config_then_state(config: Any, state: S) -> None:
        seen.append(f"{config['configurable']['thread_id']} {state['log']}")

    for fn in (later_ctx, annotated_first, annotated_default, config_then_state):
        g = ours.StateGraph(S)
        g.add_node("n", fn)
        g.add_edge(ours.START, "n")
        g.compile(checkpointer="memory").invoke({"log": ["x"]}, thread())
    assert seen == ["NodeContext", "NodeContext ['x']", "NodeContext", "1 ['x']"]
