"""What is wrong with a message, in the client's terms.

lsprotocol's types, through cattrs, say why a message does not fit its method in Python's
terms: a `ClassValidationError` tree with `KeyError`s, `TypeError`s and validator messages, at
attributes named in snake_case. The client wants one line about its own JSON:
`params.position.line must be ≥ 0`, `params must be an object, not null`. The raw message is
walked along each failure's path to say what is there instead.
"""

from __future__ import annotations

import enum
import logging
import re
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from lsprotocol import types

log = logging.getLogger(__name__)

PARSE_ERROR = types.ErrorCodes.ParseError.value
INVALID_REQUEST = types.ErrorCodes.InvalidRequest.value
INVALID_PARAMS = types.ErrorCodes.InvalidParams.value
SERVER_NOT_INITIALIZED = types.ErrorCodes.ServerNotInitialized.value
MAX_MESSAGE_CHARS = 200
MsgId = int | str

_RANGE_VALIDATOR = re.compile(
    r"\.(?P<field>\w+) should be in range \[(?P<low>-?\d+):(?P<high>-?\d+)\], "
    r"but was (?P<value>-?\d+)"
)


@attrs.define
class MalformedMessage:
    """A message that does not fit its method's types (or not even JSON-RPC's)."""

    kind: str  # "request", "notification" or "response"
    method: str | None
    id: MsgId | None  # None when the message has no usable id: it cannot be answered
    problem: str
    code: int = INVALID_PARAMS

    @property
    def text(self) -> str:
        return shorten(f"{self.method or 'invalid message'}: {self.problem}")


def malformed_message(
    kind: str, data: Mapping[str, Any], error: Exception | None
) -> MalformedMessage:
    """`error`: cattrs's, or None when the method is not even a string."""
    method = data.get("method") if isinstance(data.get("method"), str) else None
    msg_id = data.get("id")
    if error is None:
        problems = ["method must be a string"]
    else:
        problems = list(dict.fromkeys(_describe(data, *leaf) for leaf in _leaves(error, (), None)))
    problem = "; ".join(problems[:3]) or "does not fit the method's types"
    log.debug("%s %s does not fit its types: %s", kind, method, problem, exc_info=error)
    params_only = all(p.startswith("params") for p in problems)
    return MalformedMessage(
        kind,
        method,
        msg_id if is_usable_id(msg_id) else None,
        problem,
        INVALID_PARAMS if params_only and problems else INVALID_REQUEST,
    )


def not_json_rpc(message: Any) -> MalformedMessage:
    if isinstance(message, dict):
        method = message.get("method") if isinstance(message.get("method"), str) else None
        msg_id = message.get("id") if is_usable_id(message.get("id")) else None
        kind = "request" if method and msg_id is not None else "notification"
        return MalformedMessage(kind, method, msg_id, 'jsonrpc must be "2.0"', INVALID_REQUEST)
    return MalformedMessage(
        "notification", None, None, f"expected an object, not {_json_kind(message)}"
    )


def is_usable_id(msg_id: Any) -> bool:
    """An id an answer can carry (JSON-RPC: a number or a string)."""
    return isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)


Path = tuple[str | int, ...]


def _leaves(error: BaseException, path: Path, expected: Any) -> Iterator[tuple[Path, Any, Any]]:
    """(where, the type expected there, the exception) for each failure in a cattrs error."""
    if isinstance(error, (ClassValidationError, IterableValidationError)):
        noted, others = error.group_exceptions()
        for sub, note in noted:
            if isinstance(note, IterableValidationNote):
                yield from _leaves(sub, (*path, note.index), note.type)
            else:
                yield from _leaves(sub, (*path, _wire_name(note.name)), note.type)
        for sub in others:  # e.g. an attrs validator of the class itself
            yield from _leaves(sub, path, error.cl)
    elif isinstance(error, BaseValidationError):
        for sub in error.exceptions:
            yield from _leaves(sub, path, expected)
    else:
        yield path, expected, error


def _describe(data: Mapping[str, Any], path: Path, expected: Any, error: Any) -> str:
    value: Any = data
    for depth, step in enumerate(path):
        where = _dotted(path[:depth])
        if isinstance(step, int):
            if not isinstance(value, list):
                return f"{where} must be an array, not {_json_kind(value)}"
            if step >= len(value):
                return f"{_dotted(path[: depth + 1])} is missing"
        elif not isinstance(value, dict):
            return f"{where} must be an object, not {_json_kind(value)}"
        elif step not in value:
            return f"{_dotted(path[: depth + 1])} is missing"
        value = value[step]
    where = _dotted(path)
    if (bounds := _RANGE_VALIDATOR.search(str(error))) is not None:
        where = f"{where}.{_wire_name(bounds['field'])}"
        if int(bounds["value"]) < int(bounds["low"]):
            return f"{where} must be ≥ {bounds['low']}"
        return f"{where} must be ≤ {bounds['high']}"
    wanted = _expected_kind(expected)
    if wanted is not None and wanted != _json_kind(value):
        return f"{where} must be {wanted}, not {_json_kind(value)}"
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        return f"{where} must be one of {', '.join(str(m.value) for m in expected)}"
    return f"{where} is invalid ({shorten(str(error), 80)})"


def _expected_kind(expected: Any) -> str | None:
    if expected is bool:
        return "a boolean"
    if expected is int or expected is float:
        return "a number"
    if expected is str:
        return "a string"
    if attrs.has(expected) or typing.get_origin(expected) in (dict, Mapping):
        return "an object"
    if typing.get_origin(expected) in (list, tuple, Sequence):
        return "an array"
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _dotted(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text.lstrip(".") or "the message"


def _wire_name(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
