"""Questions the syntax tree answers for completion.

* Single line or several? A new statement on an empty line, or the empty body after a block
  opener (`def f():`, `{`), wants a block; the middle of an expression, a string or a comment
  wants the rest of one line.
* Would a suggestion break the code? The syntax errors of the code around the cursor are
  counted with and without the suggestion; a suggestion that adds errors is dropped.

Both questions are asked of a window of whole lines around the cursor (its top-level
statement, bounded), parsed on its own: that costs a fraction of a millisecond whatever the size
of the file, while re-parsing a large buffer in the broken states that typing goes through can
take several milliseconds (tree-sitter's error recovery re-reads much of the file). The buffer's
own tree is kept up to date by `Document` for whoever needs the whole file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter

from lsp_assist.completion.lexer import CLOSE, OPEN, PAIRS, Lexer
from lsp_assist.documents import TextView
from lsp_assist.languages import LanguageSpec
from lsp_assist.positions import utf8

LINES_BEFORE = 80
LINES_AFTER = 30
MAX_WINDOW_CHARS = 32_000
"""Beyond this the window is the cursor's line alone, and beyond that it is not parsed."""

# Nodes that hold a bracketed list of things: on an empty line inside one, the next thing is
# one element, not a block.
_BRACKETED = frozenset(
    {
        "argument_list",
        "arguments",
        "parameters",
        "formal_parameters",
        "parameter_list",
        "parenthesized_expression",
        "list",
        "tuple",
        "set",
        "dictionary",
        "array",
        "object",
        "subscript",
        "generator_expression",
        "list_comprehension",
        "dictionary_comprehension",
        "initializer_list",
        "table_constructor",
        "type_arguments",
        "type_parameters",
    }
)
_CLOSERS = set(")]};,")


def _innermost_node(tree: tree_sitter.Tree, byte: int) -> tree_sitter.Node:
    node = tree.root_node.descendant_for_byte_range(byte, byte)
    return node if node is not None else tree.root_node


def _is_inside(node: tree_sitter.Node, byte: int) -> bool:
    return node.start_byte < byte < node.end_byte


def _in_string_or_comment(node: tree_sitter.Node | None, byte: int) -> bool:
    while node is not None:
        kind = node.type
        if ("string" in kind or "comment" in kind) and _is_inside(node, byte):
            return True
        node = node.parent
    return False


def _in_brackets(node: tree_sitter.Node | None, byte: int) -> bool:
    while node is not None:
        if node.type in _BRACKETED and _is_inside(node, byte):
            return True
        node = node.parent
    return False


@dataclass(frozen=True)
class SyntaxWindow:
    """Whole lines around the cursor, and the cursor's place in them."""

    language: LanguageSpec
    text: str
    cursor: int
    """`str` index of the cursor in `text`."""
    parsable: bool = True
    """False when the cursor's line is too long to parse on every keystroke (its text is
    there for the cheap uses: the context's names before the cursor)."""

    @classmethod
    def around(cls, document: TextView, offset: int) -> SyntaxWindow:
        line, _ = document.position_at(offset)
        first, last = _statement_lines(document, line)
        window = cls._lines(document, offset, first, last)
        if len(window.text) > MAX_WINDOW_CHARS:
            # Long lines (minified code, data): the cursor's line alone, or nothing — a parse
            # of hundreds of kB per keystroke would stall the editor (found by fuzzing).
            window = cls._lines(document, offset, line, line)
            if len(window.text) > MAX_WINDOW_CHARS:
                return dataclasses.replace(window, parsable=False)
        return window

    @classmethod
    def _lines(cls, document: TextView, offset: int, first: int, last: int) -> SyntaxWindow:
        start = document.offset_at(first, 0)
        end = (
            document.offset_at(last + 1, 0)
            if last + 1 < document.line_count
            else len(document.text)
        )
        return cls(document.language, document.text[start:end], offset - start)

    def parse(self, insert: str = "") -> tree_sitter.Tree | None:
        if not self.parsable:
            return None
        text = self.text[: self.cursor] + insert + self.text[self.cursor :]
        return _parse(self.language, utf8(text))


def _indentation(text: str) -> int | None:
    """Width of the leading whitespace; None for a blank line."""
    stripped = text.lstrip()
    return None if not stripped else len(text) - len(stripped)


def _statement_lines(document: TextView, line: int) -> tuple[int, int]:
    """The top-level statement around `line`: up to the nearest line above that starts at
    column 0, down to before the next one (a closing bracket at column 0 belongs to it), both
    bounded so the window stays small."""
    first = line
    shallowest: tuple[int, int] | None = None  # (indentation, line) nearest the cursor
    for candidate in range(line, max(-1, line - LINES_BEFORE), -1):
        first = candidate
        indentation = _indentation(document.line_text(candidate))
        if indentation == 0 and candidate < line:
            break
        if indentation is not None:
            if shallowest is None or indentation < shallowest[0]:
                shallowest = (indentation, candidate)
    else:
        # No line at column 0 near enough (a method deep in a class): start at the nearest of
        # the least indented lines instead — a `def` or a decorator, not the middle of the
        # previous method's docstring, where the window would parse as nonsense.
        if shallowest is not None:
            first = shallowest[1]
    last = line
    for candidate in range(line + 1, min(document.line_count, line + 1 + LINES_AFTER)):
        text = document.line_text(candidate)
        if _indentation(text) == 0 and text[0] not in ")]}":
            break
        last = candidate
    return first, last


_parsers: dict[str, tree_sitter.Parser] = {}


def _parse(language: LanguageSpec, source: bytes) -> tree_sitter.Tree | None:
    grammar = language.grammar
    if grammar is None:
        return None
    if language.name not in _parsers:
        _parsers[language.name] = tree_sitter.Parser(grammar)
    return _parse_cached(language.name, source)


@lru_cache(maxsize=64)
def _parse_cached(language_name: str, source: bytes) -> tree_sitter.Tree:
    """Typing asks the same window twice (multi-line? breaks the syntax?): parse it once."""
    return _parsers[language_name].parse(source)


def wants_multiline(document: TextView, offset: int) -> bool:
    """Whether a suggestion at `offset` should be a block rather than the rest of one line."""
    window = SyntaxWindow.around(document, offset)
    line_start = window.text.rfind("\n", 0, window.cursor) + 1
    line_end = window.text.find("\n", window.cursor)
    before = window.text[line_start : window.cursor]
    after = window.text[window.cursor : line_end if line_end >= 0 else len(window.text)]
    after = after.rstrip("\r")
    if after.strip() and not set(after.strip()) <= _CLOSERS:
        return False  # mid-line: finish this line only
    tree = window.parse()
    if tree is not None:
        byte = len(utf8(window.text[: window.cursor]))
        node = _innermost_node(tree, byte)
        if _in_string_or_comment(node, byte):
            return False
        if not before.strip():
            return not _in_brackets(node, byte)
    elif not before.strip():
        return True
    stripped = before.rstrip()
    return any(stripped.endswith(opener) for opener in document.language.block_openers)


def count_syntax_errors(tree: tree_sitter.Tree) -> int:
    """ERROR and MISSING nodes; only subtrees that contain an error are visited."""
    count = 0
    pending = [tree.root_node] if tree.root_node.has_error else []
    while pending:
        node = pending.pop()
        if node.is_error or node.is_missing:
            count += 1
        pending.extend(child for child in node.children if child.has_error or child.is_missing)
    return count


def _placeholder_body(window: SyntaxWindow, text: str) -> str:
    """What lets a suggestion that ends by opening a block (`if x:`, `{`) parse: the body
    the user will write next is not the suggestion's fault."""
    language = window.language
    last_line = text.rsplit("\n", 1)[-1]
    if not any(last_line.rstrip().endswith(o) for o in language.block_openers):
        return ""
    placeholder = language.body_placeholder
    if "{indent}" not in placeholder:
        return placeholder
    if "\n" not in text:
        last_line = window.text[window.text.rfind("\n", 0, window.cursor) + 1 : window.cursor]
    width = len(last_line) - len(last_line.lstrip())
    return placeholder.format(indent=" " * width)


def unclosed(text: str, language: LanguageSpec) -> str:
    """What closes the brackets and the string that `text` opens and leaves open: `{"a": [1,`
    gives `]}`. A bracket that closes one opened before `text` is not counted."""
    lexer = Lexer(language.lexicon)
    stack: list[str] = []
    for i, kind, _ in lexer.tokens(text):
        if kind == OPEN:
            stack.append(text[i])
        elif kind == CLOSE and stack and stack[-1] == PAIRS[text[i]]:
            stack.pop()
    closers = {opener: closer for closer, opener in PAIRS.items()}
    return lexer.string_end + "".join(closers[opener] for opener in reversed(stack))


def introduces_syntax_errors(
    document: TextView, offset: int, text: str, *, unfinished_ok: bool = False
) -> bool:
    """Whether inserting `text` at `offset` would add syntax errors to the code around it.
    `unfinished_ok`: brackets and a string that `text` leaves open are taken as closed (a block
    cut by the token limit: the user writes the rest)."""
    if document.language.grammar is None or not text:
        return False
    window = SyntaxWindow.around(document, offset)
    before = window.parse()
    suffix = _placeholder_body(window, text)
    if unfinished_ok and not suffix:
        suffix = unclosed(text, document.language)
    after = window.parse(text + suffix)
    if before is None or after is None:
        return False
    return count_syntax_errors(after) > count_syntax_errors(before)
