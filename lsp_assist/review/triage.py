"""What is shown, and how loudly: the ban list and severity from category × confidence.

Users' first complaint about AI review is noise, so the kinds of remark that reviewers agree
are noise (docstrings, type hints, unused imports, naming, "may be defined elsewhere" …) are
dropped whatever the model says, and severity is derived rather than asked. Error is never
used: a local model's opinion does not get to look like a compiler error.
"""

from __future__ import annotations

import re
from enum import IntEnum

from lsp_assist.review.schema import CATEGORIES, MAX_MESSAGE, RawFinding


class Severity(IntEnum):
    """LSP's DiagnosticSeverity values."""

    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4


_NOISE = [
    (re.compile(pattern, re.IGNORECASE), reason)
    for pattern, reason in (
        (r"\bdoc\s?strings?\b|\bdocumentation\b", "docstring"),
        (r"\btype (hint|annotation)s?\b|\bannotate\b", "type hint"),
        (r"\bunused (import|variable)s?\b|\bimported but (not )?used\b", "unused import"),
        (r"\b(missing|add( an?)?|the) import\b|\bnot imported\b", "import"),
        (r"\bdefined elsewhere\b|\bdefined (in )?another\b|\bmay not be defined\b", "elsewhere"),
        (
            r"\brenam(e|ing) (the |this )?(variable|function|parameter|argument|method|class)\b"
            r"|\brenam(e|ing) `?\w+`? to\b|\bnaming\b|\bdescriptive name\b"
            r"|\bsnake_case\b|\bcamel ?case\b",
            "naming",
        ),
        (r"\bmore specific exception\b|\bcatch(ing)? a specific\b", "specific exception"),
        (r"\b(add|more|missing) comments?\b", "comments"),
        (
            r"\bconsider using (an? )?f-string\b|\bcode formatting\b|\bPEP ?8\b"
            r"|\bline too long\b",
            "style",
        ),
    )
]
_LINE_MENTION = re.compile(r"\s*\(?\b(on |at )?lines? \d+(\s*[-–]\s*\d+)?\)?:?", re.IGNORECASE)

# What a wrong result or a crash looks like; performance is a cost, not a failure.
_LOUD_CATEGORIES = frozenset(CATEGORIES) - {"performance"}


def noise_reason(finding: RawFinding, min_confidence: str = "medium") -> str | None:
    """Why this finding is not shown, or None to show it."""
    if not finding.is_problem:
        return "retracted"
    if _CONFIDENCE_RANK[finding.confidence] < _CONFIDENCE_RANK[min_confidence]:
        return "low confidence"
    said = f"{finding.message} {finding.trigger}"
    for pattern, reason in _NOISE:
        if pattern.search(said):
            return reason
    return None


_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


def severity_of(category: str, confidence: str) -> Severity:
    if confidence == "high":
        return Severity.WARNING if category in _LOUD_CATEGORIES else Severity.INFORMATION
    if confidence == "medium":
        return Severity.INFORMATION if category in _LOUD_CATEGORIES else Severity.HINT
    return Severity.HINT


def clean_message(message: str) -> str:
    """The message as shown: no line numbers (they go stale), at most MAX_MESSAGE chars."""
    text = _LINE_MENTION.sub("", message).strip(" :-,")
    text = " ".join(text.split()) or message.strip()
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first.isalpha() and first.islower():
        text = text[0].upper() + text[1:]  # a sentence, not an identifier such as `x`
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1].rstrip() + "…"
    return text
