"""A token stream of source text, the alphabet of the offline engine's n-gram model.

Tokens are the leaves of the tree-sitter tree: identifiers, keywords, operators, punctuation and
literals. A string literal is one token however many pieces the grammar splits it into; comments
are skipped (they are prose, not code, and would only dilute the counts). A line break between
two tokens becomes one `NEWLINE` token, so the model knows where lines start and end; blank lines
and indentation are dropped because the rest of a line does not depend on them.

Each token remembers whether whitespace preceded it on its line. Its *symbol* — what the model
counts and predicts — is its text with a single leading space when there was one, so joining
predicted symbols renders the code back with the spacing it was written with (`x = f(y)`, not
`x=f ( y )`). Long or multi-line strings (docstrings) are each unique, so their symbol is a
placeholder: they carry no pattern worth learning and must never be suggested.

Without a grammar (plain text, or a broken wheel) a regex tokenizer gives the same kind of stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

import tree_sitter

from lsp_assist.positions import utf8

NEWLINE = "\n"
STRING_PLACEHOLDER = "<str>"
LONG_STRING = 40
"""Strings longer than this (in characters) are replaced by the placeholder symbol."""

# Node types whose whole text is one token although the grammar gives them children.
_ATOMIC_TYPES = frozenset(
    {
        "string",
        "template_string",
        "string_literal",
        "raw_string_literal",
        "interpreted_string_literal",
        "char_literal",
        "character_literal",
        "rune_literal",
        "system_lib_string",
        "raw_string",
    }
)


class Token(NamedTuple):
    text: str
    kind: str
    """One of "name", "keyword", "number", "string", "punct", "literal", "newline"."""
    space_before: bool = False
    """Whitespace separated it from the previous token on the same line."""

    @property
    def symbol(self) -> str:
        """What the n-gram model counts: the text, with its leading space, or a placeholder."""
        text = self.text
        if self.kind == "string" and (len(text) > LONG_STRING or "\n" in text):
            text = STRING_PLACEHOLDER
        return " " + text if self.space_before else text


NEWLINE_TOKEN = Token(NEWLINE, "newline")


def tokenize(text: str, grammar: tree_sitter.Language | None) -> list[Token]:
    """The tokens of `text`, through tree-sitter when there is a grammar, else a regex."""
    if grammar is None:
        return tokenize_plain(text)
    source = utf8(text)
    tree = tree_sitter.Parser(grammar).parse(source)
    return tokenize_tree(tree, source)


def symbols_of(tokens: list[Token]) -> list[str]:
    return [token.symbol for token in tokens]


def render(symbols: list[str]) -> str:
    """Symbols back to source text (spacing as learnt; newlines as line breaks)."""
    return "".join(symbols)


def tokenize_tree(tree: tree_sitter.Tree, source: bytes) -> list[Token]:
    """The leaves of a parsed tree, in order, as tokens."""
    return list(iter_tree_tokens(tree, source))


def iter_tree_tokens(tree: tree_sitter.Tree, source: bytes) -> Iterator[Token]:
    """`tokenize_tree`, one token at a time: a learner that keeps only each token's symbol
    never holds the whole file's tokens (nor makes the garbage collector walk them)."""
    previous_end = -1  # byte offset where the previous emitted token ended
    previous_row = -1
    previous_kind = "newline"
    kinds: dict[int, str] = {}  # grammar symbol id → token kind, to classify each type once
    cursor = tree.walk()
    # An iterative pre-order walk with one cursor: no recursion, no child lists built.
    while True:
        node = cursor.node
        assert node is not None
        node_type = node.type
        is_leaf = node.child_count == 0 or node_type in _ATOMIC_TYPES
        if is_leaf or "comment" in node_type:
            start, end = node.start_byte, node.end_byte
            if end > start and "comment" not in node_type:
                row = node.start_point[0]
                if previous_row >= 0 and row != previous_row:
                    if previous_kind != "newline":
                        yield NEWLINE_TOKEN
                    space = False
                else:
                    space = start > previous_end >= 0
                token_text = source[start:end].decode("utf-8", "replace")
                kind = kinds.get(node.kind_id)
                if kind is None:
                    kind = kinds[node.kind_id] = _kind_of(node, node_type)
                yield Token(token_text, kind, space)
                previous_end, previous_row, previous_kind = end, node.end_point[0], kind
            # Skip the node's children: it is a leaf, an atomic literal or a comment.
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return
        elif not cursor.goto_first_child():
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return


def _kind_of(node: tree_sitter.Node, node_type: str) -> str:
    if node_type in _ATOMIC_TYPES:
        return "string"
    if not node.is_named:  # an anonymous node's type is its text: "def", "==", "("
        return "keyword" if node_type[:1].isalpha() or node_type[:1] == "_" else "punct"
    if "identifier" in node_type or node_type == "name":
        return "name"
    if any(word in node_type for word in ("integer", "float", "number", "int_literal")):
        return "number"
    return "literal"


_PLAIN_TOKEN = re.compile(
    r"""
    (?P<newline>\r?\n)
    |(?P<space>[ \t\f\v\r]+)
    |(?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    |(?P<number>\d[\w.]*)
    |(?P<name>\w+)
    |(?P<punct>==|!=|<=|>=|->|=>|::|\*\*|&&|\|\||<<|>>|[-+*/%&|^]=|[^\s\w])
    """,
    re.VERBOSE,
)


def tokenize_plain(text: str) -> list[Token]:
    """A grammar-free tokenizer: words, numbers, one-line strings, operators."""
    tokens: list[Token] = []
    space = False
    for match in _PLAIN_TOKEN.finditer(text):
        kind = match.lastgroup or "punct"
        if kind == "space":
            space = bool(tokens) and tokens[-1].kind != "newline"
        elif kind == "newline":
            if tokens and tokens[-1].kind != "newline":
                tokens.append(NEWLINE_TOKEN)
            space = False
        else:
            tokens.append(Token(match.group(), kind, space))
            space = False
    return tokens
