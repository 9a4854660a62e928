"""`format` on /api/generate and /api/chat: what Ollama accepts, and what it lets a model write.

What Ollama does (read in its Go source, ollama/ollama: llm/server.go as of 2025 with its test,
which shared/reference/ollama-api.md §1.1 also cites for v0.13.5; server/routes.go at HEAD):

* The field is a `json.RawMessage` (api/types.go), so any JSON value binds. `llm/server.go`
  `Completion` looks at its raw bytes before anything else, before even waiting for the
  runner's slot (`s.sem.Acquire`), but after the handler has scheduled (loaded) the model, so
  an unknown model is still a 404 and an empty prompt / no messages still gets the "load" stub:

      switch string(req.Format) {
      case `null`, `""`:  // not set
      case `"json"`:      req.Grammar = grammarJSON
      default:
          if req.Format[0] != '{' {
              return fmt.Errorf("invalid format: %q; expected \\"json\\" or a valid JSON "+
                  "Schema object", req.Format)  // one string literal in the source
          }
          g := llama.SchemaToGrammar(req.Format)
          if g == nil { return fmt.Errorf("invalid JSON schema in format") }
          req.Grammar = string(g)
      }

  `%q` is Go's quoting of the raw bytes: `"yaml"` gives
  `invalid format: "\\"yaml\\""; expected "json" or a valid JSON Schema object`. The test
  `TestLLMServerCompletionFormat` (llm/server_test.go) pins both texts (the value "X" and `"X"`
  are invalid; ``, `""`, `null`, `"json"`, `{"type":"object"}` are valid).
* Neither error is an `api.StatusError`, so GenerateHandler/ChatHandler (server/routes.go) answer
  `{"error": "<text>"}` with **500**: `c.JSON(status, …)` with status defaulting to
  `http.StatusInternalServerError` for `stream: false`, and the same from `streamResponse` when
  nothing was written yet (application/json, not NDJSON). Not 400 in any version read. (The
  `streamResponse` of v0.5.11 did not look at errors yet: a streamed request got the error as
  an NDJSON line on a 200.) Users report the same:
  datalab-to/marker#984 `<Response [500]> b'{"error":"invalid JSON schema in format"}'`;
  ollama/ollama#8325 and #8185 (an unanchored `pattern`, v0.5.4, "invalid JSON schema in
  format"); jakubburkiewicz/node-red-contrib-ollama#22 (a schema sent as a JSON *string*:
  `invalid format: "\\"[{\\\\\\"type\\\\\\"…\\"]\\""; expected "json" or a valid JSON Schema
  object`). The wording `invalid format: expected "json" or a JSON schema` existed only in
  v0.5.2, where it wrongly refused format "" (ollama/ollama#8126, fixed in v0.5.3).
* `llama.SchemaToGrammar` (llama/llama.go) returns nil when the C++ `schema_to_grammar`
  (llama/sampling_ext.cpp) returns 0, i.e. when llama.cpp's `json_schema_to_grammar`
  (llama/llama.cpp/common/json-schema-to-grammar.cpp, `SchemaConverter::visit`) throws: a
  nlohmann type error (a non-string `format`/`pattern`/`$ref`, a non-numeric `minItems`, a
  non-array `anyOf`, …) or `check_errors()` ("JSON schema conversion failed") after it
  collected "Unrecognized schema: …" (no usable `type`, e.g. a property that is only a
  description, `{"$schema": …}` alone, an unknown type name), "Unsupported ref: …" (not `#/…`),
  "Error resolving ref …" (e.g. `$defs` dropped but `$ref` kept), or "Pattern must start with
  '^' and end with '$'".
* The grammar is what the model can write: llama.cpp masks every token that would leave it,
  EOS included until the grammar is complete. For a schema: the root value with no leading
  whitespace; between tokens only `SPACE_RULE` (nothing, one space, or one or two newlines and
  up to 20 spaces/tabs); an object's properties in the schema's order, all `required` ones,
  then any of the others in order, no other keys unless `additionalProperties` allows them;
  `enum`/`const` as the exact JSON text of a value; at most 16 integer digits; string escapes
  `\\" \\\\ \\b \\f \\n \\r \\t \\uXXXX` (not `\\/`); `minItems`/`maxItems`,
  `minLength`/`maxLength`, `minimum`/`maximum` on integers, `pattern`, the formats date, time,
  date-time and uuid. For "json" (`grammarJSON`): an object (not an array), any whitespace of
  space/tab/newline, `\\/` allowed. So a constrained answer is either complete JSON of that
  grammar, or a prefix of one that generation stopped early: `num_predict` ("length"), a stop
  string, the token-repeat guard, a runner error, a hang-up.
* Not modelled: on thinking models ChatHandler applies the format only after the thinking
  (its structuredOutputsState restarts the request), and the fake's models do not think; the
  newest sources' llama-server runner (llm/llama_server.go) keeps the `invalid format` check
  but hands a schema to llama-server instead of SchemaToGrammar; models that do not honour
  the format anyway (ollama/ollama#8063, or a runner without
  llama.cpp's grammar) are what `Reply(ignores_format=True)` scripts.

What the fake does: `constrain_output` raises `ApiError(500, …)` with Ollama's texts for an
invalid `format`, and the converter is mirrored closely enough to refuse what it refuses. A
scripted answer must then be one a model held to the grammar could have sent: complete, or
a prefix cut as above (`num_predict`, `stop`, `Reply(done_reason="length")`, a fault). Any
other answer under a format is a scripting mistake: the request gets a 500 whose text starts
"fake Ollama:", and FakeOllama fails the test when it stops (a test that means it calls
`take_format_violations()`), unless the Reply says `ignores_format=True`. So a test cannot pass
on a refused answer that it scripted by mistake. Approximations: `pattern`
is checked with Python's `re` once the string is closed (and a pattern Python cannot compile is
refused), integer bounds are checked on the value, and remote `$ref`s resolve to nothing.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.ollama_output import OutputPlan, Reply
from tests.fakes.ollama_requests import ApiError

FORMAT_ERROR_STATUS = 500  # neither format error is an api.StatusError
INVALID_SCHEMA = "invalid JSON schema in format"
_EXPECTED = 'expected "json" or a valid JSON Schema object'


def invalid_format(raw: str) -> str:
    """Ollama's text for a `format` that is neither "json" nor an object; `raw` is the value
    as it appears in the request body."""
    return f"invalid format: {_go_quote(raw)}; {_EXPECTED}"


def _go_quote(text: str) -> str:
    """Go's %q (strconv.Quote). Bytes that were not UTF-8 are expected as surrogateescape."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in named:
            out.append(named[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


# -- the raw value of `format` ---------------------------------------------------------------

_GO_WS = " \t\r\n"


def raw_field(raw_body: bytes, key: str) -> str | None:
    """The text of top-level field `key` exactly as the body spells it (Go's json.RawMessage;
    the last one if repeated), or None if it is absent or the body is not a JSON object."""
    text = raw_body.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _GO_WS:
            i += 1
        return i

    found = None
    try:
        i = skip(0)
        if text[i : i + 1] != "{":
            return None
        i = skip(i + 1)
        while text[i : i + 1] != "}":
            name, i = decoder.raw_decode(text, i)
            i = skip(i)
            if text[i : i + 1] != ":":
                return None
            start = skip(i + 1)
            _value, end = decoder.raw_decode(text, start)
            if name == key:
                found = text[start:end]
            i = skip(end)
            if text[i : i + 1] == ",":
                i = skip(i + 1)
            elif text[i : i + 1] != "}":
                return None
    except (json.JSONDecodeError, IndexError):
        return None
    return found


# -- grammar matching ------------------------------------------------------------------------


class _Ctx:
    """One text being matched: positions reached per (node, start), and whether some path
    consumed the whole text while still wanting more (then the text is a viable prefix)."""

    __slots__ = ("text", "hit_end", "memo")

    def __init__(self, text: str) -> None:
        self.text = text
        self.hit_end = False
        self.memo: dict[tuple[int, int], frozenset[int]] = {}


class _Node:
    """A grammar rule: `ends` is every position where a match starting at `pos` can end."""

    def ends(self, ctx: _Ctx, pos: int) -> frozenset[int]:
        key = (id(self), pos)
        found = ctx.memo.get(key)
        if found is not None:
            return found
        ctx.memo[key] = frozenset()  # a left-recursive rule makes no progress
        result = frozenset(self._ends(ctx, pos))
        ctx.memo[key] = result
        return result

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        raise NotImplementedError


class _Lit(_Node):
    def __init__(self, text: str) -> None:
        self.text = text

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        if ctx.text.startswith(self.text, pos):
            return (pos + len(self.text),)
        rest = ctx.text[pos:]
        if len(rest) < len(self.text) and self.text.startswith(rest):
            ctx.hit_end = True
        return ()


class _Seq(_Node):
    def __init__(self, *parts: _Node) -> None:
        self.parts = parts

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        current: set[int] = {pos}
        for part in self.parts:
            current = {end for start in current for end in part.ends(ctx, start)}
            if not current:
                break
        return current


class _Alt(_Node):
    def __init__(self, *options: _Node) -> None:
        self.options = list(options)  # may be filled in later, for recursive rules

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        return {end for option in self.options for end in option.ends(ctx, pos)}


class _Ref(_Node):
    """A rule defined later (a `$ref`, or a recursive primitive)."""

    def __init__(self) -> None:
        self.node: _Node | None = None

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        return self.node.ends(ctx, pos) if self.node is not None else ()


class _Repeat(_Node):
    """`item (sep item)*` between `low` and `high` times (llama.cpp build_repetition)."""

    def __init__(self, item: _Node, low: int, high: int | None, sep: _Node | None) -> None:
        self.item, self.low, self.high, self.sep = item, low, high, sep

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        out: set[int] = {pos} if self.low <= 0 else set()
        frontier, count = {pos}, 0
        while frontier and (self.high is None or count < self.high):
            reached = set()
            for start in frontier:
                starts = self.sep.ends(ctx, start) if count and self.sep else (start,)
                reached |= {end for s in starts for end in self.item.ends(ctx, s)}
            count += 1
            if count >= self.low:
                frontier = reached - out  # positions seen before add nothing new
                out |= reached
            else:
                frontier = reached
        return out


class _Space(_Node):
    """llama.cpp SPACE_RULE: `| " " | "\\n"{1,2} [ \\t]{0,20}`."""

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        text, out = ctx.text, {pos}
        if text.startswith(" ", pos):
            out.add(pos + 1)
        at = pos
        for _ in range(2):
            if not text.startswith("\n", at):
                break
            at += 1
            out.add(at)
            indent = at
            while indent - at < 20 and indent < len(text) and text[indent] in " \t":
                indent += 1
                out.add(indent)
        return out


class _Ws(_Node):
    """grammarJSON's `ws ::= ([ \\t\\n] ws)?`."""

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        end = pos
        while end < len(ctx.text) and ctx.text[end] in " \t\n":
            end += 1
        return range(pos, end + 1)


_HEX = frozenset("0123456789abcdefABCDEF")
_SCHEMA_ESCAPES = frozenset('"\\bfnrt')  # llama.cpp PRIMITIVE_RULES "char"
_JSON_ESCAPES = frozenset('"\\/bfnrt')  # grammarJSON's string


class _Str(_Node):
    """A JSON string of char units (an escape is one), then the space rule. `content`, if
    given, checks the text between the quotes once the string is closed."""

    def __init__(
        self,
        space: _Node,
        *,
        escapes: frozenset[str] = _SCHEMA_ESCAPES,
        low: int = 0,
        high: int | None = None,
        content: Callable[[str], bool] | None = None,
    ) -> None:
        self.space, self.escapes, self.low, self.high = space, escapes, low, high
        self.content = content

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        text, n = ctx.text, len(ctx.text)
        if pos >= n:
            ctx.hit_end = True
            return ()
        if text[pos] != '"':
            return ()
        at, count = pos + 1, 0
        while True:
            if at >= n:
                ctx.hit_end = True
                return ()
            ch = text[at]
            if ch == '"':
                break
            if self.high is not None and count >= self.high:
                return ()
            if ch == "\\":
                if at + 1 >= n:
                    ctx.hit_end = True
                    return ()
                escaped = text[at + 1]
                if escaped == "u":
                    digits = text[at + 2 : at + 6]
                    if not all(d in _HEX for d in digits):
                        return ()
                    if len(digits) < 4:
                        ctx.hit_end = True
                        return ()
                    at += 6
                elif escaped in self.escapes:
                    at += 2
                else:
                    return ()
            elif ch < " " or ch == "\x7f":
                return ()
            else:
                at += 1
            count += 1
        if count < self.low:
            return ()
        if self.content is not None and not self.content(text[pos + 1 : at]):
            return ()
        return self.space.ends(ctx, at + 1)


def _digits(text: str, at: int, most: int | None) -> int:
    """The position after up to `most` ASCII digits from `at`."""
    end = at
    while end < len(text) and "0" <= text[end] <= "9" and (most is None or end - at < most):
        end += 1
    return end


class _Number(_Node):
    """`("-"? integral) ("." decimals)? ([eE] [-+]? integral)?` then space. With `bounded`
    (llama.cpp) integral is `[0] | [1-9] [0-9]{0,15}` and decimals `[0-9]{1,16}`; without
    (grammarJSON) digits are unbounded and the exponent is `[0-9]+`. `integer` stops after
    the integral part and checks `low`/`high` (llama.cpp builds these into the grammar)."""

    def __init__(
        self,
        space: _Node,
        *,
        bounded: bool,
        integer: bool = False,
        low: int | None = None,
        high: int | None = None,
    ) -> None:
        self.space, self.bounded, self.integer = space, bounded, integer
        self.low, self.high = low, high

    def _integral(self, ctx: _Ctx, at: int, *, exponent: bool = False) -> int | None:
        text = ctx.text
        if at >= len(text):
            ctx.hit_end = True
            return None
        if exponent and not self.bounded:
            end = _digits(text, at, None)
            return end if end > at else None
        if text[at] == "0":
            return at + 1
        if "1" <= text[at] <= "9":
            return _digits(text, at + 1, 15 if self.bounded else None)
        return None

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        text, n = ctx.text, len(ctx.text)
        start = pos + 1 if text.startswith("-", pos) else pos
        int_end = self._integral(ctx, start)
        if int_end is None:
            return ()
        if int_end >= n:
            ctx.hit_end = True  # more digits, a fraction or an exponent could follow
        if self.integer:
            value = int(text[pos:int_end])
            if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high
            ):
                return ()
            return self.space.ends(ctx, int_end)
        tokens = [int_end]
        exp_start: int | None = int_end
        if text.startswith(".", int_end):
            frac_end = _digits(text, int_end + 1, 16 if self.bounded else None)
            if frac_end >= n:
                ctx.hit_end = True
            if frac_end > int_end + 1:
                tokens.append(frac_end)
                exp_start = frac_end
            else:
                exp_start = None
        if exp_start is not None and exp_start < n and text[exp_start] in "eE":
            at = exp_start + 1
            if at < n and text[at] in "+-":
                at += 1
            exp_end = self._integral(ctx, at, exponent=True)
            if exp_end is not None:
                if exp_end >= n:
                    ctx.hit_end = True
                tokens.append(exp_end)
        return {end for token in tokens for end in self.space.ends(ctx, token)}


class _Object(_Node):
    """llama.cpp `_build_object_rule`: `"{" space`, the required properties in schema order,
    then optionally any of the others in order (additional ones, repeatable, last), `"}"`."""

    def __init__(self, required: list[_Node], optional: list[_Node], repeat_last: bool) -> None:
        self.required, self.optional, self.repeat_last = required, optional, repeat_last

    def _ends(self, ctx: _Ctx, pos: int) -> Iterable[int]:
        reached = _OPEN_BRACE.ends(ctx, pos)
        for index, kv in enumerate(self.required):
            if index:
                reached = frozenset(e for p in reached for e in _COMMA.ends(ctx, p))
            reached = frozenset(e for p in reached for e in kv.ends(ctx, p))
        # (position, first optional property still allowed, whether a comma must come first)
        todo = [(p, 0, bool(self.required)) for p in reached]
        seen = set(todo)
        closable = set(reached)
        while todo:
            at, first, comma = todo.pop()
            starts = _COMMA.ends(ctx, at) if comma else (at,)
            for index in range(first, len(self.optional)):
                last = index == len(self.optional) - 1
                following = index if last and self.repeat_last else index + 1
                for start in starts:
                    for end in self.optional[index].ends(ctx, start):
                        state = (end, following, True)
                        if state not in seen:
                            seen.add(state)
                            todo.append(state)
                            closable.add(end)
        return {end for p in closable for end in _CLOSE_BRACE.ends(ctx, p)}


# -- the primitive rules (llama.cpp PRIMITIVE_RULES, STRING_FORMAT_RULES) -------------------

_SPACE = _Space()
_OPEN_BRACE = _Seq(_Lit("{"), _SPACE)
_CLOSE_BRACE = _Seq(_Lit("}"), _SPACE)
_COMMA = _Seq(_Lit(","), _SPACE)
_STRING = _Str(_SPACE)
_VALUE = _Alt()
_PRIMITIVES: dict[str, _Node] = {
    "boolean": _Seq(_Alt(_Lit("true"), _Lit("false")), _SPACE),
    "null": _Seq(_Lit("null"), _SPACE),
    "number": _Number(_SPACE, bounded=True),
    "integer": _Number(_SPACE, bounded=True, integer=True),
    "string": _STRING,
    "object": _Seq(
        _OPEN_BRACE,
        _Repeat(_Seq(_STRING, _Lit(":"), _SPACE, _VALUE), 0, None, _COMMA),
        _CLOSE_BRACE,
    ),
    "array": _Seq(_Lit("["), _SPACE, _Repeat(_VALUE, 0, None, _COMMA), _Lit("]"), _SPACE),
    "value": _VALUE,
}
_VALUE.options = [_PRIMITIVES[k] for k in ("object", "array", "string", "number", "boolean")]
_VALUE.options.append(_PRIMITIVES["null"])


def _content_rule(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda content: compiled.fullmatch(content) is not None


_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_DATE = "[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = (
    "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{3})?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_STRING_FORMATS = {"date": _DATE, "time": _TIME, "date-time": f"{_DATE}T{_TIME}"}
_PRIMITIVES["uuid"] = _Str(_SPACE, content=_content_rule(_UUID))
# Rule names llama.cpp also accepts as a "type" (they match bare, unquoted text).
_PRIMITIVES["char"] = _Str(_SPACE, low=1, high=1)  # close enough: nobody asks for these
_PRIMITIVES["decimal-part"] = _Number(_SPACE, bounded=True, integer=True)
_PRIMITIVES["integral-part"] = _PRIMITIVES["decimal-part"]

# grammarJSON (llm/server.go): what format "json" allows.
_WS = _Ws()
_JSON_STRING = _Str(_WS, escapes=_JSON_ESCAPES)
_JSON_VALUE = _Alt()
_JSON_COMMA = _Seq(_Lit(","), _WS)
_JSON_OBJECT = _Seq(
    _Lit("{"),
    _WS,
    _Repeat(_Seq(_JSON_STRING, _Lit(":"), _WS, _JSON_VALUE), 0, None, _JSON_COMMA),
    _Lit("}"),
    _WS,
)
_JSON_VALUE.options = [
    _JSON_OBJECT,
    _Seq(_Lit("["), _WS, _Repeat(_JSON_VALUE, 0, None, _JSON_COMMA), _Lit("]"), _WS),
    _JSON_STRING,
    _Number(_WS, bounded=False),
    _Seq(_Alt(_Lit("true"), _Lit("false"), _Lit("null")), _WS),
]


# -- the schema converter (llama.cpp SchemaConverter) ----------------------------------------


class FormatViolation(ApiError):
    """A scripted answer no model held to the request's format could send (a test's mistake:
    FakeOllama fails the test when it stops, unless the test takes it)."""


class SchemaError(ValueError):
    """llama.cpp could not turn the schema into a grammar (Ollama: "invalid JSON schema in
    format"); str() is the converter's reason, for whoever debugs a test."""


def _dump(value: Any) -> str:
    """nlohmann's `dump()`: compact, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_int(value: Any, what: str) -> int:
    """nlohmann `get<int>()`: numbers and booleans convert, anything else throws."""
    if isinstance(value, (bool, int, float)):
        return int(value)
    raise SchemaError(f"type_error: {what} must be a number, not {_dump(value)}")


def _as_list(value: Any) -> list[Any]:
    """What iterating a nlohmann value visits."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [] if value is None else [value]


def _items(value: Any) -> list[tuple[str, Any]]:
    """nlohmann `items()`: keys of an object, indexes of an array, "" for a primitive."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return [(str(i), v) for i, v in enumerate(value)]
    return [] if value is None else [("", value)]


class _Converter:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.errors: list[str] = []
        self.refs: dict[str, Any] = {}
        self.ref_rules: dict[str, _Ref] = {}

    # resolve_refs: every $ref in the document, used or not, must resolve.
    def resolve_refs(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.resolve_refs(item)
        elif isinstance(node, dict):
            if "$ref" not in node:
                for value in node.values():
                    self.resolve_refs(value)
                return
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise SchemaError(f"type_error: $ref must be a string, not {_dump(ref)}")
            if ref in self.refs:
                return
            target: Any = None
            if ref.startswith("https://"):
                base = ref.split("#", 1)[0]
                self.refs.setdefault(base, None)  # fetching is not implemented: null
                fragment = ref.split("#", 1)[1] if "#" in ref else ""
                if not fragment:
                    return
            elif ref.startswith("#/"):
                target = self.root
            else:
                self.errors.append(f"Unsupported ref: {ref}")
                return
            for token in ref.split("#", 1)[1].split("/")[1:]:
                if isinstance(target, dict) and token in target:
                    target = target[token]
                    continue
                index = re.match(r"\s*\+?(\d+)", token) if isinstance(target, list) else None
                if index is not None and int(index.group(1)) < len(target):
                    target = target[int(index.group(1))]
                    continue
                self.errors.append(f"Error resolving ref {ref}: {token} not in {_dump(target)}")
                return
            self.refs[ref] = target

    def visit(self, schema: Any) -> _Node:
        if not isinstance(schema, dict):
            if schema is None or schema == []:  # nlohmann empty(): the object rule
                return _PRIMITIVES["object"]
            self.errors.append(f"Unrecognized schema: {_dump(schema)}")
            return _Alt()
        kind = schema.get("type")
        fmt = schema.get("format", "")
        if not isinstance(fmt, str):
            raise SchemaError(f"type_error: format must be a string, not {_dump(fmt)}")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "oneOf" in schema or "anyOf" in schema:
            options = schema["oneOf"] if "oneOf" in schema else schema["anyOf"]
            if not isinstance(options, list):
                raise SchemaError("type_error: oneOf/anyOf must be an array")
            return _Alt(*(self.visit(option) for option in options))
        if isinstance(kind, list):
            return _Alt(*(self.visit(schema | {"type": each}) for each in kind))
        if "const" in schema:
            return _Seq(_Lit(_dump(schema["const"])), _SPACE)
        if "enum" in schema:
            return _Seq(_Alt(*(_Lit(_dump(v)) for v in _as_list(schema["enum"]))), _SPACE)
        additional = schema.get("additionalProperties")
        restricts = "additionalProperties" in schema and additional is not True
        if kind in (None, "object") and ("properties" in schema or restricts):
            required = schema.get("required")
            listed = required if isinstance(required, list) else []
            names = {r for r in listed if isinstance(r, str)}
            return self._object(_items(schema.get("properties")), names, additional)
        if kind in (None, "object", "string") and "allOf" in schema:
            return self._all_of(schema["allOf"])
        if kind in (None, "array") and ("items" in schema or "prefixItems" in schema):
            return self._array(schema)
        if kind in (None, "string") and "pattern" in schema:
            return self._pattern(schema["pattern"])
        if kind in (None, "string") and re.fullmatch("uuid[1-5]?", fmt):
            return _PRIMITIVES["uuid"]
        if kind in (None, "string") and fmt in _STRING_FORMATS:
            return _Str(_SPACE, content=_content_rule(_STRING_FORMATS[fmt]))
        if kind == "string" and ("minLength" in schema or "maxLength" in schema):
            low = _as_int(schema.get("minLength", 0), "minLength")
            high = _as_int(schema["maxLength"], "maxLength") if "maxLength" in schema else None
            return _Str(_SPACE, low=low, high=high)
        bounds = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
        if kind == "integer" and any(b in schema for b in bounds):
            return self._integer(schema)
        if not schema or kind == "object":
            return _PRIMITIVES["object"]
        if not isinstance(kind, str) or kind not in _PRIMITIVES:
            self.errors.append(f"Unrecognized schema: {_dump(schema)}")
            return _Alt()
        return _PRIMITIVES[kind]

    def _ref(self, ref: Any) -> _Node:
        if not isinstance(ref, str):
            raise SchemaError(f"type_error: $ref must be a string, not {_dump(ref)}")
        rule = self.ref_rules.get(ref)
        if rule is None:
            rule = self.ref_rules[ref] = _Ref()
            rule.node = self.visit(self.refs.get(ref))
        return rule

    def _kv(self, name: str, value: _Node) -> _Node:
        return _Seq(_Lit(_dump(name)), _SPACE, _Lit(":"), _SPACE, value)

    def _object(
        self, properties: list[tuple[str, Any]], required: set[str], additional: Any
    ) -> _Node:
        kvs = [(name, self._kv(name, self.visit(schema))) for name, schema in properties]
        must = [kv for name, kv in kvs if name in required]
        may = [kv for name, kv in kvs if name not in required]
        extra = additional is True or isinstance(additional, dict)
        if extra:
            names = {name for name, _ in kvs}
            key = _Str(_SPACE, content=lambda raw: raw not in names) if names else _STRING
            value = self.visit(additional) if isinstance(additional, dict) else _VALUE
            may.append(_Seq(key, _Lit(":"), _SPACE, value))
        return _Object(must, may, repeat_last=extra)

    def _all_of(self, parts: Any) -> _Node:
        properties: list[tuple[str, Any]] = []
        required: set[str] = set()
        enum_counts: dict[str, int] = {}

        def add(component: Any, is_required: bool) -> None:
            if not isinstance(component, dict):
                return
            if "$ref" in component:
                add(self.refs.get(component["$ref"]), is_required)
            elif "properties" in component:
                for name, schema in _items(component["properties"]):
                    properties.append((name, schema))
                    if is_required:
                        required.add(name)
            elif "enum" in component:
                for value in _as_list(component["enum"]):
                    enum_counts[_dump(value)] = enum_counts.get(_dump(value), 0) + 1

        parts = _as_list(parts)
        for part in parts:
            if isinstance(part, dict) and "anyOf" in part:
                for option in _as_list(part["anyOf"]):
                    add(option, False)
            else:
                add(part, True)
        common = [text for text, count in enum_counts.items() if count == len(parts)]
        if common:
            return _Seq(_Alt(*(_Lit(text) for text in common)), _SPACE)
        return self._object(properties, required, None)

    def _array(self, schema: dict[str, Any]) -> _Node:
        items = schema["items"] if "items" in schema else schema["prefixItems"]
        if isinstance(items, list):
            parts: list[_Node] = [_Lit("["), _SPACE]
            for index, item in enumerate(items):
                if index:
                    parts.append(_COMMA)
                parts.append(self.visit(item))
            return _Seq(*parts, _Lit("]"), _SPACE)
        item = self.visit(items)
        low = _as_int(schema.get("minItems", 0), "minItems")
        high = schema.get("maxItems")
        exact = isinstance(high, int) and not isinstance(high, bool)  # is_number_integer()
        repeated = _Repeat(item, low, high if exact else None, _COMMA)
        return _Seq(_Lit("["), _SPACE, repeated, _Lit("]"), _SPACE)

    def _pattern(self, pattern: Any) -> _Node:
        if not isinstance(pattern, str):
            raise SchemaError(f"type_error: pattern must be a string, not {_dump(pattern)}")
        if not (pattern.startswith("^") and pattern.endswith("$")) or len(pattern) < 2:
            self.errors.append("Pattern must start with '^' and end with '$'")
            return _Alt()
        try:
            return _Str(_SPACE, content=_content_rule(pattern))
        except re.error as error:
            self.errors.append(f"Unsupported pattern {pattern!r}: {error}")
            return _Alt()

    def _integer(self, schema: dict[str, Any]) -> _Node:
        low = high = None
        if "minimum" in schema:
            low = _as_int(schema["minimum"], "minimum")
        elif "exclusiveMinimum" in schema:
            low = _as_int(schema["exclusiveMinimum"], "exclusiveMinimum") + 1
        if "maximum" in schema:
            high = _as_int(schema["maximum"], "maximum")
        elif "exclusiveMaximum" in schema:
            high = _as_int(schema["exclusiveMaximum"], "exclusiveMaximum") - 1
        return _Number(_SPACE, bounded=True, integer=True, low=low, high=high)


# -- what the caller uses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    complete: bool  # the grammar accepts the whole text: the model may stop here
    viable: bool  # the text is the start of something the grammar accepts (or complete)


@dataclass(frozen=True)
class OutputGrammar:
    """What a model may write under one `format`: "json" or a schema."""

    kind: str
    root: _Node

    def check(self, text: str) -> Verdict:
        ctx = _Ctx(text)
        try:
            complete = len(text) in self.root.ends(ctx, 0)
        except RecursionError:  # nested past Python's stack: not judged, let it through
            return Verdict(True, True)
        return Verdict(complete, complete or ctx.hit_end)

    def refused_at(self, text: str) -> int:
        """The length of the longest viable prefix of `text` (where the grammar refuses)."""
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self.check(text[:middle]).viable:
                low = middle
            else:
                high = middle - 1
        return low


JSON_GRAMMAR = OutputGrammar("json", _JSON_OBJECT)


def schema_grammar(schema: Any) -> OutputGrammar:
    """The grammar llama.cpp makes of `schema`; raises SchemaError where it fails."""
    converter = _Converter(schema)
    try:
        converter.resolve_refs(schema)
        root = converter.visit(schema)
    except RecursionError:
        raise SchemaError("the schema nests too deeply") from None
    if converter.errors:
        raise SchemaError("JSON schema conversion failed:\n" + "\n".join(converter.errors))
    return OutputGrammar("schema", root)


def output_grammar(raw_body: bytes) -> OutputGrammar | None:
    """The grammar a generate/chat request's `format` asks for (None: unconstrained), or
    ApiError(500) with Ollama's text, as llm/server.go Completion decides."""
    raw = raw_field(raw_body, "format")
    if raw is None or raw in ("null", '""'):
        return None
    if raw == '"json"':
        return JSON_GRAMMAR
    if not raw.startswith("{"):
        raise ApiError(FORMAT_ERROR_STATUS, invalid_format(raw))
    try:
        return schema_grammar(json.loads(raw))
    except SchemaError:
        raise ApiError(FORMAT_ERROR_STATUS, INVALID_SCHEMA) from None


def constrain_output(raw_body: bytes, reply: Reply, plan: OutputPlan) -> None:
    """Checks the request's `format` (ApiError with Ollama's 500), then that the planned
    output is one a model held to that grammar could have sent (FormatViolation, a 500
    "fake Ollama: …", if not, unless the Reply `ignores_format`)."""
    grammar = output_grammar(raw_body)
    if grammar is None or reply.ignores_format:
        return
    text = plan.text
    verdict = grammar.check(text)
    if verdict.complete:
        return
    cut_short = (
        not plan.eos
        or plan.repeat_guard
        or reply.done_reason == "length"
        or bool(reply.midstream_error)
        or reply.drop_connection
        or reply.omit_final_chunk
    )
    if verdict.viable and cut_short:
        return
    where = ""
    if verdict.viable:
        why = (
            "it is unfinished JSON, and the grammar does not let the model stop there (script"
            ' done_reason="length", or a num_predict or stop string that cuts it)'
        )
    else:
        at = grammar.refused_at(text)
        why, where = f"the grammar refuses it at offset {at}", f" here: {text[at : at + 40]!r}"
    # The answer itself goes to stderr only: a server under test may log the error text.
    message = (
        f"fake Ollama: the scripted answer is not one a model held to this format"
        f" ({grammar.kind}) could send: {why}; script Reply(ignores_format=True) for a model"
        " that ignores the format"
    )
    print(f"{message}\n  the answer: {text[:200]!r}{where}", file=sys.stderr)
    raise FormatViolation(500, message)
