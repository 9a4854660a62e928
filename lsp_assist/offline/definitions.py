"""An index of the workspace's definitions — functions, methods, classes — for completion items.

Each file's definitions are found with one tree-sitter query per language that captures the
definition node types of its grammar (`function_definition`, `method_declaration`,
`function_item`, …). A definition's name comes from the node's `name` field, or for C/C++ from
the innermost `declarator`; its signature is the source text as written up to the body
(`def price(self, discount=0.0)`, `func (p *Point) Move(dx int) error`), on one line.

`complete_identifier` offers the definitions whose name starts with what was typed (ignoring
case): those of the file being edited first, then by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import tree_sitter

from lsp_assist.languages import LANGUAGES, LanguageSpec
from lsp_assist.positions import utf8

MAX_SIGNATURE = 200

_FUNCTION, _METHOD, _CLASS = "function", "method", "class"

# Per language: definition node type → what it defines ("function", "method", "class"); the
# facts live in the language registry.
DEFINITION_TYPES: dict[str, Mapping[str, str]] = {
    name: spec.definitions for name, spec in LANGUAGES.items() if spec.definitions
}

# Ancestors that make a function a method (and give it its container's name).
CONTAINER_TYPES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "impl_item",
        "trait_item",
        "class_specifier",
        "struct_specifier",
        "enum_declaration",
        "record_declaration",
    }
)
FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function"})
_NAME_TYPES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "destructor_name", "operator_name"}
)


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    kind: str
    """"function", "method" or "class"."""
    signature: str
    uri: str
    line: int
    """0-based line of the definition's start."""
    container: str = ""
    """The enclosing class (or impl, receiver type) of a method."""


class DefinitionIndex:
    """Copy on write: an update replaces the file map, so that a reader on another thread
    iterates a map that never changes under it (2,000 files: a copy costs ~20 µs)."""

    def __init__(self) -> None:
        self._by_file: dict[str, list[Definition]] = {}

    def update_file(self, uri: str, text: str, language: LanguageSpec) -> None:
        grammar = language.grammar
        if grammar is None:
            self.remove_file(uri)
            return
        source = utf8(text)
        tree = tree_sitter.Parser(grammar).parse(source)
        self.update_tree(uri, tree, source, language.name)

    def update_tree(
        self, uri: str, tree: tree_sitter.Tree, source: bytes, language_name: str
    ) -> None:
        """Indexes an already parsed file (the engine parses once for tokens and this)."""
        self.set_file(uri, find_definitions(tree, source, language_name, uri))

    def set_file(self, uri: str, definitions: list[Definition]) -> None:
        """The definitions of one file, found already (`find_definitions`)."""
        by_file = dict(self._by_file)
        if definitions:
            by_file[uri] = definitions
        else:
            by_file.pop(uri, None)
        self._by_file = by_file

    def remove_file(self, uri: str) -> None:
        if uri in self._by_file:
            self.set_file(uri, [])

    def definitions_in(self, uri: str) -> list[Definition]:
        return list(self._by_file.get(uri, []))

    def complete_identifier(self, prefix: str, uri: str = "", limit: int = 50) -> list[Definition]:
        """Definitions whose name starts with `prefix` (any case): same file first, then by
        name."""
        wanted = prefix.lower()
        matches = [
            definition
            for definitions in self._by_file.values()  # a map no writer changes (see above)
            for definition in definitions
            if definition.name.lower().startswith(wanted)
        ]
        matches.sort(key=lambda d: (d.uri != uri, d.name.lower(), d.name, d.uri, d.line))
        return matches[:limit]


def find_definitions(
    tree: tree_sitter.Tree, source: bytes, language_name: str, uri: str = ""
) -> list[Definition]:
    """The definitions in one parsed file, in source order."""
    query = _definition_query(language_name)
    if query is None:
        return []
    kinds = DEFINITION_TYPES[language_name]
    nodes = tree_sitter.QueryCursor(query).captures(tree.root_node).get("definition", [])
    found: list[Definition] = []
    seen: set[tuple[str, str]] = set()
    for node in sorted(nodes, key=lambda n: n.start_byte):
        definition = _definition_of(node, kinds[node.type], source, language_name, uri)
        if definition is not None and (definition.name, definition.signature) not in seen:
            seen.add((definition.name, definition.signature))
            found.append(definition)
    return found


@cache
def _definition_query(language_name: str) -> tree_sitter.Query | None:
    from lsp_assist.languages import language_for

    grammar = language_for(language_name).grammar
    types = DEFINITION_TYPES.get(language_name)
    if grammar is None or not types:
        return None
    # Only the types this grammar has: a query naming an unknown type does not compile.
    present = [t for t in types if grammar.id_for_node_kind(t, True) is not None]
    return tree_sitter.Query(grammar, " ".join(f"({t}) @definition" for t in present))


def _definition_of(
    node: tree_sitter.Node, kind: str, source: bytes, language_name: str, uri: str
) -> Definition | None:
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in FUNCTION_VALUES:
            return None
    if (
        node.type in ("struct_specifier", "class_specifier")
        and node.child_by_field_name("body") is None
    ):
        return None  # `struct point p;` uses a type, it does not define one
    name_node = _name_node(node)
    if name_node is None:
        return None
    if node.type == "field_declaration" and not _declares_function(node):
        return None
    name, qualifier = _split_qualified(_text(source, name_node))
    container = qualifier or _container_name(node, source)
    if kind == _FUNCTION and container:
        kind = _METHOD
    return Definition(
        name=name,
        kind=kind,
        signature=_signature(node, source, language_name),
        uri=uri,
        line=node.start_point[0],
        container=container,
    )


def _name_node(node: tree_sitter.Node) -> tree_sitter.Node | None:
    name = node.child_by_field_name("name")
    if name is not None:
        return name
    # C and C++: the name sits inside nested declarators (pointer, function, reference…).
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type not in _NAME_TYPES:
        if declarator.type in ("qualified_identifier", "template_function"):
            return declarator
        declarator = declarator.child_by_field_name("declarator")
    return declarator


definition_name_node = _name_node  # for review units, which name functions the same way


def _declares_function(node: tree_sitter.Node) -> bool:
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:
        if declarator.type == "function_declarator":
            return True
        declarator = declarator.child_by_field_name("declarator")
    return False


def _split_qualified(text: str) -> tuple[str, str]:
    """`Shape::area` → ("area", "Shape"); `M.add`, `obj:method` (Lua) likewise."""
    parts = re.split(r"::|[.:]", text)
    return parts[-1], ".".join(parts[:-1])


def go_receiver_type(receiver: str) -> str:
    """`(p *Point)` → Point; `(s *Stack[T])` → Stack (not its type parameter)."""
    words = re.findall(r"\w+", re.sub(r"\[.*?\]", "", receiver))
    return words[-1] if words else ""


def _container_name(node: tree_sitter.Node, source: bytes) -> str:
    if node.type == "method_declaration" and (receiver := node.child_by_field_name("receiver")):
        return go_receiver_type(_text(source, receiver))
    parent = node.parent
    while parent is not None:
        if parent.type in DEFINITION_TYPES_FUNCTIONS:
            return ""  # a function nested in a function is not a method
        if parent.type in CONTAINER_TYPES:
            named = parent.child_by_field_name("name") or parent.child_by_field_name("type")
            return _text(source, named) if named is not None else "?"
        parent = parent.parent
    return ""


DEFINITION_TYPES_FUNCTIONS = frozenset(
    t for types in DEFINITION_TYPES.values() for t, k in types.items() if k != _CLASS
) | frozenset({"arrow_function", "function_expression"})


def _signature(node: tree_sitter.Node, source: bytes, language_name: str) -> str:
    """The definition as written up to its body, on one line."""
    end = node.end_byte
    body = node.child_by_field_name("body")
    if body is not None:
        end = body.start_byte
    elif language_name == "lua" and (parameters := node.child_by_field_name("parameters")):
        end = parameters.end_byte  # a Lua function without a body still ends with `end`
    start = node.start_byte
    if node.type == "variable_declarator" and (value := node.child_by_field_name("value")):
        body = value.child_by_field_name("body")  # `const mul = (a, b) =>` up to its body
        end = body.start_byte if body is not None else value.end_byte
    if node.type in ("type_spec", "variable_declarator") and node.parent is not None:
        start = node.parent.start_byte  # include the `type` / `const` keyword
    text = source[start:end].decode("utf-8", "replace")
    if body is None:
        text = text.split("{", 1)[0]
    text = " ".join(text.split()).rstrip(" {:;=")
    return text[:MAX_SIGNATURE]


def _text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")
