"""Findings following a document's edits without a model call, and the per-unit bookkeeping."""

from __future__ import annotations

from lsp_assist.review.findings import DocumentFindings, PlacedFinding, finding_id
from lsp_assist.review.schema import RawFinding
from lsp_assist.review.triage import Severity

TEXT = (
    "class Bank:\n"
    "    def withdraw(self, account, amount):\n"
    "        balance = self.balances[account]\n"
    "        if amount < balance:\n"
    '            raise ValueError("insufficient funds")\n'
    "        self.balances[account] = balance - amount\n"
    "\n"
    "    def deposit(self, account, amount):\n"
    "        self.balances[account] += amount\n"
)
BUG = "if amount < balance:"


def placed(
    evidence: str = BUG, unit: str = "Bank.withdraw", text: str = TEXT, category: str = "logic"
) -> PlacedFinding:
    start = text.index(evidence)
    unit_start = text.rfind("\n", 0, text.index(f"def {unit.rsplit('.', 1)[-1]}(")) + 1
    unit_end = text.find("\n\n", unit_start) if "\n\n" in text[unit_start:] else len(text)
    raw = RawFinding(
        line=3,
        evidence=evidence,
        trigger="",
        is_problem=True,
        category=category,
        confidence="high",
        message="m",
        fix_old="",
        fix_new="",
    )
    return PlacedFinding(
        id=finding_id(unit, evidence, category),
        unit_name=unit,
        start=start,
        end=start + len(evidence),
        evidence=evidence,
        raw=raw,
        severity=Severity.WARNING,
        message="m",
        unit_start=unit_start,
        unit_end=unit_end,
    )


class Editor:
    """Applies edits to a text and tells the findings, as the server does."""

    def __init__(self, text: str, findings: DocumentFindings) -> None:
        self.text = text
        self.findings = findings

    def replace(self, begin: int, finish: int, new_text: str) -> bool:
        self.text = self.text[:begin] + new_text + self.text[finish:]
        return self.findings.edited(begin, finish, len(new_text), self.text)

    def insert(self, offset: int, new_text: str) -> bool:
        return self.replace(offset, offset, new_text)

    def quoted(self) -> list[str]:
        return [self.text[f.start : f.end] for f in self.findings.all()]


def editor_with(*findings: PlacedFinding) -> Editor:
    document = DocumentFindings()
    by_unit: dict[str, list[PlacedFinding]] = {}
    for finding in findings:
        by_unit.setdefault(finding.unit_name, []).append(finding)
    for unit, unit_findings in by_unit.items():
        document.replace_unit(unit, unit_findings)
    return Editor(TEXT, document)


# -- following edits ------------------------------------------------------------------------------


def test_an_edit_before_the_quote_shifts_it() -> None:
    editor = editor_with(placed())
    assert editor.insert(0, "import os\n\n") is True
    assert editor.quoted() == [BUG]
    assert editor.findings.all()[0].start == TEXT.index(BUG) + len("import os\n\n")


def test_a_deletion_before_the_quote_shifts_it_back() -> None:
    editor = editor_with(placed())
    line = "        balance = self.balances[account]\n"
    begin = TEXT.index(line)
    assert editor.replace(begin, begin + len(line), "") is True
    assert editor.quoted() == [BUG]


def test_a_same_length_edit_before_the_quote_changes_nothing() -> None:
    editor = editor_with(placed())
    begin = TEXT.index("account]")
    assert editor.replace(begin, begin + len("account"), "acc_nam") is False
    assert editor.quoted() == [BUG]


def test_an_insertion_right_before_the_quote_shifts_it() -> None:
    editor = editor_with(placed())
    assert editor.insert(TEXT.index(BUG), "    ") is True
    assert editor.quoted() == [BUG]


def test_an_edit_after_the_quote_leaves_it() -> None:
    editor = editor_with(placed())
    before = [(f.start, f.end) for f in editor.findings.all()]
    assert editor.insert(TEXT.index("balance - amount"), "0 + ") is False
    assert [(f.start, f.end) for f in editor.findings.all()] == before
    assert editor.quoted() == [BUG]


def test_an_insertion_right_after_the_quote_leaves_it() -> None:
    editor = editor_with(placed())
    assert editor.insert(TEXT.index(BUG) + len(BUG), "  # really") is False
    assert editor.quoted() == [BUG]


def test_an_edit_inside_the_quote_drops_the_finding() -> None:
    editor = editor_with(placed())
    operator = TEXT.index(BUG) + BUG.index("<")
    assert editor.replace(operator, operator + 1, ">") is True
    assert editor.findings.all() == []


def test_an_edit_overlapping_the_start_of_the_quote_drops_the_finding() -> None:
    editor = editor_with(placed())
    start = TEXT.index(BUG)
    assert editor.replace(start - 2, start + 2, "  ") is True  # "if" → nothing
    assert editor.findings.all() == []


def test_a_whole_line_replaced_by_the_same_text_keeps_the_finding() -> None:
    editor = editor_with(placed())
    line = "        " + BUG + "\n"
    begin = TEXT.index(line)
    assert editor.replace(begin, begin + len(line), line) is False
    assert editor.quoted() == [BUG]


def test_a_line_replaced_by_the_same_code_with_a_new_line_above_keeps_and_moves_it() -> None:
    editor = editor_with(placed())
    line = "        " + BUG + "\n"
    begin = TEXT.index(line)
    assert editor.replace(begin, begin + len(line), "        amount = abs(amount)\n" + line)
    assert editor.quoted() == [BUG]
    assert editor.findings.all()[0].start == TEXT.index(BUG) + len("        amount = abs(amount)\n")


def test_deleting_the_whole_unit_drops_its_findings_only() -> None:
    other = placed("self.balances[account] += amount", unit="Bank.deposit")
    editor = editor_with(placed(), other)
    begin = TEXT.index("    def withdraw")
    finish = TEXT.index("    def deposit")
    assert editor.replace(begin, finish, "") is True
    assert [f.unit_name for f in editor.findings.all()] == ["Bank.deposit"]
    assert editor.quoted() == ["self.balances[account] += amount"]


def test_an_edit_touching_a_quote_that_now_appears_twice_nearby_drops_it() -> None:
    editor = editor_with(placed())
    line = "        " + BUG + "\n"
    begin = TEXT.index(line)
    assert editor.replace(begin, begin + len(line), line + line) is True
    assert editor.findings.all() == []


def test_edits_follow_several_findings_at_once() -> None:
    editor = editor_with(placed(), placed("balance - amount"))
    editor.insert(0, "# header\n")
    operator = editor.text.index(BUG) + BUG.index("<")
    editor.replace(operator, operator + 1, "<=")
    assert editor.quoted() == ["balance - amount"]


def test_edits_to_a_document_without_findings_change_nothing() -> None:
    editor = Editor(TEXT, DocumentFindings())
    assert editor.insert(0, "x") is False


# -- bookkeeping ----------------------------------------------------------------------------------


def test_all_findings_come_in_document_order() -> None:
    later = placed("self.balances[account] += amount", unit="Bank.deposit")
    document = DocumentFindings()
    document.replace_unit("Bank.deposit", [later])
    document.replace_unit("Bank.withdraw", [placed("balance - amount"), placed()])
    assert [f.evidence for f in document.all()] == [BUG, "balance - amount", later.evidence]


def test_replacing_a_unit_reports_whether_its_findings_changed() -> None:
    document = DocumentFindings()
    assert document.replace_unit("Bank.withdraw", [placed()]) is True
    assert document.replace_unit("Bank.withdraw", [placed()]) is False
    assert document.replace_unit("Bank.withdraw", []) is True
    assert document.all() == []
    assert document.replace_unit("Bank.withdraw", []) is False


def test_replacing_one_unit_keeps_the_others() -> None:
    document = DocumentFindings()
    document.replace_unit(
        "Bank.deposit", [placed("self.balances[account] += amount", "Bank.deposit")]
    )
    document.replace_unit("Bank.withdraw", [placed()])
    document.replace_unit("Bank.withdraw", [])
    assert [f.unit_name for f in document.all()] == ["Bank.deposit"]


def test_keep_units_forgets_the_findings_of_units_that_are_gone() -> None:
    document = DocumentFindings()
    document.replace_unit("Bank.withdraw", [placed()])
    document.replace_unit(
        "Bank.deposit", [placed("self.balances[account] += amount", "Bank.deposit")]
    )
    assert document.keep_units({"Bank.deposit", "Bank.audit"}) is True
    assert [f.unit_name for f in document.all()] == ["Bank.deposit"]
    assert document.keep_units({"Bank.deposit"}) is False


def test_remove_takes_out_one_finding_by_id() -> None:
    first, second = placed(), placed("balance - amount")
    document = DocumentFindings()
    document.replace_unit("Bank.withdraw", [first, second])
    assert document.remove(first.id) is True
    assert document.all() == [second]
    assert document.remove(first.id) is False


def test_get_finds_a_finding_by_id() -> None:
    finding = placed()
    document = DocumentFindings()
    document.replace_unit("Bank.withdraw", [finding])
    assert document.get(finding.id) == finding
    assert document.get("no such id") is None


def test_a_finding_id_depends_on_unit_quote_and_category_but_not_surrounding_blanks() -> None:
    base = finding_id("Bank.withdraw", BUG, "logic")
    assert finding_id("Bank.withdraw", f"  {BUG} ", "logic") == base
    assert finding_id("Bank.deposit", BUG, "logic") != base
    assert finding_id("Bank.withdraw", BUG, "security") != base
    assert finding_id("Bank.withdraw", "balance - amount", "logic") != base


def test_a_quote_with_a_lone_surrogate_has_an_id_like_any_other() -> None:
    # JSON lets an editor send half a surrogate pair, and a finding may quote it.
    assert finding_id("f", 's = "\ud800"', "logic") != finding_id("f", 's = "\udc00"', "logic")


# -- the finding's function follows edits too (what a quick fix is checked against) --------------


def unit_text(editor: Editor) -> str:
    (finding,) = editor.findings.all()
    return editor.text[finding.unit_start : finding.unit_end]


def test_the_function_span_follows_edits_inside_before_and_after_it() -> None:
    editor = editor_with(placed())
    withdraw = unit_text(editor)
    assert withdraw.startswith("    def withdraw(") and withdraw.endswith("balance - amount")
    editor.insert(0, "import os\n")  # before the function
    assert unit_text(editor) == withdraw
    editor.insert(editor.text.index("        balance ="), "        audit()\n")  # inside
    assert unit_text(editor) == withdraw.replace(
        "        balance =", "        audit()\n        balance ="
    )
    editor.insert(editor.text.index("    def deposit"), "    # deposits\n")  # after
    assert unit_text(editor).endswith("balance - amount")
    editor.insert(editor.text.index("balance - amount") + len("balance - amount"), " + 0")
    assert unit_text(editor).endswith("balance - amount + 0")  # typing at its very end
