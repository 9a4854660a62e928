"""What a reviewed function calls, as the workspace defines it: the signatures (and first doc
line) of its callees go into the review prompt, so the model stops guessing what they do.

Calls are found by their shape (`name(` and `.name(`) in the function's text; each name is
looked up in the workspace index. A name defined more than `MAX_DEFINITIONS` times says nothing
reliable and is left out. The block is deterministic (first call first), so the answer cache and
the model's prompt cache see the same text for the same code.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Sequence

from lsp_assist.context.tags import Symbol
from lsp_assist.review.units import ReviewUnit

SymbolLookup = Callable[[str], Sequence[Symbol]]

MAX_CALLEES = 12
MAX_DEFINITIONS = 2
MAX_CHARS = 2_000

_CALL = re.compile(r"(?<![\w$])([A-Za-z_$][\w$]*)\s*(?:<[^<>()]*>)?\s*\(")
_NOT_CALLEES = frozenset(keyword.kwlist) | {
    "if", "for", "while", "switch", "catch", "return", "function", "func", "fn", "match",
    "sizeof", "typeof", "new", "super", "this", "self", "print", "len", "range",
}  # fmt: skip


def called_names(unit: ReviewUnit) -> list[str]:
    """The names the function calls, in order of first call, without its own name."""
    own = unit.name.rsplit(".", 1)[-1].split("#", 1)[0]
    names: list[str] = []
    for match in _CALL.finditer(unit.text):
        name = match.group(1)
        if name not in _NOT_CALLEES and name != own and name not in names:
            names.append(name)
    return names


def callee_signatures(unit: ReviewUnit, lookup: SymbolLookup) -> str:
    """The block for the review prompt ("" when the workspace defines none of its callees)."""
    lines: list[str] = []
    size = 0
    for name in called_names(unit):
        symbols = lookup(name)
        if not symbols or len(symbols) > MAX_DEFINITIONS:
            continue
        for symbol in sorted(symbols, key=lambda s: (s.path, s.line)):
            line = f"{symbol.path}: {symbol.signature}"
            if symbol.doc:
                line += f"  # {symbol.doc.splitlines()[0].strip()}"
            if size + len(line) > MAX_CHARS:
                return "\n".join(lines)
            lines.append(line)
            size += len(line) + 1
        if len(lines) >= MAX_CALLEES:
            break
    return "\n".join(lines)
