"""JSON schemas for the LLM service: tool definitions from ``@tool`` signatures, structured-output formats, and the
errors an LLM call raises during a run.

A ``@tool``'s parameters come from its type hints (anything pydantic can describe: ``int``, ``list[str]``,
``Optional``, ``Literal``, dataclasses, pydantic models...), its description from the docstring's first paragraph
and each parameter's description from a Google-style ``Args:`` section. The context parameter is left out: the
runtime supplies it, not the model. A tool that carries its own JSON schema (a
:class:`~aether_nb.runtime.schema_tool.SchemaTool`, e.g. an MCP server's tool) is described by that schema, under
the name the model may use (``SchemaTool.llm_name``). A ``@graph_fn`` is a tool too: its schema comes from its
signature and docstring the same way, and a call runs it as a nested sub-graph node (its outputs go back to the
model), just as calling it from a run's body does.

pydantic (a dependency of ``openai``) is imported lazily, like ``openai`` itself.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aether_nb.errors import LLMOutputError, UsageError, shown
from aether_nb.runtime.checks import check_depth
from aether_nb.runtime.graph_fn import GraphFn
from aether_nb.runtime.json_schema import checked_validator, error_lines, validation_errors
from aether_nb.runtime.schema_tool import SchemaTool
from aether_nb.runtime.tools import DualStageTool, Tool, find_context_param

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(description, {param: description})`` from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    desc_lines: list[str] = []
    for line in lines:
        if not line.strip() or _ARGS_HEADER.match(line) or _SECTION.match(line):
            break
        desc_lines.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in lines:
        if _ARGS_HEADER.match(line):
            in_args, current = True, None
            continue
        if not in_args:
            continue
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the next section (Returns:, Raises:, ...)
        m = _ARG_LINE.match(line)
        indent = len(line) - len(line.lstrip())
        if m and (current is None or indent <= _indent_of(lines, current)):
            current = m.group(1).lstrip("*")
            params[current] = m.group(2).strip()
        elif current is not None and line.strip():
            params[current] = (params[current] + " " + line.strip()).strip()
    return " ".join(desc_lines), params


def _indent_of(lines: list[str], name: str) -> int:
    for line in lines:
        m = _ARG_LINE.match(line)
        if m and m.group(1).lstrip("*") == name:
            return len(line) - len(line.lstrip())
    return 0


def _strip_titles(schema: Any) -> Any:
    """pydantic adds a ``title`` to every property; the model does not need them."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it (``schema``) and how its arguments are checked (``validate``).

    ``tool`` is what a call runs, with the checked arguments: a ``@tool`` or a ``@graph_fn``. Inside a run either
    returns an awaitable step (a node of the run's DAG); outside one, a value or a coroutine.
    """

    tool: Tool | GraphFn | type[DualStageTool]
    schema: dict[str, Any]
    validate: Callable[[dict[str, Any]], dict[str, Any]]

    @property
    def name(self) -> str:
        """The function name the model sees and calls the tool by."""
        name: str = self.schema["function"]["name"]
        return name


def tool_spec(obj: Any) -> ToolSpec:
    """Describe a ``@tool`` (or a plain function, wrapped as one, a schema tool, or a ``@graph_fn``) for the model.

    Raises:
        UsageError: the signature cannot be described in a JSON schema (``**kwargs``, types pydantic cannot
            describe); said when ``run_tools`` is called, before the model is.
    """
    if isinstance(obj, SchemaTool):
        return _schema_tool_spec(obj)
    if isinstance(obj, GraphFn):
        return _graph_fn_spec(obj)
    if isinstance(obj, type) and issubclass(obj, DualStageTool):
        return _dual_stage_spec(obj)
    t = obj if isinstance(obj, Tool) else Tool(obj)
    params, validate = parameters_schema(f"tool {t.name}", t.fn, t.signature, skip=t.context_param)
    description, _ = parse_docstring(inspect.getdoc(t.fn))
    schema = {
        "type": "function",
        "function": {"name": t.name, "description": description or t.name, "parameters": params},
    }
    return ToolSpec(t, schema, validate)


def tool_definitions(tools: Any, where: str) -> list[dict[str, Any]]:
    """The OpenAI ``tools=[...]`` definitions of ``tools``: ``@ag.tool`` functions, graph_fns, DualStageTools, schema
    tools (an MCP server's), a state graph's ``ToolNode`` (its ``schemas()``: injected parameters left out), or
    OpenAI definitions already (dicts with ``"type": "function"``), mixed in a list.

    Raises:
        UsageError: something else, a tool whose signature has no JSON schema, or two tools of one name."""
    if hasattr(tools, "schemas") and callable(tools.schemas):  # a ToolNode (aether_nb.flow, above this package)
        return list(tools.schemas())
    if isinstance(tools, (str, bytes, dict)) or not isinstance(tools, (list, tuple)):
        raise UsageError(
            f"{where}: tools= takes a list of @ag.tool functions (graph_fns, DualStageTools, MCP tools, OpenAI tool "
            f"definitions) or a ToolNode, got {shown(tools)}"
        )
    out: list[dict[str, Any]] = []
    for t in tools:
        if isinstance(t, dict):
            if t.get("type") != "function" or not isinstance(t.get("function"), dict):
                raise UsageError(
                    f"{where}: a tool given as a dict is an OpenAI definition, "
                    f"{{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}; got {shown(t)}"
                )
            out.append(t)
        else:
            out.append(tool_spec(t).schema)
    names = [d["function"].get("name") for d in out]
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: tool names must be unique, got {names}")
    return out


def parameters_schema(
    where: str, fn: Callable[..., Any], signature: inspect.Signature, *, skip: str | None = None
) -> tuple[dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]:
    """The JSON schema of a function's parameters (type hints, ``Args:`` docs) and a validator of arguments.

    ``skip`` names a parameter the runtime supplies (the context). The validator returns the arguments that were
    given, converted to their annotated types; it raises pydantic's ``ValidationError``.

    Raises:
        UsageError: ``*args``/``**kwargs``, or types pydantic cannot describe.
    """
    import pydantic

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to "any value" for those parameters
        hints = {}
    _, arg_docs = parse_docstring(inspect.getdoc(fn))
    fields: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.name == skip or p.name == "self":
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise UsageError(f"{where}: *args/**kwargs cannot be described in a JSON schema; name each parameter")
        hint = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (hint, pydantic.Field(default, description=arg_docs.get(p.name) or None))
    name = re.sub(r"\W", "_", where.split()[-1])
    try:
        model = pydantic.create_model(
            f"{name}_args", __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields
        )
        params = _strip_titles(model.model_json_schema())
    except Exception as exc:
        raise UsageError(f"{where}: cannot build a JSON schema from its signature: {exc}") from exc
    params.setdefault("properties", {})
    params["additionalProperties"] = False

    def validate(args: dict[str, Any]) -> dict[str, Any]:
        checked = model.model_validate(args)
        return {name: getattr(checked, name) for name in checked.model_fields_set}

    return params, validate


def _dual_stage_spec(cls: type[DualStageTool]) -> ToolSpec:
    """A ``DualStageTool`` as the model sees it: the parameters of its ``setup`` (the context left out), its class
    docstring. A call waits for a person's answer as a node of the run, as ``await Approve(...)`` in a body does.
    Its schema was taken from the metaclass' ``__call__(*args, **kwargs)``: "*args/**kwargs cannot be described"."""
    name = cls.tool_name
    setup = cls.setup
    skip = find_context_param(setup, name)
    params, validate = parameters_schema(f"tool {name}", setup, inspect.signature(setup), skip=skip)
    description, _ = parse_docstring(inspect.getdoc(cls))
    schema = {"type": "function", "function": {"name": name, "description": description or name, "parameters": params}}
    return ToolSpec(cls, schema, validate)


def _graph_fn_spec(g: GraphFn) -> ToolSpec:
    """A ``@graph_fn`` as the model sees it. It is not wrapped in a :class:`Tool`: a Tool would call the GraphFn
    object as a plain (sync) function and hand the model the coroutine it returns, never its outputs."""
    params, validate = parameters_schema(f"graph_fn {g.name}", g.fn, g.signature, skip=g.context_param)
    description, _ = parse_docstring(g.description)
    schema = {
        "type": "function",
        "function": {"name": g.name, "description": description or g.name, "parameters": params},
    }
    return ToolSpec(g, schema, validate)


def _schema_tool_spec(t: SchemaTool) -> ToolSpec:
    """A schema tool as the model sees it: its own JSON schema, its description, its model-facing name."""
    params = {k: v for k, v in t.schema.items() if k != "$schema"}
    schema = {
        "type": "function",
        "function": {"name": t.llm_name, "description": t.description or t.name, "parameters": params},
    }

    def validate(args: dict[str, Any]) -> dict[str, Any]:
        t.validate(args)
        return args

    return ToolSpec(t, schema, validate)


def describe_validation_error(exc: Exception) -> list[str]:
    """One line per problem, for a message the model (or a person) can act on."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return [f"{'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}" for e in errors()]
        except (KeyError, TypeError) as shape:  # not pydantic's error shape: fall back to the message, say why
            return [str(exc), f"(could not itemise the problems: {shape!r})"]
    return [str(exc)]


# -- structured output ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputFormat:
    """What to send as ``response_format`` and how to turn the reply into the value ``chat`` returns."""

    request: dict[str, Any]
    parse: Callable[[str], Any]
    name: str


def _is_pydantic_model(obj: Any) -> bool:
    return isinstance(obj, type) and hasattr(obj, "model_json_schema") and hasattr(obj, "model_validate_json")


def _unfence(text: str) -> str:
    """Models often wrap JSON in a Markdown code fence; take what is inside."""
    m = re.fullmatch(r"\s*```(?:json)?\s*\n?(.*?)\n?```\s*", text, re.DOTALL)
    return m.group(1) if m else text


def output_format(spec: Any) -> OutputFormat:
    """``response_format`` from a pydantic model class, a JSON schema dict, or an OpenAI ``response_format`` dict."""
    if _is_pydantic_model(spec):
        name = spec.__name__
        schema = spec.model_json_schema()
        request = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}

        def parse_model(text: str) -> Any:
            try:
                return spec.model_validate_json(_unfence(text))
            except Exception as exc:
                raise _invalid(name, text, describe_validation_error(exc)) from None

        return OutputFormat(request, parse_model, name)
    if not isinstance(spec, dict):
        raise UsageError(
            f"response_format must be a pydantic model class or a JSON schema dict, got {type(spec).__name__}"
        )
    check_depth(spec, "response_format")  # (one that holds itself failed later, as the request was encoded)
    try:
        json.dumps(spec, allow_nan=False)  # (a set or a NaN in it failed the node, as the request was encoded)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"response_format must be JSON (dicts, lists, strings, numbers): {exc}", code="bad_schema"
        ) from None
    if spec.get("type") == "json_object":
        return OutputFormat(dict(spec), lambda text: _load_json("json_object", text, None), "json_object")
    if spec.get("type") == "json_schema" and isinstance(spec.get("json_schema"), dict):
        inner = spec["json_schema"]
        schema, name, request = inner.get("schema") or {}, str(inner.get("name") or "output"), dict(spec)
    else:
        schema, name = spec, re.sub(r"\W", "_", str(spec.get("title") or "output"))
        request = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    validator = checked_validator(schema, "response_format")
    return OutputFormat(request, lambda text: _load_json(name, text, validator), name)


def _load_json(name: str, text: str, validator: Any) -> Any:
    try:
        value = json.loads(_unfence(text))
    except (ValueError, RecursionError) as exc:  # (also an int of over 4,300 digits, or arrays nested too deep)
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise _invalid(name, text, [f"not JSON: {why}"]) from None
    if validator is not None:
        problems = error_lines(validation_errors(validator, value))
        if problems:
            raise _invalid(name, text, problems)
    return value


def _invalid(name: str, text: str, problems: list[str]) -> LLMOutputError:
    reply = text if len(text) <= 300 else text[:300] + "…"
    return LLMOutputError(
        f"the model's reply does not match the structured output {shown(name)}: " + "; ".join(problems) + f". "
        f"Reply: {shown(reply)}. Make the prompt state the format, use a model that supports structured output, "
        "or catch LLMOutputError and ask again.",
        text=text,
        problems=problems,
        code="invalid_llm_output",
    )
