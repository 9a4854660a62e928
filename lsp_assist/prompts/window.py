"""The local window: which part of the current file goes into the prompt, within a token budget.

Ollama reuses its KV cache only for the longest common token prefix of consecutive prompts, and
prefilling the rest dominates local latency. So the window is cut to keep the prompt's head still
while the user types:

* the prefix window's first line moves in steps of `PREFIX_STEP` lines (it is rounded *up* to a
  multiple, so it always fits), not on every keystroke or cursor move;
* the prefix budget is a fixed share that does not depend on the cursor line's text or the
  suffix, so typing on the cursor line never moves it;
* the suffix is short (at most 1/4 of the budget and `SUFFIX_LINES` lines): in PSM prompts it is
  re-evaluated whenever the prefix changes, e.g. on Enter.

Sizes are measured in UTF-8 bytes, not characters: with ~3 bytes per token this stays a safe
estimate for CJK text and emoji (one token per char or so), where a char count would undercount.
Windows are cut at line boundaries, and inside a line only when a single line is too long.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PREFIX_STEP = 32  # the prefix window starts on a multiple of this line number
PREFIX_LINES = 256  # whole lines above the cursor at most (llama.vim's n_prefix)
SUFFIX_LINES = 32  # whole lines below the cursor line at most
SNAP_LINES = 8  # look this far past the quantised start for an unindented line to start at
SUFFIX_SHARE = 4  # the suffix gets at most 1/4 of the window budget
MIDDLE_SHARE = 16  # the cursor line's text before the cursor at most 1/16 (long lines only)
MIDDLE_STEP = 64  # a cut long cursor line starts on a multiple of this column


def text_size(text: str) -> int:
    """The budget measure of `text`: its UTF-8 length."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def size_upto(text: str, limit: int) -> int:
    """`text_size(text)` when it is at most `limit`, otherwise some number above `limit`, without
    encoding a long text (a str of n chars has at least n UTF-8 bytes)."""
    return len(text) if len(text) > limit else text_size(text)


def head_within(text: str, size: int) -> str:
    """The longest start of `text` whose size is at most `size` (never splits a character)."""
    if size <= 0:
        return ""
    candidate = text[:size]
    if candidate.isascii():
        return candidate
    return candidate.encode("utf-8", "surrogatepass")[:size].decode("utf-8", "ignore")


def tail_within(text: str, size: int) -> str:
    """The longest end of `text` whose size is at most `size`."""
    if size <= 0:
        return ""
    candidate = text[-size:]
    if candidate.isascii():
        return candidate
    return candidate.encode("utf-8", "surrogatepass")[-size:].decode("utf-8", "ignore")


@dataclass(frozen=True)
class PromptBudget:
    """How big a prompt may be. Invariant: `estimate_tokens(prompt) + max_tokens <= num_ctx` for
    any prompt of at most `prompt_size()` bytes, because Ollama silently drops the middle of a
    longer prompt (and with it the FIM markers)."""

    num_ctx: int
    max_tokens: int
    bytes_per_token: float = 3.0  # conservative: code averages 3.5-4 bytes per BPE token
    reserve_tokens: int = 32  # BOS, and slack for text that tokenizes worse than the average

    def __post_init__(self) -> None:
        if self.bytes_per_token <= 0:
            raise ValueError("bytes_per_token must be positive")

    def prompt_tokens(self) -> int:
        return max(0, self.num_ctx - self.max_tokens - self.reserve_tokens)

    def prompt_size(self) -> int:
        """The prompt budget in bytes."""
        tokens = self.prompt_tokens()
        size = math.floor(tokens * self.bytes_per_token)
        while size > 0 and math.ceil(size / self.bytes_per_token) > tokens:
            size -= 1  # float rounding
        return size

    def estimate_tokens(self, text: str) -> int:
        return math.ceil(text_size(text) / self.bytes_per_token)


@dataclass(frozen=True)
class Window:
    """The text around the cursor, as it goes into a FIM prompt."""

    prefix: str  # whole lines above the cursor line, each ending in "\n"
    middle: str  # the cursor line up to the cursor
    suffix: str  # rest of the cursor line, then the following lines, cut at a line boundary
    start_line: int = 0  # the first line in `prefix`
    end_line: int = 0  # one past the last line in `suffix`

    @property
    def size(self) -> int:
        return text_size(self.prefix) + text_size(self.middle) + text_size(self.suffix)


def cut_window(
    lines: Sequence[str],
    line: int,
    column: int,
    budget: PromptBudget,
    *,
    size: int | None = None,
) -> Window:
    """Cut the window around (line, column) to at most `size` bytes (default: the whole prompt
    budget). `lines` are the document's lines without terminators; only lines near the cursor
    are read (at most PREFIX_LINES + SUFFIX_LINES + 1). Out-of-range positions are clamped."""
    total = budget.prompt_size() if size is None else max(0, size)
    count = len(lines)
    if count == 0:
        return Window("", "", "")
    line = min(max(line, 0), count - 1)
    text = lines[line]
    column = min(max(column, 0), len(text))
    # Fixed shares, so that no part's length moves another part's cut.
    suffix_cap = total // SUFFIX_SHARE
    middle_cap = total // MIDDLE_SHARE
    prefix_cap = total - suffix_cap - middle_cap
    suffix, end_line = _cut_suffix(lines, line, text[column:], suffix_cap)
    prefix, start_line = _cut_prefix(lines, line, prefix_cap)
    return Window(prefix, _cut_middle(text, column, middle_cap), suffix, start_line, end_line)


def _cut_prefix(lines: Sequence[str], line: int, cap: int) -> tuple[str, int]:
    above: list[str] = []  # lines[line - 1], lines[line - 2], ... while they fit
    used = 0
    first = line
    lowest = max(0, line - PREFIX_LINES)
    candidates = lines[lowest:line]  # one slice: much cheaper than a read per line
    while first > lowest:
        candidate = candidates[first - 1 - lowest]
        cost = size_upto(candidate, cap - used) + 1
        if used + cost > cap:
            break
        above.append(candidate)
        used += cost
        first -= 1
    start = _quantise(first, line)
    if start > 0 and start + SNAP_LINES <= line:
        # Prefer to begin at a top-level line. The lines looked at all lie above the cursor, so
        # typing does not change the choice.
        for i in range(start, start + SNAP_LINES):
            if _is_top_level(above[line - 1 - i]):
                start = i
                break
    if start == line and line > 0 and cap > 0:
        # Not one whole line fits (minified code): take the end of the line above.
        return tail_within(lines[line - 1], cap - 1) + "\n", line - 1
    return "".join(t + "\n" for t in reversed(above[: line - start])), start


def _quantise(first: int, line: int) -> int:
    """Round the earliest line that fits up to a multiple of PREFIX_STEP, or keep it as it is
    when rounding would leave no line at all (few, very long lines)."""
    start = -(-first // PREFIX_STEP) * PREFIX_STEP
    return start if start < line else first


def _is_top_level(text: str) -> bool:
    return bool(text) and not text[0].isspace() and text[0] not in ")]}"


def _cut_suffix(lines: Sequence[str], line: int, rest: str, cap: int) -> tuple[str, int]:
    count = len(lines)
    newline = 1 if line + 1 < count else 0  # the cursor line's own terminator
    used = size_upto(rest, cap)
    if used + newline > cap:
        return head_within(rest, cap), line + 1
    parts = [rest]
    end = line + 1
    below = lines[line + 1 : line + 1 + SUFFIX_LINES]
    for i, following in enumerate(below, start=line + 1):
        cost = 1 + size_upto(following, cap)  # its "\n" separator (reserved above) and text
        terminator = 1 if i + 1 < count else 0
        if used + cost + terminator > cap:
            break
        parts.append(following)
        used += cost
        end = i + 1
    # The last line of a file ending in "\n" is "" and adds nothing after the final "\n".
    return "\n".join(parts) + ("\n" if end < count else ""), end


def _cut_middle(text: str, column: int, cap: int) -> str:
    middle = text[:column]
    if size_upto(middle, cap) <= cap:
        return middle
    # Keep the end nearest the cursor, starting on a multiple of MIDDLE_STEP so that typing on
    # a long line still only appends (the start moves once per MIDDLE_STEP chars).
    start = max(0, -(-(column - cap) // MIDDLE_STEP) * MIDDLE_STEP)
    if start < column and text_size(text[start:column]) <= cap:
        return text[start:column]
    return tail_within(middle, cap)
