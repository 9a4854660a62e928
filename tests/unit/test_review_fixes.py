"""Quick fixes: fix_old → fix_new in the quoted line only, and only if the file still parses."""

from __future__ import annotations

import tracemalloc

from lsp_assist.languages import LanguageSpec, language_for
from lsp_assist.review.findings import PlacedFinding, finding_id
from lsp_assist.review.fixes import TextEdit, quick_fix
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.triage import Severity

PYTHON = language_for("python")
TEXT = (
    "def withdraw(balances, account, amount):\n"
    "    balance = balances[account]\n"
    "    if amount < balance:\n"
    "        raise ValueError('insufficient funds')\n"
    "    balances[account] = balance - amount\n"
)
BUG = "if amount < balance:"


def finding(
    fix_old: str,
    fix_new: str,
    evidence: str = BUG,
    text: str = TEXT,
    occurrence: int = 0,
    unit: tuple[int, int] | None = None,
) -> PlacedFinding:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(evidence, start + 1)
    raw = RawFinding(
        line=3,
        evidence=evidence,
        trigger="",
        is_problem=True,
        category="logic",
        confidence="high",
        message="m",
        fix_old=fix_old,
        fix_new=fix_new,
    )
    return PlacedFinding(
        id=finding_id("withdraw", evidence, "logic"),
        unit_name="withdraw",
        start=start,
        end=start + len(evidence),
        evidence=evidence,
        raw=raw,
        severity=Severity.WARNING,
        message="m",
        unit_start=unit[0] if unit else 0,
        unit_end=unit[1] if unit else len(text),
    )


def fixed(text: str, edit: TextEdit | None) -> str:
    assert edit is not None
    return text[: edit.start] + edit.new_text + text[edit.end :]


def fix(
    placed: PlacedFinding, text: str = TEXT, language: LanguageSpec = PYTHON
) -> TextEdit | None:
    return quick_fix(text, placed, language)


def test_the_fix_replaces_fix_old_in_the_quoted_line() -> None:
    edit = fix(finding("amount < balance", "amount > balance"))
    assert edit == TextEdit(
        TEXT.index("amount < balance"), TEXT.index(":\n        raise"), "amount > balance"
    )
    assert fixed(TEXT, edit) == TEXT.replace("amount < balance", "amount > balance")


def test_the_fix_is_applied_in_the_quoted_line_only() -> None:
    # "balance" appears first on line 2; the finding is about line 5.
    placed = finding("balance", "balances[account]", evidence="balance - amount")
    edit = fix(placed)
    assert fixed(TEXT, edit) == TEXT.replace("= balance - amount", "= balances[account] - amount")


def test_of_several_occurrences_in_the_line_the_nearest_to_the_quote_is_fixed() -> None:
    text = "def f(a, b):\n    return a - b if a - b > 0 else 0\n"
    placed = finding("a - b", "b - a", evidence="a - b > 0", text=text)
    assert fixed(text, fix(placed, text)) == "def f(a, b):\n    return a - b if b - a > 0 else 0\n"


def test_a_fix_for_the_second_of_two_identical_lines_edits_the_second() -> None:
    text = "def f(x):\n    x = x + 1\n    x = x + 1\n    return x\n"
    placed = finding("x + 1", "x + 2", evidence="x = x + 1", text=text, occurrence=1)
    assert (
        fixed(text, fix(placed, text)) == "def f(x):\n    x = x + 1\n    x = x + 2\n    return x\n"
    )


def test_a_fix_old_that_is_not_in_the_line_gives_no_fix() -> None:
    assert fix(finding("balance - amount", "amount - balance")) is None


def test_a_fix_that_changes_nothing_gives_no_fix() -> None:
    assert fix(finding("amount < balance", "amount < balance")) is None


def test_a_fix_that_changes_only_surrounding_blanks_gives_no_fix() -> None:
    assert fix(finding(" amount < balance", "amount < balance ")) is None


def test_an_empty_or_multi_line_fix_old_gives_no_fix() -> None:
    assert fix(finding("", "x")) is None
    assert fix(finding("   ", "x")) is None
    assert fix(finding("amount < balance:\n        raise", "x")) is None


def test_a_fix_that_adds_a_syntax_error_gives_no_fix() -> None:
    assert fix(finding("amount < balance", "amount < (balance")) is None
    assert fix(finding("if", "iff")) is None


def test_a_fix_old_with_surrounding_whitespace_is_matched_without_it() -> None:
    edit = fix(finding("  amount < balance ", " amount > balance\n"))
    assert edit is not None and edit.new_text == "amount > balance"
    assert fixed(TEXT, edit) == TEXT.replace("amount < balance", "amount > balance")


def test_a_fix_old_with_its_exact_whitespace_keeps_the_new_text_as_given() -> None:
    edit = fix(finding("< balance:", "<= balance:"))
    assert fixed(TEXT, edit) == TEXT.replace("< balance:", "<= balance:")


def test_a_fix_is_offered_in_a_file_that_already_has_other_syntax_errors() -> None:
    broken = TEXT + "\ndef half(:\n"
    edit = fix(finding("amount < balance", "amount > balance", text=broken), broken)
    assert fixed(broken, edit) == broken.replace("amount < balance", "amount > balance")


def test_a_fix_on_the_last_line_without_a_newline_works() -> None:
    text = "def f(a, b):\n    return a - b"
    placed = finding("a - b", "a + b", evidence="return a - b", text=text)
    assert fixed(text, fix(placed, text)) == "def f(a, b):\n    return a + b"


def test_a_fix_in_a_javascript_file_is_checked_with_its_grammar() -> None:
    javascript = language_for("javascript")
    text = "function add(a, b) {\n  return a - b;\n}\n"
    good = finding("a - b", "a + b", evidence="return a - b;", text=text)
    assert fixed(text, fix(good, text, javascript)) == text.replace("a - b", "a + b")
    bad = finding("a - b;", "a + (b;", evidence="return a - b;", text=text)
    assert fix(bad, text, javascript) is None


def test_in_plain_text_a_fix_is_not_syntax_checked() -> None:
    plain = language_for("plaintext")
    text = "total is a - b\n"
    placed = finding("a - b", "(a + b", evidence="total is a - b", text=text)
    assert fixed(text, fix(placed, text, plain)) == "total is (a + b\n"


def test_non_ascii_text_before_the_fix_keeps_offsets_right() -> None:
    text = "def prix(x):\n    # coût en €\n    return x * 1.2 - 0\n"
    placed = finding("- 0", "", evidence="return x * 1.2 - 0", text=text)
    # An empty fix_new deletes fix_old.
    assert fixed(text, fix(placed, text)) == "def prix(x):\n    # coût en €\n    return x * 1.2 \n"


# -- only the finding's function is checked -------------------------------------------------------

FILLER = "".join(f"def filler{i}(x):\n    return x * {i}\n\n\n" for i in range(30_000))


def big_file_with_the_bug() -> tuple[str, tuple[int, int]]:
    half = len(FILLER) // 2
    half = FILLER.index("def ", half)
    text = FILLER[:half] + TEXT + "\n\n" + FILLER[half:]
    return text, (half, half + len(TEXT))


def test_a_quick_fix_in_a_big_file_reads_only_the_function_it_fixes() -> None:
    text, unit = big_file_with_the_bug()
    assert len(text) > 900_000
    placed = finding("amount < balance", "amount > balance", text=text, unit=unit)
    tracemalloc.start()
    try:
        edit = fix(placed, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fixed(text, edit) == text.replace("amount < balance", "amount > balance")
    # A copy, an encoding or a parse of the whole file would need a megabyte at least.
    assert peak < 64 * 1024


def test_a_fix_that_breaks_its_function_in_a_big_file_gives_no_fix() -> None:
    text, unit = big_file_with_the_bug()
    assert fix(finding("amount < balance", "amount < (balance", text=text, unit=unit), text) is None


def test_a_fix_outside_its_function_span_gives_no_fix() -> None:
    # The span follows edits; a span that no longer holds the fix has nothing to check against.
    start = TEXT.index("    if amount")
    placed = finding("amount < balance", "amount > balance", unit=(0, start))
    assert fix(placed) is None
