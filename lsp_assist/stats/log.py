"""The stats log on disk: `<state dir>/stats/suggestions-YYYY-MM-DD.jsonl`, one file per day.

Private like the rest of the state (`private_files.py`): the folder is 0700, each file is
created 0600 and appended to (O_APPEND: a line is written whole or, after a crash, torn at the
end, which the reader skips). Bounded: files older than `keep_days` are removed, then the
oldest until the total is under `max_total_bytes`; a day's file stops growing at
`max_day_bytes` (said once in the log). All of it runs in the session's worker thread, never
on the loop that answers keystrokes.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from lsp_assist.private_files import FILE_MODE, private_dir
from lsp_assist.stats.events import StatsEvent

log = logging.getLogger(__name__)

KEEP_DAYS = 90
MAX_DAY_BYTES = 4_000_000
"""A busy day writes a few hundred kB (a `shown` line is ~150 bytes)."""
MAX_TOTAL_BYTES = 64_000_000

_PREFIX = "suggestions-"
_SUFFIX = ".jsonl"


def stats_dir(state_dir: Path) -> Path:
    return state_dir / "stats"


def _day(time: float) -> str:
    return datetime.datetime.fromtimestamp(time, datetime.timezone.utc).date().isoformat()


class StatsLog:
    def __init__(
        self,
        directory: Path,
        *,
        keep_days: int = KEEP_DAYS,
        max_day_bytes: int = MAX_DAY_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.directory = directory
        self._keep_days = keep_days
        self._max_day_bytes = max_day_bytes
        self._max_total_bytes = max_total_bytes
        self._pruned = False
        self._told_full: set[str] = set()

    def path_for(self, time: float) -> Path:
        return self.directory / f"{_PREFIX}{_day(time)}{_SUFFIX}"

    def files(self) -> list[Path]:
        """The day files, oldest first."""
        try:
            names = sorted(
                name
                for name in os.listdir(self.directory)
                if name.startswith(_PREFIX) and name.endswith(_SUFFIX)
            )
        except FileNotFoundError:
            return []
        return [self.directory / name for name in names]

    # -- writing (the worker thread) ----------------------------------------------------------

    def append(self, events: Sequence[StatsEvent]) -> None:
        if not events:
            return
        private_dir(self.directory)
        if not self._pruned:
            self._pruned = True
            self.prune(events[0].time)
        by_file: dict[Path, list[str]] = {}
        for event in events:
            by_file.setdefault(self.path_for(event.time), []).append(event.to_json() + "\n")
        for path, lines in by_file.items():
            self._append_lines(path, "".join(lines))

    def _append_lines(self, path: Path, text: str) -> None:
        data = text.encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # exactly 0600, whatever the umask or an older mode
            if os.fstat(fd).st_size + len(data) > self._max_day_bytes:
                if path.name not in self._told_full:
                    self._told_full.add(path.name)
                    log.warning("stats: %s is full; today's further events are not kept", path)
                return
            os.write(fd, data)
        finally:
            os.close(fd)

    def prune(self, now: float) -> None:
        """Removes the days older than `keep_days`, then the oldest days while the total is
        over `max_total_bytes` (today's file stays)."""
        oldest_kept = _day(now - self._keep_days * 86_400)
        files = self.files()
        for path in list(files):
            if path.name[len(_PREFIX) : -len(_SUFFIX)] < oldest_kept:
                self._remove(path)
                files.remove(path)
        sizes = {path: _size(path) for path in files}
        total = sum(sizes.values())
        for path in files[:-1]:
            if total <= self._max_total_bytes:
                break
            self._remove(path)
            total -= sizes[path]

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    # -- reading ------------------------------------------------------------------------------

    def read(self, since: float = 0.0) -> Iterator[StatsEvent]:
        """The events at or after `since`, oldest file first; unreadable lines are skipped."""
        first_day = _day(since - 86_400) if since > 86_400 else ""
        for path in self.files():
            if path.name[len(_PREFIX) : -len(_SUFFIX)] < first_day:
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as lines:
                    for line in lines:
                        event = StatsEvent.from_json(line)
                        if event is not None and event.time >= since:
                            yield event
            except FileNotFoundError:
                continue  # pruned meanwhile by a running server


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
