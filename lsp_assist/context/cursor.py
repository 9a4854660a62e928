"""The names the cursor needs defined: the call being written, the names of the current
statement and of the enclosing function, and the enclosing class.

Asked of the cursor's top-level statement parsed on its own (`SyntaxWindow`, bounded and
cached), never of the whole file. Names are read as dotted chains (`pkg.net.send`,
`crate::a::b`) with strings and comments skipped by the language's lexicon; the word being typed
at the cursor is left out — it is not a name yet, and leaving it out keeps the answer the same
while it is typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import tree_sitter

from lsp_assist.documents import TextView
from lsp_assist.languages import LanguageSpec, Lexicon
from lsp_assist.positions import utf8
from lsp_assist.syntax import SyntaxWindow

Chain = tuple[str, ...]
"""A dotted name split at `.` and `::`; it starts with "" when it follows a call or an index
(`f().send` → ("", "send")): a member of a value of unknown type."""

_CONTAINERS = frozenset(
    {
        "module",
        "program",
        "source_file",
        "block",
        "statement_block",
        "class_body",
        "declaration_list",
        "compound_statement",
        "field_declaration_list",
        "translation_unit",
        "chunk",
    }
)
_NAME = r"[A-Za-z_$][\w$]*"
_CHAIN = re.compile(rf"{_NAME}(?:(?:\?\.|\.|::){_NAME})*")
_SPLIT = re.compile(r"\?\.|\.|::")


@dataclass(frozen=True, slots=True)
class CursorNames:
    statement_line: int
    """First line of the innermost statement around the cursor."""
    callee: Chain
    """The function of the call whose arguments the cursor is in, () if none."""
    statement: tuple[Chain, ...]
    """Other names of that statement, in order of appearance."""
    function: tuple[Chain, ...]
    """Names of the enclosing function outside that statement."""
    function_name: str
    class_name: str
    """The enclosing class/struct/impl, "" if none."""


def names_at(view: TextView, offset: int) -> CursorNames:
    window = SyntaxWindow.around(view, offset)
    cursor_line, _ = view.position_at(offset)
    first_line = cursor_line - window.text.count("\n", 0, window.cursor)
    tree = window.parse()
    statement = function = (0, len(window.text))
    statement_start = window.text.rfind("\n", 0, window.cursor) + 1
    statement = (statement_start, _line_end(window.text, window.cursor))
    function_name = class_name = ""
    if tree is not None:
        found = _scopes(tree, window, view.language)
        if found.statement is not None:
            statement = found.statement
        function = found.function or statement
        function_name, class_name = found.function_name, found.class_name
    else:
        function = statement
    code = _code_only(window.text, view.language.lexicon)
    typed = _word_end(code, window.cursor)
    callee_at = _open_paren(code, statement[0], window.cursor)
    callee = _chain_before(code, callee_at) if callee_at >= 0 else ()
    in_statement = _chains(code, *statement, skip=typed)
    in_function = [
        c
        for c in _chains(code, function[0], statement[0], skip=typed)
        + _chains(code, statement[1], function[1], skip=typed)
        if c not in in_statement
    ]
    return CursorNames(
        statement_line=first_line + window.text.count("\n", 0, statement[0]),
        callee=callee,
        statement=tuple(c for c in in_statement if c != callee),
        function=tuple(dict.fromkeys(c for c in in_function if c != callee)),
        function_name=function_name,
        class_name=class_name,
    )


def line_key(line_text: str, column: int, lexicon: Lexicon) -> tuple[object, ...]:
    """What, on the cursor line alone, can change the answer of `names_at`: the finished names
    (outside strings and comments) and the call the cursor is in. Equal keys on the same line
    → the same names."""
    line_text = _code_only(line_text, lexicon)
    before = line_text[:column]
    typed = _word_end(before, column)
    names = tuple(m.group() for m in _CHAIN.finditer(line_text) if m.end() != typed)
    depth = before.count("(") - before.count(")")
    paren = _open_paren(before, 0, column)
    return names, depth, before[max(0, paren - 40) : paren + 1] if paren >= 0 else ""


@dataclass(frozen=True, slots=True)
class _Scopes:
    statement: tuple[int, int] | None
    function: tuple[int, int] | None
    function_name: str
    class_name: str


def _scopes(tree: tree_sitter.Tree, window: SyntaxWindow, language: LanguageSpec) -> _Scopes:
    text = window.text
    # The last code before the cursor: on a blank line, the statement above it.
    anchor = len(text[: window.cursor].rstrip())
    byte = len(utf8(text[:anchor]))
    node: tree_sitter.Node | None = tree.root_node.descendant_for_byte_range(
        max(0, byte - 1), max(0, byte - 1)
    )
    statement = function = None
    function_name = class_name = ""
    function_column = 0
    unfinished = False
    source = utf8(text)
    while node is not None and node.parent is not None:
        parent = node.parent
        if statement is None and parent.type in _CONTAINERS:
            statement = _chars(source, node)
            unfinished = node.has_error
        kind = language.definitions.get(node.type)
        if (
            kind in ("function", "method")
            and function is None
            and node.type != "variable_declarator"
        ):
            function = _chars(source, node)
            function_name = _name_of(node)
            function_column = node.start_point[1]
        elif kind == "class" and not class_name:
            class_name = _name_of(node)
        node = parent
    if statement is not None and statement[1] < window.cursor and unfinished:
        if not text[statement[1] : window.cursor].strip():  # a new line inside it
            statement = (statement[0], _line_end(text, window.cursor))
    if statement is not None and not statement[0] <= window.cursor <= statement[1]:
        statement = None
    if function is not None and function[1] < window.cursor:
        line_start = text.rfind("\n", 0, window.cursor) + 1
        indent = text[line_start : window.cursor]
        if language.brace_blocks or (not indent.strip() and len(indent) <= function_column):
            function, function_name = None, ""  # the cursor is after it
    return _Scopes(statement, function, function_name, class_name)


def _name_of(node: tree_sitter.Node) -> str:
    name = node.child_by_field_name("name") or node.child_by_field_name("type")
    return name.text.decode("utf-8", "replace") if name is not None and name.text else ""


def _chars(source: bytes, node: tree_sitter.Node) -> tuple[int, int]:
    return (
        len(source[: node.start_byte].decode("utf-8", "replace")),
        len(source[: node.end_byte].decode("utf-8", "replace")),
    )


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _word_end(text: str, cursor: int) -> int:
    """The cursor's offset when a word ends right there (being typed), else -1."""
    if 0 < cursor <= len(text) and (text[cursor - 1].isalnum() or text[cursor - 1] in "_$"):
        return cursor
    return -1


def _open_paren(code: str, start: int, cursor: int) -> int:
    """The offset of the `(` still open at the cursor (within start..cursor), or -1."""
    depth = 0
    for at in range(cursor - 1, start - 1, -1):
        char = code[at]
        if char in ")]}":
            depth += 1
        elif char in "([{":
            if depth:
                depth -= 1
            elif char == "(":
                return at
    return -1


_CALLEE_CHARS = 256
"""How far before a call's `(` its name is looked for. The pattern ends at `$`, so a search
through everything before the `(` tries every start: minutes on a 100 kB line."""


def _chain_before(code: str, paren: int) -> Chain:
    start = max(0, paren - _CALLEE_CHARS)
    tail = code[start:paren]
    match = re.search(rf"({_CHAIN.pattern})\s*(?:::<[^()]*>|<[^()]*>)?\s*$", tail)
    return _split(code, start + match.start(1), match.group(1)) if match else ()


def _chains(code: str, start: int, end: int, *, skip: int) -> list[Chain]:
    found: dict[Chain, None] = {}
    for match in _CHAIN.finditer(code, start, end):
        if match.end() != skip:
            found[_split(code, match.start(), match.group())] = None
    return list(found)


def _split(code: str, start: int, text: str) -> Chain:
    parts = tuple(_SPLIT.split(text))
    if start > 0 and code[start - 1] == ".":
        return ("", *parts)
    return parts


def _code_only(text: str, lexicon: Lexicon) -> str:
    """`text` with its strings and comments blanked out (same length, line breaks kept)."""
    return _skipper(lexicon).sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


@cache
def _skipper(lexicon: Lexicon) -> re.Pattern[str]:
    parts = [re.escape(marker) + r"[^\n]*" for marker in lexicon.line_comments]
    parts += [re.escape(o) + r".*?" + re.escape(c) for o, c in lexicon.block_comments]
    for string in lexicon.strings:
        opener, closer = re.escape(string.open), re.escape(string.close)
        if string.open == "'" and lexicon.apostrophe != "quote":
            parts.append(r"'(?:\\.|[^\\'\n])'")  # a character literal, never a lifetime
            continue
        escape = r"\\." if string.escapes else r"(?!)"
        body, end = (".", r"\Z") if string.multiline else (r"[^\n]", "$")
        parts.append(rf"{opener}(?:{escape}|{body})*?(?:{closer}|{end})")
    return re.compile("|".join(parts), re.DOTALL | re.MULTILINE)
