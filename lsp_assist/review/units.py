"""Review units: the functions and methods of a file, found with tree-sitter.

A unit is reviewed as a whole, so it spans whole lines (from the start of its first line,
decorators included). Its `fingerprint` hashes its syntax without comments and without
whitespace that does not change the tree, so editing a comment or re-wrapping a line never
asks for a new review. Functions nested in functions belong to the outer unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
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


@dataclass(frozen=True, slots=True)
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


class FingerprintCache:
    """Fingerprints of the units of the last text scanned, by the unit's own source: a scan
    after an edit hashes only the units whose text changed (a function's subtree depends on
    its text alone). Used by one thread at a time (the worker)."""

    def __init__(self) -> None:
        self._previous: dict[tuple[str, bytes], str] = {}
        self._current: dict[tuple[str, bytes], str] = {}
        self.computed = 0
        """How many fingerprints were hashed rather than reused (for tests and logs)."""

    def fingerprint(self, node: tree_sitter.Node, source: bytes) -> str:
        key = (node.type, source[node.start_byte : node.end_byte])
        known = self._current.get(key) or self._previous.get(key)
        if known is None:
            known = syntax_fingerprint(node, source)
            self.computed += 1
        self._current[key] = known
        return known

    def scan_ended(self) -> None:
        """Keeps what this scan used (and the scan before), so memory follows the file."""
        self._previous, self._current = self._current, {}


def find_units(
    tree: tree_sitter.Tree,
    text: str,
    language: LanguageSpec,
    *,
    fingerprints: FingerprintCache | None = None,
    source: bytes | None = None,
) -> list[ReviewUnit]:
    """The units of a parsed file, in source order. With `fingerprints`, units whose text
    was fingerprinted in the previous scan are not hashed again; `source` is `utf8(text)`
    when the caller has it already."""
    types = language.review_units  # from the language registry
    if not types:
        return []
    if source is None:
        source = utf8(text)
    to_str = _OffsetConverter(text, source)
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
                fingerprint=(
                    fingerprints.fingerprint(outer, source)
                    if fingerprints is not None
                    else syntax_fingerprint(outer, source)
                ),
            )
        )
    if fingerprints is not None:
        fingerprints.scan_ended()
    return units


def unit_at(units: list[ReviewUnit], offset: int) -> ReviewUnit | None:
    return next((u for u in units if u.start <= offset <= u.end), None)


def file_context(tree: tree_sitter.Tree, text: str, *, source: bytes | None = None) -> str:
    """The file's imports (top-level), which tell the model what names mean."""
    if source is None:
        source = utf8(text)
    lines: list[str] = []
    for node in tree.root_node.children:
        if node.type in _IMPORT_TYPES:
            lines += _text(source, node).rstrip("\n").split("\n")
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
) -> Iterator[tuple[tree_sitter.Node, tuple[tree_sitter.Node, ...]]]:
    """The unit nodes in source order, each with its containers (outermost first). A cursor
    walk: no list of the file's nodes is ever held, which on a big file would outlive young
    garbage collections and trigger full ones (a 60-150 ms pause for every thread)."""
    cursor = root.walk()
    containers: list[tuple[int, tree_sitter.Node]] = []  # (depth, node)
    depth = 0
    while True:
        node = cursor.node
        assert node is not None
        is_unit = node.type in types and _is_unit(node)
        if is_unit:
            yield node, tuple(container for _, container in containers)
        elif node.type in _CONTAINERS:
            containers.append((depth, node))
        if not is_unit and cursor.goto_first_child():  # nested functions belong to the unit
            depth += 1
            continue
        while True:  # leaving `node` (or, after going up, its ancestor)
            while containers and containers[-1][0] >= depth:
                containers.pop()
            if cursor.goto_next_sibling():
                break
            if not cursor.goto_parent():
                return
            depth -= 1


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
    # Up to the first line break only: a class header must not cost decoding the class.
    end = source.find(b"\n", node.start_byte, node.end_byte)
    line = source[node.start_byte : end if end >= 0 else node.end_byte]
    return line.decode("utf-8", "surrogatepass").rstrip()


def _text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


class _OffsetConverter:
    """Byte offset → str offset, exact for any text `utf8` encodes (lone surrogates too).
    Asked in increasing order (units come in source order), each call decodes only the
    bytes since the previous one; the identity for ASCII text."""

    def __init__(self, text: str, source: bytes) -> None:
        self._ascii = len(text) == len(source)
        self._source = source
        self._byte = 0
        self._offset = 0

    def __call__(self, byte: int) -> int:
        if self._ascii:
            return byte
        if byte < self._byte:
            self._byte = self._offset = 0
        self._offset += len(self._source[self._byte : byte].decode("utf-8", "surrogatepass"))
        self._byte = byte
        return self._offset
