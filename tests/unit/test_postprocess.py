from __future__ import annotations

from collections.abc import Sequence

import pytest

from lsp_assist.completion.postprocess import postprocess_completion
from lsp_assist.completion.stopping import StopDetector
from lsp_assist.languages import LANGUAGES
from lsp_assist.prompts.templates import CODEGEMMA_TOKENS, TEMPLATES


def clean(
    raw: str,
    *,
    prefix: str = "",
    suffix: str = "",
    following: Sequence[str] = (),
    multiline: bool = True,
    previous: str | None = None,
    language: str | None = None,
) -> str:
    return postprocess_completion(
        raw,
        line_prefix=prefix,
        line_suffix=suffix,
        following_lines=following,
        multiline=multiline,
        previous_line=previous,
        language=LANGUAGES[language] if language else None,
    )


# -- the text after the cursor ---------------------------------------------------------------


def test_a_closing_bracket_already_after_the_cursor_is_not_repeated() -> None:
    assert clean("a, b)", prefix="print(add(", suffix=")", multiline=False) == "a, b"


def test_a_closing_bracket_that_closes_the_suggestions_own_bracket_is_kept() -> None:
    assert clean("foo()", prefix="print(", suffix=")", multiline=False) == "foo()"


def test_an_extra_closing_bracket_already_after_the_cursor_is_dropped() -> None:
    assert clean("foo())", prefix="print(", suffix=")", multiline=False) == "foo()"


def test_several_closers_already_after_the_cursor_are_dropped_together() -> None:
    assert clean("a, b));", prefix="print(add(", suffix="));", multiline=False) == "a, b"


def test_a_closing_quote_and_bracket_already_after_the_cursor_are_not_repeated() -> None:
    assert clean('hello")', prefix='print("', suffix='")', multiline=False) == "hello"


def test_a_suggestion_that_only_repeats_the_text_after_the_cursor_is_dropped() -> None:
    assert clean("x, y)", prefix="f(", suffix="x, y)", multiline=False) == ""


def test_a_suggestion_that_repeats_the_start_of_the_text_after_the_cursor_is_dropped() -> None:
    assert clean("foo", prefix="x = ", suffix="foo(1)", multiline=False) == ""


def test_a_closer_already_after_the_cursor_on_its_own_line_keeps_the_line_break() -> None:
    text = clean("\n    a,\n    b,\n)", prefix="foo(", suffix=")")
    assert text == "\n    a,\n    b,\n"


def test_the_line_below_the_cursor_ends_the_suggestion() -> None:
    text = clean("y = x * 2\n    return y", prefix="    ", following=["", "    return y"])
    assert text == "y = x * 2"


def test_re_emitting_the_rest_of_the_file_is_cut() -> None:
    following = ["    return y", "", "print(f(1))"]
    raw = "y = 2\n    return y\n\nprint(f(1))\n"
    assert clean(raw, prefix="    ", following=following) == "y = 2"


def test_a_suggestion_equal_to_the_line_below_is_dropped() -> None:
    assert clean("return x", prefix="    ", following=["    return x"], multiline=False) == ""


def test_the_cursor_line_equal_to_the_line_below_is_no_reason_to_drop() -> None:
    text = clean("\n    y = 2", prefix="    x = 1", following=["    x = 1"])
    assert text == "\n    y = 2"


def test_a_nested_closing_brace_is_not_mistaken_for_the_one_below() -> None:
    text = clean("if (a) {\n    b();\n  }", prefix="  ", following=["}"])
    assert text == "if (a) {\n    b();\n  }"


def test_a_closing_brace_as_indented_as_the_one_below_is_cut() -> None:
    text = clean("b();\n  }\n}", prefix="    ", following=["  }", "}"])
    assert text == "b();"


# -- repetition ------------------------------------------------------------------------------


def test_consecutive_duplicate_lines_keep_only_the_first() -> None:
    assert clean("x = 1\nx = 1\ny = 2") == "x = 1\ny = 2"


def test_a_first_line_continuing_the_cursor_line_counts_as_that_whole_line() -> None:
    assert clean("x += 1\n    x += 1\n    y()", prefix="    ") == "x += 1\n    y()"


def test_repeated_closing_lines_are_kept() -> None:
    assert clean("f(g(\n1\n)\n)") == "f(g(\n1\n)\n)"


def test_a_line_repeated_three_times_is_cut_after_the_first() -> None:
    assert clean("foo()\nfoo()\nfoo()\nbar()") == "foo()"


def test_a_group_of_lines_looping_is_cut_after_its_first_round() -> None:
    assert clean("a()\nb()\na()\nb()\na()\nb()\nc()") == "a()\nb()"


def test_a_loop_separated_by_blank_lines_is_cut() -> None:
    assert clean("x = 1\n\nx = 1\n\nx = 1\n") == "x = 1"


def test_a_last_line_ending_in_a_repeated_pattern_is_dropped() -> None:
    assert clean("x = 1\ny = " + "foo(" * 8) == "x = 1"


def test_a_single_line_stuck_in_a_loop_is_dropped() -> None:
    assert clean("a = " + "[0, " * 10, multiline=False) == ""


# -- brackets --------------------------------------------------------------------------------


def test_a_closing_bracket_that_matches_nothing_cuts_the_suggestion() -> None:
    assert clean("x) + 1", prefix="    return ", multiline=False) == "x"


def test_a_suggestion_of_stray_closers_is_dropped() -> None:
    assert clean(") ] } :: def", prefix="    return ", multiline=False) == ""


def test_a_closing_bracket_for_a_bracket_of_the_cursor_line_is_kept() -> None:
    assert clean("1, 2)", prefix="print(add(", multiline=False) == "1, 2)"


def test_a_closing_bracket_of_the_wrong_kind_cuts_the_suggestion() -> None:
    assert clean("1, 2)", prefix="x = [", multiline=False) == "1, 2"


def test_a_closing_brace_of_an_outer_block_cuts_a_multiline_suggestion() -> None:
    assert clean("return 1;\n}\n\nfunction g() {}", prefix="  ") == "return 1;"


def test_brackets_inside_string_literals_do_not_count() -> None:
    assert clean('s = "(" + t)', prefix="    ") == 's = "(" + t'
    assert clean('print(")")', prefix="    ") == 'print(")")'


def test_brackets_inside_comments_do_not_count() -> None:
    assert clean("x = 1  # fix)\ny = 2 // )") == "x = 1  # fix)\ny = 2 // )"


def test_brackets_inside_a_docstring_do_not_count() -> None:
    raw = '"""Returns x)\n    and y).\n    """\n    return x'
    assert clean(raw, prefix="    ") == raw


@pytest.mark.parametrize(
    ("language", "raw", "prefix", "cleaned"),
    [
        ("python", "a // 2)", "x = ", "a // 2"),  # `//` divides in Python
        ("lua", "f(x, #t))", "y = ", "f(x, #t)"),  # `#` is Lua's length operator
        ("lua", "1 -- see f)", "x = ", "1 -- see f)"),
        ("rust", "Box<dyn Fn() + 'static>)", "let f: ", "Box<dyn Fn() + 'static>"),
        ("cpp", "1'000)", "int n = ", "1'000"),
        ("go", "filepath.Join(`C:\\`, name))", "p := ", "filepath.Join(`C:\\`, name)"),
    ],
)
def test_a_stray_closer_is_found_with_the_documents_own_lexing(
    language: str, raw: str, prefix: str, cleaned: str
) -> None:
    assert clean(raw, prefix=prefix, language=language) == cleaned


# -- lines and whitespace --------------------------------------------------------------------


def test_single_line_mode_keeps_only_the_first_line() -> None:
    assert clean("x = 1\ny = 2", multiline=False) == "x = 1"


def test_single_line_suggestion_starting_with_a_line_break_is_empty() -> None:
    assert clean("\n    return x", prefix="def f(x):", multiline=False) == ""


def test_indentation_of_later_lines_is_kept_as_is() -> None:
    assert clean("if x:\n        y()\n    z()", prefix="    ") == "if x:\n        y()\n    z()"


def test_leading_whitespace_of_the_first_line_is_left_alone() -> None:
    assert clean("  x = 1", prefix="    ") == "  x = 1"


def test_a_whitespace_only_first_line_becomes_a_bare_line_break() -> None:
    assert clean("   \n    return x", prefix="def f(x):") == "\n    return x"


def test_trailing_whitespace_and_blank_lines_are_removed() -> None:
    assert clean("x = 1  \n    y = 2   \n\n   \n", prefix="    ") == "x = 1  \n    y = 2"


@pytest.mark.parametrize("raw", ["", "   ", "\n\n  \n", "\t"])
def test_an_empty_or_whitespace_only_suggestion_is_dropped(raw: str) -> None:
    assert clean(raw) == ""


# -- model artefacts -------------------------------------------------------------------------


def test_a_markdown_fence_around_the_code_is_removed() -> None:
    assert clean("```python\ndef f():\n    return 1\n```") == "def f():\n    return 1"


def test_text_after_the_closing_fence_is_dropped() -> None:
    assert clean("```\nx = 1\n```\nThis sets x.") == "x = 1"


def test_a_lone_fence_is_dropped() -> None:
    assert clean("```py", multiline=False) == ""


def test_backticks_inside_code_are_kept() -> None:
    assert clean("x = `a`", multiline=False) == "x = `a`"


def test_leaked_special_tokens_end_the_suggestion() -> None:
    assert clean("x = 1<|endoftext|>junk", multiline=False) == "x = 1"
    assert clean("x = 1\n<|file_sep|>other.py\n") == "x = 1"


@pytest.mark.parametrize(
    "token",
    sorted(
        {
            marker.strip()
            for t in TEMPLATES.values()
            for marker in (t.prefix_marker, t.suffix_marker, t.middle_marker)
            if marker
        }
        | {"<file_sep>", "<repo_name>", "<fim_pad>", "<|im_start|>", *CODEGEMMA_TOKENS}
    ),
)
def test_every_fim_templates_markers_are_cut_where_they_leak(token: str) -> None:
    assert clean(f"x = 1\n{token}other.py\ny = 2\n") == "x = 1"


def test_a_closing_tag_that_is_also_an_end_token_is_kept() -> None:
    # Codestral's `</s>` ends a sequence, but in HTML it closes a strikethrough.
    assert clean("<s>old</s>", multiline=False) == "<s>old</s>"


def test_a_suggestion_repeating_the_line_above_is_dropped() -> None:
    text = clean("return a + b", prefix="    ", previous="    return a + b", multiline=False)
    assert text == ""


def test_a_suggestion_differing_from_the_line_above_is_kept() -> None:
    text = clean("return a - b", prefix="    ", previous="    return a + b", multiline=False)
    assert text == "return a - b"


# -- with the stop detector, as a generation runs them ---------------------------------------


def test_a_streamed_block_is_cut_and_cleaned_to_exactly_the_block() -> None:
    raw = "total = a + b\n    return total\n\nprint(add(3, 4))\n" + "x = 1\n" * 40
    detector = StopDetector(multiline=True, line_prefix="    ", indent_blocks=True)
    cut = next(
        n for k in range(1, len(raw) + 1) if (n := detector.complete_length(raw[:k])) is not None
    )
    text = clean(raw[:cut], prefix="    ", following=["", "print(add(1, 2))"])
    assert text == "total = a + b\n    return total"
