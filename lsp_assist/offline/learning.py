"""Feeding the offline engine: the workspace's files on disk, in the background, and the open
buffers as they change.

Learning a file (parse, tokenize, count) is heavy: it runs in the background worker, never on
the loop that answers keystrokes — except a small buffer while nothing else is being learnt,
which costs less than the round trip and lets the very next request know it. The worker is the
one thread that changes the engine; suggestions read it meanwhile without waiting.

An open buffer is learnt when it opens and again once typing pauses (re-tokenizing a large file
on every keystroke would cost tens of milliseconds each time). Files on disk are read one at a
time, within bounds, skipping folders that hold no code of the user's.

The editor's text always wins over the disk. Every decision about a file (opened, relearnt,
read from disk by the scan, closed) takes a new ticket; a job applies its text only if its
ticket is still the file's latest when the model is about to change — checked in the worker
right before applying, and any later decision queues its own job behind it.

Closing a buffer: a file under the scanned workspace goes back to what the disk says; anything
else (`untitled:`, a file outside the workspace) is forgotten.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from lsp_assist.context.secrets import is_secret_path
from lsp_assist.context.workspace_files import workspace_files
from lsp_assist.languages import SOURCE_SUFFIXES
from lsp_assist.offline.engine import OfflineEngine
from lsp_assist.uris import path_of_uri, uri_of_path
from lsp_assist.workers import BackgroundWorker

log = logging.getLogger(__name__)

RELEARN_AFTER_S = 1.0
INLINE_LEARN_CHARS = 4_000
"""A buffer this small is learnt on the loop (about a millisecond) when the worker has nothing
of ours queued: the first request after opening it already knows it."""
MAX_FILES = 2_000
MAX_FILE_BYTES = 512_000
MAX_TOTAL_BYTES = 20_000_000


def workspace_sources(root: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """The workspace's source files to learn, in a stable order: the same walk as the index's
    (`.gitignore`, vendored, generated, minified, binary and secret files left out), within the
    bounds above."""
    return workspace_files(
        root,
        max_files=MAX_FILES,
        max_bytes=MAX_TOTAL_BYTES,
        max_file_bytes=MAX_FILE_BYTES,
        exclude=exclude,
    )


class WorkspaceLearning:
    def __init__(
        self,
        engine: OfflineEngine,
        on_learnt: Callable[[int], None] = lambda files: None,
        worker: BackgroundWorker | None = None,
    ) -> None:
        self.engine = engine
        self._on_learnt = on_learnt
        self._own_worker = worker is None
        self._worker = worker if worker is not None else BackgroundWorker("lsp-assist-learning")
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._scan: asyncio.Task[None] | None = None
        self._root: Path | None = None
        self._open: set[str] = set()
        self._tickets = itertools.count(1)
        self._latest: dict[str, int] = {}
        """uri → the ticket of the latest decision about it, while it is open or has a job."""
        self._jobs: set[asyncio.Task[bool]] = set()
        self._in_flight = 0
        """Jobs of ours queued or running in the worker: the loop must not write meanwhile."""

    # -- what the editor does -------------------------------------------------------------------

    def document_opened(self, uri: str, text: str, language_id: str | None) -> None:
        self._cancel_relearn(uri)
        self._open.add(uri)
        self._learn_buffer(uri, text, language_id)

    def document_changed(
        self, uri: str, current_text: Callable[[], str | None], language_id: str | None
    ) -> None:
        self._cancel_relearn(uri)

        def relearn() -> None:
            self._pending.pop(uri, None)
            if uri in self._open and (text := current_text()) is not None:
                self._learn_buffer(uri, text, language_id)

        self._pending[uri] = asyncio.get_running_loop().call_later(RELEARN_AFTER_S, relearn)

    def document_closed(self, uri: str) -> None:
        self._cancel_relearn(uri)
        self._open.discard(uri)
        ticket = self._latest[uri] = next(self._tickets)
        path = path_of_uri(uri)
        if path is not None and self._in_workspace(path):
            self._start_job(uri, ticket, self._learn_from_disk, path, uri, ticket, True)
        else:
            self._start_job(uri, ticket, self._forget, uri, ticket)

    def file_changed_on_disk(self, uri: str) -> None:
        """A workspace file was created, changed or deleted by something other than the editor
        (`workspace/didChangeWatchedFiles`): learn what the disk says now. An open buffer is
        the editor's and stays as it is."""
        if uri in self._open:
            return
        path = path_of_uri(uri)
        if path is None or not self._in_workspace(path):
            return
        ticket = self._latest[uri] = next(self._tickets)
        self._start_job(uri, ticket, self._learn_from_disk, path, uri, ticket, True)

    def scan_in_background(self, root: Path) -> None:
        if self._scan is None:
            self._root = root
            self._scan = asyncio.get_running_loop().create_task(self._learn_files(root))

    @property
    def pending_relearns(self) -> int:
        """Buffers waiting for typing to pause before they are learnt again."""
        return len(self._pending)

    async def caught_up(self) -> None:
        """Returns once the jobs asked for so far (open buffers, relearns, closes) are done; a
        request that needs the buffers just opened can wait for this (with a timeout)."""
        jobs = list(self._jobs)
        if jobs:
            await asyncio.wait(jobs)

    async def close(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = [*self._jobs, *([self._scan] if self._scan is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except BaseException:  # cancelled or failed: either way it is over
                log.debug("offline learning job ended", exc_info=True)
        self._scan = None
        if self._own_worker:
            self._worker.close(wait=False)

    # -- the jobs -------------------------------------------------------------------------------

    def _learn_buffer(self, uri: str, text: str, language_id: str | None) -> None:
        ticket = self._latest[uri] = next(self._tickets)
        if self._in_flight == 0 and len(text) <= INLINE_LEARN_CHARS:
            # Nothing of ours in the worker: the loop is the only writer for this moment.
            self.engine.update_file(uri, text, language_id, prune=False)
            if self.engine.over_capacity:
                self._start_job(uri, ticket, self.engine.prune)
            return
        self._start_job(uri, ticket, self._learn_text, uri, text, language_id, ticket)

    def _start_job(
        self, uri: str, ticket: int, job: Callable[..., object], *args: object
    ) -> asyncio.Task[bool]:
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._run(uri, job, *args))
        self._jobs.add(task)
        task.add_done_callback(functools.partial(self._job_done, uri, ticket))
        return task

    async def _run(self, uri: str, job: Callable[..., object], *args: object) -> bool:
        try:
            return bool(await self._worker.run(job, *args))
        except Exception:
            log.exception("offline learning of %s failed", uri)
            return False

    def _job_done(self, uri: str, ticket: int, task: asyncio.Task[bool]) -> None:
        self._jobs.discard(task)
        self._in_flight -= 1
        if self._latest.get(uri) == ticket and uri not in self._open:
            del self._latest[uri]  # nothing newer is coming for it: keep no trace

    def _still_latest(self, uri: str, ticket: int) -> Callable[[], bool]:
        return lambda: self._latest.get(uri) == ticket

    # In the worker thread:

    def _learn_text(self, uri: str, text: str, language_id: str | None, ticket: int) -> bool:
        return self.engine.update_file(
            uri, text, language_id, still_wanted=self._still_latest(uri, ticket)
        )

    def _learn_from_disk(
        self, path: Path, uri: str, ticket: int, forget_if_unreadable: bool
    ) -> bool:
        wanted = self._still_latest(uri, ticket)
        if not wanted():
            return False  # the editor opened it meanwhile: its buffer wins
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            if forget_if_unreadable and wanted():
                self.engine.remove_file(uri)
            return False
        return self.engine.update_file(uri, text, still_wanted=wanted)

    def _forget(self, uri: str, ticket: int) -> bool:
        if self._latest.get(uri) == ticket:
            self.engine.remove_file(uri)
        return False

    # -- the workspace scan -----------------------------------------------------------------------

    async def _learn_files(self, root: Path) -> None:
        paths = await self._worker.run(workspace_sources, root)
        learnt = 0
        for path in paths:
            uri = uri_of_path(path)
            if uri in self._open:
                continue  # the editor's buffer is fresher than the disk
            ticket = self._latest[uri] = next(self._tickets)
            # One file at a time: an opened buffer's job never queues behind the workspace.
            learnt += await self._start_job(
                uri, ticket, self._learn_from_disk, path, uri, ticket, False
            )
        log.info("offline engine: learnt %d workspace files under %s", learnt, root)
        self._on_learnt(learnt)

    def _in_workspace(self, path: Path) -> bool:
        """A source file under the workspace root, and not a secret one (the disk is read in
        the worker, which skips what it cannot read)."""
        if self._root is None or path.suffix.lower() not in SOURCE_SUFFIXES:
            return False
        if is_secret_path(path.as_posix()):
            return False
        try:
            return path.resolve().is_relative_to(self._root.resolve())
        except OSError:
            return False

    def _cancel_relearn(self, uri: str) -> None:
        if (handle := self._pending.pop(uri, None)) is not None:
            handle.cancel()
