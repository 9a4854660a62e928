"""The session's workspace context: the index of what the workspace defines, kept current, and
the context block each completion prompt starts with.

The index is built in the background worker when the session starts (reported as "Indexing"
progress), then kept current from open buffers (their live text, once typing pauses), saves,
and files changed on disk. Nothing here runs on a keystroke but `context_for`, which answers
from its cache while the cursor stays in one statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from lsp_assist.context.engine import ContextEngine
from lsp_assist.context.index import WorkspaceIndex
from lsp_assist.context.index_store import store_path
from lsp_assist.context.tags import Symbol
from lsp_assist.documents import TextView
from lsp_assist.languages import LanguageSpec
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.workers import BackgroundWorker

log = logging.getLogger(__name__)

REINDEX_AFTER_S = 0.5
"""An open buffer is indexed again once typing pauses this long."""
INLINE_INDEX_CHARS = 4_000
"""A buffer this small is indexed on the loop when it opens (about a millisecond), if nothing
of the index's waits in the worker: the first request in the next file already knows it."""


class Progress(Protocol):
    async def begin(self, title: str) -> None: ...
    def report(self, message: str, percentage: int) -> None: ...
    def end(self, message: str) -> None: ...


class WorkspaceContext:
    def __init__(self, worker: BackgroundWorker, state_dir: Path | None) -> None:
        self._worker = worker
        self._state_dir = state_dir
        self.index = WorkspaceIndex(worker=worker)
        self.engine = ContextEngine()
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._build: asyncio.Task[int] | None = None

    def configure(self, *, exclude: Sequence[str], budget: int) -> None:
        self.index.exclude = tuple(exclude)
        self.engine.exclude = tuple(exclude)
        self.engine.budget = budget

    # -- the workspace --------------------------------------------------------------------------

    def set_root(self, root: Path | None) -> None:
        """The workspace root, which the index's paths are relative to: known at `initialize`,
        before the first buffer opens."""
        self.index.root = self.engine.root = root

    def start(self, root: Path, progress: Callable[[], Progress] | None = None) -> None:
        """Indexes the workspace under `root` in the background."""
        if self._build is not None:
            return
        self.set_root(root)
        store = store_path(self._state_dir, root) if self._state_dir is not None else None
        self._build = asyncio.get_running_loop().create_task(self._index(root, store, progress))

    async def _index(
        self, root: Path, store: Path | None, progress: Callable[[], Progress] | None
    ) -> int:
        shown = progress() if progress is not None else None
        if shown is not None:
            await shown.begin("Indexing")

        def report(done: int, total: int) -> None:
            if shown is not None and (done == total or done % 50 == 0):
                shown.report(f"{done}/{total} files", done * 100 // max(total, 1))

        try:
            files = await self.index.build(root, self._worker, on_progress=report, store=store)
        except Exception:
            log.exception("indexing the workspace failed")
            files = 0
        if shown is not None:
            shown.end(f"{files} files indexed")
        return files

    async def caught_up(self) -> None:
        """Waits for the buffer updates asked for so far (tests, benchmarks)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def built(self) -> int:
        """Waits for the workspace's index (tests, benchmarks); the number of files."""
        return await self._build if self._build is not None else 0

    # -- buffers --------------------------------------------------------------------------------

    def opened(self, uri: str, text: str, language: LanguageSpec) -> None:
        building = self._build is not None and not self._build.done()
        if len(text) <= INLINE_INDEX_CHARS and not self._tasks and not building:
            self.index.update_text_now(uri, text, language)
        else:
            self._background(self.index.update_text(uri, text, language))

    def changed(self, uri: str, line: int, current: Callable[[], TextView | None]) -> None:
        """A buffer changed at `line`: it is a recent edit now, and indexed again once typing
        pauses."""
        self.engine.note_edit(uri, line)
        if (handle := self._pending.pop(uri, None)) is not None:
            handle.cancel()

        def reindex() -> None:
            self._pending.pop(uri, None)
            if (view := current()) is not None:
                self._background(self.index.update_text(uri, view.text, view.language))

        self._pending[uri] = asyncio.get_running_loop().call_later(REINDEX_AFTER_S, reindex)

    def saved(self, view: TextView) -> None:
        if (handle := self._pending.pop(view.uri, None)) is not None:
            handle.cancel()
        self._background(self.index.update_text(view.uri, view.text, view.language))

    def closed(self, uri: str) -> None:
        if (handle := self._pending.pop(uri, None)) is not None:
            handle.cancel()
        self.engine.forget(uri)
        self._background(self.index.close_buffer(uri))

    def changed_on_disk(self, uri: str) -> None:
        self._background(self.index.file_changed_on_disk(uri))

    # -- prompts ----------------------------------------------------------------------------------

    def context_for(
        self, snapshot: TextView, offset: int, open_documents: Iterable[TextView]
    ) -> tuple[ContextFile, ...]:
        return self.engine.context_for(snapshot, offset, open_documents, self.index)

    def symbols_named(self, name: str) -> Sequence[Symbol]:
        return self.index.symbols_named(name)

    # -- lifecycle ------------------------------------------------------------------------------

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = [*self._tasks, *([self._build] if self._build is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        try:
            await self.index.save()
        except Exception:  # saving is best effort
            log.debug("saving the workspace index failed", exc_info=True)
