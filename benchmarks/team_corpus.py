"""Real code to type again, for the benchmarks that type against llama.cpp (`latency_engine.py`,
`team_load.py`): a block of consecutive lines of a standard-library module, removed and then
typed back the way a person writes it.

The edits of one block: the block's text is removed (its first line keeps its indentation), then
each line is typed character by character; a new line is one edit, Enter with the indentation an
editor inserts. A line longer than `chars` has its first `chars` characters typed and the rest
pasted. At the end the block is put back as it was, so the next block's offsets hold.

Each edit that an editor would ask ghost text after has a kind: "jump" (the block's first
character: the cursor came from elsewhere in the file), "enter" (a new line), "along" (a
character along a line). Edits without a kind (removing, pasting, restoring) ask nothing.
"""

from __future__ import annotations

import importlib.util
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Block:
    start: int
    """Offset of the first line's text, after its indentation."""
    original: str
    """The text from `start` to the end of the block's last line (without its newline)."""
    lines: tuple[tuple[str, str], ...]
    """Each line as (indentation, text)."""


@dataclass(frozen=True)
class Edit:
    kind: str | None
    start: int
    end: int
    text: str


def module_source(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise RuntimeError(f"no source for the standard-library module {name}")
    return Path(spec.origin).read_text("utf-8")


def _typable(line: str) -> bool:
    body = line.strip()
    return 0 < len(body) <= 90 and body.isascii() and not body.startswith(("#", '"', "'", ")"))


def _string_rows(source: str) -> set[int]:
    """Rows (0-based) that a multi-line string (a docstring) covers: prose, not code."""
    rows: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            rows.update(range(token.start[0] - 1, token.end[0]))
    return rows


def find_blocks(source: str, count: int, lines: int) -> list[Block]:
    """`count` blocks of `lines` consecutive lines of code (no blank line, comment or
    docstring; at most 90 characters each), spread over the second half of `source`, where the
    prompt has a full window above the cursor."""
    rows = source.split("\n")
    starts, at = [], 0
    for row in rows:
        starts.append(at)
        at += len(row) + 1
    strings = _string_rows(source)
    candidates = []
    number = len(rows) // 2
    while number + lines < len(rows):
        chunk = rows[number : number + lines]
        in_string = any(n in strings for n in range(number, number + lines))
        if not in_string and all(map(_typable, chunk)) and len(chunk[0].strip()) >= 16:
            candidates.append(number)
            number += lines
        else:
            number += 1
    step = max(1, len(candidates) // max(count, 1))
    blocks = []
    for number in candidates[::step][:count]:
        chunk = rows[number : number + lines]
        parsed = tuple((row[: len(row) - len(row.lstrip())], row.strip()) for row in chunk)
        start = starts[number] + len(parsed[0][0])
        end = starts[number + lines - 1] + len(chunk[-1])
        blocks.append(Block(start, source[start:end], parsed))
    return blocks


def block_edits(block: Block, chars: int) -> Iterator[Edit]:
    """The edits that remove `block`, type it again and restore it."""
    yield Edit(None, block.start, block.start + len(block.original), "")
    cursor = block.start
    for number, (indent, text) in enumerate(block.lines):
        if number:
            yield Edit("enter", cursor, cursor, "\n" + indent)
            cursor += 1 + len(indent)
        for index, char in enumerate(text[:chars]):
            yield Edit("jump" if number == index == 0 else "along", cursor, cursor, char)
            cursor += 1
        if len(text) > chars:
            yield Edit(None, cursor, cursor, text[chars:])
            cursor += len(text) - chars
    yield Edit(None, block.start, cursor, block.original)


def apply(text: str, edit: Edit) -> tuple[str, int]:
    """`text` after `edit`, and the cursor after it."""
    return text[: edit.start] + edit.text + text[edit.end :], edit.start + len(edit.text)
