"""Cleaning a finished suggestion before it is shown.

Models wrap code in markdown fences, repeat lines, close brackets they never opened and, above
all, re-emit the text that already follows the cursor. Each rule here removes one such fault,
cheaply and without guessing: when a rule is unsure it leaves the text alone. Indentation is
never touched, and the text is inserted as is right at the cursor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lsp_assist.completion.lexer import OPENERS, PAIRS, Lexer
from lsp_assist.languages import GUESS_LEXICON, LanguageSpec, Lexicon
from lsp_assist.prompts.templates import LEAKED_TOKENS

_FENCE_OPEN = re.compile(r"\s*```[\w+#.-]*[ \t]*\n")
# A line that ends in a pattern repeated over and over is a model stuck in a loop (Tabby).
_LOOPING_LINE = (re.compile(r"(.{3,}?)\1{5,}$"), re.compile(r"(.{10,}?)\1{3,}$"))
_LOOP_WINDOW = 240


def postprocess_completion(
    raw: str,
    *,
    line_prefix: str,
    line_suffix: str,
    following_lines: Sequence[str],
    multiline: bool,
    previous_line: str | None = None,
    language: LanguageSpec | None = None,
) -> str:
    """The text to insert at the cursor ("" for no suggestion). `previous_line`, the line above
    the cursor's, is optional: with it a suggestion that only repeats that line is dropped.
    Without the document's `language`, brackets are told from strings and comments only by
    what means the same in all languages."""
    lexicon = language.lexicon if language is not None else GUESS_LEXICON
    text = _strip_fences(_cut_special_tokens(raw.replace("\r\n", "\n")))
    lines = text.split("\n")
    if not multiline:
        lines = lines[:1]
    if not lines[0].strip():
        lines[0] = ""  # a whitespace-only first line is just the line break
    lines = _cut_at_following_line(lines, line_prefix, following_lines)
    lines = _drop_repetition(lines, line_prefix)
    text = "\n".join(lines)
    unmatched, _, _ = _balance(text, line_prefix, lexicon)
    if unmatched is not None:
        text = text[:unmatched]
    text = text.rstrip()
    if not text.strip():
        return ""
    if previous_line and _same_line(_first_new_line(text, line_prefix), previous_line):
        return ""
    return _remove_suffix_overlap(text, line_prefix, line_suffix, lexicon)


def _cut_special_tokens(text: str) -> str:
    for token in LEAKED_TOKENS:
        if (at := text.find(token)) >= 0:
            text = text[:at]
    return text


def _strip_fences(text: str) -> str:
    """Drops a markdown fence around the code and whatever follows its closing fence. Only
    when the text opens with one: a ``` line alone may well be part of a markdown file."""
    opening = _FENCE_OPEN.match(text)
    if opening is None:
        return "" if text.strip().startswith("```") else text
    body = text[opening.end() :].split("\n")
    for i, line in enumerate(body):
        if line.strip().startswith("```"):
            return "\n".join(body[:i])
    return "\n".join(body)


def _same_line(a: str, b: str) -> bool:
    """Do two lines of code say the same? Compared without indentation, except for short or
    punctuation-only lines (`}`, `else:`, `end`), whose indentation tells which block they
    belong to."""
    sa, sb = a.strip(), b.strip()
    if not sa or sa != sb:
        return False
    if len(sa) < 6 or not _has_word(sa):
        return a.rstrip() == b.rstrip()
    return True


def _has_word(line: str) -> bool:
    return any(c.isalnum() for c in line)


def _first_new_line(text: str, line_prefix: str) -> str:
    """The first line the suggestion writes (the cursor's line when it continues that)."""
    lines = text.split("\n")
    if lines[0].strip():
        return line_prefix + lines[0]
    return next((line for line in lines if line.strip()), "")


def _cut_at_following_line(
    lines: list[str], line_prefix: str, following_lines: Sequence[str]
) -> list[str]:
    """Stops at the first line that the file already has right below the cursor: from there
    on the model is re-emitting the rest of the file."""
    below = next((line for line in following_lines if line.strip()), None)
    if below is None:
        return lines
    for i, line in enumerate(lines):
        if i == 0 and not line:
            continue  # the suggestion writes nothing on the cursor's line
        if _same_line(line_prefix + line if i == 0 else line, below):
            return lines[:i] or [""]
    return lines


def _drop_repetition(lines: list[str], line_prefix: str) -> list[str]:
    """Cuts a loop (a line, or a group of up to 3 lines, three times over, blank lines aside)
    after its first round; drops a line equal to the one before it; drops a last line that
    ends in a pattern repeated over and over."""
    full = [line_prefix + lines[0], *lines[1:]]  # line 0 continues the cursor's line
    code = [i for i, line in enumerate(full) if line.strip()]
    texts = [full[i] for i in code]
    cut = len(lines)
    for j in range(len(code)):
        for p in (1, 2, 3):
            if j + 3 * p <= len(code) and (
                texts[j : j + p] == texts[j + p : j + 2 * p] == texts[j + 2 * p : j + 3 * p]
            ):
                cut = min(cut, code[j + p])
        if cut < len(lines):
            break
    kept = [
        i
        for i in range(cut)
        # Lines without words (`}`, `)`) legitimately repeat where nested blocks close.
        if not (i and full[i].strip() and full[i] == full[i - 1] and _has_word(full[i]))
    ]
    lines = [lines[i] for i in kept]
    last = max((i for i, line in enumerate(lines) if line.strip()), default=0)
    tail = lines[last][-_LOOP_WINDOW:]  # the regexes are quadratic; a loop shows at the end
    if any(p.search(tail) for p in _LOOPING_LINE):
        return lines[:last] or [""]
    return lines


def _balance(text: str, line_prefix: str, lexicon: Lexicon) -> tuple[int | None, list[str], bool]:
    """Walks `text` as inserted after `line_prefix`: (index of the first closing bracket that
    closes nothing the text or the cursor's line opened, brackets the text leaves open, does
    the text end inside a string it opened)."""
    lexer = Lexer(lexicon)
    prefix_open: list[str] = []
    for _, c in lexer.brackets(line_prefix):
        if c in OPENERS:
            prefix_open.append(c)
        elif prefix_open and prefix_open[-1] == PAIRS[c]:
            prefix_open.pop()
    prefix_quote = lexer.string_end
    opened: list[str] = []
    for i, c in lexer.brackets(text):
        if c in OPENERS:
            opened.append(c)
        elif opened and opened[-1] == PAIRS[c]:
            opened.pop()
        elif not opened and prefix_open and prefix_open[-1] == PAIRS[c]:
            prefix_open.pop()
        elif not opened and not line_prefix.strip() and not text[:i].strip():
            # A suggestion that starts by closing, on a line of its own (`) -> None:`, `}`),
            # closes what an earlier line opened: the syntax tree, not this line, judges it.
            continue
        else:
            return i, opened, False
    return None, opened, bool(lexer.string_end) and lexer.string_end != prefix_quote


def _remove_suffix_overlap(text: str, line_prefix: str, line_suffix: str, lexicon: Lexicon) -> str:
    """Removes the end of the suggestion that the text after the cursor already has, where
    that end closes only what was open before the cursor: `print(` + `x)` before `)` gives
    `x`, but `foo()` keeps its own `)`."""
    if not line_suffix.strip():
        return text
    if text.strip() == line_suffix.strip():
        return ""
    for k in range(min(len(text), len(line_suffix)), 0, -1):
        start = len(text) - k
        if not text.endswith(line_suffix[:k]):
            continue
        _, opened, in_own_string = _balance(text[:start], line_prefix, lexicon)
        if opened or in_own_string:
            continue
        kept = text[:start]
        if not kept.strip():
            return ""
        if "\n" in kept and not kept[kept.rfind("\n") + 1 :].strip():
            # The overlap began a line (`\n)` before `)`): keep the line break and the
            # indentation so that the existing text lands on its own line.
            return kept
        return kept.rstrip()
    return text
