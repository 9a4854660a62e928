"""What one source file defines and imports: the index's unit of knowledge.

Values only; `extract_tags` (tree-sitter, per language) fills them, the index keeps them, and
retrieval reads them. Paths are workspace-relative POSIX paths ("pkg/client.py").
"""

from __future__ import annotations

from dataclasses import dataclass

SymbolKind = str
""""function", "method", "class" (class, struct, interface, trait, enum, type alias),
"constant"."""


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    """The defined name ("send")."""
    kind: SymbolKind
    container: str
    """The enclosing class/struct/impl/type for a method ("Client"), else ""."""
    signature: str
    """The definition's header as written, on one line, without its body
    ("def send(self, request: Request, *, timeout: float = 5) -> Response:")."""
    doc: str
    """The first lines (at most 3) of its docstring or doc comment, else ""."""
    path: str
    """Workspace-relative POSIX path of the file."""
    line: int
    """0-based line where the definition starts (decorators excluded)."""
    end_line: int
    """0-based line where it ends."""


@dataclass(frozen=True, slots=True)
class Import:
    """One name a file binds by importing: `from .net import Client as C` binds "C"."""

    module: str
    """As written: "pkg.client", ".net" (Python, dots kept), "./client" (JS/TS), "fmt" or
    "example.com/x/net" (Go), "crate::net::client" (Rust)."""
    name: str
    """The imported name ("Client"); "" for a whole module (`import pkg.client`,
    `import * as net from "./net"`, Go imports, `use crate::net`)."""
    alias: str
    """The local name it is bound to ("C"; "client" for `import pkg.client as client`;
    "pkg" for `import pkg.client`; "net" for Go's `net` package)."""


@dataclass(frozen=True, slots=True)
class FileTags:
    path: str
    """Workspace-relative POSIX path."""
    language: str
    """The registry's language name ("python", "typescript", …)."""
    symbols: tuple[Symbol, ...]
    imports: tuple[Import, ...]
    exports: tuple[Import, ...] = ()
    """JS/TS re-exports: `export { send } from "./net"` (name "send"), `export * from "./net"`
    (name "*")."""
    package: str = ""
    """Go's package clause name; "" elsewhere."""
