"""A whole new text is followed as the one edit that turns the old text into it."""

from __future__ import annotations

import pytest

from lsp_assist.review.following import equivalent_edit


def apply(old: str, new: str) -> str:
    begin, finish, inserted = equivalent_edit(old, new)
    assert 0 <= begin <= finish <= len(old)
    return old[:begin] + new[begin : begin + inserted] + old[finish:]


@pytest.mark.parametrize(
    ("old", "new", "edit"),
    [
        ("abc", "abc", (3, 3, 0)),
        ("", "abc", (0, 0, 3)),
        ("abc", "", (0, 3, 0)),
        ("def f():\n    pass\n", "import os\ndef f():\n    pass\n", (0, 0, 10)),
        ("a = 1\nb = 2\n", "a = 1\nb = 3\n", (10, 11, 1)),
        ("aaa", "aaaa", (3, 3, 1)),  # a repeat: the common start is taken first
        ("x\ny\nz", "x\nz", (2, 4, 0)),
    ],
)
def test_the_edit_keeps_the_common_start_and_end(
    old: str, new: str, edit: tuple[int, int, int]
) -> None:
    assert equivalent_edit(old, new) == edit
    assert apply(old, new) == new


def test_long_texts_that_differ_in_one_place() -> None:
    old = "".join(f"line {i}\n" for i in range(50_000))
    at = old.index("line 31337")
    new = old[:at] + "changed " + old[at:]
    assert equivalent_edit(old, new) == (at, at, len("changed "))
    assert equivalent_edit(new, old) == (at, at + len("changed "), 0)


def test_texts_that_differ_at_both_ends_are_one_edit_between() -> None:
    old = "# head\n" + "x = 1\n" * 10_000 + "# tail\n"
    new = "# HEAD\n" + "x = 1\n" * 10_000 + "# TAIL\n"
    begin, finish, inserted = equivalent_edit(old, new)
    assert (begin, len(old) - finish) == (len("# "), len("\n"))
    assert apply(old, new) == new
    assert inserted == finish - begin
