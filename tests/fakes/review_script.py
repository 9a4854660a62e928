"""A scripted code reviewer for the fake Ollama: answers review calls from a list of rules.

A review call is a `/api/chat` request with a `format` (the answer's JSON schema). The function
under review is the last user message, after "Function to review" when the prompt says so
(earlier messages are worked examples, which must not match). Each rule names a whole line of
code (`evidence`, indentation included) and, optionally, the nearest non-blank lines around it
(`before`, `after`), so that the same line in another function, or in the fixed version of
this one, does not match. The first rule that matches gives one high-confidence logic finding
quoting that line; otherwise the answer is `{"findings": []}`. So a benchmark can script a
perfect reviewer and check that findings travel through the server to the editor.

    {"evidence": "        n ^= n - 1", "before": "    while n:", "after": "        count += 1"}

A neighbour outside the function (the evidence is its first or last code line) is not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NUMBERED = re.compile(r"^\s*(\d+) \| ?(.*)$")
_UNIT_HEADER = "Function to review"


@dataclass(frozen=True)
class ReviewRule:
    evidence: str
    before: str | None = None
    after: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ReviewRule:
        return cls(str(raw["evidence"]), raw.get("before"), raw.get("after"))

    def line_in(self, code: Sequence[str]) -> int | None:
        """The index in `code` of the line this rule flags, or None."""
        for i, line in enumerate(code):
            if line != self.evidence:
                continue
            before = next((c for c in reversed(code[:i]) if c.strip()), None)
            after = next((c for c in code[i + 1 :] if c.strip()), None)
            if self.before not in (None, before) and before is not None:
                continue
            if self.after not in (None, after) and after is not None:
                continue
            return i
        return None


def is_review_call(body: dict[str, Any]) -> bool:
    return bool(body.get("format")) and isinstance(body.get("messages"), list)


def unit_under_review(body: dict[str, Any]) -> str:
    """The text of the function the call asks about (line-number prefixes kept)."""
    users = [
        str(message.get("content", ""))
        for message in body.get("messages", [])
        if isinstance(message, dict) and message.get("role") == "user"
    ]
    if not users:
        return ""
    last = users[-1]
    at = last.find(_UNIT_HEADER)
    return last[at:] if at >= 0 else last


def _code_lines(unit: str) -> list[tuple[int, str]]:
    """(printed line number, code) for each line of the unit. When the prompt numbers the
    lines, only the numbered ones are code; otherwise every line is, numbered from 1."""
    numbered = [match for line in unit.split("\n") if (match := _NUMBERED.match(line))]
    if numbered:
        return [(int(match.group(1)), match.group(2)) for match in numbered]
    return list(enumerate(unit.split("\n"), start=1))


def scripted_review(body: dict[str, Any], rules: Sequence[ReviewRule]) -> str:
    """The model's answer (message.content) to one review call."""
    lines = _code_lines(unit_under_review(body))
    code = [text for _, text in lines]
    for rule in rules:
        index = rule.line_in(code)
        if index is not None:
            finding = {
                "line": lines[index][0],
                "evidence": rule.evidence,
                "trigger": "the scripted reviewer's input",
                "is_problem": True,
                "category": "logic",
                "confidence": "high",
                "message": "Scripted finding on this line",
                "fix_old": "",
                "fix_new": "",
            }
            return json.dumps({"findings": [finding]})
    return json.dumps({"findings": []})
