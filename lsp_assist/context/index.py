"""The workspace index: every indexed file's tags, and its symbols by name.

One writer, many readers. The writer is the background worker: it reads and parses a file and
extracts its tags with no lock held, then swaps them in under a lock held only for the dict
assignments of that file's names (microseconds). Readers on the event loop never wait longer:
single look-ups (`file`, `symbols_named`) read immutable values without the lock; what iterates
(`paths`, `names_starting`) copies under it.

Files are keyed by their workspace-relative POSIX path ("pkg/client.py"); a buffer outside the
workspace by its absolute path, one with no file (`untitled:`) by its URI (`key_of`).

Kept current from three sources, all run in the worker, one file per job, so that an open
buffer's job never queues behind the whole workspace:
- `build`: the workspace on disk (`workspace_files`), reporting progress;
- `update_text`: an open buffer's live text (didOpen, didChange once typing pauses, didSave);
  while open, the buffer owns its file: the disk is not read for it until `close_buffer`;
- `file_changed_on_disk` / `file_deleted`: watched-file events.

`generation` bumps on every change, and `version(path)` is the generation at which that file
last changed: a consumer caching what it derived from the index checks them to know it is stale.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import tree_sitter

from lsp_assist.context.extract import extract_tags
from lsp_assist.context.index_store import load_index, save_index
from lsp_assist.context.secrets import excluded, is_secret_path
from lsp_assist.context.tags import FileTags, Symbol
from lsp_assist.context.workspace_files import (
    MAX_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    accepts_file,
    workspace_files,
)
from lsp_assist.languages import LanguageSpec, language_named
from lsp_assist.positions import utf8
from lsp_assist.uris import path_of_uri, uri_of_path
from lsp_assist.workers import BackgroundWorker, parse_yielding

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""(files done, files in all)."""

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


class WorkspaceIndex:
    def __init__(
        self,
        root: Path | None = None,
        worker: BackgroundWorker | None = None,
        *,
        exclude: Iterable[str] = (),
    ) -> None:
        self.root = root
        self.exclude = tuple(exclude)
        """`context.exclude` globs: such files are neither read nor taken from buffers."""
        self.max_file_bytes = MAX_FILE_BYTES
        """Bigger texts are not indexed (set by `build`, for buffers too)."""
        self._worker = worker
        self._lock = threading.Lock()
        self._files: dict[str, FileTags] = {}
        self._by_name: dict[str, tuple[Symbol, ...]] = {}
        self._names_by_initial: dict[str, dict[str, None]] = {}
        self._versions: dict[str, int] = {}
        self._buffers: set[str] = set()
        self.store: Path | None = None
        """Where the index is saved between runs (set by `build`)."""
        self._saved_generation = -1
        self._stamps: dict[str, tuple[int, int]] = {}
        """path → (mtime_ns, size) of the disk file its tags were read from."""
        self.generation = 0

    # -- reading (any thread) ------------------------------------------------------------------

    def file(self, path: str) -> FileTags | None:
        return self._files.get(path)

    def symbols_named(self, name: str) -> Sequence[Symbol]:
        """Every indexed definition of `name`, files in the order they were first indexed."""
        return self._by_name.get(name, ())

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._files)

    def names_starting(self, prefix: str) -> list[str]:
        """The defined names that start with `prefix`, ignoring case."""
        wanted = prefix.lower()
        with self._lock:
            bucket = list(self._names_by_initial.get(wanted[:1], ()))
        return [name for name in bucket if name.lower().startswith(wanted)]

    def version(self, path: str) -> int:
        """The generation at which `path` last changed (0: never indexed)."""
        return self._versions.get(path, 0)

    def __len__(self) -> int:
        return len(self._files)

    # -- keys ----------------------------------------------------------------------------------

    def key_of(self, location: str | Path) -> str:
        """The index's key for a URI, a path, or a key already."""
        if isinstance(location, str):
            if location.startswith("file:"):
                path = path_of_uri(location)
                if path is None:
                    return location
                location = path
            elif location.startswith("/"):
                location = Path(location)
            else:
                return location  # a key already, or a URI with no file behind it
        if self.root is not None:
            try:
                return location.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return location.as_posix()

    def uri_of(self, key: str) -> str:
        if _URI.match(key) and not Path(key).is_absolute():
            return key
        path = Path(key)
        if not path.is_absolute():
            if self.root is None:
                return key
            path = self.root / path
        return uri_of_path(path)

    # -- writing (one writer: the worker) ------------------------------------------------------

    def update(self, tags: FileTags) -> bool:
        """Puts one file's tags in (replacing what it had); False when nothing changed."""
        path = tags.path
        old = self._files.get(path)
        if old == tags:
            return False
        tags = _interned(tags)
        entries = self._entries_without(old, path, {s.name for s in tags.symbols})
        for symbol in tags.symbols:
            entries.setdefault(symbol.name, self._by_name.get(symbol.name, ()))
        new_names = _grouped(tags.symbols)
        for name, current in list(entries.items()):
            added = new_names.get(name, ())
            # A file new to the index has nothing to replace: no scan of long entries.
            entries[name] = current + added if old is None else _replaced(current, path, added)
        with self._lock:
            self._apply(entries)
            self._files[path] = tags
            self._changed(path)
        return True

    def remove(self, path: str) -> bool:
        self._stamps.pop(path, None)
        old = self._files.get(path)
        if old is None:
            return False
        entries = self._entries_without(old, path, set())
        with self._lock:
            self._apply(entries)
            del self._files[path]
            self._changed(path)
        return True

    def _entries_without(
        self, old: FileTags | None, path: str, keep: set[str]
    ) -> dict[str, tuple[Symbol, ...]]:
        """The name entries `old` is in, with its symbols dropped (those in `keep` keep their
        place: `_replaced` puts the new ones there)."""
        entries: dict[str, tuple[Symbol, ...]] = {}
        for name in {s.name for s in old.symbols} if old is not None else ():
            current = self._by_name.get(name, ())
            entries[name] = current if name in keep else tuple(s for s in current if s.path != path)
        return entries

    def _apply(self, entries: dict[str, tuple[Symbol, ...]]) -> None:
        for name, symbols in entries.items():
            bucket = self._names_by_initial.setdefault(name[:1].lower(), {})
            if symbols:
                self._by_name[name] = symbols
                bucket[name] = None
            else:
                self._by_name.pop(name, None)
                bucket.pop(name, None)

    def _changed(self, path: str) -> None:
        self.generation += 1
        self._versions[path] = self.generation

    # -- jobs, in the worker -------------------------------------------------------------------

    def index_text(
        self,
        path: str,
        text: str | bytes,
        language: LanguageSpec,
        tree: tree_sitter.Tree | None = None,
    ) -> bool:
        """Indexes one file's text under the key `path`, parsing it unless its `tree` is
        given; a file that may not be read (secret, excluded), is too big or has no grammar is
        removed instead."""
        grammar = language.grammar
        source = utf8(text) if isinstance(text, str) else text
        if grammar is None or not self._may_read(path) or len(source) > self.max_file_bytes:
            return self.remove(path)
        if tree is None:
            tree = parse_yielding(tree_sitter.Parser(grammar), source)
        return self.update(extract_tags(tree, source, language, path))

    def index_file(self, file: Path) -> bool:
        """Reads one file from disk and indexes it, unless an open buffer owns it or it has
        not changed (same modification time and size) since it was read."""
        path = self.key_of(file)
        if path in self._buffers:
            return False
        language = language_named(None, file.name)
        try:
            stat = file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._stamps.get(path) == stamp and path in self._files:
                return False
            source = file.read_bytes()
        except OSError:
            return self.remove(path)
        if language is None:
            return self.remove(path)
        changed = self.index_text(path, source, language)
        if path in self._files:
            self._stamps[path] = stamp
        return changed

    def disk_entries(self) -> list[tuple[FileTags, tuple[int, int]]]:
        """The files read from disk, with the (mtime_ns, size) they were read at (for saving;
        in the worker, the one writer)."""
        return [
            (tags, stamp)
            for path, stamp in list(self._stamps.items())
            if (tags := self._files.get(path)) is not None
        ]

    def restore(self, tags: FileTags, stamp: tuple[int, int]) -> None:
        """Puts saved tags back as if read from disk at `stamp`: the next `build` reads the
        file again only if it changed since."""
        if tags.path not in self._buffers and self._may_read(tags.path):
            self.update(tags)
            self._stamps[tags.path] = stamp

    def _index_buffer(
        self, path: str, text: str, language: LanguageSpec, tree: tree_sitter.Tree | None
    ) -> bool:
        self._stamps.pop(path, None)  # the buffer's text is not the disk's
        return self.index_text(path, text, language, tree)

    def _reread(self, file: Path) -> bool:
        self._stamps.pop(self.key_of(file), None)
        return self.index_file(file)

    def _may_read(self, path: str) -> bool:
        return not is_secret_path(path) and not (self.exclude and excluded(path, self.exclude))

    # -- what the server calls, on the loop -----------------------------------------------------

    async def build(
        self,
        root: Path,
        worker: BackgroundWorker | None = None,
        *,
        on_progress: Progress | None = None,
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_BYTES,
        max_file_bytes: int = MAX_FILE_BYTES,
        store: Path | None = None,
    ) -> int:
        """Indexes the workspace under `root`, file by file in the worker; forgets files of an
        earlier build that are no longer there. With a `store` (`index_store.store_path`), the
        tags saved there by the last run are put back first, so that only files changed since
        are read, and the result is saved there. Returns the number of files indexed."""
        self.root = root
        self.store = store
        self.max_file_bytes = max_file_bytes
        worker = self._worker = worker or self._worker or BackgroundWorker("lsp-assist-index")
        started = time.perf_counter()
        restored = 0
        if store is not None and not self._files:
            restored = await worker.run(load_index, self, store)
            self._saved_generation = self.generation if restored else -1
        files = await worker.run(
            workspace_files,
            root,
            max_files=max_files,
            max_bytes=max_bytes,
            max_file_bytes=max_file_bytes,
            exclude=self.exclude,
        )
        total = len(files)
        if on_progress is not None:
            on_progress(0, total)
        wanted = {self.key_of(file) for file in files}
        for done, file in enumerate(files, 1):
            await worker.run(self.index_file, file)
            if on_progress is not None:
                on_progress(done, total)
        for path in self.paths():
            if path not in wanted and path not in self._buffers and not _is_outside(path):
                await worker.run(self.remove, path)
        await self.save()
        log.info(
            "workspace index: %d files (%d restored), %d names",
            len(self._files),
            restored,
            len(self._by_name),
            extra={"index_ms": round((time.perf_counter() - started) * 1000)},
        )
        return total

    async def save(self) -> None:
        """Saves the tags of the files read from disk to the build's `store` (at shutdown, say);
        a failed write is logged, never raised."""
        if self.store is None or self._worker is None or self.generation == self._saved_generation:
            return  # nothing changed since it was loaded or saved
        generation = self.generation
        try:
            await self._worker.run(save_index, self, self.store)
            self._saved_generation = generation
        except OSError:
            log.warning("workspace index: could not save to %s", self.store, exc_info=True)

    async def update_text(
        self,
        location: str | Path,
        text: str,
        language: LanguageSpec,
        tree: tree_sitter.Tree | None = None,
    ) -> None:
        """An open buffer's live text (didOpen, didChange once typing pauses, didSave): from
        now on it owns its file, until `close_buffer`. Pass the document's own `tree` of
        exactly this text (`Document.parsed`) and it is not parsed again."""
        path = self.key_of(location)
        self._buffers.add(path)
        await self._run(self._index_buffer, path, text, language, tree)

    def update_text_now(self, location: str | Path, text: str, language: LanguageSpec) -> None:
        """`update_text` here and now, for a small buffer while the worker has nothing of the
        index's to do (a millisecond or two: the next request already knows it)."""
        path = self.key_of(location)
        self._buffers.add(path)
        self._index_buffer(path, text, language, None)

    async def close_buffer(self, location: str | Path) -> None:
        """The buffer is closed: a workspace file goes back to what the disk says, anything
        else is forgotten."""
        path = self.key_of(location)
        self._buffers.discard(path)
        file = self._file_on_disk(path)
        if (
            file is not None
            and self.root is not None
            and accepts_file(self.root, file, exclude=self.exclude)
        ):
            await self._run(self._reread, file)
        else:
            await self._run(self.remove, path)

    async def file_changed_on_disk(self, location: str | Path) -> None:
        """A watched file was created or changed (an open buffer's text wins)."""
        path = self.key_of(location)
        file = self._file_on_disk(path)
        if path in self._buffers or file is None or self.root is None:
            return
        if accepts_file(self.root, file, exclude=self.exclude):
            await self._run(self.index_file, file)
        else:
            await self._run(self.remove, path)

    async def file_deleted(self, location: str | Path) -> None:
        path = self.key_of(location)
        if path not in self._buffers:
            await self._run(self.remove, path)

    async def _run(self, job: Callable[..., bool], *args: object) -> None:
        if self._worker is None:
            job(*args)  # no worker (tests, one-shot commands): run here
        else:
            await self._worker.run(job, *args)

    def _file_on_disk(self, path: str) -> Path | None:
        if _URI.match(path) and not Path(path).is_absolute():
            return None
        file = Path(path)
        if not file.is_absolute():
            if self.root is None:
                return None
            file = self.root / file
        return file


def _is_outside(path: str) -> bool:
    """A key that is not workspace-relative: a buffer outside the workspace or with no file."""
    return path.startswith("/") or bool(_URI.match(path))


def _grouped(symbols: Iterable[Symbol]) -> dict[str, tuple[Symbol, ...]]:
    grouped: dict[str, list[Symbol]] = {}
    for symbol in symbols:
        grouped.setdefault(symbol.name, []).append(symbol)
    return {name: tuple(found) for name, found in grouped.items()}


def _replaced(
    current: tuple[Symbol, ...], path: str, new: tuple[Symbol, ...]
) -> tuple[Symbol, ...]:
    """`current` with `path`'s symbols replaced by `new`, in the place the old ones had."""
    at = next((i for i, s in enumerate(current) if s.path == path), None)
    if at is None:
        return current + new
    rest = tuple(s for s in current[at:] if s.path != path)
    return current[:at] + new + rest


def _interned(tags: FileTags) -> FileTags:
    """Names, containers and the path shared between files and symbols (a few MB on 2,000
    files)."""
    path = sys.intern(tags.path)
    symbols = tuple(
        Symbol(
            sys.intern(s.name),
            sys.intern(s.kind),
            sys.intern(s.container),
            s.signature,
            s.doc,
            path,
            s.line,
            s.end_line,
        )
        for s in tags.symbols
    )
    return FileTags(path, tags.language, symbols, tags.imports, tags.exports, tags.package)
