"""The one lexer: which brackets are code, in each language, and in a stream.

Most cases here are where the two lexers it replaced (the stop detector's and post-processing's)
disagreed, or were both wrong."""

from __future__ import annotations

import pytest

from lsp_assist.completion.lexer import CODE, WAIT, Lexer
from lsp_assist.languages import GUESS_LEXICON, LANGUAGES


def brackets(language: str | None, text: str) -> str:
    """The code brackets of `text`, in order."""
    lexer = Lexer(LANGUAGES[language].lexicon if language else GUESS_LEXICON)
    return "".join(c for _, c in lexer.brackets(text))


@pytest.mark.parametrize(
    ("language", "text", "code"),
    [
        # Floor division is no comment in Python.
        ("python", "n = (a // 2)", "()"),
        ("python", "x = 1#(", ""),
        ("python", 's = """)\n(""" + f(', "("),
        # `#` is Lua's length operator, `--` its comment.
        ("lua", "print(#t)", "()"),
        ("lua", "x = 1 -- (see above", ""),
        ("lua", "--[[ (\n]] )", ")"),
        ("lua", "s = [[ (\n]] .. f(", "("),
        # Lifetimes and labels open no char literal; a char literal holds no code.
        ("rust", "fn f<T: 'static>(x: T) {", "(){"),
        ("rust", "'outer: loop {", "{"),
        ("rust", "if c == '(' || c == '\\'' {", "{"),
        # C++ digit separators open no char literal.
        ("cpp", "f(1'000'000)", "()"),
        ("cpp", "c == '(' ? f() : g()", "()()"),
        # Go's raw strings have no escapes; JS template literals do.
        ("go", "f(`C:\\`, x)", "()"),
        ("javascript", "f(`a\\`(`)", "()"),
        ("java", 's = """\n  )\n  """; f(', "("),
        ("c", "/* ( */ f(x) // )", "()"),
    ],
)
def test_brackets_in_code_count_and_in_literals_do_not(language: str, text: str, code: str) -> None:
    assert brackets(language, text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x = 1  # fix)\ny = 2 // )", ""),
        ("this.#count(", "("),  # a JS private field, not a comment
        ("x\n# (", ""),  # a comment at the start of a later line
        ("fn f<'a>(x: &'a str) {", "(){"),
        ("s = f'({x}'", ""),  # but a Python f-string is a string
    ],
)
def test_an_unknown_language_skips_what_means_the_same_in_all(text: str, code: str) -> None:
    assert brackets(None, text) == code


def test_a_one_line_string_left_open_ends_with_its_line() -> None:
    assert brackets("javascript", 'f("oops\n)') == "()"


def test_state_carries_from_one_text_to_the_next() -> None:
    lexer = Lexer(LANGUAGES["python"].lexicon)
    lexer.brackets('x = "(')
    assert lexer.string_end == '"'
    assert lexer.brackets('")') == [(1, ")")]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("python", 'x = "'),  # may open `"""`
        ("python", 'x = ""'),
        ("javascript", "x /"),  # may open `//` or `/*`
        ("lua", "x -"),
        ("lua", "x --["),  # a comment either way, but a line or a block one?
        ("rust", "&'a"),  # a lifetime, or the char `'a'`?
    ],
)
def test_a_stream_waits_when_its_end_may_be_half_a_delimiter(language: str, text: str) -> None:
    lexer = Lexer(LANGUAGES[language].lexicon)
    i = 0
    while (step := lexer.step(text, i, final=False))[0] != WAIT:
        i += step[1]
        assert i < len(text), "never waited"
    assert lexer.step(text, i, final=True)[0] != WAIT


def test_a_finished_text_never_waits() -> None:
    lexer = Lexer(LANGUAGES["rust"].lexicon)
    assert lexer.step("&'a", 1, final=True) == (CODE, 1)
