"""Column conversion between LSP position encodings and Python string indices — the one place.

LSP columns count code units of the negotiated encoding: UTF-16 (VS Code, the default), UTF-8
(Neovim 0.11+) or UTF-32 (= Python `str` indices). Everything inside lsp-assist works with `str`
indices; only this module translates. A column that lands inside a character (the second half
of a surrogate pair, the middle of a UTF-8 sequence) is moved back to that character's start,
and a column past the end of the line is clamped to the line end.
"""

from __future__ import annotations

import enum
import re


def utf8(text: str) -> bytes:
    """`text` as UTF-8 — the one encoder for tree-sitter and byte columns. A lone surrogate
    (valid in JSON, so an editor may send one) becomes its 3-byte form instead of an error, so
    byte offsets stay consistent and one odd buffer never breaks anything."""
    return text.encode("utf-8", "surrogatepass")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD: what goes over HTTP must be valid
    UTF-8, and one odd buffer (in the prompt as context) must not break every request."""
    return _LONE_SURROGATE.sub("\ufffd", text) if _LONE_SURROGATE.search(text) else text


def _is_high(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


def _is_low(char: str) -> bool:
    return "\udc00" <= char <= "\udfff"


def _pair(high: str, low: str) -> str:
    return chr(0x10000 + ((ord(high) - 0xD800) << 10) + (ord(low) - 0xDC00))


def join_surrogates(text: str, begin: int, finish: int, new_text: str) -> tuple[int, int, str]:
    """The edit text[begin:finish] → `new_text`, widened when it brings a lone high surrogate
    and a lone low one together. JSON strings are UTF-16, so the client then holds one
    character (an emoji typed, or pasted, as its two halves): the text must too, or UTF-8 and
    UTF-32 columns after it, and where a UTF-16 column inside it snaps to, disagree with the
    client's. Only the edges are joined: `new_text` comes from one JSON string, joined already.
    """
    if begin > 0 and _is_high(text[begin - 1]):
        if new_text and _is_low(new_text[0]):
            begin, new_text = begin - 1, _pair(text[begin - 1], new_text[0]) + new_text[1:]
        elif not new_text and finish < len(text) and _is_low(text[finish]):
            return begin - 1, finish + 1, _pair(text[begin - 1], text[finish])
    if new_text and finish < len(text) and _is_high(new_text[-1]) and _is_low(text[finish]):
        new_text, finish = new_text[:-1] + _pair(new_text[-1], text[finish]), finish + 1
    return begin, finish, new_text


class PositionEncoding(str, enum.Enum):
    UTF8 = "utf-8"
    UTF16 = "utf-16"
    UTF32 = "utf-32"


def _width(char: str, encoding: PositionEncoding) -> int:
    code = ord(char)
    if encoding is PositionEncoding.UTF16:
        return 2 if code > 0xFFFF else 1
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    return 3 if code < 0x10000 else 4


def units_to_index(line: str, units: int, encoding: PositionEncoding) -> int:
    """The `str` index in `line` of a column given in `encoding` code units."""
    if units <= 0:
        return 0
    if encoding is PositionEncoding.UTF32 or line.isascii():
        return min(units, len(line))
    count = 0
    for index, char in enumerate(line):
        count += _width(char, encoding)
        if count > units:
            return index  # inside this character: snap back to its start
    return len(line)


def index_to_units(line: str, index: int, encoding: PositionEncoding) -> int:
    """The column in `encoding` code units of `str` index `index` in `line`."""
    index = max(0, min(index, len(line)))
    if encoding is PositionEncoding.UTF32 or line.isascii():
        return index
    head = line[:index]
    if encoding is PositionEncoding.UTF8:
        return len(utf8(head))
    return len(head) + sum(1 for char in head if ord(char) > 0xFFFF)
