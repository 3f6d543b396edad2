"""The context parameter is found as AetherGraph finds it: named ``context``/``ctx``, or annotated ``NodeContext``
under any name, ``Optional[...]`` and ``... | None`` accepted, also as text (``from __future__ import
annotations``). An optional one of another name got None silently, and became an input of the agent."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

import pytest

import aether_nb as ag
from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.context_param import find_context_param, is_context_annotation


@pytest.mark.parametrize(
    "annotation",
    [
        NodeContext,
        Optional[NodeContext],  # noqa: UP045  (the spelling AetherGraph's users write)
        NodeContext | None,
        Union[NodeContext, None],  # noqa: UP007
        Annotated[NodeContext, "injected"],
        Optional["NodeContext"],
        "NodeContext",
        "ag.NodeContext",
        "Optional[NodeContext]",
        "typing.Optional[ag.NodeContext]",
        "NodeContext | None",
        "None | ag.NodeContext",
        "Union[NodeContext, None]",
        "Annotated[NodeContext, 'x']",
        "'NodeContext' | None",
    ],
)
def test_context_annotations(annotation: Any) -> None:
    assert is_context_annotation(annotation)


@pytest.mark.parametrize(
    "annotation",
    [int, Optional[int], "int | None", "Union[NodeContext, int]", "list[NodeContext]", "NodeContext(", "MyContext", 3],  # noqa: UP045
)
def test_other_annotations(annotation: Any) -> None:
    assert not is_context_annotation(annotation)


def test_a_string_annotation_names_the_context_without_evaluating_it() -> None:
    async def fn(x: int, ctxt: Optional[Undefined.NodeContext] = None) -> None:  # type: ignore[name-defined]  # noqa: F821, UP045
        """(the annotation is text here: ``Undefined`` is never looked up)"""

    assert find_context_param(fn, "fn") == "ctxt"


def test_two_context_parameters_are_refused() -> None:
    async def fn(context: Any, c: NodeContext | None = None) -> None: ...

    with pytest.raises(ag.UsageError, match="more than one context parameter"):
        find_context_param(fn, "fn")


def test_star_parameters_never_get_the_context() -> None:
    def fn(*ctx: Any, **context: Any) -> None: ...

    assert find_context_param(fn, "fn") is None


def test_a_function_changed_after_it_was_looked_at_is_looked_at_again() -> None:
    # (the answer is kept per function while its code and annotations stay the ones it was found with)
    def fn(x: int, helper: Any = None) -> None: ...

    assert find_context_param(fn, "fn") is None
    assert find_context_param(fn, "fn") is None  # kept
    fn.__annotations__ = {"x": "int", "helper": "NodeContext | None"}
    assert find_context_param(fn, "fn") == "helper"

    def other(y: int, context: Any = None) -> None: ...

    fn.__code__ = other.__code__
    fn.__annotations__ = {}
    assert find_context_param(fn, "fn") == "context"


def test_a_refused_function_is_refused_every_time() -> None:
    async def fn(context: Any, c: NodeContext | None = None) -> None: ...

    for _ in range(2):
        with pytest.raises(ag.UsageError, match="more than one context parameter"):
            find_context_param(fn, "fn")
