"""How far the user has come through a suggestion by typing, across lines.

Typing a suggestion's characters keeps it: the rest is still right. Across a newline the editor
types too — its auto-indent — and that need not be the suggestion's indentation (four spaces
where the model wrote eight, a tab, none): indentation at the start of a line is the editor's
choice, not a divergence. Anything else typed differently ends the reuse at that point.
"""

from __future__ import annotations

MORE = -1
"""`follow`'s answer when the suggestion so far is too short to tell (it is still streaming)."""

_BLANK = " \t"


def follow(
    suggestion: str, typed: str, *, complete: bool = True, line_start: bool = False
) -> int | None:
    """The index in `suggestion` where its rest begins, once `typed` has been typed; None when
    `typed` leaves the suggestion; `MORE` when `complete` is False and the text so far cannot
    tell (`suggestion` is a prefix of what the model is still sending). `line_start`: the
    suggestion was made at the start of a line (so its own indentation comes first)."""
    i = j = 0
    while j < len(typed):
        if i == j == 0:
            at_line_start = line_start
        else:
            at_line_start = j > 0 and typed[j - 1] == "\n" and i > 0 and suggestion[i - 1] == "\n"
        if at_line_start and (
            typed[j] in _BLANK or (i < len(suggestion) and suggestion[i] in _BLANK)
        ):
            typed_end = _blank_end(typed, j)
            if not complete and _blank_end(suggestion, i) == len(suggestion):
                return MORE  # the suggestion's indentation may not have ended yet
            suggestion_end = _blank_end(suggestion, i)
            indent, wanted = typed[j:typed_end], suggestion[i:suggestion_end]
            if typed_end == len(typed):  # the cursor is in the editor's indentation
                # The rest of the model's indentation when it continues the editor's, else
                # the line's code right after the editor's indentation.
                return i + len(indent) if wanted.startswith(indent) else suggestion_end
            i, j = suggestion_end, typed_end
            continue
        if i >= len(suggestion):
            return None if complete else MORE
        if suggestion[i] != typed[j]:
            return None
        i += 1
        j += 1
    return i


def _blank_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _BLANK:
        end += 1
    return end
