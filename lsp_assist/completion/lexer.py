"""The one lexer that tells code brackets from string literals and comments.

Stopping a streamed suggestion (stopping.py) and cleaning a finished one (postprocess.py) both
count brackets, and a bracket inside `"("` or `# fix)` must not count. They used to have a lexer
each, and the two disagreed (`//` was a comment in Python for one, `#` in Lua for the other,
Rust's `'static` opened a string for both). This one is told the language's `Lexicon` by the
registry (languages.py) and knows just enough: line and block comments, the language's kinds of
string literal with their escapes, and what a `'` outside a string is.

It keeps its state between calls and can say "wait" when the text seen so far ends in the middle
of a delimiter (`/` may start `//`), so a stream can be lexed as it arrives, each character once.
"""

from __future__ import annotations

from collections.abc import Iterator

from lsp_assist.languages import Lexicon, StringSyntax

OPENERS = "([{"
CLOSERS = ")]}"
PAIRS = {")": "(", "]": "[", "}": "{"}
# Token kinds of `Lexer.step`.
CODE, OPEN, CLOSE, SPACE, TEXT, NEWLINE, WAIT = range(7)
_SPACE = " \t\r"
_LINE_START = ("", " ", "\t", "\r", "\n")

# A delimiter that opens a literal: (marker, string kind or None for a comment, comment end).
_Marker = tuple[str, StringSyntax | None, str]


class Lexer:
    """Classifies characters as code, brackets, space, or text inside strings and comments."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._end = ""  # what ends the literal we are in ("\n" for a line comment); "" in code
        self._in_comment = False
        self._one_line = False  # the literal ends with its line
        self._escapes = False
        self._before = ""  # the last character of the text lexed before this one
        markers: list[_Marker] = [(m, None, "\n") for m in lexicon.line_comments]
        markers += [(start, None, end) for start, end in lexicon.block_comments]
        markers += [(s.open, s, s.close) for s in lexicon.strings]
        self._markers: dict[str, list[_Marker]] = {}
        for marker in sorted(markers, key=lambda m: -len(m[0])):  # the longest first
            self._markers.setdefault(marker[0][0], []).append(marker)

    @property
    def in_literal(self) -> bool:
        """Inside a string literal or a comment."""
        return bool(self._end)

    @property
    def string_end(self) -> str:
        """The delimiter that closes the string literal we are in; "" outside one."""
        return "" if self._in_comment else self._end

    def tokens(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(index, kind, length) of each token of `text`, all of which is known."""
        i = 0
        while i < len(text):
            kind, length = self.step(text, i, final=True)
            yield i, kind, length
            i += length
        self._before = text[-1:] or self._before

    def brackets(self, text: str) -> list[tuple[int, str]]:
        """(index, bracket) of the code brackets in `text`."""
        return [(i, text[i]) for i, kind, _ in self.tokens(text) if kind in (OPEN, CLOSE)]

    def step(self, text: str, i: int, final: bool) -> tuple[int, int]:
        """(kind, length) of the token at `text[i]`; (WAIT, 0) when more text is needed to
        tell, unless `final`: nothing more will come."""
        c = text[i]
        if c == "\n":
            if self._one_line:
                self._end, self._one_line = "", False
            return NEWLINE, 1
        if self._end:
            return self._inside(text, i, final)
        if c in _SPACE:
            return SPACE, 1
        candidates = self._markers.get(c)
        if candidates:
            found = self._open(text, i, final, candidates)
            if found is not None:
                return found
        if c in OPENERS:
            return OPEN, 1
        if c in CLOSERS:
            return CLOSE, 1
        return CODE, 1

    def _inside(self, text: str, i: int, final: bool) -> tuple[int, int]:
        c, end = text[i], self._end
        if c == "\\" and self._escapes:
            if i + 1 == len(text) and not final:
                return WAIT, 0
            # An escaped line break still has to be seen as a line break.
            return TEXT, 1 if text.startswith("\\\n", i) else 2
        if c == end[0]:
            if text.startswith(end, i):
                kind = TEXT if self._in_comment else CODE
                self._end, self._one_line = "", False
                return kind, len(end)
            if not final and end.startswith(text[i:]):
                return WAIT, 0
        return TEXT, 1

    def _open(
        self, text: str, i: int, final: bool, candidates: list[_Marker]
    ) -> tuple[int, int] | None:
        for marker, string, end in candidates:
            if not text.startswith(marker, i):
                if not final and len(text) - i < len(marker) and marker.startswith(text[i:]):
                    return WAIT, 0
                continue
            if string is None:
                if marker in self.lexicon.spaced_comments and self._previous(text, i) not in (
                    _LINE_START
                ):
                    continue  # `this.#field`
                self._enter(end, comment=True, one_line=end == "\n", escapes=False)
                return TEXT, len(marker)
            if marker == "'":
                verdict = self._apostrophe(text, i, final)
                if verdict is not None:
                    return verdict
            self._enter(end, comment=False, one_line=not string.multiline, escapes=string.escapes)
            return CODE, len(marker)
        return None

    def _apostrophe(self, text: str, i: int, final: bool) -> tuple[int, int] | None:
        """(CODE, 1) when the `'` at `i` does not open a literal, WAIT, or None: it does."""
        rule = self.lexicon.apostrophe
        if rule == "lifetime":
            if len(text) - i < 3 and not final:
                return WAIT, 0
            name, after = text[i + 1 : i + 2], text[i + 2 : i + 3]
            if (name.isalpha() or name == "_") and after != "'":
                return CODE, 1  # `'a`, `'static`, `'outer:` (but `'a'` is a char)
        elif rule == "separator":
            previous = self._previous(text, i)
            if previous.isalnum() or previous == "_":
                return CODE, 1  # `1'000`, or the prefix of `u8'a'`
        elif rule == "guess" and self._previous(text, i) in ("&", "<"):
            return CODE, 1
        return None

    def _previous(self, text: str, i: int) -> str:
        return text[i - 1] if i else self._before

    def _enter(self, end: str, *, comment: bool, one_line: bool, escapes: bool) -> None:
        self._end, self._in_comment = end, comment
        self._one_line, self._escapes = one_line, escapes
