"""The review conversation: rules and schema in words, two worked examples, then the unit.

Everything before the unit is the same for every call (the language aside), so Ollama's
prompt cache keeps it evaluated from one unit to the next. The unit is numbered from 1, so
the model's line numbers are small and only used as hints; the quote is what places a finding.
"""

from __future__ import annotations

import json

from lsp_assist.review.schema import FIELD_DESCRIPTIONS, MAX_MESSAGE
from lsp_assist.review.units import ReviewUnit

PROMPT_VERSION = 1

_RULES = """You are a careful senior engineer reviewing ONE {language} function for real bugs.
Report only problems that make the code fail or give a wrong result for a concrete input:
wrong logic, off-by-one, unhandled None/null, exceptions that escape or are swallowed, leaked
resources, races, injection or other security holes, misuse of an API, needless quadratic work.
Never report: style, naming, formatting, comments, docstrings, type hints, unused or missing
imports, names that may be defined elsewhere, or "consider adding validation" without a failing
input. Prefer reporting nothing over guessing. At most {max_findings} findings; an empty list is
the usual and correct answer for correct code.

Answer with JSON only: {{"findings": [ ... ]}}, each finding an object with these keys, in order:
{fields}
Copy `evidence` character for character from the function, without the line number. Write the
message without line numbers, at most {max_message} characters."""

_EXAMPLE_BUGGY = """File: stats.py (python)
Function to review (line numbers are relative to the function):
1 | def mean(values):
2 |     total = 0
3 |     for value in values:
4 |         total += value
5 |     return total / (len(values) - 1)"""

_EXAMPLE_BUGGY_ANSWER = {
    "findings": [
        {
            "line": 5,
            "evidence": "return total / (len(values) - 1)",
            "trigger": "mean([2, 4]) returns 6.0 instead of 3.0",
            "is_problem": True,
            "category": "logic",
            "confidence": "high",
            "message": "Divides by len(values) - 1, so the mean is too large",
            "fix_old": "(len(values) - 1)",
            "fix_new": "len(values)",
        }
    ]
}

_EXAMPLE_CLEAN = """File: text.py (python)
Function to review (line numbers are relative to the function):
1 | def initials(name):
2 |     return "".join(part[0].upper() for part in name.split())"""


def numbered(unit: ReviewUnit) -> str:
    return "\n".join(f"{n} | {line}" for n, line in enumerate(unit.lines, start=1))


def build_review_messages(
    unit: ReviewUnit, *, path: str, language: str, context: str, max_findings: int
) -> list[dict[str, str]]:
    fields = "\n".join(f"- {name}: {text}" for name, text in FIELD_DESCRIPTIONS.items())
    system = _RULES.format(
        language=language, max_findings=max_findings, fields=fields, max_message=MAX_MESSAGE
    )
    parts = [f"File: {path} ({language})"]
    if context:
        parts.append(f"Context (not to review):\n{context}")
    if unit.header:
        parts.append(f"Enclosing: {unit.header}")
    parts.append(
        f"Function to review (line numbers are relative to the function):\n{numbered(unit)}"
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _EXAMPLE_BUGGY},
        {"role": "assistant", "content": json.dumps(_EXAMPLE_BUGGY_ANSWER)},
        {"role": "user", "content": _EXAMPLE_CLEAN},
        {"role": "assistant", "content": json.dumps({"findings": []})},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def build_explain_messages(
    unit_text: str, *, language: str, evidence: str, message: str, trigger: str
) -> list[dict[str, str]]:
    question = (
        f"A reviewer flagged this line of the {language} function below:\n"
        f"    {evidence.strip()}\n"
        f"Finding: {message}\n"
        + (f"Failing scenario: {trigger}\n" if trigger else "")
        + "\nExplain in at most four short sentences why it is a problem and how to fix it. "
        "Plain text, no code fences.\n\n"
        f"{unit_text}"
    )
    return [
        {"role": "system", "content": "You are a concise senior engineer."},
        {"role": "user", "content": question},
    ]
