"""The review answer's JSON Schema, and strict parsing of what the model sent.

The schema is flat — no `$ref`, no `anyOf`, every field required with "" meaning none —
because Ollama turns it into a llama.cpp grammar, and richer schemas can silently fall back
to unconstrained output. Keys are ordered so the model quotes and reasons (`evidence`,
`trigger`, `is_problem`) before it gives its verdict.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CATEGORIES = (
    "logic",
    "exception",
    "none_handling",
    "resource",
    "concurrency",
    "security",
    "performance",
    "api_misuse",
)
CONFIDENCES = ("low", "medium", "high")
MAX_MESSAGE = 120

FIELD_DESCRIPTIONS = {
    "line": "the number printed before the line in the numbered function (1-based)",
    "evidence": "an exact copy of that ONE line (or the offending part of it), "
    "without the line-number prefix",
    "trigger": "the concrete input or scenario that makes it fail, in one sentence",
    "is_problem": "false if, on reflection, the code is correct",
    "category": "one of: " + ", ".join(CATEGORIES),
    "confidence": "low, medium or high",
    "message": f"at most {MAX_MESSAGE} characters, shown to the user; no line numbers",
    "fix_old": 'exact code from that line to replace, or "" if there is no safe one-line fix',
    "fix_new": 'the replacement for fix_old, or ""',
}


def review_schema(max_findings: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "line": {"type": "integer"},
        "evidence": {"type": "string"},
        "trigger": {"type": "string"},
        "is_problem": {"type": "boolean"},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "confidence": {"type": "string", "enum": list(CONFIDENCES)},
        "message": {"type": "string"},
        "fix_old": {"type": "string"},
        "fix_new": {"type": "string"},
    }
    for name, description in FIELD_DESCRIPTIONS.items():
        properties[name]["description"] = description
    return {
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": max_findings,
                "items": {
                    "type": "object",
                    "properties": properties,
                    "required": list(properties),
                },
            }
        },
        "required": ["findings"],
    }


@dataclass(frozen=True)
class RawFinding:
    """One finding as the model stated it, checked for shape but not yet placed."""

    line: int
    evidence: str
    trigger: str
    is_problem: bool
    category: str
    confidence: str
    message: str
    fix_old: str
    fix_new: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class InvalidReview(ValueError):
    """The answer is not JSON of the schema's shape at all."""


def parse_review(content: str, max_findings: int) -> list[RawFinding]:
    """Findings from the model's answer. A malformed answer raises `InvalidReview`; a
    malformed finding inside a good answer is dropped alone (and logged)."""
    try:
        answer = json.loads(content)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidReview(f"not JSON: {exc}") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("findings"), list):
        raise InvalidReview('no "findings" list')
    findings = []
    for item in answer["findings"]:
        finding = finding_from_json(item)
        if finding is None:
            log.info("review: a malformed finding dropped")
            log.debug("the malformed finding: %.200r", item)
        else:
            findings.append(finding)
    return findings[:max_findings]


def finding_from_json(item: Any) -> RawFinding | None:
    """A finding from its JSON form (the model's, or our cache's), or None if malformed."""
    if not isinstance(item, dict):
        return None
    line = item.get("line")
    if isinstance(line, str) and line.strip().isdigit():
        line = int(line)
    if isinstance(line, bool) or not isinstance(line, int):
        line = 0  # only a hint: the evidence places the finding
    is_problem = item.get("is_problem", True)
    if isinstance(is_problem, str):
        is_problem = is_problem.strip().lower() != "false"
    strings = {}
    for key in ("evidence", "trigger", "category", "confidence", "message", "fix_old", "fix_new"):
        value = item.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return None
        strings[key] = value
    category = strings["category"].strip().lower()
    confidence = strings["confidence"].strip().lower()
    if category not in CATEGORIES or confidence not in CONFIDENCES:
        return None
    if not strings["evidence"].strip() or not strings["message"].strip():
        return None
    return RawFinding(
        line=line,
        evidence=strings["evidence"],
        trigger=strings["trigger"].strip(),
        is_problem=bool(is_problem),
        category=category,
        confidence=confidence,
        message=strings["message"].strip(),
        fix_old=strings["fix_old"],
        fix_new=strings["fix_new"],
    )
