"""How a node's error handler shows to LangGraph code: its node name, its ``tasks`` chunks, the error recorded.

LangGraph 1.2 adds a node's ``error_handler`` as a node of its own, ``__error_handler__<node>`` (a
``set_node_defaults(error_handler=...)`` one as ``__default_error_handler__``), that runs inside the failed node's
superstep. aether_nb runs the handler inside the node's task (one journaled step: a resumed run replays it), and
shows it as LangGraph does where code can see it:

* the names are accepted by ``interrupt_before``/``interrupt_after`` (``compile()`` and calls); as in LangGraph,
  where the handler never starts a superstep of its own, they never pause;
* ``stream_mode="tasks"`` streams the node's failed attempt (its result with the node's ``error``), then the
  handler as a task of its own, named so (its result, or its error when it raised);
* a handler that raises fails the call with its own exception, while the task's recorded error (``get_state``'s
  ``tasks``, a ``checkpoints`` chunk) stays the node's, as LangGraph's.

The ``updates`` chunk of a handler's return stays keyed by the node's name (README: differences).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

HANDLER_PREFIX = "__error_handler__"
DEFAULT_HANDLER_NODE = "__default_error_handler__"
_NODE_ERROR = "aether_node_error"  # the attribute a handler's exception carries the node's under


def handler_node(node: str, by_default: bool) -> str:
    """LangGraph's name of the handler of ``node`` (``by_default``: it came from ``set_node_defaults``)."""
    return DEFAULT_HANDLER_NODE if by_default else f"{HANDLER_PREFIX}{node}"


def handler_node_names(nodes: Mapping[str, Any], default_handled: Iterable[str] = ()) -> set[str]:
    """The handler node names LangGraph would give this graph's nodes (``nodes``: name -> NodeSpec, each with an
    ``error_handler`` or None; ``default_handled``: the nodes whose handler is ``set_node_defaults``')."""
    by_default = set(default_handled)
    out = {handler_node(n, n in by_default) for n, spec in nodes.items() if spec.error_handler is not None}
    if by_default:
        out.add(DEFAULT_HANDLER_NODE)
    return out


def handler_failed(handler_error: BaseException, node_error: BaseException) -> None:
    """Note that ``handler_error`` was raised by the error handler of a node that failed with ``node_error``."""
    with contextlib.suppress(AttributeError):  # (an exception type with __slots__: its own error is recorded)
        setattr(handler_error, _NODE_ERROR, node_error)


def recorded_error(exc: BaseException) -> BaseException:
    """The error a failed task records: the node's, when ``exc`` is its error handler's (LangGraph's rule)."""
    node_error = getattr(exc, _NODE_ERROR, None)
    return node_error if isinstance(node_error, BaseException) else exc


def is_handler_failure(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by an error handler (its ``tasks`` chunks were streamed as it failed)."""
    return isinstance(getattr(exc, _NODE_ERROR, None), BaseException)


def any_handler_names(nodes: Mapping[str, Any]) -> set[str]:
    """The handler node names a call's breakpoints may name when only the compiled nodes are known (not which
    handlers came from ``set_node_defaults``): both of LangGraph's forms for every node with a handler."""
    handled = [n for n, spec in nodes.items() if spec.error_handler is not None]
    return handler_node_names(nodes) | ({DEFAULT_HANDLER_NODE} if handled else set())
