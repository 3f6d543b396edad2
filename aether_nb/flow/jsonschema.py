"""JSON Schemas of a graph's input, output and context (LangGraph's ``get_input_jsonschema`` and friends), for
forms and tool descriptions.

The properties come from pydantic's ``TypeAdapter`` (a TypedDict, dataclass or pydantic model; pydantic is
installed with ``openai``); which keys are *required* follows LangGraph, not pydantic: a TypedDict's required keys
(``total=``, ``Required``/``NotRequired``), a dataclass field without a default whose type does not admit None, a
pydantic model's own rule. Reducer annotations (``Annotated[list, operator.add]``) are not part of the schema.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, get_args, get_origin

from aether_nb.errors import UsageError, shown


def json_schema(schema: Any, title: str) -> dict[str, Any]:
    """The JSON Schema of ``schema`` (None or ``dict``: any object), titled ``title`` unless the type names it."""
    if schema is None or schema is dict:
        return {"title": title, "type": "object"}
    try:
        from pydantic import TypeAdapter
    except ImportError as exc:  # pragma: no cover - pydantic comes with openai
        raise UsageError("JSON schemas need pydantic (pip install pydantic)", code="missing_dependency") from exc
    try:
        out: dict[str, Any] = TypeAdapter(schema).json_schema()
    except Exception as exc:
        raise UsageError(f"cannot describe {shown(schema)} as a JSON Schema: {exc}", code="bad_schema") from exc
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        fields = dataclasses.fields(schema)
        required = [f.name for f in fields if _required_field(schema, f)]
        _set_required(out, required)
        props = out.get("properties", {})
        for f in fields:  # defaults as LangGraph shows them: a factory's value, None for an optional type
            if f.name not in props or f.name in required or "default" in props[f.name]:
                continue
            if f.default_factory is not dataclasses.MISSING:
                props[f.name]["default"] = f.default_factory()
            elif f.default is dataclasses.MISSING:
                props[f.name]["default"] = None
    elif isinstance(schema, type) and issubclass(schema, dict) and hasattr(schema, "__total__"):
        keys = typeddict_required(schema)
        _set_required(out, [k for k in out.get("properties", {}) if k in keys])
    out.setdefault("title", title)
    return out


def typeddict_required(schema: type) -> set[str]:
    """A TypedDict's required keys: ``__required_keys__``, corrected by the ``Required``/``NotRequired`` written
    around a key's type when the annotation is text (``from __future__ import annotations``), which the
    ``TypedDict`` machinery cannot see."""
    required = set(getattr(schema, "__required_keys__", ()))
    for key, ann in (getattr(schema, "__annotations__", None) or {}).items():
        text = ann if isinstance(ann, str) else getattr(ann, "__forward_arg__", None)
        qualifier = _qualifier(text if isinstance(text, str) else ann)
        if qualifier is True:
            required.add(key)
        elif qualifier is False:
            required.discard(key)
    return required


def _qualifier(ann: Any) -> bool | None:
    """True for ``Required[...]``, False for ``NotRequired[...]``, None for neither."""
    if isinstance(ann, str):
        text = ann.strip()
        while True:
            found = re.match(r"^(?:\w+\.)*Annotated\[(.*)\]$", text, re.S)
            if found is None:
                break
            text = found.group(1).strip()
        if re.match(r"^(?:\w+\.)*NotRequired\[", text):
            return False
        if re.match(r"^(?:\w+\.)*Required\[", text):
            return True
        return None
    while get_origin(ann) is typing.Annotated:
        ann = get_args(ann)[0]
    name = getattr(get_origin(ann), "_name", None) or getattr(get_origin(ann), "__name__", None)
    if name == "NotRequired":
        return False
    if name == "Required":
        return True
    return None


def _set_required(out: dict[str, Any], required: list[str]) -> None:
    if required:
        out["required"] = required
    else:
        out.pop("required", None)


def _required_field(cls: type, f: dataclasses.Field[Any]) -> bool:
    if f.default is not dataclasses.MISSING and f.default is not Ellipsis:
        return False
    if f.default_factory is not dataclasses.MISSING:
        return False
    try:
        hint = typing.get_type_hints(cls, include_extras=False).get(f.name, f.type)
    except Exception:  # names only the defining scope knows: judge by the text
        return not (isinstance(f.type, str) and ("None" in f.type or "Optional" in f.type))
    return not _admits_none(hint)


def _admits_none(hint: Any) -> bool:
    if hint is type(None) or hint is Any:
        return True
    if get_origin(hint) in (typing.Union, types.UnionType):
        return any(_admits_none(a) for a in get_args(hint))
    return False


def schema_model(schema: Any, name: str, *, optional: bool = False) -> type[Any]:
    """A pydantic model of ``schema`` (LangGraph's ``get_input_schema``/``get_output_schema``): a root model over
    it (None or ``dict``: any dict); with ``optional``, a model whose fields are the schema's keys, each optional
    with default None, as LangGraph's output model."""
    try:
        from pydantic import RootModel, create_model
    except ImportError as exc:  # pragma: no cover - pydantic comes with openai
        raise UsageError("schema models need pydantic (pip install pydantic)", code="missing_dependency") from exc
    if schema is None or schema is dict:
        return type(name, (RootModel[dict[str, Any]],), {"__module__": __name__})
    from aether_nb.flow.state import ROOT, schema_keys

    keys = schema_keys(schema)
    if optional and keys is not None and keys != [ROOT]:
        try:
            hints = typing.get_type_hints(schema)
        except Exception:  # (names only the defining code knows: the fields are Any)
            hints = {}
        fields: dict[str, Any] = {k: (hints.get(k, Any) | None, None) for k in keys}
        return create_model(name, **fields)  # type: ignore[no-any-return]
    try:
        return type(name, (RootModel[schema],), {"__module__": __name__})
    except Exception as exc:
        raise UsageError(f"cannot make a pydantic model of {shown(schema)}: {exc}", code="bad_schema") from exc
