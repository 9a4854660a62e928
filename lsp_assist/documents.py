"""An open buffer: its text and its tree-sitter tree, kept in step by incremental edits.

Each LSP change is applied to the text and, as a `Tree.edit`, to the tree; the tree is then
re-parsed incrementally from the edited old tree the next time someone needs it, so a burst of
keystrokes costs one incremental parse, never a full parse per keystroke.

Offsets inside lsp-assist are `str` indices into `text`. Client positions (line, character in
the negotiated encoding) are converted here, through `positions`, and nowhere else.
"""

from __future__ import annotations

import tree_sitter

from lsp_assist.languages import LanguageSpec, language_for
from lsp_assist.line_index import LineIndex, split_lines
from lsp_assist.positions import PositionEncoding, index_to_units, units_to_index

Point = tuple[int, int]


class Document:
    def __init__(
        self,
        uri: str,
        text: str,
        *,
        language_id: str | None = None,
        version: int = 0,
        encoding: PositionEncoding = PositionEncoding.UTF16,
    ) -> None:
        self.uri = uri
        self.version = version
        self.encoding = encoding
        self.language: LanguageSpec = language_for(language_id, uri)
        self.text = text
        self._lines = LineIndex(text)
        grammar = self.language.grammar
        self._parser = tree_sitter.Parser(grammar) if grammar is not None else None
        self._tree: tree_sitter.Tree | None = None
        self._tree_stale = True
        self.full_parses = 0
        self.incremental_parses = 0

    # -- lines and positions ----------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def line_text(self, line: int) -> str:
        """The text of `line` without its line break."""
        start = self._lines.start(line)
        end = self._lines.start(line + 1) if line + 1 < len(self._lines) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def lines_between(self, first: int, last: int) -> list[str]:
        """The texts of lines first..last-1 (clamped), split in one go: a prompt window reads
        a few hundred lines per keystroke."""
        first, last = max(0, first), min(last, len(self._lines))
        if first >= last:
            return []
        start = self._lines.start(first)
        end = self._lines.start(last) if last < len(self._lines) else len(self.text)
        return split_lines(self.text[start:end])[: last - first]

    def offset_at(self, line: int, character: int) -> int:
        """The `str` offset of a client position; past the last line means the end of the
        text, past the end of a line means the end of that line."""
        if line < 0:
            return 0
        if line >= len(self._lines):
            return len(self.text)
        return self._lines.start(line) + units_to_index(
            self.line_text(line), character, self.encoding
        )

    def position_at(self, offset: int) -> tuple[int, int]:
        """The client position (line, character in the negotiated encoding) of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = self._lines.line_of(offset)
        column = offset - self._lines.start(line)
        return line, index_to_units(self.line_text(line), column, self.encoding)

    def _point_at(self, offset: int) -> Point:
        """tree-sitter's point: (row, column in UTF-8 bytes)."""
        line = self._lines.line_of(offset)
        start = self._lines.start(line)
        return line, len(self.text[start:offset].encode("utf-8"))

    def byte_offset(self, offset: int) -> int:
        return len(self.text[:offset].encode("utf-8"))

    # -- changes ----------------------------------------------------------------------------

    def apply_change(
        self,
        new_text: str,
        start: Point | None = None,
        end: Point | None = None,
        *,
        version: int | None = None,
    ) -> tuple[int, int] | None:
        """Applies one LSP content change: a range (client positions) replaced by `new_text`,
        or the whole text when `start` is None. Returns the replaced span of the old text
        (str offsets), or None for a whole new text."""
        if version is not None:
            self.version = version
        if start is None or end is None:
            self.text = new_text
            self._lines = LineIndex(new_text)
            self._tree = None  # a whole new text: nothing of the old tree is worth reusing
            self._tree_stale = True
            return None
        begin = self.offset_at(*start)
        finish = max(begin, self.offset_at(*end))
        self.replace(begin, finish, new_text)
        return begin, finish

    def replace(self, begin: int, finish: int, new_text: str) -> None:
        """Replaces text[begin:finish] (str offsets) with `new_text`."""
        old_text = self.text
        tree = self._tree
        if tree is not None:
            start_point = self._point_at(begin)
            old_end_point = self._point_at(finish)
            start_byte = self.byte_offset(begin)
            old_end_byte = start_byte + len(old_text[begin:finish].encode("utf-8"))
        self.text = old_text[:begin] + new_text + old_text[finish:]
        self._lines.replace(begin, finish, new_text, self.text)
        if tree is not None:
            new_end_byte = start_byte + len(new_text.encode("utf-8"))
            tree.edit(
                start_byte=start_byte,
                old_end_byte=old_end_byte,
                new_end_byte=new_end_byte,
                start_point=start_point,
                old_end_point=old_end_point,
                new_end_point=self._point_at(begin + len(new_text)),
            )
        self._tree_stale = True

    # -- the tree ---------------------------------------------------------------------------

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The syntax tree of the current text (None in plain-text mode), parsed incrementally
        from the edited previous tree."""
        if self._parser is None:
            return None
        if self._tree_stale or self._tree is None:
            source = self.text.encode("utf-8")
            if self._tree is None:
                self._tree = self._parser.parse(source)
                self.full_parses += 1
            else:
                self._tree = self._parser.parse(source, self._tree)
                self.incremental_parses += 1
            self._tree_stale = False
        return self._tree
