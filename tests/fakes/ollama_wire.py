"""How Ollama's Go server spells things on the wire, reproduced for the fake.

* JSON as Go's `encoding/json` writes it: compact, UTF-8, with `<`, `>`, `&`, U+2028 and U+2029
  escaped (so a FIM token such as `<|fim_middle|>` arrives as `\\u003c|fim_middle|\\u003e`).
* Timestamps as Go's `time.Time` marshals them: RFC 3339 with nanoseconds, trailing zeros trimmed.
* Request bodies as gin's `ShouldBindJSON` accepts them, with Go's error texts for the cases a
  client can plausibly hit (empty body, bad JSON, a field of the wrong type, a bad `keep_alive`).

See shared/reference/ollama-api.md §1.1, §1.3 and §1.8.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

FOREVER_NS = 2**63 - 1  # Go's time.Duration(math.MaxInt64): a negative keep_alive
DEFAULT_KEEP_ALIVE_S = 300.0  # OLLAMA_KEEP_ALIVE default, 5m

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BindError(ValueError):
    """A request body that gin's ShouldBindJSON refuses; str() is the error text Ollama sends."""


def go_json(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)
    # Go writes invalid UTF-8 as U+FFFD; a Python str can only hold it as lone surrogates.
    return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def rfc3339nano(ns: int | None = None) -> str:
    """Go's `time.Now().UTC()` in JSON: `2025-12-01T10:15:30.123456789Z`, zeros trimmed."""
    seconds, fraction = divmod(time.time_ns() if ns is None else ns, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def go_quote(text: str) -> str:
    """Go's %q, close enough for the ASCII texts in error messages."""
    return json.dumps(text)


# -- keep_alive: api.Duration.UnmarshalJSON -------------------------------------------------

_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}
_UNIT_NS |= {"m": 60 * 10**9, "h": 3600 * 10**9}
_NUMBER = re.compile(r"\d*(\.\d*)?")
_UNIT = re.compile(r"[^\d.]*")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds; raises BindError with Go's message."""
    quoted = go_quote(text)
    rest, sign = text, 1.0
    if rest[:1] in ("-", "+"):
        sign, rest = (-1.0 if rest[0] == "-" else 1.0), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise BindError(f"time: invalid duration {quoted}")
    total_ns = 0.0
    while rest:
        number = _NUMBER.match(rest)
        digits = number.group() if number else ""
        if digits in ("", "."):
            raise BindError(f"time: invalid duration {quoted}")
        rest = rest[len(digits) :]
        unit_match = _UNIT.match(rest)
        unit = unit_match.group() if unit_match else ""
        if not unit:
            raise BindError(f"time: missing unit in duration {quoted}")
        if unit not in _UNIT_NS:
            raise BindError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total_ns += float(digits) * _UNIT_NS[unit]
        rest = rest[len(unit) :]
    return sign * total_ns / 1e9


def parse_keep_alive(value: Any) -> float:
    """Seconds to keep the model loaded: a number is whole seconds, a string a Go duration;
    negative means forever (math.inf). Absent/null means the server default (5m)."""
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.inf if value < 0 else float(int(value))  # Go truncates: 0.5 → 0 → unload
    if isinstance(value, str):
        seconds = parse_go_duration(value)
        return math.inf if seconds < 0 else seconds
    go_type = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}
    raise BindError(f"Unsupported type: '{go_type.get(type(value), type(value).__name__)}'")


# -- request bodies -------------------------------------------------------------------------

_GO_TYPES: dict[str, tuple[type, str]] = {
    "model": (str, "string"),
    "name": (str, "string"),
    "prompt": (str, "string"),
    "suffix": (str, "string"),
    "system": (str, "string"),
    "template": (str, "string"),
    "raw": (bool, "bool"),
    "stream": (bool, "bool"),
    "context": (list, "[]int"),
    "messages": (list, "[]api.Message"),
    "tools": (list, "api.Tools"),
    "images": (list, "[]api.ImageData"),
    "options": (dict, "map[string]interface {}"),
}


def _json_kind(value: Any) -> str:
    """The JSON type name Go's decoder uses in 'cannot unmarshal X into ...'."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _syntax_error(text: str, error: json.JSONDecodeError) -> str:
    if error.pos >= len(text.rstrip()):
        return "unexpected EOF"
    return f"invalid character '{text[error.pos]}' looking for beginning of value"


def decode_body(raw: bytes, struct: str) -> dict[str, Any]:
    """The JSON object of a request body, checked the way gin binds it into api.<struct>."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise BindError("missing request body")  # the handlers' answer to io.EOF
    try:
        # Go's json.Decoder reads one value and ignores whatever follows it.
        value, _end = json.JSONDecoder().raw_decode(text.lstrip())
    except json.JSONDecodeError as error:
        raise BindError(_syntax_error(error.doc, error)) from None
    if not isinstance(value, dict):
        kind = _json_kind(value) if value is not None else "null"
        raise BindError(f"json: cannot unmarshal {kind} into Go value of type api.{struct}")
    for key, (python_type, go_type) in _GO_TYPES.items():
        field = value.get(key)
        if field is None:
            continue
        wrong_bool = python_type is not bool and isinstance(field, bool)
        if wrong_bool or not isinstance(field, python_type):
            raise BindError(
                f"json: cannot unmarshal {_json_kind(field)} into Go struct field "
                f"{struct}.{key} of type {go_type}"
            )
    parse_keep_alive(value.get("keep_alive"))  # raises on a bad one, as binding does
    return value


def recorded_body(raw: bytes) -> dict[str, Any]:
    """The body as tests see it: the parsed JSON object, or {} for anything else."""
    try:
        value = json.loads(raw.decode("utf-8", errors="replace")) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
