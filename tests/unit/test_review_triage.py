"""What is shown and how loudly: the ban list, retractions, confidence, severity, the message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lsp_assist.review.schema import CATEGORIES, MAX_MESSAGE, RawFinding
from lsp_assist.review.triage import Severity, clean_message, noise_reason, severity_of

REAL = RawFinding(
    line=3,
    evidence="if amount < balance:",
    trigger="withdraw(5) with a balance of 10 raises",
    is_problem=True,
    category="logic",
    confidence="high",
    message="The comparison is inverted: covered withdrawals are refused",
    fix_old="amount < balance",
    fix_new="amount > balance",
)


def test_a_real_bug_is_shown() -> None:
    assert noise_reason(REAL) is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("Add a docstring to explain the function", "docstring"),
        ("The documentation does not mention the exception", "docstring"),
        ("Missing type hints for the parameters", "type hint"),
        ("Consider adding a type annotation to amount", "type hint"),
        ("Unused import os", "unused import"),
        ("The variable tmp is an unused variable", "unused import"),
        ("json is imported but not used", "unused import"),
        ("Missing import for Decimal", "import"),
        ("Decimal is not imported", "import"),
        ("helper may be defined elsewhere", "elsewhere"),
        ("balances may not be defined", "elsewhere"),
        ("Consider renaming x to something clearer", "naming"),
        ("Use a more descriptive name for the variable", "naming"),
        ("Function names should be snake_case", "naming"),
        ("Catch a more specific exception than Exception", "specific exception"),
        ("Add comments explaining the loop", "comments"),
        ("Consider using an f-string here", "style"),
        ("Line too long for PEP 8", "style"),
    ],
)
def test_noise_is_never_shown_whatever_the_model_says(message: str, reason: str) -> None:
    assert noise_reason(replace(REAL, message=message)) == reason


def test_noise_in_the_trigger_counts_too() -> None:
    noisy = replace(REAL, message="Could be clearer", trigger="when reading the documentation")
    assert noise_reason(noisy) == "docstring"


def test_the_ban_list_ignores_case() -> None:
    assert noise_reason(replace(REAL, message="MISSING DOCSTRING")) == "docstring"


def test_a_finding_the_model_retracted_is_not_shown() -> None:
    assert noise_reason(replace(REAL, is_problem=False)) == "retracted"


def test_below_the_minimum_confidence_is_not_shown() -> None:
    assert noise_reason(replace(REAL, confidence="low")) == "low confidence"
    assert noise_reason(replace(REAL, confidence="medium"), min_confidence="high") == (
        "low confidence"
    )


def test_the_minimum_confidence_itself_is_shown() -> None:
    assert noise_reason(replace(REAL, confidence="medium")) is None
    assert noise_reason(replace(REAL, confidence="low"), min_confidence="low") is None


LOUD = [c for c in CATEGORIES if c != "performance"]


@pytest.mark.parametrize("category", LOUD)
def test_a_high_confidence_bug_is_a_warning(category: str) -> None:
    assert severity_of(category, "high") is Severity.WARNING


def test_a_high_confidence_performance_remark_is_information() -> None:
    assert severity_of("performance", "high") is Severity.INFORMATION


@pytest.mark.parametrize("category", LOUD)
def test_a_medium_confidence_bug_is_information(category: str) -> None:
    assert severity_of(category, "medium") is Severity.INFORMATION


def test_a_medium_confidence_performance_remark_is_a_hint() -> None:
    assert severity_of("performance", "medium") is Severity.HINT


@pytest.mark.parametrize("category", CATEGORIES)
def test_low_confidence_is_a_hint(category: str) -> None:
    assert severity_of(category, "low") is Severity.HINT


def test_a_review_is_never_an_error() -> None:
    severities = {severity_of(c, k) for c in CATEGORIES for k in ("low", "medium", "high")}
    assert Severity.ERROR not in severities


def test_severities_are_the_lsp_numbers() -> None:
    assert [int(s) for s in (Severity.ERROR, Severity.WARNING, Severity.HINT)] == [1, 2, 4]


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Divides by zero on line 12", "Divides by zero"),
        ("at line 7 the file is never closed", "The file is never closed"),
        ("The loop (lines 3-5) never ends", "The loop never ends"),
        ("Lines 3–5: the handle leaks", "The handle leaks"),
        ("Line 3: the result may be None", "The result may be None"),
    ],
)
def test_line_numbers_are_taken_out_of_the_message(message: str, shown: str) -> None:
    assert clean_message(message) == shown


def test_a_leading_line_mention_with_a_comma_leaves_no_stray_comma() -> None:
    assert clean_message("On line 3, the loop is off by one") == "The loop is off by one"


def test_a_message_that_is_only_a_line_mention_is_kept_as_it_was() -> None:
    assert clean_message("Line 10") == "Line 10"


def test_whitespace_in_a_message_is_collapsed_and_the_first_letter_capitalised() -> None:
    assert clean_message("  the  result\n is   wrong ") == "The result is wrong"


def test_a_long_message_is_cut_to_the_maximum_with_an_ellipsis() -> None:
    shown = clean_message("word " * 60)
    assert len(shown) <= MAX_MESSAGE
    assert shown.endswith("…")
    assert not shown.endswith(" …")


def test_a_long_message_without_spaces_is_exactly_the_maximum() -> None:
    shown = clean_message("x" * 500)
    assert len(shown) == MAX_MESSAGE
    assert shown == "X" + "x" * (MAX_MESSAGE - 2) + "…"


def test_a_message_of_exactly_the_maximum_is_not_cut() -> None:
    message = "A" + "b" * (MAX_MESSAGE - 1)
    assert clean_message(message) == message


@pytest.mark.parametrize(
    "message",
    [
        "os.rename fails on Windows when the target file exists",
        "The date formatting uses %M (minutes) where %m (month) is meant",
    ],
    ids=["os-rename", "date-format"],
)
def test_a_real_bug_that_uses_a_noise_word_about_code_is_shown(message: str) -> None:
    assert noise_reason(replace(REAL, category="api_misuse", message=message)) is None
