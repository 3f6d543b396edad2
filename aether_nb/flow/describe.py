"""What a compiled graph says about itself: the JSON Schemas and pydantic models of its input, output and context
(LangGraph's ``get_input_jsonschema``, ``get_input_schema`` ...), and its drawing (``get_graph``, Mermaid text,
Agentflow's ``generate_graph``). Mixed into :class:`~aether_nb.flow.compiled.CompiledGraph`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aether_nb.flow.draw import DrawableGraph, draw_mermaid
from aether_nb.flow.jsonschema import json_schema, schema_model

if TYPE_CHECKING:
    from aether_nb.flow.builder import StateGraph


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
