"""The editor's model of a buffer, which the server's is checked against in fuzzing: positions
in LSP's terms, independently of the server's converters.

* Lines end at "\\r\\n", "\\r" or "\\n" (LSP's three, nothing else). A line's length excludes
  its break, so no position falls between "\\r" and "\\n".
* A character past the end of its line means the end of the line (LSP: "defaults back to the
  line length"); a line past the last one means the end of the document (as
  vscode-languageserver-textdocument's `offsetAt` and VS Code's `validatePosition` do).
* A character inside a character (between the halves of a surrogate pair in UTF-16, inside a
  UTF-8 sequence) means the start of that character: VS Code's `validatePosition` moves a
  position inside a surrogate pair before the pair. LSP leaves it undefined.
* Text is what JSON carries, UTF-16 code units: a high surrogate followed by a low one is one
  character (an emoji) wherever they came from — one string, or two edits that meet. A lone
  surrogate is one code unit in UTF-16, one code point in UTF-32, and its 3-byte (WTF-8) form
  in UTF-8. Only a UTF-16 editor (VS Code) can hold one; the others never send them, but the
  server must not break when they do.
"""

from __future__ import annotations

import re

Position = tuple[int, int]
Range = tuple[Position, Position]

ENCODINGS = ("utf-16", "utf-8", "utf-32")

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def joined(text: str) -> str:
    """`text` as JSON carries it: a high surrogate followed by a low one is one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def units(text: str, encoding: str) -> int:
    """The length of `text` in the code units of an LSP position encoding."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end without the line break) of each line."""
    spans, start = [], 0
    for match in LINE_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def offset_at(text: str, position: Position, encoding: str) -> int:
    """The offset in `text` of an LSP position, following LSP (see the module's docstring)."""
    spans = line_spans(text)
    line, character = position
    if line >= len(spans):
        return len(text)
    start, end = spans[line]
    if units(text[start:end], encoding) <= character:
        return end
    offset, seen = start, 0
    while offset < end:
        seen += units(text[offset], encoding)
        if seen > character:
            return offset  # inside this character: its start
        offset += 1
    return end


def position_at(text: str, offset: int) -> tuple[int, int]:
    """(line, offset in the line) of an offset; see `lsp_position` for the LSP one."""
    spans = line_spans(text)
    for line, (start, end) in enumerate(spans):
        if offset <= end:
            return line, offset - start
    return len(spans) - 1, spans[-1][1] - spans[-1][0]


def lsp_position(text: str, offset: int, encoding: str) -> Position:
    line, column = position_at(text, offset)
    start = line_spans(text)[line][0]
    return line, units(text[start : start + column], encoding)
