"""Random editing sessions for fuzzing the LSP surface.

A sequence opens one document and then interleaves `didChange`s (incremental and full, several
changes per notification, runs of single keystrokes) with inline completions, completions, code
actions, saves, reviews, reopenings and state checks. Texts mix code with what breaks position
arithmetic: CR, LF and CRLF (and the breaks LSP does *not* count: U+2028, NEL, VT, FF), lone and
paired surrogates (an emoji typed as its two halves too), emoji (astral, ZWJ sequences, flags),
combining marks, NUL, a BOM and 100 kB lines. Positions land at line ends, past them, past the
last line, and inside a character; what the editor's text becomes is worked out by the model
in `fuzz_model.py`, which follows LSP.

Ranges are sent with their start before their end (as editors do); `generate_sequence` draws
everything from one `random.Random`, so a sequence is reproducible from its seed and
Hypothesis can drive (and shrink) it through `st.randoms()`.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field

from tests.e2e.fuzz_model import (
    Position,
    Range,
    joined,
    line_spans,
    lsp_position,
    offset_at,
    units,
)

_WIDE = {
    "utf-16": re.compile("[\U00010000-\U0010ffff]"),
    "utf-8": re.compile("[^\x00-\x7f]"),
    "utf-32": re.compile("(?!)"),
}

# -- what a sequence does -------------------------------------------------------------------


@dataclass(frozen=True)
class Open:
    text: str
    language_id: str
    reopen: bool = False  # didClose first


@dataclass(frozen=True)
class Edit:
    range: Range | None  # None: the whole text
    text: str


@dataclass(frozen=True)
class Change:
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Ask:
    """A request; `expected` is where its answer must be anchored (the requested position as
    the server must read it), for inline completion and completion."""

    method: str
    range: Range
    expected: Position
    text: str | None = None  # for a code action: the text it is asked in (its fix is checked)


@dataclass(frozen=True)
class Save:
    pass


@dataclass(frozen=True)
class Review:
    """`lspAssist.reviewFile`, awaited: the findings it places then follow the edits, and
    code actions on them carry fixes."""


@dataclass(frozen=True)
class Check:
    """The server's state of the document must be `text` (and its index and tree fresh)."""

    text: str


Op = Open | Change | Ask | Save | Review | Check

INLINE = "textDocument/inlineCompletion"
COMPLETION = "textDocument/completion"
CODE_ACTION = "textDocument/codeAction"

LANGUAGES = {"python": ".py", "javascript": ".js", "rust": ".rs", "go": ".go", "plaintext": ".txt"}


@dataclass
class Sequence:
    encoding: str
    extension: str
    ops: list[Op] = field(default_factory=list)

    def describe(self, limit: int = 60) -> str:
        """The ops, one a line, long strings shortened: what a failure report shows."""
        return "\n".join(f"  {_described(op, limit)}" for op in self.ops)


def _described(value: object, limit: int) -> str:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}+{len(value) - limit} chars"
    if isinstance(value, tuple) and value and isinstance(value[0], Edit):
        return f"({', '.join(_described(edit, limit) for edit in value)})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        inner = ", ".join(f"{f.name}={_described(getattr(value, f.name), limit)}" for f in fields)
        return f"{type(value).__name__}({inner})"
    return repr(value)


# -- the generator --------------------------------------------------------------------------

FLAGGED = "    return x"
"""A line of the code below that the fuzz reviewer finds fault with (`fuzz_runner`)."""

CODE = (
    "def f(x):\n    return x\n",
    "class A:\n\tpass\n",
    "if a:\r\n    b = [1, 2]\r\n",
    "x = 'str'\n",
    '"""doc\nstring"""\n',
    "function g() { return `t${1}`; }\n",
    'fn main() { let s = "é"; }\n',
    "# comment\n",
    "    ",
    "(",
    ")",
    "{",
    "}",
    ":",
    "\t",
    "'",
    '"',
    "x",
    "return ",
    "import os\n",
)
ODD = (
    "\n",
    "\r\n",
    "\r",
    "\r\r\n\n",
    "\u2028",  # LINE SEPARATOR: not a line break in LSP
    "\u0085",  # NEL: nor this
    "\x0b\x0c",
    "é",
    "e\u0301",  # e + combining acute
    "\u0301\u0308",  # combining marks with nothing to combine with
    "中文",
    "😀",
    "👩\u200d💻",  # ZWJ sequence
    "🇫🇷",
    "\ud83d",  # a lone high surrogate (the first half of 😀)
    "\ude00",  # a lone low surrogate (its second half)
    "\ud83d\ude00",  # a pair spelled as two halves: JSON makes it 😀
    "\udfff\ud800",  # halves in the wrong order: two lone surrogates
    "\x00",
    "\ufeff",
    "\U0010ffff",
)
LONG_LINES = (
    "x" * 100_000,
    "é😀" * 33_000,
    "s = '" + "\ud800" * 100_000 + "'",
)


class Generator:
    def __init__(self, rng: random.Random, encoding: str, max_steps: int) -> None:
        self.rng = rng
        self.encoding = encoding
        self.max_steps = max_steps
        self.text = ""
        self.cursor = 0
        self.long_lines_left = 1 if rng.random() < 0.15 else 0

    def sequence(self) -> Sequence:
        rng = self.rng
        language = rng.choice(["python", "python", *LANGUAGES])  # the reviewer reads Python
        sequence = Sequence(self.encoding, LANGUAGES[language])
        ops = sequence.ops
        self.text = joined(self.fresh_text())
        ops.append(Open(self.text, language))
        for _ in range(rng.randint(1, self.max_steps)):
            roll = rng.random()
            if roll < 0.45:
                ops.append(self.change())
            elif roll < 0.55:
                ops.extend(self.typing())
            elif roll < 0.70:
                ops.append(self.ask(INLINE))
            elif roll < 0.78:
                ops.append(self.ask(COMPLETION))
            elif roll < 0.85:
                ops.append(self.ask(CODE_ACTION))
            elif roll < 0.87:
                ops.append(Save())
            elif roll < 0.90:
                ops.append(Review())
                if rng.random() < 0.7:  # and a look at its fixes
                    ops.append(self.ask(CODE_ACTION))
            elif roll < 0.97:
                ops.append(Check(self.text))
            else:
                self.text = joined(self.fresh_text())
                ops.append(Open(self.text, rng.choice(list(LANGUAGES)), reopen=True))
        ops.append(Check(self.text))
        return sequence

    # -- texts ------------------------------------------------------------------------------

    def piece(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02 and self.long_lines_left:
            self.long_lines_left -= 1
            return rng.choice(LONG_LINES)
        return rng.choice(CODE if roll < 0.55 else ODD)

    def new_text(self, most: int) -> str:
        return "".join(self.piece() for _ in range(self.rng.randint(0, most)))

    def fresh_text(self) -> str:
        roll = self.rng.random()
        if roll < 0.1:
            return ""
        if roll < 0.4:
            return "".join(CODE[:8]) + self.new_text(4)
        return self.new_text(30)

    # -- positions --------------------------------------------------------------------------

    def position(self) -> Position:
        rng, text, encoding = self.rng, self.text, self.encoding
        spans = line_spans(text)
        roll = rng.random()
        if roll < 0.05:
            return len(spans) + rng.randint(0, 3), rng.randint(0, 5)  # past the last line
        line = rng.randrange(len(spans))
        start, end = spans[line]
        if roll < 0.12:
            return line, units(text[start:end], encoding) + rng.randint(1, 40)  # past its end
        if roll < 0.25:
            wide = [m.start() for m in _WIDE[encoding].finditer(text, start, end)]
            if wide:  # inside a character
                at = rng.choice(wide)
                inside = rng.randint(1, units(text[at], encoding) - 1)
                return line, units(text[start:at], encoding) + inside
        if rng.random() < 0.3:
            column = end - start  # the end of the line
        else:
            column = rng.randint(0, end - start)
        return line, units(text[start : start + column], encoding)

    def range(self, empty: float) -> tuple[Range, int, int]:
        """A range (start before end) with the offsets it means; empty with odds `empty`."""
        first = self.position()
        second = first if self.rng.random() < empty else self.position()
        begin = offset_at(self.text, first, self.encoding)
        end = offset_at(self.text, second, self.encoding)
        if (end, second) < (begin, first):
            first, second, begin, end = second, first, end, begin
        return (first, second), begin, end

    # -- ops --------------------------------------------------------------------------------

    def change(self) -> Change:
        rng = self.rng
        edits = []
        for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
            if rng.random() < 0.12:
                if rng.random() < 0.5:
                    new = self.new_text(20)
                else:  # the whole text, changed somewhere: what a formatter sends
                    _, begin, end = self.range(empty=0.3)
                    new = self.text[:begin] + self.new_text(3) + self.text[end:]
                edits.append(Edit(None, new))
                self.text = joined(new)
                continue
            range_, begin, end = self.range(empty=0.4)
            new = self.new_text(3)
            edits.append(Edit(range_, new))
            self.text = joined(self.text[:begin] + new + self.text[end:])
        return Change(tuple(edits))

    def typing(self) -> list[Op]:
        """Keystrokes at one place (one change each), then ghost text there: the editor's
        commonest sequence, and the type-through cache's."""
        rng = self.rng
        self.cursor = offset_at(self.text, self.position(), self.encoding)
        ops: list[Op] = []
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.2 and self.cursor > 0:
                ops.append(self.backspace())
            elif roll < 0.25:  # an emoji typed as its two halves, one change each
                ops += [self.keystroke("\ud83d"), self.keystroke("\ude00")]
            else:
                ops.append(self.keystroke(rng.choice("abc_ (:\n" if roll < 0.85 else ODD)))
            if rng.random() < 0.5:
                ops.append(self.ask_at(INLINE, self.cursor))
        return ops

    def keystroke(self, char: str) -> Change:
        offset = self.cursor
        here = lsp_position(self.text, offset, self.encoding)
        old_length = len(self.text)
        self.text = joined(self.text[:offset] + char + self.text[offset:])
        self.cursor = offset + len(self.text) - old_length  # less when the halves of a pair met
        self.settle_cursor()
        return Change((Edit((here, here), char),))

    def backspace(self) -> Change:
        """Deletes the character before the cursor ("\r\n" is one)."""
        offset = self.cursor
        width = 2 if self.text[offset - 2 : offset] == "\r\n" else 1
        before = lsp_position(self.text, offset - width, self.encoding)
        here = lsp_position(self.text, offset, self.encoding)
        self.text = joined(self.text[: offset - width] + self.text[offset:])
        self.cursor = offset - width
        self.settle_cursor()
        return Change((Edit((before, here), ""),))

    def settle_cursor(self) -> None:
        """No cursor between "\r" and "\n" that an edit brought together: one line break."""
        if self.text[self.cursor - 1 : self.cursor + 1] == "\r\n":
            self.cursor += 1

    def ask(self, method: str) -> Ask:
        if method == CODE_ACTION:
            flagged = [m.start() for m in re.finditer(re.escape(FLAGGED), self.text)]
            if flagged and self.rng.random() < 0.6:  # where the reviewer finds fault
                at = lsp_position(self.text, self.rng.choice(flagged), self.encoding)
                return Ask(method, (at, at), at, self.text)
            range_, begin, _ = self.range(empty=0.2)
            return Ask(method, range_, lsp_position(self.text, begin, self.encoding), self.text)
        range_, begin, _ = self.range(empty=1.0)
        return Ask(method, (range_[0], range_[0]), lsp_position(self.text, begin, self.encoding))

    def ask_at(self, method: str, offset: int) -> Ask:
        here = lsp_position(self.text, offset, self.encoding)
        return Ask(method, (here, here), here)


def generate_sequence(rng: random.Random, encoding: str, max_steps: int = 12) -> Sequence:
    return Generator(rng, encoding, max_steps).sequence()
