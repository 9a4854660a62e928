"""Placing a finding by the code it quotes: exact, whitespace-tolerant, prefix-tolerant, fuzzy."""

from __future__ import annotations

import pytest

from lsp_assist.review.anchoring import Anchor, anchor_evidence

UNIT = (
    "def withdraw(self, account, amount):\n"
    "    balance = self.balances[account]\n"
    "    if amount < balance:\n"
    '        raise ValueError("insufficient funds")\n'
    "    self.balances[account] = balance - amount\n"
)
BUG = "if amount < balance:"


def quoted(anchor: Anchor | None, text: str = UNIT) -> str | None:
    return None if anchor is None else text[anchor.start : anchor.end]


def line_of(anchor: Anchor, text: str) -> int:
    """1-based, like the model's line hint."""
    return text[: anchor.start].count("\n") + 1


def test_an_exact_quote_is_placed_on_its_characters() -> None:
    anchor = anchor_evidence(UNIT, BUG, line_hint=3)
    assert anchor == Anchor(UNIT.index(BUG), UNIT.index(BUG) + len(BUG), "exact")


def test_a_quote_with_its_indentation_is_placed_without_it() -> None:
    anchor = anchor_evidence(UNIT, "    " + BUG + "  ", line_hint=3)
    assert anchor is not None and anchor.method == "exact"
    assert quoted(anchor) == BUG


def test_part_of_a_line_is_placed_on_that_part_only() -> None:
    anchor = anchor_evidence(UNIT, "balance - amount", line_hint=5)
    assert quoted(anchor) == "balance - amount"
    assert anchor is not None and anchor.start == UNIT.index("balance - amount")


def test_the_line_number_is_only_a_hint() -> None:
    assert quoted(anchor_evidence(UNIT, BUG, line_hint=40)) == BUG
    assert quoted(anchor_evidence(UNIT, BUG, line_hint=0)) == BUG


REPEATED = (
    "def count(n):\n    total = 0\n    total += 1\n    n -= 1\n    total += 1\n    return total\n"
)


@pytest.mark.parametrize(("hint", "line"), [(0, 3), (3, 3), (5, 5), (6, 5), (99, 5)])
def test_of_several_exact_matches_the_nearest_to_the_hint_wins(hint: int, line: int) -> None:
    anchor = anchor_evidence(REPEATED, "total += 1", line_hint=hint)
    assert anchor is not None and anchor.method == "exact"
    assert line_of(anchor, REPEATED) == line


def test_a_tie_between_matches_goes_to_the_earlier_one() -> None:
    anchor = anchor_evidence(REPEATED, "total += 1", line_hint=4)
    assert anchor is not None and line_of(anchor, REPEATED) == 3


@pytest.mark.parametrize(
    "evidence",
    ["if  amount  <  balance :", "if amount\t< balance:", "if amount < balance :"],
)
def test_extra_whitespace_in_the_quote_is_tolerated(evidence: str) -> None:
    anchor = anchor_evidence(UNIT, evidence, line_hint=3)
    assert anchor is not None and anchor.method == "normalised"
    assert quoted(anchor) == BUG


def test_spaces_inside_brackets_are_tolerated_and_the_range_is_the_code() -> None:
    anchor = anchor_evidence(UNIT, "balance = self.balances[ account ]", line_hint=2)
    assert anchor is not None and anchor.method == "normalised"
    assert quoted(anchor) == "balance = self.balances[account]"


@pytest.mark.parametrize(
    "evidence",
    [
        "3 | if amount < balance:",
        "3 |     if amount < balance:",
        "3: if amount < balance:",
        "3. if amount < balance:",
        "L3 if amount < balance:",
        "+ if amount < balance:",
        "-     if amount < balance:",
        "> if amount < balance:",
    ],
)
def test_a_leaked_line_number_or_diff_prefix_is_stripped(evidence: str) -> None:
    anchor = anchor_evidence(UNIT, evidence, line_hint=3)
    assert anchor is not None and anchor.method == "prefix"
    assert quoted(anchor) == BUG


def test_a_prefix_is_only_stripped_when_the_quote_fails_as_given() -> None:
    text = "def f(a):\n    return a - 1\n"
    anchor = anchor_evidence(text, "- 1", line_hint=2)
    assert anchor is not None and anchor.method == "exact"
    assert quoted(anchor, text) == "- 1"


def test_a_one_character_typo_in_a_long_line_is_placed_fuzzily_on_the_whole_line() -> None:
    line = "self.balances[account] = balance - amount"
    anchor = anchor_evidence(UNIT, "self.balances[acount] = balance - amount", line_hint=5)
    assert anchor is not None and anchor.method == "fuzzy"
    assert quoted(anchor) == line


def test_a_fuzzy_match_with_a_prefix_still_excludes_indentation() -> None:
    anchor = anchor_evidence(UNIT, "5 | self.balances[acount] = balance - amount", line_hint=5)
    assert anchor is not None and anchor.method == "fuzzy"
    assert quoted(anchor) == "self.balances[account] = balance - amount"


def test_a_quote_too_unlike_any_line_is_dropped() -> None:
    assert anchor_evidence(UNIT, "if amount <= limit:", line_hint=3) is None


def test_a_short_line_with_one_different_character_is_dropped() -> None:
    # 8 characters, one changed: similarity 0.875, below the 0.9 that makes it the same line.
    assert anchor_evidence("def f(x):\n    return x\n", "return y", line_hint=2) is None


def test_a_quote_that_is_not_in_the_unit_is_dropped() -> None:
    assert anchor_evidence(UNIT, "os.remove(path)", line_hint=3) is None


@pytest.mark.parametrize("evidence", ["", "   ", "\n\n", ":", "\n )\n"])
def test_a_quote_too_short_to_mean_anything_is_dropped(evidence: str) -> None:
    assert anchor_evidence(UNIT, evidence, line_hint=3) is None


def test_a_multi_line_quote_is_placed_by_its_first_code_line() -> None:
    evidence = "\n\n    if amount < balance:\n        raise ValueError('x')\n"
    assert quoted(anchor_evidence(UNIT, evidence, line_hint=3)) == BUG


def test_offsets_are_str_offsets_after_non_ascii_text() -> None:
    text = "def prix(x):\n    # coût en €, ünïcode 🐍\n    return x * 1.2\n"
    anchor = anchor_evidence(text, "return x * 1.2", line_hint=3)
    assert quoted(anchor, text) == "return x * 1.2"


def test_a_fuzzy_match_prefers_the_closest_line_to_the_hint() -> None:
    text = (
        "def f(items):\n"
        "    result = compute(items, 1)\n"
        "    other = 1\n"
        "    result = compute(items, 2)\n"
    )
    anchor = anchor_evidence(text, "result = compute(items, 3)", line_hint=4)
    assert anchor is not None and anchor.method == "fuzzy"
    assert quoted(anchor, text) == "result = compute(items, 2)"
