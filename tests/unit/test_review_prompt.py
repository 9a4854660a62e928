"""The review conversation: numbered unit, a cache-stable prefix, worked examples that obey
their own rules, and the explain question."""

from __future__ import annotations

import json
import re

import tree_sitter

from lsp_assist.languages import language_for
from lsp_assist.review.anchoring import anchor_evidence
from lsp_assist.review.prompt import build_explain_messages, build_review_messages, numbered
from lsp_assist.review.schema import parse_review
from lsp_assist.review.units import ReviewUnit, find_units

TEXT = (
    "import os\n\n\n"
    "class Bank:\n"
    "    def withdraw(self, account, amount):\n"
    "        balance = self.balances[account]\n"
    "        if amount < balance:\n"
    "            raise ValueError('insufficient funds')\n"
    "        self.balances[account] = balance - amount\n\n"
    "    def deposit(self, account, amount):\n"
    "        self.balances[account] += amount\n"
)


def units(text: str = TEXT, language: str = "python") -> list[ReviewUnit]:
    spec = language_for(language)
    tree = tree_sitter.Parser(spec.grammar).parse(text.encode("utf-8"))
    return find_units(tree, text, spec)


WITHDRAW, DEPOSIT = units()


def messages(
    unit: ReviewUnit = WITHDRAW,
    *,
    path: str = "bank.py",
    language: str = "python",
    context: str = "import os",
    max_findings: int = 3,
) -> list[dict[str, str]]:
    return build_review_messages(
        unit, path=path, language=language, context=context, max_findings=max_findings
    )


def test_numbered_lines_start_at_one_with_a_bar() -> None:
    lines = numbered(WITHDRAW).split("\n")
    assert lines[0] == "1 |     def withdraw(self, account, amount):"
    assert lines[2] == "3 |         if amount < balance:"
    assert len(lines) == len(WITHDRAW.lines)


def test_numbers_past_nine_keep_the_same_separator() -> None:
    text = "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(12))
    lines = numbered(units(text)[0]).split("\n")
    assert lines[9] == "10 |     x8 = 8"
    assert all(re.match(r"^\d+ \| ", line) for line in lines)


def test_the_conversation_is_rules_then_two_examples_then_the_unit() -> None:
    conversation = messages()
    assert [m["role"] for m in conversation] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert numbered(WITHDRAW) in conversation[-1]["content"]
    assert all(numbered(WITHDRAW) not in m["content"] for m in conversation[:-1])


def test_everything_before_the_unit_is_the_same_for_every_unit_of_a_language() -> None:
    first = messages(WITHDRAW)
    second = messages(DEPOSIT, path="other.py", context="import sys")
    assert first[:-1] == second[:-1]
    assert first[-1] != second[-1]


def test_the_rules_name_the_language_and_the_limit() -> None:
    system = messages(language="go", max_findings=2)[0]["content"]
    assert "ONE go function" in system
    assert "At most 2 findings" in system


def test_the_unit_message_has_the_file_context_and_the_enclosing_class() -> None:
    last = messages()[-1]["content"]
    assert last.startswith("File: bank.py (python)")
    assert "Context (not to review):\nimport os" in last
    assert "Enclosing: class Bank:" in last
    assert last.index("import os") < last.index("Enclosing") < last.index("1 |")


def test_no_context_and_no_class_leave_no_empty_sections() -> None:
    (function,) = units("def f():\n    return 1\n")
    last = messages(function, context="")[-1]["content"]
    assert "Context" not in last
    assert "Enclosing" not in last


def test_the_rules_describe_every_field() -> None:
    system = messages()[0]["content"]
    for field in ("line", "evidence", "trigger", "is_problem", "category", "confidence"):
        assert f"- {field}: " in system


def test_the_worked_example_answer_is_a_valid_review_whose_quote_is_in_its_function() -> None:
    conversation = messages()
    example = conversation[1]["content"]
    (finding,) = parse_review(conversation[2]["content"], max_findings=3)
    function = "\n".join(line.split(" | ", 1)[1] for line in example.split("\n") if " | " in line)
    anchor = anchor_evidence(function, finding.evidence, finding.line)
    assert anchor is not None and anchor.method == "exact"
    assert function.split("\n")[finding.line - 1].strip() == finding.evidence
    assert finding.fix_old in finding.evidence


def test_the_clean_example_answer_is_an_empty_review() -> None:
    assert json.loads(messages()[4]["content"]) == {"findings": []}


def test_explain_messages_quote_the_evidence_message_trigger_and_function() -> None:
    explain = build_explain_messages(
        WITHDRAW.text,
        language="python",
        evidence="        if amount < balance:",
        message="The comparison is inverted",
        trigger="withdraw(5) with a balance of 10 raises",
    )
    assert [m["role"] for m in explain] == ["system", "user"]
    question = explain[1]["content"]
    assert "\n    if amount < balance:\n" in question
    assert "Finding: The comparison is inverted" in question
    assert "Failing scenario: withdraw(5) with a balance of 10 raises" in question
    assert question.endswith(WITHDRAW.text)
    assert "python" in question


def test_explain_without_a_trigger_has_no_scenario_line() -> None:
    explain = build_explain_messages(
        WITHDRAW.text, language="python", evidence=" x ", message="m", trigger=""
    )
    assert "Failing scenario" not in explain[1]["content"]
