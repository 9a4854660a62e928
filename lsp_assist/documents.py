"""An open buffer: its text and its tree-sitter tree, kept in step by incremental edits, and the
immutable snapshots that requests work on.

Each LSP change is applied to the text and, as a `Tree.edit`, to the tree; the tree is re-parsed
incrementally from the edited old tree when someone needs it, so a burst of keystrokes costs one
incremental parse, never a full parse per keystroke. Whole-file parses run in the background
worker (`Document.parsed`), never on the loop that answers keystrokes; a text longer than
`MAX_ANALYSED_CHARS` is never parsed whole (it is served from the window around the cursor).

A request takes a `DocumentSnapshot` when it arrives and computes its whole answer in it: the
snapshot's text, line starts and tree never change, whatever edits arrive meanwhile. Taking one
is cheap: the text is an immutable `str`, the line starts are shared until the next edit copies
them (copy on write), and the tree is a tree-sitter copy (reference counted).

Offsets inside lsp-assist are `str` indices into `text`. Client positions (line, character in
the negotiated encoding) are converted here, through `positions`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging

import tree_sitter

from lsp_assist.languages import LanguageSpec, language_for
from lsp_assist.line_index import LineIndex, split_lines
from lsp_assist.positions import (
    PositionEncoding,
    index_to_units,
    join_surrogates,
    units_to_index,
    utf8,
)
from lsp_assist.workers import BackgroundWorker, parse_yielding

log = logging.getLogger(__name__)

Point = tuple[int, int]

MAX_ANALYSED_CHARS = 1_000_000
"""Beyond this, a buffer is not parsed, reviewed or learnt whole: completions use the window
around the cursor only (generated and minified files; a 1 MB parse costs ~0.2 s of CPU)."""


class TextView:
    """Read access to a text with its line starts, in client and `str` coordinates."""

    uri: str
    version: int
    encoding: PositionEncoding
    language: LanguageSpec
    text: str
    _lines: LineIndex

    @property
    def too_big(self) -> bool:
        """Too long to parse, review or learn whole (see `MAX_ANALYSED_CHARS`)."""
        return len(self.text) > MAX_ANALYSED_CHARS

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

    def with_inserted(self, offset: int, inserted: str) -> DocumentSnapshot:
        """This text with `inserted` at `offset`, as a snapshot without a tree: the document
        as it will be if the user accepts a suggestion (to prepare the next one)."""
        text = self.text[:offset] + inserted + self.text[offset:]
        lines = self._lines.copy()
        lines.replace(offset, offset, inserted, text)
        return DocumentSnapshot(
            uri=self.uri,
            version=self.version,
            text=text,
            lines=lines,
            language=self.language,
            encoding=self.encoding,
            tree=None,
        )

    def _point_at(self, offset: int) -> Point:
        """tree-sitter's point: (row, column in UTF-8 bytes)."""
        line = self._lines.line_of(offset)
        start = self._lines.start(line)
        return line, len(utf8(self.text[start:offset]))

    def byte_offset(self, offset: int) -> int:
        return len(utf8(self.text[:offset]))


class DocumentSnapshot(TextView):
    """One version of a document, frozen: what a request computes its answer in."""

    def __init__(
        self,
        *,
        uri: str,
        version: int,
        text: str,
        lines: LineIndex,
        language: LanguageSpec,
        encoding: PositionEncoding,
        tree: tree_sitter.Tree | None,
    ) -> None:
        self.uri = uri
        self.version = version
        self.text = text
        self._lines = lines
        self.language = language
        self.encoding = encoding
        self.tree = tree
        """The syntax tree of exactly this text, or None (plain text, too big, or not parsed
        yet: see `Document.parsed`)."""


class Document(TextView):
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
        self._lines_shared = False
        grammar = self.language.grammar
        self._parser = tree_sitter.Parser(grammar) if grammar is not None else None
        self._tree: tree_sitter.Tree | None = None
        self._tree_stale = True
        self._parsing: asyncio.Future[DocumentSnapshot] | None = None
        self.full_parses = 0
        self.incremental_parses = 0

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> DocumentSnapshot:
        """This version, frozen. Its tree is there only if the current tree is up to date."""
        self._lines_shared = True
        fresh = self._tree is not None and not self._tree_stale
        return DocumentSnapshot(
            uri=self.uri,
            version=self.version,
            text=self.text,
            lines=self._lines,
            language=self.language,
            encoding=self.encoding,
            tree=self._tree.copy() if fresh and self._tree is not None else None,
        )

    async def parsed(self, worker: BackgroundWorker) -> DocumentSnapshot:
        """A snapshot of this version with its syntax tree, parsed (incrementally when it
        can) in the worker. The tree is None for plain text and for texts that are too big."""
        snapshot = self.snapshot()
        if snapshot.tree is not None or self._parser is None or self.too_big:
            return snapshot
        pending = self._parsing
        if pending is not None and not pending.done():
            done = await asyncio.shield(pending)
            if done.version == self.version and done.text is self.text:
                return done
        future: asyncio.Future[DocumentSnapshot] = asyncio.get_running_loop().create_future()
        self._parsing = future
        try:
            snapshot = await self._parse_in(worker, snapshot)
            future.set_result(snapshot)
            return snapshot
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            if self._parsing is future:
                self._parsing = None

    async def _parse_in(
        self, worker: BackgroundWorker, snapshot: DocumentSnapshot
    ) -> DocumentSnapshot:
        # The worker parses from a copy of the old tree: edits that arrive meanwhile go on
        # being applied to the live one.
        old_tree = self._tree.copy() if self._tree is not None else None
        grammar = self.language.grammar
        assert grammar is not None
        source = utf8(snapshot.text)
        tree = await worker.run(parse_yielding, tree_sitter.Parser(grammar), source, old_tree)
        if old_tree is None:
            self.full_parses += 1
        else:
            self.incremental_parses += 1
        if self.text is snapshot.text:  # nothing changed meanwhile: it is the current tree
            self._tree, self._tree_stale = tree, False
        # Otherwise the live tree, edited meanwhile, stays the base of the next parse.
        snapshot.tree = tree.copy()
        return snapshot

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
        or the whole text when `start` is None. Returns the span of the old text (str
        offsets) that gave way to `len(new_text)` characters, or None for a whole new text.
        (A change that joins the halves of a surrogate pair takes them in: `join_surrogates`.
        When it inserts nothing, the pair it makes is counted as the low half, kept.)"""
        if start is None or end is None:
            lines = LineIndex(new_text)  # built before anything changes: all or nothing
            self.text = new_text
            self._lines, self._lines_shared = lines, False
            self._tree = None  # a whole new text: nothing of the old tree is worth reusing
            self._tree_stale = True
            if version is not None:
                self.version = version
            return None
        begin = self.offset_at(*start)
        finish = max(begin, self.offset_at(*end))
        begin, finish, joined = join_surrogates(self.text, begin, finish, new_text)
        self.replace(begin, finish, joined)
        if version is not None:
            self.version = version
        return begin, finish - (len(joined) - len(new_text))

    def replace(self, begin: int, finish: int, new_text: str) -> None:
        """Replaces text[begin:finish] (str offsets) with `new_text`: the text, the line starts
        and the tree change together. Everything that could fail is computed before anything
        changes; a tree that cannot follow is dropped (the next parse is a full one)."""
        old_text = self.text
        tree = self._tree
        if tree is not None:
            start_point = self._point_at(begin)
            old_end_point = self._point_at(finish)
            start_byte = self.byte_offset(begin)
            old_end_byte = start_byte + len(utf8(old_text[begin:finish]))
            new_end_byte = start_byte + len(utf8(new_text))
        text = old_text[:begin] + new_text + old_text[finish:]
        lines = self._lines.copy() if self._lines_shared else self._lines  # a snapshot has it
        lines.replace(begin, finish, new_text, text)
        self.text, self._lines, self._lines_shared = text, lines, False
        if tree is not None:
            try:
                tree.edit(
                    start_byte=start_byte,
                    old_end_byte=old_end_byte,
                    new_end_byte=new_end_byte,
                    start_point=start_point,
                    old_end_point=old_end_point,
                    new_end_point=self._point_at(begin + len(new_text)),
                )
            except Exception:  # never lose the text over the tree
                log.warning("tree edit failed; the next parse is a full one", exc_info=True)
                self._tree = None
        self._tree_stale = True

    # -- the tree ---------------------------------------------------------------------------

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The syntax tree of the current text (None in plain-text mode, or too big), parsed
        incrementally from the edited previous tree, here and now. On the server's loop use
        `parsed` instead, which parses in the worker."""
        if self._parser is None or self.too_big:
            return None
        if self._tree_stale or self._tree is None:
            source = utf8(self.text)
            if self._tree is None:
                self._tree = self._parser.parse(source)
                self.full_parses += 1
            else:
                self._tree = self._parser.parse(source, self._tree)
                self.incremental_parses += 1
            self._tree_stale = False
        return self._tree
