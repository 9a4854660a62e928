"""The grammar registry: which tree-sitter grammar parses which LSP language id.

Grammars come from the official per-language wheels (`tree-sitter-python`, …), which carry the
compiled parser: nothing is ever downloaded at run time. A grammar is loaded the first time a
document of its language opens. A language we have no grammar for is still served, in plain-text
mode (no tree).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import cache

import tree_sitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    """Our name for the language (the grammar's), e.g. "typescript"."""
    module: str = ""
    """The grammar wheel's module; empty for plain text."""
    function: str = "language"
    brace_blocks: bool = True
    """Blocks are delimited by brackets (C, JS…) rather than indentation (Python, Lua)."""
    line_comment: str = "//"
    block_openers: tuple[str, ...] = ("{",)
    """Line endings after which a new block body starts."""

    @property
    def grammar(self) -> tree_sitter.Language | None:
        return _load_grammar(self.module, self.function) if self.module else None


PLAIN_TEXT = LanguageSpec(name="plaintext", line_comment="")

_SPECS = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python",
            "tree_sitter_python",
            brace_blocks=False,
            line_comment="#",
            block_openers=(":",),
        ),
        LanguageSpec("javascript", "tree_sitter_javascript"),
        LanguageSpec("typescript", "tree_sitter_typescript", "language_typescript"),
        LanguageSpec("tsx", "tree_sitter_typescript", "language_tsx"),
        LanguageSpec("go", "tree_sitter_go"),
        LanguageSpec("rust", "tree_sitter_rust"),
        LanguageSpec("java", "tree_sitter_java"),
        LanguageSpec("c", "tree_sitter_c"),
        LanguageSpec("cpp", "tree_sitter_cpp"),
        LanguageSpec(
            "lua",
            "tree_sitter_lua",
            brace_blocks=False,
            line_comment="--",
            block_openers=("then", "do", ")", "else", "repeat"),
        ),
    )
}

# LSP language ids (as VS Code and Neovim send them) → our names.
_LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "tsx",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "cuda-cpp": "cpp",
    "lua": "lua",
}

_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "tsx",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".lua": "lua",
}


SOURCE_SUFFIXES = frozenset(_EXTENSIONS)
"""File name endings of the source files we have a grammar for (the workspace scan reads these)."""


def language_for(language_id: str | None, uri: str = "") -> LanguageSpec:
    """The language of a document from its LSP language id, else its file extension."""
    name = _LANGUAGE_IDS.get((language_id or "").lower())
    if name is None:
        path = uri.rsplit("/", 1)[-1]
        dot = path.rfind(".")
        name = _EXTENSIONS.get(path[dot:].lower()) if dot >= 0 else None
    spec = _SPECS.get(name or "")
    if spec is None or spec.grammar is None:
        return PLAIN_TEXT
    return spec


@cache
def _load_grammar(module: str, function: str) -> tree_sitter.Language | None:
    try:
        return tree_sitter.Language(getattr(importlib.import_module(module), function)())
    except Exception:  # a broken or missing wheel: serve the language as plain text
        log.warning("no tree-sitter grammar from %s; plain-text mode", module, exc_info=True)
        return None
