"""Tools described by a JSON schema instead of a Python signature: the tools of an MCP server, or any tool whose
parameters come from somewhere else than a ``def``.

A :class:`SchemaTool` is an :class:`~aether_nb.runtime.tools.Tool`: called inside a run it is a journaled node
(replayed, never called again, when the run resumes), called outside one it runs now (it is async, so ``await``
it), and it works as a ``@graphify`` node and in ``run_tools``. Everything that binds arguments by signature keeps
working because the tool carries a synthetic :class:`inspect.Signature` built from the schema: required
properties in schema order, then the optional ones (keyword-only, left out of the call when not given), and a
``**arguments`` catch-all for property names that are not Python identifiers.

Its code version is a hash of the schema and its source (e.g. ``mcp:calc``), so a graph built against one version
of a server's tool says so by name when the server's schema changes.

jsonschema is imported on the first validation, never with the runtime (which stays free of heavy imports).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import keyword
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aether_nb.errors import UsageError, shown
from aether_nb.runtime.calls import StepCall
from aether_nb.runtime.execution import Scope, current_scope
from aether_nb.runtime.json_schema import error_lines, schema_problem, validation_errors, validator
from aether_nb.runtime.registry import register, register_version
from aether_nb.runtime.tools import Execute, Tool, build_hook, capped, normalise_outputs, signature_text

Call = Callable[[dict[str, Any]], Awaitable[Any]]
"""What a schema tool runs: ``await call(arguments)`` with the validated arguments; returns its outputs dict."""

_LLM_NAME = re.compile(r"[^A-Za-z0-9_-]")
_JSON_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
    "null": "None",
}


class Omitted:
    """The default of an optional parameter: the argument is left out of the call, so the callee's own default
    applies. Shown as the schema's ``default`` when it has one (``punctuation: str = '!'``)."""

    def __init__(self, shown: str = "<omitted>") -> None:
        self._shown = shown

    def __repr__(self) -> str:
        return self._shown


OMITTED: Any = Omitted()


def openai_name(name: str) -> str:
    """``name`` as a function name every OpenAI-compatible API accepts (``^[A-Za-z0-9_-]{1,64}$``)."""
    cleaned = _LLM_NAME.sub("_", name) or "tool"
    if len(cleaned) > 64:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        cleaned = cleaned[:55] + "_" + digest
    return cleaned


def _annotation(prop: Any) -> Any:
    """A readable annotation for error messages and ``help()``: the JSON type as a Python type name."""
    if not isinstance(prop, Mapping):
        return inspect.Parameter.empty
    kind = prop.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    if isinstance(kind, list) and all(isinstance(k, str) and k in _JSON_TYPES for k in kind):
        return " | ".join(_JSON_TYPES[k] for k in kind)
    return inspect.Parameter.empty


def schema_signature(schema: Mapping[str, Any]) -> inspect.Signature:
    """The Python signature a JSON object schema stands for (see the module docstring)."""
    props = schema.get("properties") or {}
    required = list(dict.fromkeys(r for r in (schema.get("required") or []) if isinstance(r, str)))
    params: list[inspect.Parameter] = []
    named = [p for p in props if isinstance(p, str) and p.isidentifier() and not keyword.iskeyword(p)]
    for name in [r for r in required if r in named] + [p for p in named if p not in required]:
        annotation = _annotation(props[name])
        if name in required:
            params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation))
        else:
            prop = props[name]
            default = Omitted(repr(prop["default"])) if isinstance(prop, Mapping) and "default" in prop else OMITTED
            params.append(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            )
    if len(named) < len(props) or schema.get("additionalProperties", True) is not False:
        extra = "arguments"
        while extra in props:
            extra = "_" + extra
        params.append(inspect.Parameter(extra, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _json_copy(schema: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A JSON copy of a schema, or a :class:`UsageError` saying why it is not JSON (a set, an object, a dict that
    contains itself or nests past what the encoder goes): the schema is sent to models and hashed as JSON."""
    try:
        copy: dict[str, Any] = json.loads(json.dumps(dict(schema)))
    except (TypeError, ValueError, RecursionError) as exc:
        why = "it nests too deep" if isinstance(exc, RecursionError) else str(exc)
        raise UsageError(f"{what} must be JSON ({why})", code="bad_schema") from None
    return copy


def _object_schema(schema: Any, where: str) -> dict[str, Any]:
    """A JSON copy of an input schema, checked to describe an object (a missing ``type`` means object)."""
    if schema is None:
        schema = {}
    if not isinstance(schema, Mapping):
        raise UsageError(f"{where}: the input schema must be a JSON object schema (a dict), got {shown(schema)}")
    copy: dict[str, Any] = _json_copy(schema, f"{where}: the input schema")
    kind = copy.setdefault("type", "object")
    if kind != "object":
        raise UsageError(f"{where}: tool arguments are an object; the input schema has type {shown(kind)}")
    props = copy.setdefault("properties", {})
    if not isinstance(props, dict):
        raise UsageError(f"{where}: the input schema's properties must be an object, got {shown(props)}")
    return copy


class SchemaTool(Tool):
    """A tool made from a name, a JSON schema and an async callable.

    Args:
        name: the tool's name: its node name in a run (``calc.add`` -> nodes ``calc.add_1``, ...) and its name in
            the registry that ``@graphify`` graphs resolve tools through. Any text without ``/`` or spaces.
        schema: a JSON Schema of the arguments (an object schema, like MCP's ``inputSchema``).
        call: ``async def call(arguments: dict) -> dict``, run when a call is executed (not when it is replayed).
        description: what the tool does, for people and models.
        source: where the tool comes from (``mcp:calc``); part of the code version.
        output_schema: a JSON Schema of the outputs, when known; its property names become the declared outputs.
        llm_name: the function name models see (default: ``name`` with every character an OpenAI-compatible API
            rejects replaced by ``_``).
    """

    def __init__(
        self,
        name: str,
        schema: Mapping[str, Any] | None,
        call: Call,
        *,
        description: str = "",
        source: str = "",
        output_schema: Mapping[str, Any] | None = None,
        llm_name: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip() or "/" in name or any(c.isspace() for c in name):
            raise UsageError(f"a schema tool's name must be non-empty text without '/' or spaces, got {shown(name)}")
        if not callable(call):
            raise UsageError(f"schema tool {name}: call must be an async function, got {type(call).__name__}")
        self.name = name
        self.schema = _object_schema(schema, f"schema tool {name}")
        if output_schema is not None and not isinstance(output_schema, Mapping):
            raise UsageError(
                f"schema tool {name}: output_schema must be a JSON Schema of the outputs (a dict) or None, got "
                f"{shown(output_schema)}",
                code="bad_schema",
            )
        self.output_schema = (
            None if output_schema is None else _json_copy(output_schema, f"schema tool {name}: output_schema")
        )
        self.description = description or ""
        self.source = source or ""
        self.llm_name = llm_name or openai_name(name)
        self._call = call
        self.outputs = _declared_outputs(self.output_schema)
        self.is_async = True
        self.signature = schema_signature(self.schema)
        self.context_param = None
        self.inputs = [p.name for p in self.signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        self._bind_plan = None  # inspect binds every call: the schema may need the catch-all
        self._validator: Any = None
        self.fn = _entry_point(self)
        self.__name__ = name
        self.__qualname__ = name
        self.__doc__ = self.description or None
        self.__wrapped__ = self.fn
        payload = {"name": name, "source": self.source, "schema": self.schema, "output": self.output_schema}
        self.version = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
        register(self)  # graphify graphs refer to tools by name (and code version)
        register_version("tool", self.name, self.version, self)

    def __repr__(self) -> str:
        return f"<schema tool {self.call_text()} from {self.source or 'a schema'}>"

    def call_text(self) -> str:
        """``calc.add(a: int, b: int)``: how to call it (the ``**arguments`` catch-all left out)."""
        params = [p for p in self.signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        return signature_text(self.name, inspect.Signature(params))

    # -- arguments ------------------------------------------------------------------------------------------------
    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Bind a call to the schema's parameters and validate it; returns the arguments to send.

        Raises:
            UsageError: arguments that do not bind (``bad_arguments``) or do not match the schema.
        """
        bound = self._bind(args, kwargs)
        out: dict[str, Any] = {}
        for pname, value in bound.arguments.items():
            if self.signature.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)
            elif not isinstance(value, Omitted):
                out[pname] = value
        self.validate(out)
        return out

    def validate(self, arguments: dict[str, Any]) -> None:
        """Check ``arguments`` against the input schema (all problems in one :class:`UsageError`)."""
        validator = self._schema_validator()
        if validator is None:
            return
        try:
            problems = error_lines(validation_errors(validator, arguments), "(arguments)")
        except UsageError:
            return  # (a schema that cannot check these arguments: not checked here, as a broken one is not)
        if problems:
            raise UsageError(
                f"{self.name}: the arguments do not match the tool's schema: " + "; ".join(problems),
                code="bad_arguments",
            )

    def _schema_validator(self) -> Any:
        """The validator of the input schema, or None when jsonschema cannot check values against it (invalid, or
        a ``$ref`` that does not resolve). Why such a schema is not refused: it is the server's to get right, and
        the server checks the arguments itself (an MCP server whose schema lost its ``$defs`` still answers), so a
        broken one is not validated here rather than making the tool uncallable."""
        if self._validator is None:
            self._validator = False if schema_problem(self.schema) is not None else validator(self.schema)
        return self._validator or None

    # -- calls ----------------------------------------------------------------------------------------------------
    async def invoke(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run the tool now with already-validated arguments and return its outputs dict."""
        pending = self._call(dict(arguments))
        if not inspect.isawaitable(pending):
            raise UsageError(
                f"schema tool {self.name}: call must be an async function (async def call(arguments) -> dict); "
                f"it returned {shown(pending)}, which cannot be awaited",
                code="bad_tool",
            )
        raw = await pending
        return normalise_outputs(raw, None, f"tool {self.name}")

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        hook = build_hook.get()
        if hook is not None:
            return hook(self, args, kwargs)
        scope = current_scope()
        if scope is None:
            return self.invoke(self.arguments(args, kwargs))
        inputs, execute = self.prepare(args, kwargs)
        execute = capped(scope, execute)
        return StepCall(scope, self.name, "tool", inputs, execute, meta=self.node_meta())

    def node_meta(self) -> dict[str, Any]:
        """What a node of this tool records besides its inputs and outputs (promotion finds the tool again)."""
        return {"tool_version": self.version, "source": self.source}

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], Execute]:
        """Validate a call and return its inputs and the coroutine function that executes it as a step."""
        arguments = self.arguments(args, kwargs)

        async def execute(child: Scope) -> dict[str, Any]:
            return await self.invoke(arguments)

        return dict(arguments), execute


def _declared_outputs(output_schema: Any) -> list[str] | None:
    """The output names an object output schema promises (identifiers only), or None (any outputs)."""
    if not isinstance(output_schema, dict) or output_schema.get("type", "object") != "object":
        return None
    props = output_schema.get("properties")
    if not isinstance(props, dict) or not props:
        return None
    names = list(props)
    if not all(isinstance(n, str) and n.isidentifier() and not keyword.iskeyword(n) for n in names):
        return None
    return names


def _entry_point(tool: SchemaTool) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A function with the tool's synthetic signature, for everything that inspects ``tool.fn`` (``help()``,
    ``inspect.signature``, schema builders)."""

    async def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return await tool.invoke(tool.arguments(args, kwargs))

    call.__signature__ = tool.signature  # type: ignore[attr-defined]
    call.__name__ = tool.name
    call.__qualname__ = tool.name
    call.__doc__ = tool.description or None
    return call
