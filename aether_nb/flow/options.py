"""Checks of the values StateGraph's builder, ``compile()`` and its calls take.

One check per option, shared by every place the option can be given (``add_node(timeout=)``,
``set_node_defaults(timeout=)`` and ``config["node_timeout"]``; ``compile(interrupt_before=)`` and
``ainvoke(interrupt_before=)``...), so an option gets the same check and the same error wherever it is written. A
value of the wrong kind is refused there, with what to pass, rather than failing later inside Python
(``float("30s")``, ``list(5)``) or meaning something else: a NaN or negative timeout that every node "ran past", a
``0`` that silently meant no timeout at all.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.types import InvalidConfig
from aether_nb.runtime.checks import MAX_ID, check_text

_SECONDS = "a positive finite number of seconds (or None: no timeout)"


def plain_name(name: Any) -> Any:
    """A node name given as a str Enum member is its value (LangGraph accepts those); anything else as it is."""
    return str(name.value) if isinstance(name, enum.Enum) and isinstance(name, str) else name


def timeout_seconds(value: Any, where: str, error: type[UsageError] = UsageError) -> float | None:
    """``value`` as a node timeout in seconds: None, or a positive finite number (a bool is no number here).

    Raises:
        UsageError: (or ``error``) naming ``where`` and what it takes.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{where} takes {_SECONDS}, got {shown(value)}", code="bad_timeout")
    seconds = float(value)
    if not (math.isfinite(seconds) and seconds > 0):  # (NaN fails both comparisons)
        raise error(f"{where} takes {_SECONDS}, got {shown(value)}", code="bad_timeout")
    return seconds


def _positive_int(config: Mapping[str, Any], key: str) -> None:
    value = config.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidConfig(f"config[{key!r}] must be a positive integer, got {shown(value)}")


def check_run_config(config: Mapping[str, Any]) -> None:
    """The keys of a (flat) call config that say how the graph runs, checked at the call, before anything runs:
    ``recursion_limit`` and ``max_concurrency`` (positive integers) and ``node_timeout`` (seconds).

    Raises:
        InvalidConfig: the value and what the key takes.
    """
    _positive_int(config, "recursion_limit")
    _positive_int(config, "max_concurrency")
    node_timeout(config)


TURN_DIGITS = 6
"""Room a thread's run ids keep for the turn number (``<graph>-<thread_id>-<turn>``): up to 999,999 turns."""


def check_thread_id(thread_id: str, graph: str, key: str = "") -> None:
    """A thread id its turns' run ids (``<graph>-<thread_id>-<turn>[-<key>]``) can hold, checked as the user typed it:
    the run id's own check named ``run_id``, which the user never passed, and counted positions and lengths with
    the graph's name in front."""
    room = MAX_ID - len(graph) - 2 - TURN_DIGITS - (len(key) + 1 if key else 0)
    if len(thread_id) > room:
        raise UsageError(
            f"config['thread_id'] is {len(thread_id)} characters long; the limit for graph {shown(graph)} is "
            f"{max(room, 0)} (its turns' run ids, '<graph>-<thread_id>-<turn>', are at most {MAX_ID} characters): use "
            "a shorter thread_id, e.g. hashlib.sha256(thread_id.encode()).hexdigest()[:16]",
            code="bad_thread_id",
        )
    check_text(thread_id, "config['thread_id']", max_len=MAX_ID, empty=True)  # (parse_config refused '')


def node_timeout(config: Mapping[str, Any]) -> float | None:
    """``config["node_timeout"]``: the timeout of nodes that set none (None: no timeout)."""
    return timeout_seconds(config.get("node_timeout"), "config['node_timeout']", InvalidConfig)


def interrupt_names(where: str, option: str, value: Any, *, one_name: bool = False) -> list[str] | str | None:
    """``interrupt_before=``/``interrupt_after=``: None, ``"*"`` or a list of node names (checked against the
    graph's nodes by the caller); ``one_name``: a single name stands for a list of it (a call's option, as
    LangGraph's calls take one; ``compile()`` refuses it, as LangGraph's does).

    Raises:
        UsageError: any other value.
    """
    if value is None or (isinstance(value, str) and value == "*"):
        return value
    what = f'{where}: {option}= takes a list of node names or "*", got {shown(value)}'
    if isinstance(value, str):
        if one_name:
            return [value]
        raise UsageError(what, code="bad_interrupt_nodes")
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise UsageError(what, code="bad_interrupt_nodes")
    names = [plain_name(n) for n in value]
    if not all(isinstance(n, str) for n in names):
        raise UsageError(what, code="bad_interrupt_nodes")
    return names


def check_output_keys(value: Any) -> None:
    """``ainvoke``/``astream``'s ``output_keys=``: None, a state key, or a list of them.

    Raises:
        UsageError: any other value.
    """
    if value is None or isinstance(value, str):
        return
    if isinstance(value, Mapping) or not isinstance(value, Iterable) or not all(isinstance(k, str) for k in value):
        raise UsageError(
            f"output_keys= takes a state key or a list of them (what ainvoke returns), got {shown(value)}",
            code="bad_output_keys",
        )


def graph_name(where: str, value: Any) -> str | None:
    """A graph's ``name=``: None (derived from the schema and nodes), or a non-empty string without ``/`` or ``|``
    (its runs' ids and its checkpoints' keys hold it)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or "/" in value or "|" in value:
        raise UsageError(
            f"{where}: name= takes a non-empty string without '/' or '|', got {shown(value)}", code="bad_graph_name"
        )
    return check_text(value, f"{where}: name=")


def services_of(value: Any) -> dict[str, Any]:
    """``compile(services=)``: a dict of parameter names to the objects the nodes receive (None: none)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise UsageError(
            f"compile(): services= takes a dict of parameter names to objects, e.g. {{'db': db}}, got {shown(value)}",
            code="bad_services",
        )
    return dict(value)


def node_metadata(node: str, value: Any) -> dict[str, Any]:
    """``add_node(metadata=)``: a dict (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"add_node({shown(node)}, metadata=...): metadata= takes a dict, got {shown(value)}")
    return dict(value)


def node_destinations(node: str, value: Any) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """``add_node(destinations=)``: node names a ``Command(goto=...)`` may lead to, or a dict of them to edge labels.
    Returns ``(names, labels)``."""
    if value is None:
        return None, {}
    what = (
        f"add_node({shown(node)}, destinations=...): destinations= takes a list of node names or a dict of node "
        f"names to edge labels, got {shown(value)}"
    )
    if isinstance(value, Mapping):
        labels = {plain_name(k): v for k, v in value.items()}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise UsageError(what)
        return tuple(labels), labels
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise UsageError(what)
    names = tuple(plain_name(n) for n in value)
    if not all(isinstance(n, str) for n in names):
        raise UsageError(what)
    return names, {}


__all__ = [
    "check_output_keys",
    "check_run_config",
    "graph_name",
    "interrupt_names",
    "node_destinations",
    "node_metadata",
    "node_timeout",
    "plain_name",
    "services_of",
    "timeout_seconds",
]
