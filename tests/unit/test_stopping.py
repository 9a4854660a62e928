from __future__ import annotations

import itertools
from typing import Any

import pytest

from lsp_assist.completion.stopping import StopDetector
from lsp_assist.languages import LANGUAGES

ADD_BODY = "total = a + b\n    return total\n\nprint(add(3, 4))\n" + "x = 1\n" * 40


def detector(
    line_prefix: str = "",
    *,
    multiline: bool = True,
    indent_blocks: bool = True,
    max_lines: int = 20,
    language: str | None = None,
) -> StopDetector:
    return StopDetector(
        multiline=multiline,
        line_prefix=line_prefix,
        language=LANGUAGES[language] if language else None,
        indent_blocks=indent_blocks,
        max_lines=max_lines,
    )


def kept(raw: str, line_prefix: str = "", **options: Any) -> str | None:
    """The suggestion kept when the whole text arrives at once; None if not complete."""
    cut = detector(line_prefix, **options).complete_length(raw)
    return None if cut is None else raw[:cut]


def stream(
    raw: str, chunk_sizes: list[int], line_prefix: str = "", **options: Any
) -> tuple[int, int] | None:
    """Feeds `raw` chunk by chunk as the stream would: (length received when complete, cut)."""
    found = detector(line_prefix, **options)
    received = 0
    for size in itertools.cycle(chunk_sizes):
        received = min(len(raw), received + size)
        cut = found.complete_length(raw[:received])
        if cut is not None:
            return received, cut
        if received == len(raw):
            return None
    raise AssertionError("unreachable")


def test_single_line_suggestion_ends_at_the_first_line_break() -> None:
    assert kept("a, b)\nprint(x)\n", "print(add(", multiline=False) == "a, b)"


def test_single_line_suggestion_is_not_complete_before_a_line_break() -> None:
    assert kept("a, b)", "print(add(", multiline=False) is None


def test_single_line_suggestion_starting_with_a_line_break_keeps_nothing() -> None:
    assert kept("\n    return x", "def f(x):", multiline=False) == ""


def test_python_block_ends_before_the_first_line_indented_less_than_the_cursor() -> None:
    assert kept(ADD_BODY, "    ") == "total = a + b\n    return total"


def test_python_block_end_is_reported_as_soon_as_the_dedented_line_starts() -> None:
    received, cut = stream(ADD_BODY, [1], "    ") or (0, 0)
    assert received == ADD_BODY.index("print") + 1
    assert ADD_BODY[:cut] == "total = a + b\n    return total"


def test_lines_at_the_cursor_indentation_belong_to_its_block() -> None:
    assert kept("tal = a + b\n    return total\n", "    to") is None


def test_body_of_a_block_opener_ends_where_indentation_returns_to_the_opener() -> None:
    assert kept("\n    return x\n\ny = 1", "def f(x):") == "\n    return x"


def test_body_of_an_indented_opener_ends_at_a_line_as_indented_as_the_opener() -> None:
    assert kept("\n        y()\n    z()\n", "    if x:") == "\n        y()"


def test_suggestion_completing_a_signature_keeps_the_body_that_follows() -> None:
    assert kept("a, b):\n    return a\n\nx = 1\n", "def f(") == "a, b):\n    return a"


def test_a_comment_ending_in_a_colon_does_not_open_a_body() -> None:
    assert kept("\n    y = 2\nz", "    x = 1  # note:") == "\n    y = 2"


def test_a_less_indented_line_inside_brackets_does_not_end_the_block() -> None:
    raw = "x = foo(\n1,\n)\n    y = 2\nz\n"
    assert kept(raw, "    ") == "x = foo(\n1,\n)\n    y = 2"


def test_a_less_indented_line_inside_a_docstring_does_not_end_the_block() -> None:
    raw = 'x = """\nnot indented (\n"""\n    y = 1\nz\n'
    assert kept(raw, "    ") == 'x = """\nnot indented (\n"""\n    y = 1'


def test_python_brackets_in_strings_and_comments_are_not_code() -> None:
    assert kept("x = ')'  # )\n)\n", "    ") == "x = ')'  # )"


def test_a_top_level_cursor_is_not_cut_by_indentation() -> None:
    assert kept("def g():\n    return 1\n\nx = 1\n", "") is None


def test_brace_block_ends_before_a_line_that_closes_an_outer_block() -> None:
    assert kept("return 1;\n}\n\nfunction g() {\n", "  ", indent_blocks=False) == "return 1;"


def test_brace_block_ends_before_an_outer_closing_bracket_within_a_line() -> None:
    assert kept("foo(); }\n", "  ", indent_blocks=False) == "foo();"


def test_a_closing_bracket_first_keeps_nothing() -> None:
    assert kept(") + 1\n", "    return ", indent_blocks=False) == ""


def test_block_opened_on_the_cursor_line_ends_with_its_closing_line() -> None:
    raw = "\n  return 1;\n}\n\nfunction g() {}\n"
    assert kept(raw, "function f() {", indent_blocks=False) == "\n  return 1;\n}"


def test_block_closing_line_that_opens_another_block_keeps_going() -> None:
    raw = "\n  a();\n} else {\n  b();\n}\nc();\n"
    assert kept(raw, "if (x) {", indent_blocks=False) == "\n  a();\n} else {\n  b();\n}"


def test_closing_the_brackets_of_the_cursor_line_completes_the_suggestion() -> None:
    assert kept("a, b);\nbar();\n", "foo(", indent_blocks=False) == "a, b);"


def test_completing_a_signature_in_braces_keeps_its_body() -> None:
    raw = "a, b) {\n  return a;\n}\n\nfunction g() {}\n"
    assert kept(raw, "function f(", indent_blocks=False) == "a, b) {\n  return a;\n}"


def test_brackets_inside_string_literals_are_not_code() -> None:
    raw = 'let s = "}";\nfoo();\n}\n'
    assert kept(raw, "  ", indent_blocks=False) == 'let s = "}";\nfoo();'


def test_brackets_inside_comments_are_not_code() -> None:
    raw = "// }\n/* ) */ foo();\n}\n"
    assert kept(raw, "  ", indent_blocks=False) == "// }\n/* ) */ foo();"


def test_a_rust_lifetime_is_not_a_string_literal() -> None:
    raw = "fn f<'a>(x: &'a str) -> &'a str {\n    x\n}\n}\n"
    assert kept(raw, "    ", indent_blocks=False) == "fn f<'a>(x: &'a str) -> &'a str {\n    x\n}"


def test_suggestion_ends_after_max_lines() -> None:
    raw = "".join(f"x{i} = {i}\n" for i in range(10))
    assert kept(raw, "", max_lines=3) == "x0 = 0\nx1 = 1\nx2 = 2"


def test_two_blank_lines_in_a_row_end_the_suggestion() -> None:
    assert kept("x = 1\n\n\ny = 2\n", "") == "x = 1"


def test_a_single_blank_line_does_not_end_the_suggestion() -> None:
    assert kept("x = 1\n\ny = 2\n", "") is None


def test_a_line_repeated_three_times_ends_the_suggestion_after_its_first_occurrence() -> None:
    assert kept("foo()\n    foo()\n    foo()\n    foo()\n", "    ") == "foo()"


def test_repeated_closing_brackets_of_nested_blocks_do_not_count_as_repetition() -> None:
    raw = "a(b(c(\n1\n)\n)\n)\n"
    assert kept(raw, "") is None


def test_once_complete_the_answer_stays_the_same() -> None:
    found = detector("    ")
    first = found.complete_length(ADD_BODY[:40])
    assert first is not None
    assert found.complete_length(ADD_BODY) == first


CASES = [
    (ADD_BODY, "    ", True),
    ("\n    return x\n\ny = 1\n", "def f(x):", True),
    ('x = """\n) (\n"""\n    y = 1\nz\n', "    ", True),
    ("x = foo(\n1,\n)\n    y = 2\nz\n", "    ", True),
    ('let s = "}"; // }\n/* } */ foo();\n}\n', "  ", False),
    ("\n  a();\n} else {\n  b();\n}\nc();\n", "if (x) {", False),
    ("fn f<'a>(x: &'a str) {\n    x\n}\n}\n", "    ", False),
]


@pytest.mark.parametrize("raw,line_prefix,indent_blocks", CASES)
@pytest.mark.parametrize("chunk_sizes", [[1], [2], [3], [1, 3, 2]])
def test_streaming_chunk_by_chunk_cuts_where_the_whole_text_does(
    raw: str, line_prefix: str, indent_blocks: bool, chunk_sizes: list[int]
) -> None:
    whole = detector(line_prefix, indent_blocks=indent_blocks).complete_length(raw)
    streamed = stream(raw, chunk_sizes, line_prefix, indent_blocks=indent_blocks)
    assert whole is not None and streamed is not None
    assert streamed[1] == whole


@pytest.mark.parametrize(
    "raw,line_prefix,indent_blocks,deciding",
    [
        (ADD_BODY, "    ", True, "print"),
        ("return 1;\n}\n\nfunction g() {\n", "  ", False, "}"),
        ("\n  return 1;\n}\n\nfunction g() {}\n", "function f() {", False, "\n\n"),
        ("a, b)\nprint(x)\n", "print(add(", True, "\n"),
    ],
)
def test_completion_is_reported_as_soon_as_the_deciding_character_arrives(
    raw: str, line_prefix: str, indent_blocks: bool, deciding: str
) -> None:
    multiline = deciding != "\n"
    found = stream(raw, [1], line_prefix, indent_blocks=indent_blocks, multiline=multiline)
    assert found is not None
    assert found[0] == raw.index(deciding) + 1


# -- each language's own lexing (languages.py, lexer.py) -------------------------------------


def test_luas_length_operator_does_not_hide_a_closing_bracket() -> None:
    raw = "n = (#t)\n  return n\nend\nprint(1)\n"
    assert kept(raw, "  ", language="lua") == "n = (#t)\n  return n"


def test_a_bracket_in_a_lua_comment_does_not_count() -> None:
    raw = "x = 1 -- (see above\n  y = 2\nend\nprint(1)\n"
    assert kept(raw, "  ", language="lua") == "x = 1 -- (see above\n  y = 2"


def test_a_bracket_in_a_lua_long_string_does_not_count() -> None:
    raw = "local s = [[\n(\n]]\n  y = 2\nend\nprint(1)\n"
    assert kept(raw, "  ", language="lua") == "local s = [[\n(\n]]\n  y = 2"


def test_a_rust_static_lifetime_opens_no_char_literal() -> None:
    raw = "fn f<T: 'static>(x: T) {\n        g(x);\n    }\n}\n"
    assert kept(raw, "    ", language="rust") == "fn f<T: 'static>(x: T) {\n        g(x);\n    }"


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_a_lua_block_streamed_in_small_chunks_stops_where_it_does_at_once(size: int) -> None:
    raw = "x = f(#t) --[[ ( ]]\n  return x\nend\nprint(1)\n"
    found = stream(raw, [size], "  ", language="lua")
    assert found is not None
    assert raw[: found[1]] == "x = f(#t) --[[ ( ]]\n  return x"
