"""Review units: the functions and methods of a file, found with tree-sitter.

A unit is reviewed as a whole, so it spans whole lines (from the start of its first line,
decorators included). Its `fingerprint` hashes its syntax without comments and without
whitespace that does not change the tree, so editing a comment or re-wrapping a line never
asks for a new review. Functions nested in functions belong to the outer unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import tree_sitter

from lsp_assist.languages import LanguageSpec
from lsp_assist.offline.definitions import (
    CONTAINER_TYPES,
    FUNCTION_VALUES,
    definition_name_node,
    go_receiver_type,
)
from lsp_assist.positions import utf8

# Per language: the node types that are review units.
UNIT_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition"}),
    "javascript": frozenset(
        {
            "function_declaration",
            "generator_function_declaration",
            "method_definition",
            "variable_declarator",
        }
    ),
    "go": frozenset({"function_declaration", "method_declaration"}),
    "rust": frozenset({"function_item"}),
    "java": frozenset({"method_declaration", "constructor_declaration"}),
    "c": frozenset({"function_definition"}),
    "cpp": frozenset({"function_definition"}),
    "lua": frozenset({"function_declaration"}),
}
UNIT_TYPES["typescript"] = UNIT_TYPES["tsx"] = UNIT_TYPES["javascript"]

_CONTAINERS = CONTAINER_TYPES | {"namespace_definition"}
_IMPORT_TYPES = frozenset(
    {
        "import_statement",
        "import_from_statement",
        "future_import_statement",
        "import_declaration",
        "use_declaration",
        "preproc_include",
    }
)
MAX_CONTEXT_LINES = 20


@dataclass(frozen=True)
class ReviewUnit:
    name: str
    """Qualified name, e.g. "Bank.withdraw"; a repeated name gets "#2", "#3"…"""
    start: int
    """Offset (str) of the start of the unit's first line."""
    end: int
    """Offset just after the unit's last character."""
    first_line: int
    """0-based line of `start`."""
    text: str
    header: str
    """The enclosing class (impl, struct…) header line of a method, else ""."""
    fingerprint: str

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def find_units(tree: tree_sitter.Tree, text: str, language: LanguageSpec) -> list[ReviewUnit]:
    """The units of a parsed file, in source order."""
    types = UNIT_TYPES.get(language.name)
    if not types:
        return []
    source = utf8(text)
    to_str = _offset_converter(text, source)
    units: list[ReviewUnit] = []
    seen: dict[str, int] = {}
    for node, containers in _walk_units(tree.root_node, types):
        outer = node.parent if node.type == "variable_declarator" else node
        if outer is not None and outer.parent is not None:
            if outer.parent.type in ("decorated_definition", "export_statement"):
                outer = outer.parent
        assert outer is not None
        name = _qualified_name(node, containers, source)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        start = to_str(outer.start_byte)
        start = text.rfind("\n", 0, start) + 1
        end = to_str(outer.end_byte)
        header = ""
        if containers:
            container = containers[-1]
            header = _first_line(source, container)
        units.append(
            ReviewUnit(
                name=name,
                start=start,
                end=end,
                first_line=outer.start_point[0],
                text=text[start:end],
                header=header,
                fingerprint=syntax_fingerprint(outer, source),
            )
        )
    return units


def unit_at(units: list[ReviewUnit], offset: int) -> ReviewUnit | None:
    return next((u for u in units if u.start <= offset <= u.end), None)


def file_context(tree: tree_sitter.Tree, text: str) -> str:
    """The file's imports (top-level), which tell the model what names mean."""
    source = utf8(text)
    lines: list[str] = []
    for node in tree.root_node.children:
        if node.type in _IMPORT_TYPES:
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
            lines += text.rstrip("\n").split("\n")
        if len(lines) >= MAX_CONTEXT_LINES:
            break
    return "\n".join(lines[:MAX_CONTEXT_LINES])


def syntax_fingerprint(node: tree_sitter.Node, source: bytes) -> str:
    """A hash of the node's leaves (type, text, depth), skipping comments and docstrings."""
    digest = hashlib.sha256()
    pending: list[tuple[tree_sitter.Node, int]] = [(node, 0)]
    while pending:
        current, depth = pending.pop()
        if "comment" in current.type or _is_docstring(current):
            continue
        if current.child_count == 0 or _has_text_between_children(current, source):
            leaf = source[current.start_byte : current.end_byte]
            digest.update(f"{depth}:{current.type}:".encode() + leaf + b"\x00")
            continue
        pending.extend((child, depth + 1) for child in reversed(current.children))
    return digest.hexdigest()[:32]


def _has_text_between_children(node: tree_sitter.Node, source: bytes) -> bool:
    """A node with text of its own besides its children (a string's content around an
    escape sequence): hash it whole, or editing that text would go unnoticed."""
    position = node.start_byte
    for child in node.children:
        if source[position : child.start_byte].strip():
            return True
        position = child.end_byte
    return bool(source[position : node.end_byte].strip())


def _walk_units(
    root: tree_sitter.Node, types: frozenset[str]
) -> list[tuple[tree_sitter.Node, tuple[tree_sitter.Node, ...]]]:
    found: list[tuple[tree_sitter.Node, tuple[tree_sitter.Node, ...]]] = []
    pending: list[tuple[tree_sitter.Node, tuple[tree_sitter.Node, ...]]] = [(root, ())]
    while pending:
        node, containers = pending.pop()
        if node.type in types and _is_unit(node):
            found.append((node, containers))
            continue  # nested functions belong to this unit
        inner = (*containers, node) if node.type in _CONTAINERS else containers
        pending.extend((child, inner) for child in reversed(node.named_children))
    return found


def _is_unit(node: tree_sitter.Node) -> bool:
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        return value is not None and value.type in FUNCTION_VALUES
    return node.child_by_field_name("body") is not None or node.type == "function_declaration"


def _qualified_name(
    node: tree_sitter.Node, containers: tuple[tree_sitter.Node, ...], source: bytes
) -> str:
    parts = []
    for container in containers:
        named = container.child_by_field_name("name") or container.child_by_field_name("type")
        if named is not None:
            parts.append(_text(source, named))
    if node.type == "method_declaration" and (receiver := node.child_by_field_name("receiver")):
        parts.append(go_receiver_type(_text(source, receiver)))
    name_node = definition_name_node(node)
    parts.append(
        _text(source, name_node) if name_node is not None else f"<line {node.start_point[0] + 1}>"
    )
    return ".".join(parts)


def _is_docstring(node: tree_sitter.Node) -> bool:
    if node.type != "expression_statement" or node.named_child_count != 1:
        return False
    child = node.named_children[0]
    return child.type == "string" and node.parent is not None and node.parent.type == "block"


def _first_line(source: bytes, node: tree_sitter.Node) -> str:
    text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
    return text.split("\n", 1)[0].rstrip()


def _text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _offset_converter(text: str, source: bytes) -> Callable[[int], int]:
    """Byte offset → str offset (the identity for ASCII text)."""
    if len(text) == len(source):
        return lambda byte: byte
    return lambda byte: len(source[:byte].decode("utf-8", "replace"))
