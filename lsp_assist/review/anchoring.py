"""Placing a finding by the code it quotes — never by the model's line number alone.

The quote (`evidence`) is looked up inside its unit only, in steps of decreasing strictness:
exact, whitespace-normalised, with a leaked line-number or diff prefix stripped, then fuzzy
(similarity ≥ 0.9 with one line). Several matches are settled by the model's line hint. No
match means the finding is dropped: a squiggle on the wrong line is worse than none.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

FUZZY_MIN_RATIO = 0.9
MIN_EVIDENCE_CHARS = 2

# "12 | x", "12: x", "12. x", "L12 x", "+ x", "- x", "> x": what models copy from numbered or
# diff-style views. Only tried after the evidence failed as given.
_LEAKED_PREFIX = re.compile(r"^\s*(?:L?\d+\s*(?:[|:.)\]]\s?|\s)|[+\->]\s?)")


@dataclass(frozen=True)
class Anchor:
    start: int
    """Offset in the unit's text of the first character of the quoted code."""
    end: int
    method: str
    """"exact", "normalised", "prefix" or "fuzzy"."""


def anchor_evidence(unit_text: str, evidence: str, line_hint: int) -> Anchor | None:
    """Where `evidence` is in `unit_text`; `line_hint` is the model's 1-based line number
    relative to the unit (only used to choose between matches)."""
    quote = _one_line(evidence)
    if len(quote) < MIN_EVIDENCE_CHARS:
        return None
    lines = unit_text.split("\n")
    starts = _line_starts(lines)
    hint = line_hint - 1
    found = _exact(unit_text, quote, starts, hint) or _normalised(lines, starts, quote, hint)
    if found is not None:
        return found
    stripped = _LEAKED_PREFIX.sub("", quote, count=1).strip()
    if stripped and stripped != quote and len(stripped) >= MIN_EVIDENCE_CHARS:
        found = _exact(unit_text, stripped, starts, hint) or _normalised(
            lines, starts, stripped, hint
        )
        if found is not None:
            return Anchor(found.start, found.end, "prefix")
    return _fuzzy(lines, starts, stripped or quote, hint)


def _one_line(evidence: str) -> str:
    """The quote is meant to be one line; of several, the first with code on it."""
    for line in evidence.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _line_starts(lines: list[str]) -> list[int]:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low


def _nearest(candidates: list[tuple[int, Anchor]], hint: int) -> Anchor | None:
    if not candidates:
        return None
    return min(candidates, key=lambda c: (abs(c[0] - hint), c[0]))[1]


def _exact(text: str, quote: str, starts: list[int], hint: int) -> Anchor | None:
    candidates = []
    position = text.find(quote)
    while position >= 0:
        anchor = Anchor(position, position + len(quote), "exact")
        candidates.append((_line_of(starts, position), anchor))
        position = text.find(quote, position + 1)
    return _nearest(candidates, hint)


def _squeezed(line: str) -> tuple[str, list[int]]:
    """`line` with each run of whitespace made one space (and none around brackets and
    punctuation), and for each kept character its column in `line`."""
    kept: list[str] = []
    columns: list[int] = []
    pending_space = False
    for column, char in enumerate(line):
        if char.isspace():
            pending_space = bool(kept)
            continue
        if pending_space and not (_tight(kept[-1]) or _tight(char)):
            kept.append(" ")
            columns.append(column - 1)
        pending_space = False
        kept.append(char)
        columns.append(column)
    return "".join(kept), columns


def _tight(char: str) -> bool:
    return char in "()[]{},.:;"


def _normalised(lines: list[str], starts: list[int], quote: str, hint: int) -> Anchor | None:
    wanted, _ = _squeezed(quote)
    if not wanted:
        return None
    candidates = []
    for number, line in enumerate(lines):
        squeezed, columns = _squeezed(line)
        position = squeezed.find(wanted)
        while position >= 0:
            first = columns[position]
            last = columns[position + len(wanted) - 1] + 1
            anchor = Anchor(starts[number] + first, starts[number] + last, "normalised")
            candidates.append((number, anchor))
            position = squeezed.find(wanted, position + 1)
    return _nearest(candidates, hint)


def _fuzzy(lines: list[str], starts: list[int], quote: str, hint: int) -> Anchor | None:
    wanted, _ = _squeezed(quote)
    best: list[tuple[float, int, Anchor]] = []
    for number, line in enumerate(lines):
        code = line.strip()
        if not code:
            continue
        squeezed, _ = _squeezed(code)
        ratio = difflib.SequenceMatcher(None, squeezed, wanted, autojunk=False).ratio()
        if ratio >= FUZZY_MIN_RATIO:
            first = len(line) - len(line.lstrip())
            anchor = Anchor(starts[number] + first, starts[number] + len(line.rstrip()), "fuzzy")
            best.append((ratio, number, anchor))
    if not best:
        return None
    top = max(ratio for ratio, _, _ in best)
    return _nearest([(n, a) for ratio, n, a in best if ratio >= top - 0.02], hint)
