"""Snippets for the prompt: how a definition is shown, and packing them under a budget.

A definition is shown by its signature and the first lines of its doc (a method under its
class's header; a small class with its methods' signatures), never its body: that is what the
model needs to call it, and it keeps secrets in bodies out. Snippets are taken in priority
order while they fit the character budget, then grouped into one `ContextFile` per source file,
each file's snippets in line order, the files ordered so that the most wanted come last (next
to the current file, where models attend most). The order depends only on the snippets, never
on time or dict order, so the same context renders to the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsp_assist.context.tags import FileTags, Symbol
from lsp_assist.prompts.templates import ContextFile

SMALL_CLASS_METHODS = 12
"""A class with at most this many methods is shown with all their signatures."""
FILE_OVERHEAD = 16
"""Characters a context file costs besides its path and text (separator tokens, newlines)."""


@dataclass(frozen=True, slots=True, order=True)
class Entry:
    """Lines of one file that go to the prompt together."""

    path: str
    line: int
    end_line: int
    text: str


@dataclass(frozen=True, slots=True)
class Snippet:
    """A candidate for the prompt: the entries it needs (a method needs its class header)."""

    priority: int
    """0 the callee, 1 the statement's names, 2 the function's, 3 the enclosing class,
    4 similar code."""
    entries: tuple[Entry, ...]


def definition_snippet(
    priority: int, symbol: Symbol, tags: FileTags | None, comment: str
) -> Snippet:
    """`symbol` as the model should see it: a method under its class header, a small class
    with its methods' signatures."""
    python = tags is not None and tags.language == "python"
    owner = _owner(symbol, tags)
    entries: list[Entry] = []
    if owner is not None:
        entries.append(_entry(owner, "", comment, python, body=False))
        entries.append(_entry(symbol, "    ", comment, python, body=True))
    elif symbol.kind == "class" and tags is not None:
        methods = [s for s in tags.symbols if s.container == symbol.name and s is not symbol]
        entries.append(_entry(symbol, "", comment, python, body=not methods))
        if len(methods) <= SMALL_CLASS_METHODS:
            entries += [_entry(m, "    ", comment, python, body=True) for m in methods]
    else:
        entries.append(_entry(symbol, "", comment, python, body=True))
    return Snippet(priority, tuple(entries))


def class_header_snippet(
    priority: int, owner: Symbol, tags: FileTags, comment: str, skip: range
) -> Snippet:
    """The enclosing class's header and its methods' signatures, except those in `skip`
    (lines the prompt's own window shows)."""
    python = tags.language == "python"
    entries = [] if owner.line in skip else [_entry(owner, "", comment, python, body=False)]
    for symbol in tags.symbols:
        if symbol.container == owner.name and symbol.line not in skip:
            entries.append(_entry(symbol, "    ", comment, python, body=True))
    return Snippet(priority, tuple(entries))


def _owner(symbol: Symbol, tags: FileTags | None) -> Symbol | None:
    if not symbol.container or tags is None:
        return None
    for candidate in tags.symbols:
        if candidate.name == symbol.container and candidate.kind == "class":
            return candidate
    return None


def _entry(symbol: Symbol, indent: str, comment: str, python: bool, *, body: bool) -> Entry:
    doc = [line.strip() for line in symbol.doc.splitlines() if line.strip()]
    signature = indent + symbol.signature.strip()
    if python:
        lines = [signature]
        if doc:
            quoted = [f'"""{doc[0]}', *doc[1:]]
            quoted[-1] += '"""'
            lines += [f"{indent}    {line}" for line in quoted]
        elif body:
            lines.append(f"{indent}    ...")
    else:
        lines = [f"{indent}{comment} {line}" for line in doc] + [signature]
    # Its span is the header line: what a window of code showing it would overlap.
    return Entry(symbol.path, symbol.line, symbol.line, "\n".join(lines))


def pack(snippets: Sequence[Snippet], budget: int) -> tuple[ContextFile, ...]:
    """The snippets that fit `budget` characters, taken in the given order (callers sort by
    priority), as one context file per path."""
    chosen: dict[tuple[str, int], Entry] = {}
    best: dict[str, int] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    used = 0
    for snippet in snippets:
        fresh = [e for e in snippet.entries if (e.path, e.line) not in chosen]
        if not fresh or any(_overlaps(spans.get(e.path, ()), e) for e in fresh):
            continue  # a window of code overlapping what is already shown
        cost = sum(len(e.text) + 1 for e in fresh)
        cost += sum(len(path) + FILE_OVERHEAD for path in {e.path for e in fresh} - set(best))
        if used + cost > budget:
            continue
        used += cost
        for entry in fresh:
            chosen[entry.path, entry.line] = entry
            best[entry.path] = min(best.get(entry.path, snippet.priority), snippet.priority)
            spans.setdefault(entry.path, []).append((entry.line, entry.end_line))
    by_path: dict[str, list[Entry]] = {}
    for entry in sorted(chosen.values()):
        by_path.setdefault(entry.path, []).append(entry)
    order = sorted(by_path, key=lambda path: (-best[path], path))
    return tuple(ContextFile(path, _join(by_path[path])) for path in order)


def _overlaps(spans: Sequence[tuple[int, int]], entry: Entry) -> bool:
    """Whether a window of code overlaps lines already chosen (definitions are never
    dropped for a window: they come first)."""
    return entry.end_line > entry.line and any(
        start <= entry.end_line and entry.line <= end for start, end in spans
    )


def _join(entries: Sequence[Entry]) -> str:
    parts: list[str] = []
    previous = -1
    for entry in entries:
        if parts and entry.line > previous + 1 and not entry.text.startswith((" ", "\t")):
            parts.append("")  # a blank line between unrelated pieces
        parts.append(entry.text)
        previous = max(previous, entry.end_line)
    return "\n".join(parts) + "\n"
