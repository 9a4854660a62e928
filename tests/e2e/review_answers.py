"""What the fake review model answers in the editor tests: `add` subtracts instead of adding."""

from __future__ import annotations

BUGGY = "def add(a, b):\n    return a - b\n"

SUBTRACTS_FINDING = {
    "line": 2,
    "evidence": "return a - b",
    "trigger": "add(1, 2) gives -1",
    "is_problem": True,
    "category": "logic",
    "confidence": "high",
    "message": "subtracts instead of adding",
    "fix_old": "a - b",
    "fix_new": "a + b",
}
