"""LangGraph's ``version="v2"`` output format (LangGraph >= 1.1): ``ainvoke`` returns a
:class:`~aether_nb.flow.types.GraphOutput` (``value``, ``interrupts``) and ``astream`` yields typed parts
``{"type": mode, "ns": namespace, "data": payload}`` — a ``values`` part with its ``interrupts`` apart and its data
as the output schema's pydantic or dataclass instance, a ``checkpoints`` part with its values as the state
schema's — whatever the stream modes and ``subgraphs=`` ask for. ``"v1"`` (the default) is the classic format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown
from aether_nb.flow.state import schema_kind
from aether_nb.flow.types import START, GraphOutput

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph

VERSIONS = ("v1", "v2")


def check_version(version: Any) -> str:
    """``version=`` of ``invoke``/``stream``: ``"v1"`` or ``"v2"``."""
    if not isinstance(version, str) or version not in VERSIONS:  # (an array's ``in`` was a bare ValueError)
        raise UsageError(f"version must be one of {VERSIONS}, got {shown(version)}")
    return str(version)


def mapper(schema: Any) -> Callable[[dict[str, Any]], Any] | None:
    """LangGraph's v2 coercion: a pydantic model or dataclass schema builds its instance from the values; other
    schemas (TypedDict, dict, a single value) keep the dict."""
    if schema is None or schema_kind(schema) not in ("pydantic", "dataclass"):
        return None
    return lambda values: schema(**values)


def output_mapper(graph: CompiledGraph) -> Callable[[dict[str, Any]], Any] | None:
    """The coercion of what ``invoke`` returns (the output schema's, else the state schema's)."""
    if graph.spec.kind == "root":
        return None
    return mapper(graph.spec.output_schema or graph.spec.schema)


def graph_output(graph: CompiledGraph, result: Any, latest: Callable[[], Any]) -> GraphOutput:
    """A v1 ``ainvoke`` result as v2's :class:`GraphOutput`. ``latest`` gives the thread's value when a
    single-value state's result holds only the interrupts (v1 drops a non-dict value then, as LangGraph's)."""
    interrupts: tuple[Any, ...] = ()
    value = result
    if isinstance(result, Mapping) and "__interrupt__" in result:
        interrupts = tuple(result["__interrupt__"])
        if graph.spec.kind == "root" and not isinstance(latest(), Mapping):
            value = latest()
        elif isinstance(result, dict):
            value = dict(result) if type(result) is dict else result  # (an InvokeResult made for this call)
            value.pop("__interrupt__", None)
    coerce = output_mapper(graph)
    if coerce is not None and isinstance(value, Mapping):
        value = coerce(dict(value))
    return GraphOutput(value, interrupts)


def stream_part(graph: CompiledGraph, mode: str, payload: Any, ns: tuple[str, ...]) -> dict[str, Any]:
    """One chunk of ``astream`` as v2's typed part."""
    if mode == "values":
        interrupts: tuple[Any, ...] = ()
        if isinstance(payload, Mapping):
            data = dict(payload)
            interrupts = tuple(data.pop("__interrupt__", ()))
            coerce = output_mapper(graph) if not ns else None
            payload = coerce(data) if coerce is not None else data
        return {"type": mode, "ns": ns, "data": payload, "interrupts": interrupts}
    if mode == "checkpoints" and isinstance(payload, Mapping) and not ns:
        coerce = mapper(graph.spec.schema) if graph.spec.kind != "root" else None
        values = payload.get("values")
        if coerce is not None and isinstance(values, Mapping) and START not in payload.get("next", ()):
            payload = {**payload, "values": coerce(dict(values))}
    return {"type": mode, "ns": ns, "data": payload}
