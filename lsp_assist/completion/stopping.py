"""Deciding, while a suggestion streams in, that it is complete.

A model asked for "the middle" rarely stops where an editor would: it finishes the block the
cursor is in and then keeps writing the rest of the file. Every token after the end of that
block is wasted time (and has to be cut anyway), so the stream is closed as soon as the end is
certain. A suggestion ends

- in single-line mode, at its first line break;
- in multi-line mode, where the cursor's block ends: a line indented less than the block
  (indentation languages), or a closing bracket for a bracket opened before the cursor's line
  (every language); after the line that closes the brackets the cursor's line left open
  (`foo(` ... `)`), unless that line opens a body; at two blank lines in a row; at the same
  line three times over; after `max_lines` lines.

`StopDetector` is fed the whole text so far on every chunk but scans each character once,
with the lexer (lexer.py) that tells code brackets from strings and comments.
"""

from __future__ import annotations

from lsp_assist.completion.lexer import CLOSE, CODE, NEWLINE, OPEN, SPACE, TEXT, WAIT, Lexer
from lsp_assist.languages import GUESS_LEXICON, LANGUAGES, LanguageSpec

_SPACE = " \t\r"

# A stand-in language for callers that say only how blocks are written.
_BRACES = LanguageSpec("braces", lexicon=GUESS_LEXICON)


class StopDetector:
    """Finds where a streamed suggestion is complete. Feed it the growing text."""

    def __init__(
        self,
        *,
        multiline: bool,
        line_prefix: str,
        language: LanguageSpec | None = None,
        indent_blocks: bool | None = None,
        max_lines: int = 20,
    ) -> None:
        """`language` is the document's; a caller that knows only `indent_blocks` gets
        Python's lexing for indentation blocks and the all-language guess for braces."""
        if language is None:
            language = LANGUAGES["python"] if indent_blocks else _BRACES
        self._multiline = multiline
        self._line_prefix = line_prefix
        self._indent_blocks = not language.brace_blocks
        # A line ending in `:` opens a body (Python); Lua's `obj:method` is no opener.
        self._colon_opens = self._indent_blocks and ":" in language.block_openers
        self._max_lines = max(1, max_lines)
        self._result: int | None = None
        self._pos = 0  # next character of the text to scan
        self._lexer = Lexer(language.lexicon)
        # Brackets the cursor's line left open: closing them completes the cursor's line.
        self._prefix_open = 0
        self._last_code = ""  # last code character of the current line (is it a `:` opener?)
        for i, kind, length in self._lexer.tokens(line_prefix):
            if kind == OPEN:
                self._prefix_open += 1
            elif kind == CLOSE and self._prefix_open:
                self._prefix_open -= 1
            if kind in (CODE, OPEN, CLOSE):
                self._last_code = line_prefix[i + length - 1]
        self._base_indent = len(line_prefix) - len(line_prefix.lstrip(" \t"))
        self._prefix_blank = not line_prefix.strip()
        self._min_indent = self._base_indent  # lines of the block are indented at least this
        self._statement_open = True  # the cursor's line (statement) has not ended yet
        self._depth = 0  # brackets opened by the suggestion and still open
        self._line = 0  # index of the current line; 0 continues the cursor's line
        self._line_start = 0
        self._first_visible = -1  # index of the current line's first non-space character
        self._line_in_literal = False  # the line starts inside a multi-line string or comment
        self._content_end = -1  # end of the current line without trailing spaces, -1 if blank
        self._kept_end = 0  # end of the last non-blank line before the current one
        self._closed_prefix = False  # a bracket the cursor's line opened has been closed
        self._blank_run = 0
        self._last_line = ""
        self._repeats = 0
        self._repeat_cut = 0

    def complete_length(self, raw: str) -> int | None:
        """How much of `raw` (all the text so far) to keep once the suggestion is complete;
        None while it may go on."""
        if self._result is not None:
            return self._result
        if not self._multiline:
            newline = raw.find("\n", self._pos)
            if newline >= 0:
                self._result = newline
            self._pos = len(raw)
            return self._result
        i, n, lexer = self._pos, len(raw), self._lexer
        while i < n:
            c = raw[i]
            if self._first_visible < 0 and c not in _SPACE and c != "\n":
                # The indentation of a line is known from its first visible character:
                # decide now, not when the line ends.
                self._first_visible = i
                if self._line and self._dedented(i):
                    return self._finish(self._kept_end)
            kind, length = lexer.step(raw, i, final=False)
            if kind == WAIT:
                break
            if kind == NEWLINE:
                cut = self._end_line(raw, i)
                if cut is not None:
                    return self._finish(cut)
            elif kind != SPACE:
                self._content_end = i + length
                if kind == OPEN:
                    self._depth += 1
                elif kind == CLOSE:
                    if self._depth:
                        self._depth -= 1
                    elif self._prefix_open:
                        self._prefix_open -= 1
                        self._closed_prefix = True
                    elif (
                        self._line == 0
                        and self._prefix_blank
                        and self._first_visible == i
                        and (c != "}" or self._indent_blocks)
                    ):
                        # The suggestion's first line, of its own, closes a call or a literal
                        # that an earlier line opened (`)`, `]`; not a brace block's `}`).
                        pass
                    else:  # closes a block opened above the cursor: ours ends before it
                        return self._finish(self._cut_before(raw, i))
                if kind != TEXT:
                    self._last_code = c
            i += length
        self._pos = i
        return None

    def _finish(self, cut: int) -> int:
        self._result = cut
        return cut

    def _dedented(self, i: int) -> bool:
        if not self._indent_blocks or self._line_in_literal:
            return False
        if self._depth or self._prefix_open:
            return False  # continuation lines inside brackets may be indented any way
        return i - self._line_start < self._min_indent

    def _cut_before(self, raw: str, i: int) -> int:
        """Where to cut for a closing bracket at `i`: before its line when it starts the line
        (dropping the blank lines before it), else before the bracket."""
        cut = i
        while cut > self._line_start and raw[cut - 1] in _SPACE:
            cut -= 1
        return self._kept_end if cut == self._line_start and self._line else cut

    def _end_line(self, raw: str, i: int) -> int | None:
        """Bookkeeping at the line break at `i`; the cut if the suggestion ends here."""
        if self._content_end >= 0:
            text = raw[self._line_start : i].rstrip()
            if not self._line:
                text = self._line_prefix + text  # line 0 continues the cursor's line
            if text == self._last_line and any(ch.isalnum() for ch in text):
                self._repeats += 1
                if self._repeats == 2:
                    self._repeat_cut = self._kept_end  # keep the first occurrence only
            else:
                self._last_line, self._repeats = text, 1
            self._kept_end = self._content_end
            self._blank_run = 0
        elif self._line and not self._line_in_literal:
            self._blank_run += 1
        opener = self._colon_opens and self._last_code == ":"
        if self._repeats >= 3:
            return self._repeat_cut
        if self._closed_prefix and not self._prefix_open and not self._depth:
            if not opener:
                return self._kept_end  # what the cursor's line opened is closed: `foo(` `a)`
            self._closed_prefix = False  # `def f(` `a):` opened a body: indentation decides
        if self._statement_open and not self._prefix_open and not self._depth:
            self._statement_open = False
            if opener and not self._prefix_blank:
                self._min_indent = self._base_indent + 1  # `def f(x):` - only its body follows
        self._line += 1
        if self._line >= self._max_lines or self._blank_run >= 2:
            return self._kept_end
        self._line_start = i + 1
        self._first_visible = -1
        self._content_end = -1
        self._last_code = ""
        self._line_in_literal = self._lexer.in_literal
        return None
