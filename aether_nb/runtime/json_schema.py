"""JSON Schemas users hand over (a wait's answer schema, a structured-output format, a schema tool's arguments):
checked once, when given, so that checking a value against one later cannot fail for a reason of the schema's own.

jsonschema accepts a schema whose ``$ref`` points nowhere (``#/$defs/Amount`` with no ``$defs``) and fails only
when a value reaches that ref, with its own ``_WrappedReferencingError``: out of ``run.answer`` (the run kept
waiting on a question no answer could pass), out of a structured ``chat``, out of a tool call. So a schema is
checked here for being a valid schema of its dialect and for every ``$ref`` resolving, inside the schema itself (or
to a dialect's meta-schema).

Refs are never fetched from the network: a validator made here has a registry that retrieves nothing. jsonschema's
default one fetches any ``http(s)`` ref it meets (with a deprecation warning), so checking a person's answer would
have opened whatever URL the schema names.

jsonschema is imported on first use, never with the runtime.
"""

from __future__ import annotations

from typing import Any

from aether_nb.errors import UsageError
from aether_nb.runtime.checks import MAX_DEPTH, check_depth

BAD_SCHEMA = "bad_schema"
"""UsageError code: a schema that is not valid, or whose ``$ref`` does not resolve."""

_REFS_HINT = (
    'a $ref must point inside the schema (put the definition under "$defs" and write "#/$defs/Name"); '
    "schemas are never fetched from the network"
)


def schema_problem(schema: Any) -> str | None:
    """Why jsonschema cannot check values against ``schema`` (not a valid schema of its dialect, or a ``$ref`` that
    does not resolve), or None. ``schema`` must not contain itself (:func:`~aether_nb.runtime.checks.check_depth`)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"it is not a valid JSON Schema: {exc.message}"
    except (TypeError, ValueError, RecursionError) as exc:
        return f"it is not a valid JSON Schema: {type(exc).__name__}: {exc}"
    return _unresolved_ref(schema, cls)


def _unresolved_ref(schema: Any, cls: Any) -> str | None:
    """The first ``$ref`` of ``schema`` (its subschemas included, each resolved from its own base URI) that does
    not resolve, said with why; None when all do."""
    import referencing
    import referencing.exceptions
    import referencing.jsonschema
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped,unused-ignore]

    dialect = str(cls.META_SCHEMA.get("$schema") or cls.META_SCHEMA.get("$id") or "")
    spec = referencing.jsonschema.specification_with(dialect, default=referencing.jsonschema.DRAFT202012)
    root = spec.create_resource(schema)
    registry: referencing.Registry[Any] = REGISTRY
    stack = [(root, registry.resolver_with_root(root))]
    while stack:
        resource, resolver = stack.pop()
        contents = resource.contents
        ref = contents.get("$ref") if isinstance(contents, dict) else None
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable as exc:
                why = "no such place in the schema" if isinstance(exc, referencing.exceptions.PointerToNowhere) else ""
                why = why or ("no such anchor" if isinstance(exc, referencing.exceptions.NoSuchAnchor) else "")
                return f"its $ref {ref!r} does not resolve ({why or 'not a schema this one holds'}); {_REFS_HINT}"
            except ValueError as exc:  # (a malformed URI)
                return f"its $ref {ref!r} is not a valid reference ({exc}); {_REFS_HINT}"
        stack.extend((sub, resolver.in_subresource(sub)) for sub in resource.subresources())
    return None


def checked_validator(schema: Any, what: str, *, limit: int = MAX_DEPTH) -> Any:
    """A jsonschema validator of ``schema`` (a dict), which retrieves no remote refs.

    Raises:
        UsageError: ``schema`` contains itself or nests deeper than ``limit`` (codes ``self_reference``,
            ``too_deep``), is not a valid JSON Schema, or has a ``$ref`` that does not resolve (code
            ``bad_schema``); the message names ``what`` and the ref.
    """
    if not isinstance(schema, dict):
        raise UsageError(f"{what} must be a JSON Schema (a dict), got {type(schema).__name__}", code=BAD_SCHEMA)
    check_depth(schema, what, limit=limit)
    problem = schema_problem(schema)
    if problem is not None:
        raise UsageError(f"{what}: {problem}", code=BAD_SCHEMA)
    return validator(schema)


def validator(schema: Any) -> Any:
    """A validator of ``schema`` (one :func:`schema_problem` has nothing against) whose refs are resolved only
    inside the schema and the dialects' meta-schemas: nothing is fetched."""
    import jsonschema
    import referencing

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=referencing.Registry())


def validation_errors(validator: Any, value: Any) -> list[Any]:
    """The ``jsonschema.ValidationError`` s of ``value`` against ``validator``'s schema (empty: it fits).

    Raises:
        UsageError: the schema cannot check this value (code ``bad_schema``): a ``$ref`` that does not resolve
            (a schema stored before refs were checked), or refs that loop without end.
    """
    import referencing.exceptions

    try:
        return list(validator.iter_errors(value))
    except referencing.exceptions.Unresolvable as exc:
        raise UsageError(f"the schema cannot check this value: {exc}; {_REFS_HINT}", code=BAD_SCHEMA) from None
    except RecursionError:
        raise UsageError(
            "the schema cannot check this value: its $refs refer to each other without end", code=BAD_SCHEMA
        ) from None


def error_lines(errors: list[Any], root: str = "(root)") -> list[str]:
    """One ``path: message`` line per validation error, in path order."""
    return [
        f"{'.'.join(str(x) for x in e.absolute_path) or root}: {e.message}"
        for e in sorted(errors, key=lambda e: [str(x) for x in e.absolute_path])
    ]
