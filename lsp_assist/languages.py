"""The language registry: every per-language fact lsp-assist knows, in one place.

A `LanguageSpec` says which tree-sitter grammar parses a language, which LSP language ids
(VS Code) and filetypes (Neovim) and which file name endings are that language, how its blocks
are written, what the lexer must know to tell its code from its strings and comments (`Lexicon`),
and which syntax nodes are definitions and review units. Everything else derives from here: the
workspace scan's suffixes, the editors' language lists (checked by tests/unit/test_languages.py),
the comment that names a context file in a prompt.

Grammars come from the official per-language wheels (`tree-sitter-python`, …), which carry the
compiled parser: nothing is ever downloaded at run time. A grammar is loaded the first time a
document of its language opens. A language we have no grammar for is still served, in plain-text
mode (no tree).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import tree_sitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StringSyntax:
    """One kind of string literal."""

    open: str
    close: str
    multiline: bool = False
    """False: an unterminated literal ends with its line, so that one stray quote in a
    suggestion does not hide the rest of it."""
    escapes: bool = True
    """A backslash escapes the next character (not in Go's `raw` or Lua's `[[long]]` strings)."""


_DOUBLE = StringSyntax('"', '"')
_SINGLE = StringSyntax("'", "'")
_TRIPLE_DOUBLE = StringSyntax('"""', '"""', multiline=True)
_TRIPLE_SINGLE = StringSyntax("'''", "'''", multiline=True)
_TEMPLATE = StringSyntax("`", "`", multiline=True)

Apostrophe = Literal["quote", "lifetime", "separator", "guess"]


@dataclass(frozen=True)
class Lexicon:
    """What a lexer must know to tell code (and its brackets) from strings and comments."""

    line_comments: tuple[str, ...] = ("//",)
    block_comments: tuple[tuple[str, str], ...] = (("/*", "*/"),)
    strings: tuple[StringSyntax, ...] = (_DOUBLE, _SINGLE)
    apostrophe: Apostrophe = "quote"
    """What a `'` in code is: always a quote ("quote"); a quote unless it starts a lifetime or
    label, `'a` not closed two characters later ("lifetime", Rust); a quote unless right after a
    letter, digit or `_`, as in the digit separator `1'000` ("separator", C, C++); and when the
    language is not known, a quote unless after `&` or `<`, as in `&'a`, `<'a>` ("guess")."""
    spaced_comments: tuple[str, ...] = ()
    """Line comment markers that count only at a line start or after a space (`this.#field`)."""


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    """Our name for the language (the grammar's), e.g. "typescript"."""
    module: str = ""
    """The grammar wheel's module; empty for plain text."""
    function: str = "language"
    language_ids: tuple[str, ...] = ()
    """LSP language ids (VS Code) and filetypes (Neovim) of documents in this language."""
    extensions: tuple[str, ...] = ()
    """File name endings, lower case, of this language's source files."""
    brace_blocks: bool = True
    """Blocks are delimited by brackets (C, JS…) rather than indentation (Python, Lua)."""
    block_openers: tuple[str, ...] = ("{",)
    """Line endings after which a new block body starts."""
    body_placeholder: str = "}"
    """What stands for the body still to be written after a block opener, so the line parses;
    `{indent}` is the opener line's indentation."""
    lexicon: Lexicon = field(default_factory=Lexicon)
    definitions: Mapping[str, str] = field(default_factory=dict)
    """Syntax node type → what it defines: "function", "method" or "class"."""
    review_units: frozenset[str] = frozenset()
    """Syntax node types reviewed as a whole (functions and methods)."""

    @property
    def line_comment(self) -> str:
        """What starts a line comment ("" when the language has none)."""
        return self.lexicon.line_comments[0] if self.lexicon.line_comments else ""

    @property
    def grammar(self) -> tree_sitter.Language | None:
        return _load_grammar(self.module, self.function) if self.module else None


GUESS_LEXICON = Lexicon(
    line_comments=("//", "#"),
    strings=(_TRIPLE_DOUBLE, _TRIPLE_SINGLE, _DOUBLE, _SINGLE, _TEMPLATE),
    apostrophe="guess",
    spaced_comments=("#",),
)
"""For text whose language is not known: skips only what means the same in all of ours."""

PLAIN_TEXT = LanguageSpec(name="plaintext", lexicon=GUESS_LEXICON)

_FUNCTION, _METHOD, _CLASS = "function", "method", "class"
_JS_DEFINITIONS = {
    "function_declaration": _FUNCTION,
    "generator_function_declaration": _FUNCTION,
    "variable_declarator": _FUNCTION,  # kept only when its value is a function
    "method_definition": _METHOD,
    "class_declaration": _CLASS,
}
_TS_DEFINITIONS = {
    **_JS_DEFINITIONS,
    "function_signature": _FUNCTION,
    "method_signature": _METHOD,
    "abstract_method_signature": _METHOD,
    "abstract_class_declaration": _CLASS,
    "interface_declaration": _CLASS,
}
_JS_UNITS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "variable_declarator",
    }
)
_JS_LEXICON = Lexicon(strings=(_DOUBLE, _SINGLE, _TEMPLATE))
_C_DEFINITIONS = {"function_definition": _FUNCTION, "struct_specifier": _CLASS}
_C_LEXICON = Lexicon(apostrophe="separator")


def _js(
    name: str, function: str, ids: tuple[str, ...], extensions: tuple[str, ...]
) -> LanguageSpec:
    module = "tree_sitter_javascript" if name == "javascript" else "tree_sitter_typescript"
    return LanguageSpec(
        name,
        module,
        function,
        ids,
        extensions,
        lexicon=_JS_LEXICON,
        definitions=_JS_DEFINITIONS if name == "javascript" else _TS_DEFINITIONS,
        review_units=_JS_UNITS,
    )


LANGUAGES: Mapping[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "python",
            "tree_sitter_python",
            language_ids=("python",),
            extensions=(".py", ".pyi"),
            brace_blocks=False,
            block_openers=(":",),
            body_placeholder="\n{indent}    pass",
            lexicon=Lexicon(
                line_comments=("#",),
                block_comments=(),
                strings=(_TRIPLE_DOUBLE, _TRIPLE_SINGLE, _DOUBLE, _SINGLE),
            ),
            definitions={"function_definition": _FUNCTION, "class_definition": _CLASS},
            review_units=frozenset({"function_definition"}),
        ),
        _js("javascript", "language", ("javascript",), (".js", ".mjs", ".cjs")),
        _js("typescript", "language_typescript", ("typescript",), (".ts", ".mts", ".cts")),
        # JSX is parsed with the TSX grammar, a superset of it.
        _js("tsx", "language_tsx", ("typescriptreact", "javascriptreact"), (".tsx", ".jsx")),
        LanguageSpec(
            "go",
            "tree_sitter_go",
            language_ids=("go",),
            extensions=(".go",),
            lexicon=Lexicon(strings=(_DOUBLE, _SINGLE, StringSyntax("`", "`", True, False))),
            definitions={
                "function_declaration": _FUNCTION,
                "method_declaration": _METHOD,
                "type_spec": _CLASS,
            },
            review_units=frozenset({"function_declaration", "method_declaration"}),
        ),
        LanguageSpec(
            "rust",
            "tree_sitter_rust",
            language_ids=("rust",),
            extensions=(".rs",),
            lexicon=Lexicon(apostrophe="lifetime"),
            definitions={
                "function_item": _FUNCTION,
                "function_signature_item": _FUNCTION,
                "struct_item": _CLASS,
                "enum_item": _CLASS,
                "trait_item": _CLASS,
            },
            review_units=frozenset({"function_item"}),
        ),
        LanguageSpec(
            "java",
            "tree_sitter_java",
            language_ids=("java",),
            extensions=(".java",),
            lexicon=Lexicon(strings=(_TRIPLE_DOUBLE, _DOUBLE, _SINGLE)),  # text blocks
            definitions={
                "method_declaration": _METHOD,
                "constructor_declaration": _METHOD,
                "class_declaration": _CLASS,
                "interface_declaration": _CLASS,
                "enum_declaration": _CLASS,
                "record_declaration": _CLASS,
            },
            review_units=frozenset({"method_declaration", "constructor_declaration"}),
        ),
        LanguageSpec(
            "c",
            "tree_sitter_c",
            language_ids=("c",),
            extensions=(".c", ".h"),
            lexicon=_C_LEXICON,
            definitions=_C_DEFINITIONS,
            review_units=frozenset({"function_definition"}),
        ),
        LanguageSpec(
            "cpp",
            "tree_sitter_cpp",
            # CUDA is C++ with extensions: VS Code calls it "cuda-cpp", Neovim "cuda".
            language_ids=("cpp", "cuda-cpp", "cuda"),
            extensions=(".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cu", ".cuh"),
            lexicon=_C_LEXICON,
            definitions={**_C_DEFINITIONS, "class_specifier": _CLASS, "field_declaration": _METHOD},
            review_units=frozenset({"function_definition"}),
        ),
        LanguageSpec(
            "lua",
            "tree_sitter_lua",
            language_ids=("lua",),
            extensions=(".lua",),
            brace_blocks=False,
            block_openers=("then", "do", ")", "else", "repeat"),
            body_placeholder="\nend",
            lexicon=Lexicon(
                line_comments=("--",),
                block_comments=(("--[[", "]]"),),
                strings=(_DOUBLE, _SINGLE, StringSyntax("[[", "]]", True, False)),
            ),
            definitions={"function_declaration": _FUNCTION},
            review_units=frozenset({"function_declaration"}),
        ),
    )
}
"""Our languages by name."""

_BY_EXTENSION = {e: spec for spec in LANGUAGES.values() for e in spec.extensions}
LANGUAGE_IDS = frozenset(i for spec in LANGUAGES.values() for i in spec.language_ids)
"""Every language id and editor filetype we have a grammar for."""
# Our own names are accepted too ("tsx"): a document re-created from another's language.
_BY_LANGUAGE_ID = {i: s for s in LANGUAGES.values() for i in (s.name, *s.language_ids)}

SOURCE_SUFFIXES = frozenset(_BY_EXTENSION)
"""File name endings of the source files we have a grammar for (the workspace scan reads these)."""


def language_named(language_id: str | None, uri: str = "") -> LanguageSpec | None:
    """The registry's language for an LSP language id, else for the file extension in `uri`;
    None when neither is ours (whether or not its grammar loads)."""
    spec = _BY_LANGUAGE_ID.get((language_id or "").lower())
    if spec is None:
        path = uri.rsplit("/", 1)[-1]
        dot = path.rfind(".")
        spec = _BY_EXTENSION.get(path[dot:].lower()) if dot >= 0 else None
    return spec


def language_for(language_id: str | None, uri: str = "") -> LanguageSpec:
    """The language of a document from its LSP language id, else its file extension; plain
    text when it is not ours or its grammar does not load."""
    spec = language_named(language_id, uri)
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
