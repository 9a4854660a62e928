"""Feeding the offline engine: the workspace's files on disk, in the background, and the open
buffers as they change.

An open buffer is learnt when it opens and again once typing pauses (re-tokenizing a large file
on every keystroke would cost tens of milliseconds each time). Files on disk are read one at a
time between other work, within bounds, skipping folders that hold no code of the user's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from lsp_assist.offline.engine import OfflineEngine

log = logging.getLogger(__name__)

RELEARN_AFTER_S = 1.0
MAX_FILES = 2_000
MAX_FILE_BYTES = 512_000
MAX_TOTAL_BYTES = 20_000_000
SOURCE_SUFFIXES = frozenset(
    {".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java"}
    | {".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".lua"}
)
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}
    | {"target", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".tox", ".idea", ".vscode"}
)


def workspace_sources(root: Path) -> list[Path]:
    """Source files under `root`, in a stable order, within the bounds above."""
    found: list[Path] = []
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(folder, name)
            if path.suffix.lower() not in SOURCE_SUFFIXES:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES:
                continue
            found.append(path)
            total += size
            if len(found) >= MAX_FILES:
                return found
    return found


class WorkspaceLearning:
    def __init__(
        self, engine: OfflineEngine, on_learnt: Callable[[int], None] = lambda files: None
    ) -> None:
        self.engine = engine
        self._on_learnt = on_learnt
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._scan: asyncio.Task[None] | None = None
        self._open: set[str] = set()

    def document_opened(self, uri: str, text: str, language_id: str | None) -> None:
        self._open.add(uri)
        self.engine.update_file(uri, text, language_id)

    def document_changed(
        self, uri: str, current_text: Callable[[], str | None], language_id: str | None
    ) -> None:
        if (handle := self._pending.pop(uri, None)) is not None:
            handle.cancel()

        def relearn() -> None:
            self._pending.pop(uri, None)
            if (text := current_text()) is not None:
                self.engine.update_file(uri, text, language_id)

        self._pending[uri] = asyncio.get_running_loop().call_later(RELEARN_AFTER_S, relearn)

    def document_closed(self, uri: str) -> None:
        # The file is still part of the workspace: what was learnt from it stays.
        self._open.discard(uri)

    def scan_in_background(self, root: Path) -> None:
        if self._scan is None:
            self._scan = asyncio.get_running_loop().create_task(self._learn_files(root))

    async def _learn_files(self, root: Path) -> None:
        paths = await asyncio.to_thread(workspace_sources, root)
        learnt = 0
        for path in paths:
            uri = path.as_uri()
            if uri in self._open:
                continue  # the editor's buffer is fresher than the disk
            try:
                text = await asyncio.to_thread(path.read_text, "utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            self.engine.update_file(uri, text)
            learnt += 1
            await asyncio.sleep(0)  # let keystrokes through between files
        log.info("offline engine: learnt %d workspace files under %s", learnt, root)
        self._on_learnt(learnt)

    async def close(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        if self._scan is not None:
            self._scan.cancel()
            try:
                await self._scan
            except BaseException:  # cancelled or failed: either way it is over
                log.debug("workspace scan ended", exc_info=True)
            self._scan = None
