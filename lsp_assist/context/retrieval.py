"""Retrieval for a completion: the context a cursor needs, from the workspace index and the
open buffers.

In priority order (as CrossCodeEval and RepoCoder found most useful, callee and type
definitions first):

0. the definition of the call being written (`client.send(` → `def send`),
1. the definitions of the other names of the current statement,
2. those of the enclosing function,
3. the enclosing class's header and its other methods' signatures,
4. similar code: windows of ~20 lines of the other open buffers and of recently edited
   regions, ranked by Jaccard similarity of their identifiers with the lines before the cursor
   (Copilot's neighbouring tabs); windows more than half similar to those lines, and
   near-duplicates of each other, are dropped (llama.vim: they make models repeat).

Nothing inside the current file's local window (what the prompt shows anyway) is repeated.
The result is packed under a character budget into one `ContextFile` per source file.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lsp_assist.context.cursor import Chain, CursorNames
from lsp_assist.context.packing import Entry, Snippet, class_header_snippet, definition_snippet
from lsp_assist.context.resolve import TagIndex, resolve
from lsp_assist.context.tags import FileTags, Symbol
from lsp_assist.languages import LANGUAGES

WINDOW_STEP = 10
WINDOW_LINES = 2 * WINDOW_STEP
MAX_SIMILAR = 3
MIN_SIMILARITY = 0.1
"""Below this, a window shares too little with the cursor's code to be worth its space."""
MAX_SIMILARITY = 0.5
"""Above this, a window nearly repeats the cursor's own code: dropped."""
DUPLICATE_SIMILARITY = 0.9
MAX_NAMES = 64
"""Names of the enclosing function looked up at most (a 500-line function has many)."""

_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]+")
_COMMON = frozenset(
    "if else elif for while return def class import from as in is not and or None True False "
    "self this cls let const var function new null undefined true false func fn pub use mut "
    "struct impl type interface package export default async await try except catch finally "
    "with pass break continue lambda yield static void int str bool string".split()
)

Definition = tuple[int, Symbol]
"""A resolved definition and its priority (0 callee, 1 statement, 2 function)."""


def identifiers(text: str) -> frozenset[str]:
    """The identifiers of a piece of code, keywords and one-letter names left out."""
    return frozenset(_IDENTIFIER.findall(text)) - _COMMON


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice similarity, as llama.vim's ring buffer tells near-duplicates apart."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


# -- definitions -----------------------------------------------------------------------------


def resolve_definitions(
    index: TagIndex, current: FileTags, names: CursorNames, local: range
) -> tuple[Definition, ...]:
    """The definitions the cursor's names refer to, each once, at its best priority, in
    priority order then order of appearance; none inside the current file's `local` lines."""
    found: dict[tuple[str, int, str], Definition] = {}
    callee: tuple[Chain, ...] = (names.callee,) if names.callee else ()
    groups = ((0, callee), (1, names.statement), (2, names.function[:MAX_NAMES]))
    for priority, chains in groups:
        for chain in chains:
            symbol = resolve(index, current, chain)
            if symbol is None or (symbol.path == current.path and symbol.line in local):
                continue
            found.setdefault((symbol.path, symbol.line, symbol.name), (priority, symbol))
    return tuple(found.values())


def enclosing_class(current: FileTags, line: int, name: str) -> Symbol | None:
    """The innermost class of the current file around `line` (named `name` when known)."""
    best: Symbol | None = None
    for symbol in current.symbols:
        if symbol.kind != "class" or not symbol.line <= line <= symbol.end_line:
            continue
        if name and symbol.name != name:
            continue
        if best is None or symbol.line > best.line:
            best = symbol
    return best


def definition_snippets(
    index: TagIndex,
    current: FileTags,
    definitions: Sequence[Definition],
    owner: Symbol | None,
    local: range,
) -> list[Snippet]:
    snippets: list[Snippet] = []
    for priority, symbol in definitions:
        tags = current if symbol.path == current.path else index.file(symbol.path)
        snippets.append(definition_snippet(priority, symbol, tags, _comment(tags)))
    if owner is not None:
        snippet = class_header_snippet(3, owner, current, _comment(current), local)
        if snippet.entries:
            snippets.append(snippet)
    return snippets


def _comment(tags: FileTags | None) -> str:
    spec = LANGUAGES.get(tags.language) if tags is not None else None
    return (spec.line_comment if spec is not None else "") or "//"


# -- similar code ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeWindows:
    """A buffer cut into overlapping windows of lines, with each window's identifiers:
    computed once per buffer version."""

    path: str
    lines: tuple[str, ...]
    starts: tuple[int, ...]
    ids: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, path: str, lines: Sequence[str]) -> CodeWindows:
        # Windows overlap by half: each block of `WINDOW_STEP` lines is read once.
        blocks = [
            identifiers("\n".join(lines[s : s + WINDOW_STEP]))
            for s in range(0, max(1, len(lines)), WINDOW_STEP)
        ]
        count = max(1, len(blocks) - 1)
        ids = tuple(
            blocks[i] | blocks[i + 1] if i + 1 < len(blocks) else blocks[i] for i in range(count)
        )
        starts = tuple(i * WINDOW_STEP for i in range(count))
        return cls(path, tuple(lines), starts, ids)

    def window(self, start: int) -> Entry:
        end = min(len(self.lines), start + WINDOW_LINES)
        return Entry(self.path, start, end - 1, "\n".join(self.lines[start:end]).rstrip())


@dataclass(frozen=True, slots=True)
class Region:
    """A recently edited region: its lines (and where they start in its file)."""

    path: str
    line: int
    lines: tuple[str, ...]


_Scored = tuple[float, str, int, frozenset[str], "CodeWindows | Entry"]
"""(-similarity, path, first line, identifiers, where its text comes from)."""


def similar_snippets(
    query: frozenset[str],
    buffers: Sequence[CodeWindows],
    regions: Sequence[Region],
    *,
    current_path: str,
    local: range,
) -> list[Snippet]:
    """At most `MAX_SIMILAR` windows most similar to `query`, best first; none too similar
    to it, none a near-duplicate of a better one, none overlapping the `local` lines."""
    scored: list[_Scored] = []
    size = len(query)
    for buffer in buffers:
        mine = buffer.path == current_path
        for start, ids in zip(buffer.starts, buffer.ids, strict=True):
            shared = len(query & ids)  # jaccard(), inlined: this loop sees every window
            if not shared or (mine and _meets(start, start + WINDOW_LINES - 1, local)):
                continue
            score = shared / (size + len(ids) - shared)
            if MIN_SIMILARITY <= score <= MAX_SIMILARITY:
                scored.append((-score, buffer.path, start, ids, buffer))
    for region in regions:
        end = region.line + len(region.lines) - 1
        if region.path == current_path and _meets(region.line, end, local):
            continue
        text = "\n".join(region.lines).rstrip()
        ids = identifiers(text)
        score = jaccard(query, ids)
        if MIN_SIMILARITY <= score <= MAX_SIMILARITY:
            entry = Entry(region.path, region.line, end, text)
            scored.append((-score, region.path, region.line, ids, entry))
    kept: list[tuple[frozenset[str], Entry]] = []
    for _, path, start, ids, source in _best_first(scored):
        if any(dice(ids, other) > DUPLICATE_SIMILARITY for other, _ in kept):
            continue
        entry = source.window(start) if isinstance(source, CodeWindows) else source
        if any(e.path == path and _meets(e.line, e.end_line, _lines(entry)) for _, e in kept):
            continue
        kept.append((ids, entry))
        if len(kept) == MAX_SIMILAR:
            break
    return [Snippet(4, (entry,)) for _, entry in kept]


def _best_first(scored: list[_Scored]) -> Iterator[_Scored]:
    """`scored` by rank; the few best found without sorting it all (they are usually
    enough: only near-duplicates make the loop read further)."""
    best = heapq.nsmallest(MAX_SIMILAR * 4, scored, key=_rank)
    yield from best
    if len(best) < len(scored):
        yield from sorted(scored, key=_rank)[len(best) :]


def _rank(item: _Scored) -> tuple[float, str, int]:
    return item[0], item[1], item[2]


def _lines(entry: Entry) -> range:
    return range(entry.line, entry.end_line + 1)


def _meets(first: int, last: int, lines: range) -> bool:
    return first < lines.stop and lines.start <= last
