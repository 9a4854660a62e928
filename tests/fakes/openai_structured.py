"""Structured output on the fake vLLM: which constraint a request puts on the output, and which
of the ways to ask for one the imitated vLLM version knows.

vLLM has three ways, and no endpoint that says which it accepts (GET /v1/models and /version do
not list features: a client can only send a request and read the answer):

* `response_format: {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`:
  OpenAI's form, accepted since v0.6.0 (vllm-project/vllm#7654). Before, `ResponseFormat.type`
  was `Literal["text", "json_object"]`, so the request is refused 400 by pydantic.
* `guided_json` (a schema, or its JSON text) as an extra body field: from the start until v0.12.0
  removed it. From then on the field is ignored *silently* (the request model allows extra
  fields): the output comes back unconstrained, with 200.
* `structured_outputs: {"json": schema}`: since v0.10.2.

`response_format: {"type": "json_object"}` asks for any JSON. When several are given, vLLM's
`to_sampling_params` lets `response_format` win over `guided_json`, except json_object together
with guided_json, which is refused ("You can only use one kind of guided decoding").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_schema import SchemaError, check_schema, example_instance, violation
from tests.fakes.openai_wire import ApiError, ErrorFormat, pydantic_errors

_GUIDED_KINDS = ("guided_json", "guided_regex", "guided_choice", "guided_grammar")


@dataclass(frozen=True)
class ServerBehaviour:
    """What the imitated vLLM version accepts."""

    json_schema: bool = True  # response_format {"type": "json_schema"} (v0.6.0+)
    guided_json: bool = True  # the `guided_json` extra field (until v0.12.0, then ignored)
    structured_outputs: bool = True  # the `structured_outputs` extra field (v0.10.2+)


def behaviour_for(version: str) -> tuple[ServerBehaviour, ErrorFormat]:
    """What vLLM `version` ("0.5.4", "0.11", ...) accepts, and how it shapes its errors
    (nested `{"error": {...}}` since v0.10.1, vllm-project/vllm#22099)."""
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    v = parts + (0,) * (3 - len(parts))
    behaviour = ServerBehaviour(
        json_schema=v >= (0, 6, 0),
        guided_json=v < (0, 12, 0),
        structured_outputs=v >= (0, 10, 2),
    )
    return behaviour, "nested" if v >= (0, 10, 1) else "flat"


@dataclass
class Constraint:
    """What the output of one request is held to."""

    guided_by: str | None = None  # "json_schema", "json_object", "guided_json", ...; None: free
    schema: Any = None  # the JSON schema (None with json_object: any JSON)
    ignored: list[str] = field(default_factory=list)  # fields this version silently ignored

    @property
    def json_only(self) -> bool:
        return self.guided_by is not None


def structured_output(body: dict[str, Any], behaviour: ServerBehaviour) -> Constraint:
    """The constraint `body` asks for; raises ApiError as vLLM refuses it (an invalid schema:
    400 with the grammar compiler's message)."""
    constraint = Constraint()
    guided = [k for k in _GUIDED_KINDS if body.get(k) is not None]
    if not behaviour.guided_json:
        constraint.ignored += guided
        guided = []
    if len(guided) > 1:
        raise ApiError(
            400,
            "You can only use one kind of guided decoding "
            "('guided_json', 'guided_regex' or 'guided_choice').",
        )
    if guided and guided != ["guided_json"]:
        raise ApiError(500, f"fake vLLM: {guided[0]} is not supported by the fake")
    format_ = _response_format(body.get("response_format"), behaviour)
    if format_ == "json_object" and guided:
        both = {"guided_json": body["guided_json"], "guided_json_object": True}
        raise ApiError(
            400, f"You can only use one kind of guided decoding but multiple are specified: {both}"
        )
    extra = body.get("structured_outputs")
    if format_ == "json_schema":
        constraint.schema = body["response_format"]["json_schema"].get("schema")
        constraint.guided_by = format_
    elif format_ == "json_object":
        constraint.guided_by = format_
    elif guided:
        constraint.schema, constraint.guided_by = _decoded(body["guided_json"]), "guided_json"
    elif isinstance(extra, dict) and behaviour.structured_outputs and extra.get("json"):
        constraint.schema = _decoded(extra["json"])
        constraint.guided_by = "structured_outputs"
    elif extra is not None and not behaviour.structured_outputs:
        constraint.ignored.append("structured_outputs")
    if constraint.schema is not None:
        try:
            check_schema(constraint.schema)
        except SchemaError as error:
            raise ApiError(400, str(error)) from None
    return constraint


def _response_format(value: Any, behaviour: ServerBehaviour) -> str | None:
    if value is None:
        return None
    allowed = ["text", "json_object"] + (["json_schema"] if behaviour.json_schema else [])
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in allowed:
        quoted = [f"'{a}'" for a in allowed]
        expected = ", ".join(quoted[:-1]) + " or " + quoted[-1]  # pydantic's literal_error
        loc = ("response_format", "type")
        raise ApiError(
            400, pydantic_errors(("literal_error", loc, f"Input should be {expected}", kind))
        )
    if kind == "json_schema":
        spec = value.get("json_schema")
        if spec is None:  # vLLM asserts it is there: an empty 500 (vllm-project/vllm#35438)
            raise ApiError(500, "")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            name = ("response_format", "json_schema", "name")
            raise ApiError(400, pydantic_errors(("missing", name, "Field required", spec)))
    return None if kind == "text" else kind


def _decoded(schema: Any) -> Any:
    """`guided_json` may be a schema or its JSON text."""
    if not isinstance(schema, str):
        return schema
    try:
        return json.loads(schema)
    except json.JSONDecodeError as error:
        raise ApiError(400, f"Grammar error: the JSON schema is not valid JSON: {error}") from None


def check_scripted(constraint: Constraint, text: str) -> None:
    """Guided decoding can only produce what the grammar allows: a scripted reply that breaks
    the constraint is a broken test, answered 500 (and printed) rather than passed on or
    repaired. Stop strings and max_tokens still cut the (valid) reply afterwards, as in vLLM."""
    if not constraint.json_only:
        return
    why: str | None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        why = f"it is not JSON ({error})"
    else:
        schema = constraint.schema
        why = violation(value, schema) if schema is not None else None
        if why is None:
            return
    message = (
        f"fake vLLM: the test scripted {text[:200]!r} for a request constrained by "
        f"{constraint.guided_by}, but {why}. Guided decoding can only produce schema-valid "
        "JSON: fix the test's script."
    )
    print(message, flush=True)
    raise ApiError(500, message)


def unscripted_text(constraint: Constraint, chat: bool) -> str:
    """What the model says when the test scripted nothing; under guided decoding the smallest
    value the schema accepts, since that is all a guided model can produce."""
    if constraint.json_only:
        schema = constraint.schema
        return json.dumps(example_instance(schema) if schema is not None else {})
    return "Looks fine to me." if chat else "pass"
