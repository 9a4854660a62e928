"""What the completion machinery needs to know about the cursor, read from a `Document`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from lsp_assist.documents import TextView

FOLLOWING_LINES = 8


class DocumentLines(Sequence[str]):
    """The document's lines as a sequence, read on demand, so that prompt windows can slice
    near the cursor without splitting the whole file on every keystroke."""

    def __init__(self, document: TextView) -> None:
        self._document = document
        self._count = document.line_count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step == 1:
                return self._document.lines_between(start, stop)
            return [self._document.line_text(i) for i in range(start, stop, step)]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._document.line_text(index)


@dataclass(frozen=True)
class CursorContext:
    """The cursor as str indices plus the text right around it."""

    offset: int
    line: int
    column: int
    line_prefix: str
    line_suffix: str
    following_lines: tuple[str, ...]
    previous_line: str | None

    @classmethod
    def of(cls, document: TextView, offset: int) -> CursorContext:
        line, _ = document.position_at(offset)
        line_text = document.line_text(line)
        line_start = document.offset_at(line, 0)
        column = min(max(0, offset - line_start), len(line_text))
        following = tuple(
            document.line_text(i)
            for i in range(line + 1, min(document.line_count, line + 1 + FOLLOWING_LINES))
        )
        return cls(
            offset=offset,
            line=line,
            column=column,
            line_prefix=line_text[:column],
            line_suffix=line_text[column:],
            following_lines=following,
            previous_line=document.line_text(line - 1) if line > 0 else None,
        )

    def word_before(self) -> str:
        """The identifier characters just before the cursor (what a completion list filters by)."""
        i = len(self.line_prefix)
        while i > 0 and (self.line_prefix[i - 1].isalnum() or self.line_prefix[i - 1] == "_"):
            i -= 1
        return self.line_prefix[i:]
