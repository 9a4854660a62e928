"""Following a suggestion through what was typed, across lines and the editor's indentation."""

from __future__ import annotations

import pytest

from lsp_assist.completion.continuation import MORE, follow

BLOCK = "total = 0\n        for x in xs:\n            total += x\n        return total"


@pytest.mark.parametrize(
    ("typed", "rest"),
    [
        ("", BLOCK),
        ("tot", "al = 0\n        for x in xs:\n            total += x\n        return total"),
        # Enter with the editor's auto-indent, the model's own width: the line's code is next.
        ("total = 0\n        ", "for x in xs:\n            total += x\n        return total"),
        # An editor that indents less: the rest of the model's indentation is offered.
        ("total = 0\n    ", "    for x in xs:\n            total += x\n        return total"),
        # One that indents with a tab, or not at all: its choice stands, the code comes next.
        ("total = 0\n\t", "for x in xs:\n            total += x\n        return total"),
        ("total = 0\n", "        for x in xs:\n            total += x\n        return total"),
        # Typed on through the next line with the editor's own indentation.
        ("total = 0\n\tfor x in", " xs:\n            total += x\n        return total"),
        ("total = 0\n\tfor x in xs:\n\t\t", "total += x\n        return total"),
    ],
)
def test_the_rest_after_what_was_typed(typed: str, rest: str) -> None:
    at = follow(BLOCK, typed)
    assert at is not None and BLOCK[at:] == rest


@pytest.mark.parametrize(
    "typed",
    ["totl", "total = 1", "total = 0\n        while", "total = 0\n        for y", "total = 0 "],
)
def test_a_line_typed_differently_ends_the_reuse(typed: str) -> None:
    assert follow(BLOCK, typed) is None


def test_a_suggestion_still_streaming_may_be_too_short_to_tell() -> None:
    assert follow("total = 0\n    ", "total = 0\n        for", complete=False) == MORE
    assert follow("tot", "total", complete=False) == MORE
    assert follow("tot", "tX", complete=False) is None
    assert follow("total = 0\n        for x", "total = 0\n    for", complete=False) == len(
        "total = 0\n        for"
    )


def test_asked_at_a_line_start_the_editors_indentation_replaces_the_models() -> None:
    assert follow("    return s", "\t", line_start=True) == len("    ")
    assert follow("    return s", "  ", line_start=True) == len("  ")
    assert follow("    return s", "\t") is None  # mid-line, a tab is not the suggestion
