"""The JSON Schema subset the fake vLLM understands, for its structured-output rules.

The `jsonschema` package is not installed in this project, so this module does the two things the
fake needs itself:

* `check_schema`: refuse a schema the way vLLM's grammar compiler (xgrammar, the default backend)
  does before generating: an unknown `type`, a keyword of the wrong kind, an unresolvable `$ref`.
  The message follows xgrammar's wording for the cases seen in vLLM's issues (`Grammar error:
  Invalid type: not-a-type`, vllm-project/vllm#57725); it is not exhaustive.
* `violation`: why a JSON value does not match a schema (None if it does). Covers type, enum,
  const, properties/required/additionalProperties, items/prefixItems, the numeric and length
  bounds, pattern, anyOf/oneOf/allOf and local `$ref`s: what review and completion schemas use.
  `format` is accepted and not checked.

`example_instance` builds the smallest value a schema accepts: what a guided model "answers" when
a test scripted nothing.
"""

from __future__ import annotations

import math
import re
from typing import Any

TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


class SchemaError(ValueError):
    """A schema vLLM's grammar compiler refuses; str() is the message vLLM answers."""


def _fail(detail: str) -> SchemaError:
    return SchemaError(f"Grammar error: {detail}")


def check_schema(schema: Any) -> None:
    """Raises SchemaError if `schema` is not a JSON Schema vLLM could compile."""
    _check(schema, schema, "")


def _check(schema: Any, root: Any, where: str) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise _fail(f"Schema at '{where or '/'}' must be an object or a boolean")
    kind = schema.get("type")
    for name in kind if isinstance(kind, list) else [kind]:
        if name is not None and name not in TYPES:
            raise _fail(f"Invalid type: {name}")
    for key in _SCHEMA_MAPS:
        value = schema.get(key)
        if value is not None and not isinstance(value, dict):
            raise _fail(f"'{key}' at '{where or '/'}' must be an object")
        for name, sub in (value or {}).items():
            _check(sub, root, f"{where}/{key}/{name}")
    for key in _SCHEMA_LISTS:
        value = schema.get(key)
        if value is not None and (not isinstance(value, list) or not value):
            raise _fail(f"'{key}' at '{where or '/'}' must be a non-empty array")
        for i, sub in enumerate(value or []):
            _check(sub, root, f"{where}/{key}/{i}")
    for key in ("items", "additionalProperties", "not", "contains"):
        if key in schema:
            _check(schema[key], root, f"{where}/{key}")
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        raise _fail(f"'required' at '{where or '/'}' must be an array of strings")
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        raise _fail(f"'enum' at '{where or '/'}' must be a non-empty array")
    for key in _COUNTS:
        value = schema.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            raise _fail(f"'{key}' at '{where or '/'}' must be a non-negative integer")
    for key in _BOUNDS:
        value = schema.get(key)
        if value is not None and not _is_number(value):
            raise _fail(f"'{key}' at '{where or '/'}' must be a number")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError):
            raise _fail(f"Invalid regex pattern: {schema['pattern']!r}") from None
    if "$ref" in schema:
        _resolve(schema["$ref"], root)


def _resolve(ref: Any, root: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise _fail(f"Unsupported $ref: {ref!r} (only local references are supported)")
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise _fail(f"Pointer '{ref[1:]}' does not exist in the schema")
        node = node[part]
    return node


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_int(value):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _matches_type(value: Any, name: str) -> bool:
    actual = _type_of(value)
    return actual == name or (name == "number" and actual == "integer")


def violation(value: Any, schema: Any, root: Any = None, where: str = "$") -> str | None:
    """Why `value` does not match `schema`, or None. The schema must have passed check_schema."""
    root = schema if root is None else root
    if schema is True or schema == {}:
        return None
    if schema is False:
        return f"{where}: no value is allowed here"
    if "$ref" in schema:
        if (why := violation(value, _resolve(schema["$ref"], root), root, where)) is not None:
            return why
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_matches_type(value, name) for name in names):
            return f"{where}: expected {' or '.join(names)}, got {_type_of(value)}"
    if "const" in schema and value != schema["const"]:
        return f"{where}: expected {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: {value!r} is not one of {schema['enum']!r}"
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            results = [violation(value, sub, root, where) for sub in schema[key]]
            passed = sum(1 for r in results if r is None)
            if key == "allOf" and passed < len(results):
                return next(r for r in results if r is not None)
            if key == "anyOf" and passed == 0:
                return f"{where}: matches none of anyOf ({results[0]})"
            if key == "oneOf" and passed != 1:
                return f"{where}: matches {passed} of oneOf, not exactly one"
    if isinstance(value, dict):
        return _object_violation(value, schema, root, where)
    if isinstance(value, list):
        return _array_violation(value, schema, root, where)
    if isinstance(value, str):
        return _string_violation(value, schema, where)
    if _is_number(value):
        return _number_violation(value, schema, where)
    return None


def _object_violation(value: dict[str, Any], schema: Any, root: Any, where: str) -> str | None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            return f"{where}: missing required property {name!r}"
    for name, item in value.items():
        if name in properties:
            sub = properties[name]
        elif "additionalProperties" in schema:
            sub = schema["additionalProperties"]
            if sub is False:
                return f"{where}: unexpected property {name!r}"
        else:
            continue
        if (why := violation(item, sub, root, f"{where}.{name}")) is not None:
            return why
    if len(value) < schema.get("minProperties", 0):
        return f"{where}: fewer than {schema['minProperties']} properties"
    if len(value) > schema.get("maxProperties", math.inf):
        return f"{where}: more than {schema['maxProperties']} properties"
    return None


def _array_violation(value: list[Any], schema: Any, root: Any, where: str) -> str | None:
    prefix = schema.get("prefixItems") or []
    items = schema.get("items")
    if isinstance(items, list):  # draft-07 tuple form
        prefix, items = items, schema.get("additionalItems")
    for i, item in enumerate(value):
        sub = prefix[i] if i < len(prefix) else items
        if sub is not None and (why := violation(item, sub, root, f"{where}[{i}]")) is not None:
            return why
    if len(value) < schema.get("minItems", 0):
        return f"{where}: fewer than {schema['minItems']} items"
    if len(value) > schema.get("maxItems", math.inf):
        return f"{where}: more than {schema['maxItems']} items"
    return None


def _string_violation(value: str, schema: Any, where: str) -> str | None:
    if len(value) < schema.get("minLength", 0):
        return f"{where}: shorter than {schema['minLength']} characters"
    if len(value) > schema.get("maxLength", math.inf):
        return f"{where}: longer than {schema['maxLength']} characters"
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return f"{where}: does not match pattern {schema['pattern']!r}"
    return None


def _number_violation(value: float, schema: Any, where: str) -> str | None:
    if value < schema.get("minimum", -math.inf) or value > schema.get("maximum", math.inf):
        return f"{where}: {value} is out of range"
    if value <= schema.get("exclusiveMinimum", -math.inf):
        return f"{where}: {value} is not above {schema['exclusiveMinimum']}"
    if value >= schema.get("exclusiveMaximum", math.inf):
        return f"{where}: {value} is not below {schema['exclusiveMaximum']}"
    return None


def example_instance(schema: Any, root: Any = None) -> Any:
    """The smallest value `schema` accepts (required properties only, empty arrays, "", 0)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        return example_instance(_resolve(schema["$ref"], root), root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_instance(schema[key][0], root)
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: example_instance(properties.get(name, {}), root)
            for name in schema.get("required") or []
        }
    if kind == "array":
        items = schema.get("items") or {}
        return [example_instance(items, root) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    if kind in ("number", "integer"):
        low = schema.get("minimum", 0)
        if "exclusiveMinimum" in schema:
            low = max(low, math.floor(schema["exclusiveMinimum"]) + 1)
        return int(math.ceil(low))
    return {"boolean": False, "null": None}.get(kind, {})
