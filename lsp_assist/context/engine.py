"""The context block of a prompt, kept the same while the user types.

Backends keep the KV cache of the longest prefix shared by consecutive prompts; the context
block sits at the head of the prompt, so any change to it makes the backend re-read the whole
prompt. `ContextEngine.context_for` therefore recomputes the block only when what it depends on
changes, and otherwise returns the very same tuple:

* on the same line, while the finished names on it and the call the cursor is in stay the same
  (typing a word, its arguments, spaces): a look at the cursor line only (a few µs);
* in the same statement with the same resolved definitions (a name finished that resolves to
  nothing, a new line inside a call): the names are read and resolved again, the snippets not;
* a new statement, or a definition that the block shows changed in the index (only the paths
  it used are looked at, and only the symbols it shows are compared): recomputed — and even
  then, an equal result is answered with the previous tuple.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lsp_assist.context.cursor import line_key, names_at
from lsp_assist.context.packing import Snippet, pack
from lsp_assist.context.resolve import TagIndex, family
from lsp_assist.context.retrieval import (
    WINDOW_LINES,
    CodeWindows,
    Definition,
    Region,
    definition_snippets,
    enclosing_class,
    identifiers,
    resolve_definitions,
    similar_snippets,
)
from lsp_assist.context.secrets import excluded, is_secret_path
from lsp_assist.context.tags import FileTags, Symbol
from lsp_assist.documents import TextView
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.uris import file_name_of_uri, path_of_uri

log = logging.getLogger(__name__)

DEFAULT_BUDGET = 4096
"""Characters of context when the caller does not say (about 1,000 tokens)."""
LOCAL_BEFORE = 60
LOCAL_AFTER = 20
"""Lines around the cursor that the prompt's own window shows: never repeated as context."""
QUERY_LINES = WINDOW_LINES
"""Lines before the cursor whose identifiers similar code is ranked against."""
RECENT_REGIONS = 8
MAX_REMEMBERED = 16
"""Documents whose last context is remembered (switching between a few files stays cheap)."""

_Content = tuple[str, str, str, str, str]


@dataclass
class _Cached:
    language: str
    line: int
    line_key: tuple[object, ...]
    statement_key: tuple[object, ...]
    generation: int
    used: dict[str, tuple[FileTags | None, frozenset[_Content]]]
    files: tuple[ContextFile, ...]


@dataclass
class ContextStats:
    line_hits: int = 0
    statement_hits: int = 0
    recomputed: int = 0
    unchanged: int = 0
    """Recomputations whose result equalled the previous one (answered with it)."""


@dataclass
class ContextEngine:
    """Per session: the last context of each document, and the regions recently edited."""

    root: Path | None = None
    budget: int = DEFAULT_BUDGET
    exclude: tuple[str, ...] = ()
    """`context.exclude` globs: files never shown, as definitions or as similar code."""
    stats: ContextStats = field(default_factory=ContextStats)
    _cache: OrderedDict[str, _Cached] = field(default_factory=OrderedDict)
    _windows: dict[str, tuple[int, str, CodeWindows]] = field(default_factory=dict)
    _recent: OrderedDict[tuple[str, int], int] = field(default_factory=OrderedDict)
    _paths: dict[str, str] = field(default_factory=dict)
    _privacy: dict[str, bool] = field(default_factory=dict)

    def context_for(
        self,
        snapshot: TextView,
        offset: int,
        open_documents: Iterable[TextView],
        index: TagIndex | None,
    ) -> tuple[ContextFile, ...]:
        """The context files for a completion at `offset`, most wanted last; the same tuple
        object as the previous call whenever nothing it depends on changed."""
        uri = snapshot.uri
        language = snapshot.language.name
        line, _ = snapshot.position_at(offset)
        column = offset - snapshot.offset_at(line, 0)
        text = snapshot.line_text(line)
        on_line = line_key(text, min(column, len(text)), snapshot.language.lexicon)
        generation = index.generation if index is not None else 0
        cached = self._cache.get(uri)
        if cached is not None and cached.language == language:
            if (
                cached.line == line
                and cached.line_key == on_line
                and self._holds(cached, index, generation)
            ):
                self.stats.line_hits += 1
                return cached.files
        path = self.path_of(uri)
        current = (index.file(path) if index is not None else None) or FileTags(
            path, language, (), ()
        )
        local = range(line - LOCAL_BEFORE, line + LOCAL_AFTER + 1)
        names = names_at(snapshot, offset)
        definitions: tuple[Definition, ...] = ()
        if index is not None:
            found = resolve_definitions(index, current, names, local)
            definitions = tuple(d for d in found if not self._private(d[1].path))
        owner = enclosing_class(current, line, names.class_name)
        statement_key = (
            names.statement_line,
            tuple((p, s.path, s.container, s.name) for p, s in definitions),
            (owner.path, owner.name) if owner is not None else None,
        )
        if (
            cached is not None
            and cached.language == language
            and cached.statement_key == statement_key
            and self._holds(cached, index, generation)
        ):
            self.stats.statement_hits += 1
            cached.line, cached.line_key = line, on_line
            self._cache.move_to_end(uri)
            return cached.files
        similar = self._similar(snapshot, line, path, open_documents)
        files = self._pack(index, current, definitions, owner, local, similar)
        self.stats.recomputed += 1
        if cached is not None and cached.files == files:
            self.stats.unchanged += 1
            files = cached.files
        used = _used(index, current, definitions, owner)
        self._cache[uri] = _Cached(language, line, on_line, statement_key, generation, used, files)
        self._cache.move_to_end(uri)
        while len(self._cache) > MAX_REMEMBERED:
            self._cache.popitem(last=False)
        return files

    def _private(self, location: str) -> bool:
        """A secret file, or one the user's `context.exclude` leaves out."""
        known = self._privacy.get(location)
        if known is None:
            known = is_secret_path(location) or excluded(location, self.exclude)
            self._privacy[location] = known
        return known

    def prepare(self, view: TextView) -> None:
        """Cuts an open buffer into windows of similar code now (about 5 ms for 2,000 lines;
        once per version), e.g. in the background worker after it changed, so that the next
        recomputation need not."""
        self._windows_of(view)

    def note_edit(self, uri: str, line: int) -> None:
        """An edit at `line`: the region around it becomes a candidate for similar code."""
        key = (uri, line // WINDOW_LINES)
        self._recent[key] = line
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_REGIONS:
            self._recent.popitem(last=False)

    def forget(self, uri: str) -> None:
        """A document closed."""
        self._cache.pop(uri, None)
        self._windows.pop(uri, None)
        self._paths.pop(uri, None)
        for key in [k for k in self._recent if k[0] == uri]:
            del self._recent[key]

    def path_of(self, uri: str) -> str:
        """The workspace-relative POSIX path the index knows a document by (its file name
        when it lies outside the workspace)."""
        path = self._paths.get(uri)
        if path is None:
            path = file_name_of_uri(uri)
            on_disk = path_of_uri(uri)
            if on_disk is not None and self.root is not None:
                try:
                    path = on_disk.relative_to(self.root).as_posix()
                except ValueError:
                    pass
            self._paths[uri] = path
        return path

    # -- recomputing --------------------------------------------------------------------------

    def _similar(
        self, snapshot: TextView, line: int, path: str, open_documents: Iterable[TextView]
    ) -> list[Snippet]:
        """Similar code from the other open buffers of the language and recent edits."""
        kin = family(snapshot.language.name)
        buffers: list[CodeWindows] = []
        views = {snapshot.uri: snapshot}
        for view in sorted(open_documents, key=lambda v: v.uri):
            if self._private(self.path_of(view.uri)) or self._private(view.uri):
                continue  # never read, even when open
            views.setdefault(view.uri, view)
            if view.uri != snapshot.uri and family(view.language.name) == kin:
                buffers.append(self._windows_of(view))
        regions = []
        for (uri, _), edited in sorted(self._recent.items()):
            source = views.get(uri)
            if source is None or family(source.language.name) != kin:
                continue
            first = max(0, edited - WINDOW_LINES // 2)
            lines = tuple(source.lines_between(first, first + WINDOW_LINES))
            regions.append(Region(self.path_of(uri), first, lines))
        query = identifiers("\n".join(snapshot.lines_between(line - QUERY_LINES, line + 1)))
        local = range(line - LOCAL_BEFORE, line + LOCAL_AFTER + 1)
        return similar_snippets(query, buffers, regions, current_path=path, local=local)

    def _pack(
        self,
        index: TagIndex | None,
        current: FileTags,
        definitions: tuple[Definition, ...],
        owner: Symbol | None,
        local: range,
        similar: list[Snippet],
    ) -> tuple[ContextFile, ...]:
        snippets: list[Snippet] = []
        if index is not None:
            snippets = definition_snippets(index, current, definitions, owner, local)
        snippets.sort(key=lambda s: s.priority)  # stable: order of appearance within one
        return pack([*snippets, *similar], self.budget)

    def _windows_of(self, view: TextView) -> CodeWindows:
        known = self._windows.get(view.uri)
        if known is not None and known[0] == view.version and known[1] is view.text:
            return known[2]
        windows = CodeWindows.of(self.path_of(view.uri), view.lines_between(0, view.line_count))
        self._windows[view.uri] = (view.version, view.text, windows)
        return windows

    @staticmethod
    def _holds(cached: _Cached, index: TagIndex | None, generation: int) -> bool:
        """Whether the definitions the cached context shows are still as shown."""
        if generation == cached.generation:
            return True
        if index is None:
            return False
        for path, (tags, shown) in cached.used.items():
            now = index.file(path)
            if now is tags:
                continue
            if now is None:
                return False
            names = {content[0] for content in shown}  # few: compare only those symbols
            if not shown <= {_content(s) for s in now.symbols if s.name in names}:
                return False
            cached.used[path] = (now, shown)
        cached.generation = generation
        return True


def _content(symbol: Symbol) -> _Content:
    return symbol.name, symbol.container, symbol.kind, symbol.signature, symbol.doc


def _used(
    index: TagIndex | None,
    current: FileTags,
    definitions: tuple[Definition, ...],
    owner: Symbol | None,
) -> dict[str, tuple[FileTags | None, frozenset[_Content]]]:
    """Per path, its tags now and the symbols the context shows from it (a class's methods and
    a method's class included)."""
    shown: dict[str, set[_Content]] = {}
    tags_of: dict[str, FileTags | None] = {current.path: current}
    symbols = [s for _, s in definitions] + ([owner] if owner is not None else [])
    for symbol in symbols:
        if symbol.path not in tags_of:
            tags_of[symbol.path] = index.file(symbol.path) if index is not None else None
        tags = tags_of[symbol.path]
        related = {symbol.name, symbol.container} - {""}
        contents = shown.setdefault(symbol.path, set())
        contents.add(_content(symbol))
        if tags is not None:
            contents.update(
                _content(s)
                for s in tags.symbols
                if s.container in related or (s.name in related and s.kind == "class")
            )
    return {path: (tags_of[path], frozenset(contents)) for path, contents in shown.items()}
