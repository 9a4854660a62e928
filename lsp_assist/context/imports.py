"""What a file imports (and, for JS/TS, re-exports): the names it binds and where they come from.

Per language, `Import(module, name, alias)` as `tags.py` defines it:

- Python: `import a.b` → (a.b, "", a); `import a.b as c` → (a.b, "", c);
  `from ..pkg import y as z` → (..pkg, y, z); `from m import *` → (m, "*", "").
- JS/TS: `import d, {a as b} from "./x"` → (./x, default, d), (./x, a, b);
  `import * as ns from "./n"` → (./n, "", ns); `const fs = require("fs")` → (fs, "", fs);
  `const {r} = require("./r")` → (./r, r, r). Re-exports: `export {a as b} from "./x"` →
  (./x, a, b); `export * from "./x"` → (./x, "*", ""); `export * as g from "./x"` → (./x, "*", g).
- Go: `import str "strings"` → (strings, "", str); the package's name otherwise (the last path
  segment, `v2`-style version segments and `.v2` suffixes skipped).
- Rust: `use a::b::{c, d as e}` → (a::b, c, c), (a::b, d, e); `use crate::x::*` → (crate::x, "*",
  ""); `use crate::net` and `self` in a list → the module itself (name "").
"""

from __future__ import annotations

import re

import tree_sitter

from lsp_assist.context.tags import Import

_PATTERNS = {
    "python": "(import_statement) @import (import_from_statement) @import",
    "go": "(import_spec) @import (package_clause) @package",
    "rust": "(use_declaration argument: (_) @import)",
}
_JS_PATTERNS = (
    "(import_statement) @import (export_statement source: (string)) @export"
    " ((variable_declarator name: (_) value: (call_expression function: (identifier) @_f"
    ' arguments: (arguments . (string)))) @require (#eq? @_f "require"))'
)
_PATH_ROOTS = frozenset({"crate", "super", "self"})
_GO_VERSION = re.compile(r"v\d+\Z")

ImportsOf = tuple[tuple[Import, ...], tuple[Import, ...], str]


def import_patterns(language_name: str) -> str:
    """The query patterns whose captures `imports_from` reads ("" when there are none)."""
    if language_name in ("javascript", "typescript", "tsx"):
        return _JS_PATTERNS
    return _PATTERNS.get(language_name, "")


def imports_from(
    captures: dict[str, list[tree_sitter.Node]], source: bytes, language_name: str
) -> ImportsOf:
    """(imports, re-exports, Go package name) from the captures of `import_patterns`, in
    source order."""
    imports: list[tuple[int, Import]] = []
    exports: list[Import] = []
    package = ""
    for node in captures.get("package", []):
        names = [c for c in node.named_children if c.type == "package_identifier"]
        package = _text(source, names[0]) if names else ""
    for node in captures.get("import", []):
        imports += [(node.start_byte, i) for i in _imports_in(node, source, language_name)]
    for node in captures.get("require", []):
        imports += [(node.start_byte, i) for i in _required(node, source)]
    for node in sorted(captures.get("export", []), key=lambda n: n.start_byte):
        exports += _reexported(node, source)
    imports.sort(key=lambda pair: pair[0])
    return tuple(i for _, i in imports), tuple(exports), package


def _imports_in(node: tree_sitter.Node, source: bytes, language_name: str) -> list[Import]:
    if language_name == "python":
        return _python_imports(node, source)
    if language_name == "go":
        return _go_import(node, source)
    if language_name == "rust":
        found: list[Import] = []
        _rust_uses(node, "", source, found)
        return found
    return _js_imports(node, source)


def _python_imports(node: tree_sitter.Node, source: bytes) -> list[Import]:
    module = ""
    if node.type == "import_from_statement":
        module_node = node.child_by_field_name("module_name")
        module = _text(source, module_node) if module_node is not None else ""
    found: list[Import] = []
    for child in node.children_by_field_name("name"):
        alias = ""
        if child.type == "aliased_import":
            alias_node = child.child_by_field_name("alias")
            alias = _text(source, alias_node) if alias_node is not None else ""
            child = child.child_by_field_name("name") or child
        name = _text(source, child)
        if node.type == "import_statement":
            found.append(Import(name, "", alias or name.split(".", 1)[0]))
        else:
            found.append(Import(module, name, alias or name))
    if any(child.type == "wildcard_import" for child in node.children):
        found.append(Import(module, "*", ""))
    return found


def _go_import(node: tree_sitter.Node, source: bytes) -> list[Import]:
    path_node = node.child_by_field_name("path")
    if path_node is None:
        return []
    path = _text(source, path_node).strip('"`')
    name_node = node.child_by_field_name("name")
    if name_node is not None:
        return [Import(path, "", _text(source, name_node))]
    segments = [s for s in path.split("/") if s]
    if len(segments) > 1 and _GO_VERSION.match(segments[-1]):
        segments.pop()  # example.com/x/net/v2 is package net
    last = segments[-1] if segments else path
    return [Import(path, "", re.sub(r"\.v\d+\Z", "", last).replace("-", "_"))]


def _rust_uses(node: tree_sitter.Node, prefix: str, source: bytes, found: list[Import]) -> None:
    kind = node.type
    if kind == "use_list":
        for child in node.named_children:
            _rust_uses(child, prefix, source, found)
    elif kind == "scoped_use_list":
        path_node = node.child_by_field_name("path")
        path = _joined(prefix, _text(source, path_node)) if path_node is not None else prefix
        list_node = node.child_by_field_name("list")
        if list_node is not None:
            _rust_uses(list_node, path, source, found)
    elif kind == "use_wildcard":
        path = _text(source, node).removesuffix("*").removesuffix("::")
        found.append(Import(_joined(prefix, path), "*", ""))
    elif kind == "use_as_clause":
        path_node, alias_node = node.child_by_field_name("path"), node.child_by_field_name("alias")
        if path_node is not None:
            alias = _text(source, alias_node) if alias_node is not None else ""
            found.append(_rust_import(_joined(prefix, _text(source, path_node)), alias))
    elif kind == "self" and prefix:
        found.append(Import(prefix, "", prefix.rsplit("::", 1)[-1]))
    elif kind in ("identifier", "scoped_identifier", "crate", "super", "self", "metavariable"):
        found.append(_rust_import(_joined(prefix, _text(source, node)), ""))


def _rust_import(path: str, alias: str) -> Import:
    segments = path.split("::")
    if len(segments) == 1 or (len(segments) == 2 and segments[0] in _PATH_ROOTS):
        return Import(path, "", alias or segments[-1])
    return Import("::".join(segments[:-1]), segments[-1], alias or segments[-1])


def _joined(prefix: str, path: str) -> str:
    path = "".join(path.split())
    return f"{prefix}::{path}" if prefix and path else prefix or path


def _js_imports(node: tree_sitter.Node, source: bytes) -> list[Import]:
    module = _string(node.child_by_field_name("source"), source)
    found: list[Import] = []
    for clause in node.named_children:
        if clause.type != "import_clause":
            continue
        for part in clause.named_children:
            if part.type == "identifier":
                found.append(Import(module, "default", _text(source, part)))
            elif part.type == "namespace_import":
                names = [c for c in part.named_children if c.type == "identifier"]
                if names:
                    found.append(Import(module, "", _text(source, names[0])))
            elif part.type == "named_imports":
                found += _specifiers(part, "import_specifier", module, source)
    return found


def _specifiers(node: tree_sitter.Node, kind: str, module: str, source: bytes) -> list[Import]:
    found: list[Import] = []
    for specifier in node.named_children:
        if specifier.type != kind:
            continue
        name_node = specifier.child_by_field_name("name")
        alias_node = specifier.child_by_field_name("alias")
        if name_node is None:
            continue
        name = _text(source, name_node).strip("\"'")
        alias = _text(source, alias_node) if alias_node is not None else name
        found.append(Import(module, name, alias))
    return found


def _required(node: tree_sitter.Node, source: bytes) -> list[Import]:
    value = node.child_by_field_name("value")
    arguments = value.child_by_field_name("arguments") if value is not None else None
    if arguments is None or not arguments.named_children:
        return []
    module = _string(arguments.named_children[0], source)
    target = node.child_by_field_name("name")
    if target is None:
        return []
    if target.type == "identifier":
        return [Import(module, "", _text(source, target))]
    found: list[Import] = []
    if target.type == "object_pattern":
        for part in target.named_children:
            if part.type == "shorthand_property_identifier_pattern":
                name = _text(source, part)
                found.append(Import(module, name, name))
            elif part.type == "pair_pattern":
                key, value = part.child_by_field_name("key"), part.child_by_field_name("value")
                if key is not None and value is not None and value.type == "identifier":
                    found.append(Import(module, _text(source, key), _text(source, value)))
    return found


def _reexported(node: tree_sitter.Node, source: bytes) -> list[Import]:
    module = _string(node.child_by_field_name("source"), source)
    for part in node.named_children:
        if part.type == "export_clause":
            return _specifiers(part, "export_specifier", module, source)
        if part.type == "namespace_export":
            names = [c for c in part.named_children if c.type == "identifier"]
            return [Import(module, "*", _text(source, names[0]) if names else "")]
    return [Import(module, "*", "")]


def _string(node: tree_sitter.Node | None, source: bytes) -> str:
    return _text(source, node)[1:-1] if node is not None else ""


def _text(source: bytes, node: tree_sitter.Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")
