"""What a compiled graph says about itself: the JSON Schemas and pydantic models of its input, output and context
(LangGraph's ``get_input_jsonschema``, ``get_input_schema`` ...), and its drawing (``get_graph``, Mermaid text,
Agentflow's ``generate_graph``). Mixed into :class:`~aether_nb.flow.compiled.CompiledGraph`.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from aether_nb.errors import UsageError
from aether_nb.flow.draw import DrawableGraph, draw_mermaid, render_dot, to_dot
from aether_nb.flow.jsonschema import json_schema, schema_model

if TYPE_CHECKING:
    from aether_nb.flow.builder import StateGraph
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.nodes import NodeSpec
    from aether_nb.flow.routing import Topology

SVG_TIMEOUT_S = 5.0
"""How long ``dot`` may take to draw a graph shown in a cell (as a TaskGraph's): past it, text and Mermaid only."""


def graph_svg(graph: Any) -> str | None:
    """An SVG of ``graph``'s nodes and edges (a compiled graph, or a view with its ``nodes`` and ``topology``)
    drawn by Graphviz ``dot``, as a TaskGraph's display has one; None when ``dot`` is missing, fails or is slow,
    so showing a graph never fails for want of a picture."""
    if shutil.which("dot") is None:
        return None
    try:
        out = render_dot(to_dot(cast("CompiledGraph", graph)), "svg", timeout_s=SVG_TIMEOUT_S)
    except UsageError:
        return None
    text = out.decode("utf-8", errors="replace")
    return text[text.find("<svg") :] if "<svg" in text else None


class _BuilderView:
    """What drawing reads of a graph (its nodes and edges), for a builder that is not compiled yet."""

    def __init__(self, nodes: Mapping[str, NodeSpec], topology: Topology) -> None:
        self.nodes = dict(nodes)
        self.topology = topology


def builder_bundle(builder: StateGraph) -> dict[str, Any]:
    """A builder's display: its repr and, once it has nodes, the SVG of what it would compile to (the nodes and
    edges added so far; nothing is checked, as ``compile()`` would)."""
    bundle: dict[str, Any] = {"text/plain": repr(builder)}
    if builder.nodes:
        svg = graph_svg(_BuilderView(builder.nodes, builder.topology()))
        if svg is not None:
            bundle["image/svg+xml"] = svg
    return bundle


class DescribeMixin:
    """Schemas and drawings of a compiled graph."""

    name: str
    builder: StateGraph
    context_schema: Any

    # -- schemas --------------------------------------------------------------------------------------------------
    def get_input_jsonschema(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON Schema of an input (``input_schema``, else the state), as LangGraph's."""
        return json_schema(self.builder.spec.input_schema or self.builder.state_schema, f"{self.name}_input")

    def get_output_jsonschema(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON Schema of what ``ainvoke`` returns (``output_schema``, else the state), as LangGraph's."""
        return json_schema(self.builder.spec.output_schema or self.builder.state_schema, f"{self.name}_output")

    def get_context_jsonschema(self) -> dict[str, Any] | None:
        """The JSON Schema of ``context=`` (``context_schema``), or None without one."""
        if self.context_schema is None:
            return None
        return json_schema(self.context_schema, f"{self.name}_context")

    def get_input_schema(self, config: Mapping[str, Any] | None = None) -> type[Any]:
        """A pydantic model of an input (LangGraph's: a root model over ``input_schema``, else the state), for
        ``Model.model_validate(data)`` and ``Model.model_json_schema()``."""
        return schema_model(self.builder.spec.input_schema or self.builder.state_schema, "LangGraphInput")

    def get_output_schema(self, config: Mapping[str, Any] | None = None) -> type[Any]:
        """A pydantic model of what ``ainvoke`` returns (LangGraph's: the output schema's keys, each optional)."""
        schema = self.builder.spec.output_schema or self.builder.state_schema
        return schema_model(schema, "LangGraphOutput", optional=True)

    # -- display --------------------------------------------------------------------------------------------------
    def draw_mermaid(self) -> str:
        """The graph as Mermaid flowchart text (dotted arrows: conditional edges and Command destinations)."""
        graph: Any = self
        return draw_mermaid(graph)

    def get_graph(self, *, xray: bool | int = False) -> DrawableGraph:
        """The graph's nodes and edges (``.nodes``, ``.edges``, ``.draw_mermaid()``, ``.draw_png()``,
        ``.draw_ascii()``), as LangGraph's ``get_graph``."""
        graph: Any = self
        return DrawableGraph(graph, xray=xray)

    def generate_graph(self) -> dict[str, Any]:
        """Agentflow's description: ``{"info": {...}, "nodes": [...], "edges": [...]}``."""
        return self.get_graph().to_dict()

    def _repr_markdown_(self) -> str:
        return f"**{self.name}** (state graph)\n\n```mermaid\n{self.draw_mermaid()}\n```"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Text, the Mermaid markdown, and an SVG of the nodes and edges (as a TaskGraph shows): a front end that
        renders no Mermaid (nbviewer, VS Code's default) still draws the graph."""
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/markdown": self._repr_markdown_()}
        svg = graph_svg(self)
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle
