"""Tags from a syntax tree: what one file defines (with signatures and doc lines) and imports.

One tree-sitter query per language finds the definition nodes (the registry's `definitions`
plus types, aliases and module-level constants) and the import nodes in one pass in C; Python
then reads each match's name, container, header and doc comment. Definitions inside a function
body are local helpers, not part of the file's interface: they are left out.

A signature is the definition as written up to its body, whitespace collapsed, on one line
(Python keeps its `:`; a brace language loses its `{`). A doc is the first lines of a Python
docstring, or of the comment block right above the definition (`///`, `/** */`, Go's `//`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

import tree_sitter

from lsp_assist.context.imports import import_patterns, imports_from
from lsp_assist.context.tags import FileTags, Import, Symbol
from lsp_assist.languages import LANGUAGES, LanguageSpec

MAX_SIGNATURE = 200
MAX_DOC_LINES = 3
_FUNCTION, _METHOD, _CLASS, _CONSTANT = "function", "method", "class", "constant"

# Definitions beyond the registry's (which are what the offline engine and review also use).
_EXTRA_DEFINITIONS: dict[str, dict[str, str]] = {
    "typescript": {"type_alias_declaration": _CLASS, "enum_declaration": _CLASS},
    "go": {"type_alias": _CLASS},
    "rust": {"type_item": _CLASS, "union_item": _CLASS, "const_item": _CONSTANT}
    | {"static_item": _CONSTANT},
}
_EXTRA_DEFINITIONS["tsx"] = _EXTRA_DEFINITIONS["typescript"]

# Module-level constants, found by a pattern of their own (@constant captures the name).
_CONSTANT_PATTERNS = {
    "python": "(module (expression_statement (assignment left: (identifier) @constant)))",
    "go": "(source_file (const_declaration (const_spec name: (identifier) @constant)))",
}
_JS_CONSTANTS = (
    '(program (lexical_declaration "const" (variable_declarator name: (identifier) @constant)))'
    ' (program (export_statement (lexical_declaration "const"'
    " (variable_declarator name: (identifier) @constant))))"
)
for _name in ("javascript", "typescript", "tsx"):
    _CONSTANT_PATTERNS[_name] = _JS_CONSTANTS
_PYTHON_CONSTANT = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")

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
FUNCTION_TYPES = (
    frozenset(t for spec in LANGUAGES.values() for t, k in spec.definitions.items() if k != _CLASS)
    - {"variable_declarator", "field_declaration"}
    | FUNCTION_VALUES
)
"""Nodes whose body is a function's: what is defined in there is local."""


def extract_tags(
    tree: tree_sitter.Tree, source: bytes, language: LanguageSpec, path: str
) -> FileTags:
    """What the parsed file at `path` (workspace-relative POSIX) defines and imports."""
    query = _query(language.name)
    if query is None:
        return FileTags(path, language.name, (), ())
    # One pass over the tree finds definitions and imports alike.
    captures = tree_sitter.QueryCursor(query).captures(tree.root_node)
    kinds = _definition_kinds(language.name)
    found = [(node, kinds[node.type]) for node in captures.get("definition", [])]
    found += [(node, _CONSTANT) for node in captures.get("constant", [])]
    found.sort(key=lambda pair: pair[0].start_byte)
    symbols: list[Symbol] = []
    seen: set[tuple[str, str, str]] = set()
    for node, kind in found:
        symbol = _symbol_of(node, kind, source, language.name, path)
        key = (symbol.name, symbol.container, symbol.signature) if symbol else None
        if symbol is not None and key is not None and key not in seen:
            seen.add(key)
            symbols.append(symbol)
    imports, exports, package = imports_from(captures, source, language.name)
    return FileTags(path, language.name, tuple(symbols), imports, exports, package)


def _definition_kinds(language_name: str) -> dict[str, str]:
    spec = LANGUAGES[language_name]
    return {**spec.definitions, **_EXTRA_DEFINITIONS.get(language_name, {})}


@cache
def _query(language_name: str) -> tree_sitter.Query | None:
    spec = LANGUAGES.get(language_name)
    grammar = spec.grammar if spec is not None else None
    if grammar is None:
        return None
    # Only the types this grammar has: a query naming an unknown type does not compile.
    types = [t for t in _definition_kinds(language_name) if grammar.id_for_node_kind(t, True)]
    patterns = [f"({t}) @definition" for t in types]
    if language_name in _CONSTANT_PATTERNS:
        patterns.append(_CONSTANT_PATTERNS[language_name])
    if imports := import_patterns(language_name):
        patterns.append(imports)
    return tree_sitter.Query(grammar, " ".join(patterns)) if patterns else None


def _symbol_of(
    node: tree_sitter.Node, kind: str, source: bytes, language_name: str, path: str
) -> Symbol | None:
    if kind == _CONSTANT and node.type in _NAME_TYPES:  # the name of a constant
        return _constant_of(node, source, language_name, path)
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in FUNCTION_VALUES:
            return None
    if node.type in ("struct_specifier", "class_specifier") and not node.child_by_field_name(
        "body"
    ):
        return None  # `struct point p;` uses a type, it does not define one
    if node.type == "field_declaration" and not _declares_function(node):
        return None
    if _is_local(node):
        return None
    name_node = definition_name_node(node)
    if name_node is None:
        return None
    name, qualifier = _split_qualified(_text(source, name_node))
    container = qualifier or _container_name(node, source)
    if kind == _FUNCTION and container:
        kind = _METHOD
    return Symbol(
        name=name,
        kind=kind,
        container=container,
        signature=signature_of(node, source, language_name),
        doc=_doc_of(node, source, language_name),
        path=path,
        line=node.start_point[0],
        end_line=node.end_point[0],
    )


def _constant_of(
    name_node: tree_sitter.Node, source: bytes, language_name: str, path: str
) -> Symbol | None:
    name = _text(source, name_node)
    statement = name_node.parent
    if statement is None:
        return None
    if language_name == "python":
        if not _PYTHON_CONSTANT.match(name):
            return None
        statement = statement.parent or statement  # the expression statement
    elif language_name == "go":
        group = statement.parent  # the const declaration
        if group is not None and group.named_child_count == 1:
            statement = group
    else:  # JS/TS: a function or a require() is not a constant
        value = statement.child_by_field_name("value")
        if value is not None and (value.type in FUNCTION_VALUES or _is_require(value, source)):
            return None
        statement = statement.parent or statement
        if statement.parent is not None and statement.parent.type == "export_statement":
            statement = statement.parent
    header = source[statement.start_byte : min(statement.end_byte, statement.start_byte + 800)]
    prefix = "const " if statement.type == "const_spec" else ""
    return Symbol(
        name=name,
        kind=_CONSTANT,
        container="",
        signature=_one_line(prefix + header.decode("utf-8", "replace")),
        doc=_comment_doc(statement, source),
        path=path,
        line=statement.start_point[0],
        end_line=statement.end_point[0],
    )


def _is_require(value: tree_sitter.Node, source: bytes) -> bool:
    function = value.child_by_field_name("function")
    return function is not None and _text(source, function) == "require"


def _is_local(node: tree_sitter.Node) -> bool:
    parent = node.parent
    if node.type == "variable_declarator" and parent is not None:
        parent = parent.parent  # the declaration's parent
    while parent is not None:
        if parent.type in FUNCTION_TYPES:
            return True
        parent = parent.parent
    return False


def definition_name_node(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The node holding a definition's name: its `name` field, or for C/C++ the innermost
    declarator (pointer, function, reference…)."""
    name = node.child_by_field_name("name")
    if name is not None:
        return name
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type not in _NAME_TYPES:
        if declarator.type in ("qualified_identifier", "template_function"):
            return declarator
        declarator = declarator.child_by_field_name("declarator")
    return declarator


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
        if parent.type in CONTAINER_TYPES:
            named = parent.child_by_field_name("name") or parent.child_by_field_name("type")
            if named is None:
                return "?"
            return re.split(r"[<\[]", _text(source, named), maxsplit=1)[0].strip()
        parent = parent.parent
    return ""


def signature_of(node: tree_sitter.Node, source: bytes, language_name: str) -> str:
    """The definition as written up to its body, on one line."""
    start, end = node.start_byte, node.end_byte
    body = node.child_by_field_name("body")
    if body is not None:
        end = body.start_byte
    elif language_name == "lua" and (parameters := node.child_by_field_name("parameters")):
        end = parameters.end_byte  # a Lua function without a body still ends with `end`
    if node.type == "variable_declarator" and (value := node.child_by_field_name("value")):
        body = value.child_by_field_name("body")  # `const mul = (a, b) =>` up to its body
        end = body.start_byte if body is not None else value.end_byte
    prefix = ""
    parent = node.parent
    if node.type in ("type_spec", "type_alias", "variable_declarator") and parent is not None:
        if parent.named_child_count == 1:
            start = parent.start_byte  # include the `type` / `const` keyword
        elif node.type != "variable_declarator":
            prefix = "type "  # one of a `type ( … )` group
    text = source[start : min(end, start + 4 * MAX_SIGNATURE)].decode("utf-8", "replace")
    if body is None and node.type != "type_alias_declaration":
        text = text.split("{", 1)[0]
    text = _one_line(prefix + text).rstrip(" {;=")
    if language_name != "python":
        text = text.rstrip(":")
    return text[:MAX_SIGNATURE]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_SIGNATURE]


def _doc_of(node: tree_sitter.Node, source: bytes, language_name: str) -> str:
    if language_name == "python":
        docstring = _python_docstring(node, source)
        if docstring:
            return docstring
    outer = node
    # The comment sits above `export …` and decorators, and above a whole one-item group.
    while outer.parent is not None and outer.parent.type in _WRAPPERS:
        if outer.parent.type in _GROUPS and outer.parent.named_child_count > 1:
            break
        outer = outer.parent
    return _comment_doc(outer, source)


def _python_docstring(node: tree_sitter.Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is None or first.type != "expression_statement" or not first.named_children:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    content = "".join(
        _text(source, part) for part in string.named_children if part.type == "string_content"
    )
    return _first_lines(content.splitlines())


_GROUPS = frozenset({"type_declaration", "lexical_declaration", "const_declaration"})
_WRAPPERS = _GROUPS | {"export_statement", "decorated_definition"}


def _comment_doc(node: tree_sitter.Node, source: bytes) -> str:
    """The comment block ending on the line right above `node` (attributes and decorators in
    between are skipped)."""
    comments: list[tree_sitter.Node] = []
    line = node.start_point[0]
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type in ("attribute_item", "decorator", "annotation"):
        line = sibling.start_point[0]
        sibling = sibling.prev_named_sibling
    while sibling is not None and "comment" in sibling.type and sibling.end_point[0] >= line - 1:
        before = sibling.prev_sibling
        if (
            before is not None
            and "comment" not in before.type
            and before.end_point[0] == sibling.start_point[0]
        ):
            break  # a comment trailing the code above is not this one's doc
        comments.append(sibling)
        line = sibling.start_point[0]
        sibling = sibling.prev_named_sibling
    if not comments:
        return ""
    lines: list[str] = []
    for comment in reversed(comments):
        lines += _text(source, comment).splitlines()
    return _first_lines(_strip_comment_marker(line) for line in lines)


_COMMENT_MARKER = re.compile(r"^\s*(?:///?!?|/\*\*?|\*(?!/)|#+|--+)?\s?")


def _strip_comment_marker(line: str) -> str:
    text = _COMMENT_MARKER.sub("", line, count=1)
    return text.removesuffix("*/").rstrip()


def _first_lines(lines: Iterator[str] | list[str]) -> str:
    """The first paragraph's first lines (at most MAX_DOC_LINES), stripped."""
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if kept:
                break
            continue
        kept.append(stripped)
        if len(kept) == MAX_DOC_LINES:
            break
    return "\n".join(kept)


def _text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


__all__ = [
    "Import",
    "definition_name_node",
    "extract_tags",
    "go_receiver_type",
    "signature_of",
]
