"""The offline engine's completion items: the workspace's definitions, read from the index.

There is one walker (`context.extract.extract_tags`) and one store (`context.index
.WorkspaceIndex`); `DefinitionIndex` is a view of that store in the engine's terms — URIs and
`Definition` items. Given the session's shared index it only reads it; built without one (a
standalone engine, the tests) it keeps a private index that its own updates feed.

`complete_identifier` offers the definitions whose name starts with what was typed (ignoring
case): those of the file being edited first, then by name.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import tree_sitter

from lsp_assist.context.extract import (
    CONTAINER_TYPES,
    FUNCTION_VALUES,
    definition_name_node,
    extract_tags,
    go_receiver_type,
)
from lsp_assist.context.index import WorkspaceIndex
from lsp_assist.context.tags import FileTags, Symbol
from lsp_assist.languages import LANGUAGES, LanguageSpec

__all__ = [
    "CONTAINER_TYPES",
    "FUNCTION_VALUES",
    "Definition",
    "DefinitionIndex",
    "definition_name_node",
    "find_definitions",
    "go_receiver_type",
]


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    kind: str
    """"function", "method", "class" or "constant"."""
    signature: str
    uri: str
    line: int
    """0-based line of the definition's start."""
    container: str = ""
    """The enclosing class (or impl, receiver type) of a method."""
    doc: str = ""

    @classmethod
    def of(cls, symbol: Symbol, uri: str) -> Definition:
        # An item's detail is one line: Python's header colon is the body's, not the name's.
        signature = symbol.signature.removesuffix(":")
        return cls(
            symbol.name, symbol.kind, signature, uri, symbol.line, symbol.container, symbol.doc
        )


class DefinitionIndex:
    """Definitions by URI, over a `WorkspaceIndex` (the session's, or a private one)."""

    def __init__(self, index: WorkspaceIndex | None = None) -> None:
        self.index = index if index is not None else WorkspaceIndex()

    def update_file(self, uri: str, text: str, language: LanguageSpec) -> None:
        self.index.index_text(self.index.key_of(uri), text, language)

    def update_tree(
        self, uri: str, tree: tree_sitter.Tree, source: bytes, language: LanguageSpec
    ) -> None:
        """Indexes an already parsed file (the engine parses once for tokens and this)."""
        self.index.update(extract_tags(tree, source, language, self.index.key_of(uri)))

    def set_file(self, uri: str, definitions: list[Definition]) -> None:
        """Kept for engines that still find definitions themselves (`find_definitions`); an
        engine with a tree should call `update_tree`, which keeps docs and imports too."""
        key = self.index.key_of(uri)
        if not definitions:
            self.index.remove(key)
            return
        old = self.index.file(key)
        language = old.language if old is not None else ""
        symbols = tuple(
            Symbol(d.name, d.kind, d.container, d.signature, d.doc, key, d.line, d.line)
            for d in definitions
        )
        self.index.update(FileTags(key, language, symbols, ()))

    def remove_file(self, uri: str) -> None:
        self.index.remove(self.index.key_of(uri))

    def definitions_in(self, uri: str) -> list[Definition]:
        tags = self.index.file(self.index.key_of(uri))
        return [Definition.of(s, uri) for s in tags.symbols] if tags is not None else []

    def complete_identifier(self, prefix: str, uri: str = "", limit: int = 50) -> list[Definition]:
        """Definitions whose name starts with `prefix` (any case): same file first, then by
        name."""
        here = self.index.key_of(uri) if uri else ""
        found = heapq.nsmallest(
            limit,
            (
                symbol
                for name in self.index.names_starting(prefix)
                for symbol in self.index.symbols_named(name)
            ),
            key=lambda s: (s.path != here, s.name.lower(), s.name, s.path, s.line),
        )
        return [Definition.of(s, self.index.uri_of(s.path)) for s in found]


def find_definitions(
    tree: tree_sitter.Tree, source: bytes, language_name: str, uri: str = ""
) -> list[Definition]:
    """The definitions in one parsed file, in source order (from `extract_tags`)."""
    language = LANGUAGES.get(language_name)
    if language is None:
        return []
    tags = extract_tags(tree, source, language, uri)
    return [Definition.of(s, uri) for s in tags.symbols]
