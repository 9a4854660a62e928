"""The language registry, and the editors' language lists checked against it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lsp_assist.languages import (
    LANGUAGE_IDS,
    LANGUAGES,
    PLAIN_TEXT,
    SOURCE_SUFFIXES,
    language_for,
    language_named,
)

EDITORS = Path(__file__).resolve().parents[2] / "editors"


def _quoted_items(source: str, opening: str) -> list[str]:
    """The quoted strings of the list literal that starts right after `opening`."""
    start = source.index(opening) + len(opening)
    end = source.index("}" if opening.rstrip().endswith("{") else "]", start)
    return re.findall(r"""["']([^"']+)["']""", source[start:end])


def vscode_activation_languages() -> list[str]:
    manifest = json.loads((EDITORS / "vscode" / "package.json").read_text(encoding="utf-8"))
    events = manifest["activationEvents"]
    return [e.removeprefix("onLanguage:") for e in events if e.startswith("onLanguage:")]


def vscode_selector_languages() -> list[str]:
    source = (EDITORS / "vscode" / "src" / "serverConnection.ts").read_text(encoding="utf-8")
    return _quoted_items(source, "const LANGUAGES = [")


def neovim_filetypes() -> list[str]:
    source = (EDITORS / "nvim" / "lua" / "lsp_assist" / "config.lua").read_text(encoding="utf-8")
    return _quoted_items(source, "M.default_filetypes = {")


EDITOR_LISTS = {
    "VS Code activationEvents": vscode_activation_languages,
    "VS Code documentSelector": vscode_selector_languages,
    "Neovim default_filetypes": neovim_filetypes,
}


@pytest.mark.parametrize("editor", EDITOR_LISTS)
def test_every_language_an_editor_offers_is_a_registry_language(editor: str) -> None:
    offered = EDITOR_LISTS[editor]()
    assert offered, f"no languages found in {editor}"
    assert [i for i in offered if language_named(i) is None] == []


@pytest.mark.parametrize("editor", EDITOR_LISTS)
def test_every_registry_language_is_offered_by_each_editor(editor: str) -> None:
    offered = {spec.name for i in EDITOR_LISTS[editor]() if (spec := language_named(i))}
    assert offered == set(LANGUAGES)


def test_vscode_activates_for_exactly_the_languages_it_sends_to_the_server() -> None:
    assert vscode_activation_languages() == vscode_selector_languages()


@pytest.mark.parametrize(("language_id", "name"), [("cuda", "cpp"), ("cuda-cpp", "cpp")])
def test_cuda_documents_are_served_as_cpp(language_id: str, name: str) -> None:
    assert language_for(language_id).name == name


@pytest.mark.parametrize("suffix", [".mts", ".cts"])
def test_typescript_modules_are_read_by_the_workspace_scan(suffix: str) -> None:
    assert suffix in SOURCE_SUFFIXES
    assert language_for(None, f"file:///w/a{suffix}").name == "typescript"


def test_the_scan_reads_exactly_the_registry_extensions() -> None:
    extensions = [e for spec in LANGUAGES.values() for e in spec.extensions]
    assert len(extensions) == len(set(extensions)), "an extension claimed by two languages"
    assert set(extensions) == SOURCE_SUFFIXES


def test_a_language_id_belongs_to_one_language() -> None:
    ids = [i for spec in LANGUAGES.values() for i in spec.language_ids]
    assert len(ids) == len(set(ids)) == len(LANGUAGE_IDS)


def test_the_language_id_wins_over_the_file_extension() -> None:
    assert language_for("typescriptreact", "file:///w/a.ts").name == "tsx"


def test_our_own_name_finds_the_language_too() -> None:
    # A document re-created from another's language passes our name, e.g. "tsx".
    assert language_for("tsx", "untitled:Untitled-1").name == "tsx"


def test_an_unknown_language_is_plain_text() -> None:
    assert language_for("markdown", "file:///w/README.md") is PLAIN_TEXT


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_registry_language_has_its_grammar(name: str) -> None:
    assert language_for(name) is LANGUAGES[name]


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_definition_and_review_unit_is_a_node_type_of_the_grammar(name: str) -> None:
    spec = LANGUAGES[name]
    grammar = spec.grammar
    assert grammar is not None
    for node_type in (*spec.definitions, *spec.review_units):
        assert grammar.id_for_node_kind(node_type, True) is not None, node_type
    assert set(spec.definitions.values()) <= {"function", "method", "class"}
