"""What became of each suggestion, recorded as the clients report it (plain Python, no LSP).

`answered` runs on the latency lane, once per answer: it makes the suggestion's id and keeps
a small record in memory (bounded: the newest `MAX_RECORDS`), and counts the generations the
engine started since the previous answer. Nothing is written then: a suggestion the client
never shows is not counted. The clients' reports (`shown`, `accepted`, `partial`,
`dismissed`) turn records into events, appended to the log by the session's worker thread.
Each suggestion counts once per kind: one accept per id whether it came as the item's command
or as a notification, a partial accept only when it accepts more than before.

An accept starts a retention check (`retention.py`): the accepted text is located in the
document (the client inserted it before telling us; if its change has not arrived yet, the
next edits try again) and followed through the document's edits — `document_edited` costs a
dict lookup for documents without a pending check, and O(pending checks) for the others —
until `retention_s` later, when the characters still there are counted in the worker. Checks
still pending when the session ends are measured then, with their real age.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lsp_assist.completion.engine import Suggestion
from lsp_assist.documents import TextView
from lsp_assist.positions import PositionEncoding, units_to_index
from lsp_assist.stats.events import EventKind, StatsEvent
from lsp_assist.stats.log import StatsLog, stats_dir
from lsp_assist.stats.retention import TrackedRange, locate, margin_for, retained_chars
from lsp_assist.workers import BackgroundWorker

log = logging.getLogger(__name__)

RETENTION_S = 30.0
RETENTION_ENV = "LSP_ASSIST_RETENTION_S"
"""Overrides `RETENTION_S` (tests measure retention without waiting 30 s)."""
MAX_RECORDS = 512
"""Answers remembered for the clients' reports: a suggestion is shown or accepted within a
few keystrokes of its answer, and each keystroke makes at most one."""
_LABEL_PREFIX = "lsp-assist · "


def retention_from_env(default: float = RETENTION_S) -> float:
    try:
        value = float(os.environ.get(RETENTION_ENV, ""))
    except ValueError:
        return default
    return value if value >= 0 else default


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Cancellable]


def _call_later(delay: float, callback: Callable[[], None]) -> Cancellable:
    return asyncio.get_running_loop().call_later(delay, callback)


@dataclass
class _Answered:
    """A suggestion as answered, and what the client said of it so far."""

    id: str
    uri: str
    offset: int
    """Where it was asked for, in the answer's snapshot (str offset)."""
    text: str
    """Kept in memory only, to find and measure what was accepted: never written."""
    model: str
    language: str
    source: str
    latency_ms: float
    shown: bool = False
    accepted_chars: int = 0
    full: bool = False
    closed: bool = False
    """Dismissed, or accepted in full: later reports change nothing."""


@dataclass(eq=False)
class _Check:
    """A retention check: where the accepted text went, followed until it is measured."""

    record: _Answered
    accepted: str
    document: TextView
    range: TrackedRange
    located: bool
    accepted_at: float
    """Monotonic time of the accept."""
    timer: Cancellable | None = field(default=None, repr=False)


class AcceptanceRecorder:
    def __init__(
        self,
        *,
        state_dir: Path,
        worker: BackgroundWorker,
        document: Callable[[str], TextView | None],
        generations: Callable[[], int] = lambda: 0,
        retention_s: float | None = None,
        schedule: Schedule = _call_later,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = StatsLog(stats_dir(state_dir))
        self._worker = worker
        self._document = document
        self._generations = generations
        self.retention_s = retention_from_env() if retention_s is None else retention_s
        self._schedule = schedule
        self._clock = clock
        self._monotonic = monotonic
        self._prefix = secrets.token_hex(3)
        self._counter = 0
        self._records: OrderedDict[str, _Answered] = OrderedDict()
        self._generations_seen = generations()
        self._generations_due: dict[tuple[str, str], int] = {}
        self._last_key: tuple[str, str] | None = None
        self._checks: dict[str, list[_Check]] = {}
        self._pending: list[StatsEvent] = []
        self._lock = threading.Lock()
        self._flush_queued = False

    # -- answers (the latency lane: keep it small) ----------------------------------------------

    def answered(self, uri: str, offset: int, language: str, suggestion: Suggestion) -> str:
        """Remembers an answered suggestion; returns its id (unique in this session)."""
        self._counter += 1
        suggestion_id = f"{self._prefix}-{self._counter}"
        model = suggestion.label.removeprefix(_LABEL_PREFIX) or suggestion.source
        self._records[suggestion_id] = _Answered(
            id=suggestion_id,
            uri=uri,
            offset=offset,
            text=suggestion.text,
            model=model,
            language=language,
            source=suggestion.source,
            latency_ms=suggestion.timings.get("total_ms", 0.0),
        )
        if len(self._records) > MAX_RECORDS:
            self._records.popitem(last=False)
        self._last_key = (model, language)
        self._count_generations()
        return suggestion_id

    def _count_generations(self) -> None:
        """Generations started since the previous answer are counted for this one's model and
        language: the route rarely changes between two answers, and a superseded generation
        (or a prefetch) has no answer of its own."""
        started = self._generations()
        if started > self._generations_seen and self._last_key is not None:
            key = self._last_key
            self._generations_due[key] = (
                self._generations_due.get(key, 0) + started - self._generations_seen
            )
            self._generations_seen = started

    # -- the clients' reports -------------------------------------------------------------------

    def shown(self, suggestion_id: str) -> None:
        record = self._record(suggestion_id, "shown")
        if record is not None:
            self._mark_shown(record)

    def accepted(
        self,
        suggestion_id: str,
        units: int | None = None,
        encoding: PositionEncoding = PositionEncoding.UTF32,
    ) -> None:
        """Accepted in full (through the item's command, or a client's notification, which
        may say how much it inserted: `units` code units of `encoding`)."""
        record = self._record(suggestion_id, "accepted")
        if record is None or record.full:
            return
        chars = len(record.text) if units is None else self._chars(record, units, encoding)
        self._accept(record, max(chars, record.accepted_chars), "accepted")
        record.full = record.closed = True

    def partial(self, suggestion_id: str, units: int, encoding: PositionEncoding) -> None:
        """The first `units` code units of the suggestion are accepted so far (a word, a
        line); the rest stays shown."""
        record = self._record(suggestion_id, "partial")
        if record is None or record.closed:
            return
        chars = self._chars(record, units, encoding)
        if chars > record.accepted_chars:
            self._accept(record, chars, "partial")

    def dismissed(self, suggestion_id: str) -> None:
        record = self._record(suggestion_id, "dismissed")
        if record is None or record.closed or record.accepted_chars:
            return
        self._mark_shown(record)
        record.closed = True
        self._queue(self._event("dismissed", record))

    def _record(self, suggestion_id: str, kind: str) -> _Answered | None:
        record = self._records.get(suggestion_id)
        if record is None:
            log.debug("suggestion event %s for an unknown id %r: ignored", kind, suggestion_id)
        return record

    @staticmethod
    def _chars(record: _Answered, units: int, encoding: PositionEncoding) -> int:
        return units_to_index(record.text, units, encoding)

    def _mark_shown(self, record: _Answered) -> None:
        if record.shown:
            return
        record.shown = True
        self._queue(
            self._event(
                "shown",
                record,
                source=record.source,
                latency_ms=record.latency_ms,
                chars=len(record.text),
            )
        )

    def _accept(self, record: _Answered, chars: int, kind: EventKind) -> None:
        self._mark_shown(record)  # an accepted suggestion was shown, told or not
        record.accepted_chars = chars
        self._queue(self._event(kind, record, chars=chars))
        self._start_check(record, record.text[:chars])

    def _event(
        self,
        kind: EventKind,
        record: _Answered,
        *,
        source: str = "",
        latency_ms: float | None = None,
        chars: int = 0,
        retained: int = 0,
        after_s: float = 0.0,
    ) -> StatsEvent:
        return StatsEvent(
            kind=kind,
            time=self._clock(),
            model=record.model,
            language=record.language,
            id=record.id,
            source=source,
            latency_ms=latency_ms,
            chars=chars,
            retained=retained,
            after_s=after_s,
        )

    # -- retention ------------------------------------------------------------------------------

    def _start_check(self, record: _Answered, accepted: str) -> None:
        document = self._document(record.uri)
        if document is None or not accepted:
            return
        checks = self._checks.setdefault(record.uri, [])
        for old in [c for c in checks if c.record is record]:  # a longer accept replaces it
            self._drop(old)
        start = locate(document.text, accepted, record.offset)
        located = start is not None
        begin = start if start is not None else min(record.offset, len(document.text))
        check = _Check(
            record=record,
            accepted=accepted,
            document=document,
            range=TrackedRange(begin, begin + len(accepted) if located else begin),
            located=located,
            accepted_at=self._monotonic(),
        )
        checks.append(check)
        check.timer = self._schedule(self.retention_s, lambda: self._due(check))

    def document_edited(self, uri: str, replaced: tuple[int, int] | None, inserted: int) -> None:
        """One change of `uri`, as `Document.apply_change` applied it: the old text's span
        `replaced` became `inserted` characters (`replaced` None: a whole new text)."""
        checks = self._checks.get(uri)
        if not checks:
            return
        current = self._document(uri)
        if current is None:
            return
        for check in checks:
            if check.document is not current:
                continue  # closed and opened anew: the old text is the one measured
            if replaced is None:
                check.range.replaced(len(current.text), margin_for(check.accepted))
            else:
                check.range.edited(replaced[0], replaced[1], inserted)
            if not check.located:
                self._try_locating(check)

    def _try_locating(self, check: _Check) -> None:
        start = locate(check.document.text, check.accepted, check.range.start)
        if start is not None:
            check.range = TrackedRange(start, start + len(check.accepted))
            check.located = True

    def _due(self, check: _Check) -> None:
        self._drop(check)
        if not check.located:
            self._try_locating(check)
        if not check.located:
            log.debug("retention of %s not measured: its text was not found", check.record.id)
            return
        text = check.document.text
        window = text[check.range.start : check.range.end]  # a slice: the count runs later
        after_s = self._monotonic() - check.accepted_at
        self._worker.submit(self._measure, check.record, check.accepted, window, after_s)

    def _measure(self, record: _Answered, accepted: str, now: str, after_s: float) -> None:
        """In the worker: the count can take a few ms for a long suggestion."""
        event = self._event(
            "retained",
            record,
            chars=len(accepted),
            retained=retained_chars(accepted, now),
            after_s=after_s,
        )
        self.log.append([event])  # here already: the worker may be closing, taking no new job

    def _drop(self, check: _Check) -> None:
        if check.timer is not None:
            check.timer.cancel()
            check.timer = None
        checks = self._checks.get(check.record.uri)
        if checks is not None and check in checks:
            checks.remove(check)
            if not checks:
                del self._checks[check.record.uri]

    def pending_checks(self) -> int:
        return sum(len(checks) for checks in self._checks.values())

    # -- writing --------------------------------------------------------------------------------

    def _queue(self, event: StatsEvent) -> None:
        """Adds `event` (and the generations counted so far) to the next write, which the
        worker makes."""
        with self._lock:
            self._take_generations(event.time)
            self._pending.append(event)
            if self._flush_queued:
                return
            self._flush_queued = True
        self._worker.submit(self._flush)

    def _take_generations(self, now: float) -> None:
        due, self._generations_due = self._generations_due, {}
        for (model, language), count in due.items():
            self._pending.append(
                StatsEvent(
                    kind="generations", time=now, model=model, language=language, count=count
                )
            )

    def _flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
            self._flush_queued = False
        self.log.append(events)

    def close(self) -> None:
        """At the end of the session: measures the pending checks now and writes what is
        left (the worker finishes it before the session's worker closes)."""
        for checks in list(self._checks.values()):
            for check in list(checks):
                self._due(check)
        self._count_generations()  # those started after the last answer (a prefetch)
        with self._lock:
            self._take_generations(self._clock())
            if not self._pending or self._flush_queued:
                return
            self._flush_queued = True
        self._worker.submit(self._flush)
