from __future__ import annotations

import random

import pytest
import tree_sitter

from lsp_assist.documents import Document
from lsp_assist.positions import PositionEncoding, index_to_units, units_to_index

PYTHON = "def add(a, b):\n    return a + b\n\n\nclass Box:\n    size = 3\n"


def fresh_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def fresh_tree(document: Document) -> tree_sitter.Tree:
    grammar = document.language.grammar
    assert grammar is not None
    return tree_sitter.Parser(grammar).parse(document.text.encode("utf-8"))


def test_lines_of_a_document() -> None:
    document = Document("file:///a.py", "one\r\ntwo\rthree\nfour")
    assert document.line_count == 4
    assert [document.line_text(i) for i in range(4)] == ["one", "two", "three", "four"]


def test_an_edit_is_applied_to_the_text_by_client_positions() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    document.apply_change("x", (1, 11), (1, 16))
    assert document.line_text(1) == "    return x"
    document.apply_change("", (2, 0), (4, 0))
    assert document.text == "def add(a, b):\n    return x\nclass Box:\n    size = 3\n"


def test_positions_past_the_end_are_clamped() -> None:
    document = Document("file:///a.py", "ab\ncd")
    assert document.offset_at(0, 99) == 2
    assert document.offset_at(99, 0) == len("ab\ncd")
    assert document.offset_at(-1, 3) == 0
    assert document.position_at(999) == (1, 2)


@pytest.mark.parametrize(
    ("encoding", "column_after_emoji"),
    [(PositionEncoding.UTF16, 2), (PositionEncoding.UTF8, 4), (PositionEncoding.UTF32, 1)],
)
def test_columns_are_counted_in_the_negotiated_encoding(
    encoding: PositionEncoding, column_after_emoji: int
) -> None:
    document = Document("file:///e.py", 's = "😀漢"\n', encoding=encoding)
    emoji = document.text.index("😀")
    assert document.position_at(emoji + 1) == (0, len('s = "') + column_after_emoji)
    assert document.offset_at(0, len('s = "') + column_after_emoji) == emoji + 1


def test_a_column_inside_a_character_snaps_to_its_start() -> None:
    line = "a😀b"
    assert units_to_index(line, 2, PositionEncoding.UTF16) == 1  # between the surrogates
    assert units_to_index(line, 3, PositionEncoding.UTF8) == 1  # inside the 4 UTF-8 bytes
    assert units_to_index(line, 5, PositionEncoding.UTF8) == 2
    assert index_to_units(line, 3, PositionEncoding.UTF16) == 4
    assert index_to_units(line, 3, PositionEncoding.UTF8) == 6


@pytest.mark.parametrize(
    ("encoding", "column_after_emoji"),
    [(PositionEncoding.UTF16, 3), (PositionEncoding.UTF8, 5), (PositionEncoding.UTF32, 2)],
)
def test_an_emoji_sent_as_its_two_halves_in_two_changes_is_one_character(
    encoding: PositionEncoding, column_after_emoji: int
) -> None:
    # JSON strings are UTF-16: for the client, the halves make one character once they meet.
    document = Document("file:///e.py", "a", encoding=encoding)
    document.apply_change("\ud83d", (0, 1), (0, 1))
    after_high = document.position_at(2)
    assert document.apply_change("\ude00", after_high, after_high) == (1, 2)
    assert document.text == "a😀"
    assert document.position_at(2) == (0, column_after_emoji)
    assert document.offset_at(0, column_after_emoji - 1) == 1  # inside it: its start


def test_deleting_what_separates_the_halves_of_a_pair_joins_them() -> None:
    document = Document("file:///e.py", "\ud83dx\ude00 = 1\n", language_id="python")
    assert document.tree is not None
    # Old text[0:2] gives way to nothing: the pair that forms counts as the low half, kept.
    assert document.apply_change("", (0, 1), (0, 2)) == (0, 2)
    assert document.text == "😀 = 1\n"
    assert document.position_at(1) == (0, 2)
    tree = document.tree
    assert tree is not None and str(tree.root_node) == str(fresh_tree(document).root_node)


def test_unknown_languages_are_plain_text_without_a_tree() -> None:
    document = Document("file:///notes.txt", "hello", language_id="plaintext")
    assert document.language.name == "plaintext"
    assert document.tree is None


def test_language_falls_back_to_the_file_extension() -> None:
    assert Document("file:///x.rs", "fn main() {}", language_id="").language.name == "rust"
    assert Document("file:///x.tsx", "", language_id="typescriptreact").language.name == "tsx"


@pytest.mark.parametrize(
    ("language_id", "uri", "text"),
    [
        ("python", "a.py", PYTHON),
        ("javascript", "a.js", "function f(a) {\n  return a + 1;\n}\n"),
        ("typescript", "a.ts", "const x: number = 1;\nexport function f(): void {}\n"),
        ("go", "a.go", "package main\n\nfunc main() {\n\tprintln(1)\n}\n"),
        ("rust", "a.rs", "fn main() {\n    let x = 1;\n}\n"),
        ("java", "A.java", "class A {\n  int f() { return 1; }\n}\n"),
        ("c", "a.c", "int main(void) {\n  return 0;\n}\n"),
        ("cpp", "a.cpp", "int main() {\n  auto x = 1;\n}\n"),
        ("lua", "a.lua", "local function f(x)\n  return x\nend\n"),
    ],
)
def test_every_bundled_grammar_parses(language_id: str, uri: str, text: str) -> None:
    document = Document(f"file:///{uri}", text, language_id=language_id)
    tree = document.tree
    assert tree is not None and not tree.root_node.has_error


def test_keystrokes_reparse_incrementally_and_match_a_fresh_parse() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    assert document.tree is not None
    offset = document.text.index("a + b") + 5
    for char in " * 2  # 漢字 😀":
        line, character = document.position_at(offset)
        document.apply_change(char, (line, character), (line, character))
        offset += 1
        tree = document.tree
        assert tree is not None
        assert str(tree.root_node) == str(fresh_tree(document).root_node)
    assert document.full_parses == 1
    assert document.incremental_parses == len(" * 2  # 漢字 😀")


def test_several_edits_between_requests_cost_one_incremental_parse() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    assert document.tree is not None
    document.apply_change("x", (1, 11), (1, 12))
    document.apply_change("y", (1, 15), (1, 16))
    document.apply_change("\n\n", (5, 0), (5, 0))
    assert document.tree is not None
    assert document.incremental_parses == 1 and document.full_parses == 1
    assert str(document.tree.root_node) == str(fresh_tree(document).root_node)


def test_a_full_text_change_replaces_everything() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    assert document.tree is not None
    document.apply_change("x = 1\n", version=7)
    assert document.text == "x = 1\n" and document.version == 7
    assert document.line_count == 2
    assert document.tree is not None
    assert str(document.tree.root_node) == str(fresh_tree(document).root_node)


ALPHABET = ["a", "b", " ", "(", ")", ":", "\n", "\r", "\r\n", "é", "漢", "😀", "\t", "def ", "'"]


@pytest.mark.parametrize("seed", range(20))
def test_random_edits_keep_lines_positions_and_tree_in_step(seed: int) -> None:
    rng = random.Random(seed)
    encoding = rng.choice(list(PositionEncoding))
    text = PYTHON.replace("\n", rng.choice(["\n", "\r\n"]))
    document = Document("file:///r.py", text, language_id="python", encoding=encoding)
    assert document.tree is not None
    for _ in range(40):
        begin = rng.randrange(len(text) + 1)
        finish = min(len(text), begin + rng.choice([0, 0, 1, 2, 5]))
        new = "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 1, 1, 2, 4])))
        start = document.position_at(begin)
        end = document.position_at(finish)
        # A position inside "\r\n" or a surrogate pair is not a valid client position.
        if document.offset_at(*start) != begin or document.offset_at(*end) != finish:
            continue
        document.apply_change(new, start, end)
        text = text[:begin] + new + text[finish:]
        assert document.text == text
        expected = fresh_lines(text)
        assert document.line_count == len(expected)
        assert [document.line_text(i) for i in range(document.line_count)] == expected
        if rng.random() < 0.3:
            tree = document.tree
            assert tree is not None
            assert str(tree.root_node) == str(fresh_tree(document).root_node)
    tree = document.tree
    assert tree is not None
    assert str(tree.root_node) == str(fresh_tree(document).root_node)
    assert document.full_parses == 1


def test_a_range_of_lines_is_read_in_one_go_with_any_line_breaks() -> None:
    document = Document("file:///a.py", "one\r\ntwo\rthree\nfour")
    assert document.lines_between(0, 4) == ["one", "two", "three", "four"]
    assert document.lines_between(1, 3) == ["two", "three"]
    assert document.lines_between(-5, 99) == ["one", "two", "three", "four"]
    assert document.lines_between(3, 2) == []
    unix = Document("file:///b.py", "a\nb\n")
    assert unix.lines_between(0, unix.line_count) == ["a", "b", ""]
