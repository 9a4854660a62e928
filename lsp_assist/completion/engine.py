"""Scheduling completions: type-through, cache, debounce, supersede, one stream per document.

Every request works on the `DocumentSnapshot` it arrived with. Order of business:
1. the live generation of this document, if the user typed what it suggests (type-through);
2. a finished suggestion that the cursor state continues (LRU: typing through, backspacing);
3. otherwise debounce, then stop the old generation and start a new one with the first backend
   of the route that can take it (a backend that cannot be reached passes the request on:
   the model, then the offline engine).
Every request gets an answer: a suggestion, or None when there is nothing (superseded,
disabled, no first token before `completion.firstTokenMs`, the backend failed — a failure is
reported once through the notifier).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lsp_assist.backends.base import CompletionBackend, CompletionJob, PreparedGeneration, Source
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.completion.continuation import follow
from lsp_assist.completion.generation import Generation
from lsp_assist.completion.typethrough import CursorKey, SuggestionCache
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import TextView
from lsp_assist.errors import (
    BackendError,
    BackendUnavailable,
    FaultNotifier,
    ServerBusy,
    StillLoading,
)
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.status import Status
from lsp_assist.syntax import introduces_syntax_errors

log = logging.getLogger(__name__)

GENERATING_STATUS_AFTER_S = 0.15
PREFETCH_AFTER_S = 0.12
"""How long a suggestion is shown without a keystroke before the next one is prepared: longer
than the pause between keystrokes of someone typing on (the prefetch would cost their prompt
cache), shorter than reading a suggestion takes."""


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, where it came from, and who made it."""

    text: str
    source: Source
    label: str = ""
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Live:
    """A generation and who made it."""

    generation: Generation
    prepared: PreparedGeneration
    backend: str
    """The route's name for the backend that made it."""
    job: CompletionJob
    """What it was asked for (a prefetch asks the same, one suggestion further)."""


@dataclass
class _Prefetch:
    """The suggestion for the state after accepting the one shown, made while the user looks
    at it. It stays while the user types through the shown suggestion; anything else ends it."""

    live: _Live
    shown_key: CursorKey
    shown: str
    lead: str = ""
    """"\n" when the shown suggestion ends its line: the prefetch is for the next line, and is
    offered after a line break right after accepting (or after the user's Enter and the
    editor's indentation)."""


def syntax_safe(snapshot: TextView, offset: int, text: str, *, cut: bool = False) -> str:
    """`text`, or its longest start of whole lines that adds no syntax error ("" if none): a
    block whose last line is wrong (a statement the model got wrong) still offers the lines
    before it, and one that the token limit `cut` unfinished (open brackets, an open
    docstring) is offered as is.
    At most four parses."""
    if not introduces_syntax_errors(snapshot, offset, text):
        return text
    lines = text.split("\n")
    if len(lines) == 1:
        return ""
    # A block cut by the token limit may end unfinished (inside a call, a literal or a
    # docstring): the user writes the rest.
    if cut and not introduces_syntax_errors(snapshot, offset, text, unfinished_ok=True):
        return text
    for keep in sorted({len(lines) - 1, 1}, reverse=True):
        if keep < 1 or keep >= len(lines):
            continue
        shorter = "\n".join(lines[:keep])
        if shorter.strip() and not introduces_syntax_errors(snapshot, offset, shorter):
            return shorter
    return ""


class CompletionEngine:
    def __init__(
        self,
        *,
        route: Callable[[], Sequence[CompletionBackend]],
        settings: Callable[[], CompletionSettings],
        notifier: FaultNotifier,
        on_status: Callable[[Status], None] = lambda status: None,
        on_unavailable: Callable[[str, BackendUnavailable], None] = lambda name, error: None,
        on_answered: Callable[[str], None] = lambda name: None,
        loading: Callable[[], bool] = lambda: False,
    ) -> None:
        self._route = route
        self._settings = settings
        self._notifier = notifier
        self._on_status = on_status
        self._on_unavailable = on_unavailable
        """A backend could not be reached: the route passes over it until it is back."""
        self._on_answered = on_answered
        self._loading = loading
        self._live: dict[str, _Live] = {}
        self._tickets: dict[str, int] = {}
        self._cache: SuggestionCache[_Live] = SuggestionCache()
        self.activity = CompletionActivity()
        self.generations_started = 0
        """Generations sent to a backend (for "generations per accepted suggestion")."""
        self.prefetches_started = 0
        """Of those, the ones that prepared the suggestion after a shown one."""
        self._prefetched: dict[str, _Prefetch] = {}
        self._prefetching: set[asyncio.Task[None]] = set()
        self._waiting_prefetch: dict[str, asyncio.TimerHandle] = {}
        self._last_asked: dict[str, CursorKey] = {}
        """Where each document's last request was: a prefetch waits for a moment in which the
        user stays where the suggestion is shown."""

    # -- requests ---------------------------------------------------------------------------

    async def suggest(
        self,
        snapshot: TextView,
        offset: int,
        context_files: Callable[[], Sequence[ContextFile]] = lambda: (),
        repo_name: str = "",
    ) -> Suggestion | None:
        """The suggestion at `offset` of `snapshot`. `context_files` is asked only when a new
        generation starts: a keystroke answered by type-through or the cache needs none."""
        started = time.perf_counter()
        settings = self._settings()
        if not settings.enabled:
            return None
        uri = snapshot.uri
        text = snapshot.text
        self._last_asked[uri] = CursorKey.at(text, offset)

        if (prefetched := self._prefetched.get(uri)) is not None:
            answer = await self._from_prefetch(prefetched, snapshot, offset, started, settings)
            if answer is not None:
                return answer

        live = self._live.get(uri)
        if live is not None and not live.generation.done and self._usable(live):
            typed = live.generation.key.typed_since(text, offset)
            if typed is not None and await self._wait_matching(live, typed, settings):
                return await self._answer_from(
                    live, typed, snapshot, offset, started, settings, "type-through"
                )
            if typed is not None and not live.generation.started:
                return None  # no token before the deadline: leave it running, to be cached
            if self._live.get(uri) is live:
                live.generation.cancel()

        for cached, typed in self._cache.candidates(uri, text, offset):
            if cached.generation.done and self._usable(cached) and cached.generation.matches(typed):
                self._cache.touch(uri, cached.generation.key)
                source: Source = "type-through" if typed else "cache"
                return await self._answer_from(
                    cached, typed, snapshot, offset, started, settings, source
                )

        ticket = self._tickets[uri] = self._tickets.get(uri, 0) + 1
        if settings.debounceMs > 0 and self.serving_model():
            await asyncio.sleep(settings.debounceMs / 1000)
            if self._tickets.get(uri) != ticket:
                return None  # a newer keystroke took over
        if (live := self._live.get(uri)) is not None:
            live.generation.cancel()

        job = CompletionJob(snapshot, offset, settings, context_files(), repo_name)
        backends = list(self._route())
        for index, backend in enumerate(backends):
            has_next = index + 1 < len(backends)
            try:
                prepared = await backend.prepare(job)
            except StillLoading as exc:
                log.info("ghost text answered empty: %s", exc)
                self._on_status(
                    Status(state="waiting", model=settings.model, message=exc.user_message())
                )
                return None
            except BackendError as exc:
                self._report(exc, backend.name, has_next)
                if isinstance(exc, (BackendUnavailable, ServerBusy)) and has_next:
                    continue
                return None
            if self._tickets.get(uri) != ticket:
                return None  # superseded while the backend got ready
            if prepared is None:
                return None
            started_live = self._start(prepared, settings, backend.name, job)
            suggestion = await self._answer_from(
                started_live, "", snapshot, offset, started, settings, prepared.source
            )
            error = started_live.generation.error
            if (
                suggestion is None
                and isinstance(error, (BackendUnavailable, ServerBusy))
                and has_next
            ):
                if self._tickets.get(uri) != ticket:
                    return None
                continue  # reported already: the next backend answers this request
            return suggestion
        return None

    def _usable(self, live: _Live) -> bool:
        """An offline engine's suggestion gives way to the model once the model is back."""
        return live.prepared.source != "offline" or self.serving_offline()

    def serving_model(self) -> bool:
        """Whether the first backend of the route is a model (not the offline engine)."""
        route = self._route()
        return bool(route) and route[0].name != "offline"

    def serving_offline(self) -> bool:
        """Whether suggestions come from the offline engine now rather than a model."""
        route = self._route()
        return bool(route) and route[0].name == "offline"

    async def _wait_matching(self, live: _Live, typed: str, settings: CompletionSettings) -> bool:
        generation = live.generation
        generation.waiters += 1
        try:
            if not await self._started_in_time(live, settings):
                return False
            return await generation.wait_until_decided(typed)
        finally:
            generation.waiters -= 1

    async def _started_in_time(self, live: _Live, settings: CompletionSettings) -> bool:
        """Whether a model's generation sent its first token before `firstTokenMs` (else the
        status says why; the generation goes on, to be cached for the next request here)."""
        deadline_s = settings.firstTokenMs / 1000
        if deadline_s <= 0 or live.prepared.source != "model" or live.generation.done:
            return True
        if await live.generation.wait_started(deadline_s):
            return True
        self._say_waiting(settings, deadline_s)
        return False

    async def _answer_from(
        self,
        live: _Live,
        typed: str,
        snapshot: TextView,
        offset: int,
        started: float,
        settings: CompletionSettings,
        source: Source,
        lead: str = "",
    ) -> Suggestion | None:
        """The rest of `live`'s suggestion after `typed`, checked against the syntax at the
        cursor (`lead`: a line break the suggestion comes after, see `_Prefetch`)."""
        generation, prepared = live.generation, live.prepared
        generation.waiters += 1
        try:
            if not await self._started_in_time(live, settings):
                generation.waiters -= 1
                return None
            await generation.finished.wait()
        except asyncio.CancelledError:
            # The client cancelled this request: stop the model unless another request
            # still waits for the same answer.
            generation.waiters -= 1
            if generation.waiters == 0:
                generation.cancel()
            raise
        generation.waiters -= 1
        if generation.error is not None:
            route = [backend.name for backend in self._route()]
            has_next = live.backend in route and route.index(live.backend) + 1 < len(route)
            self._report(generation.error, live.backend, has_next)
            if generation.final is None:
                return None
        elif not generation.cancelled and prepared.source == "model":
            self._notifier.recovered(live.backend)
            self._on_answered(live.backend)
        final = generation.final
        at = follow(final, typed, line_start=generation.line_start) if final else None
        if final is None or at is None:
            return None
        remainder = final[at:]
        if lead and remainder:
            remainder = lead + remainder
        if not remainder:
            return None
        remainder = syntax_safe(
            snapshot, offset, remainder, cut=generation.stats.done_reason == "length"
        )
        if not remainder:
            log.info("suggestion dropped: it would add syntax errors (uri=%s)", snapshot.uri)
            return None
        total_ms = (time.perf_counter() - started) * 1000
        from_model = source == "model"
        timings = {
            "total_ms": total_ms,
            "prompt_ms": generation.plan.prompt_ms if from_model else 0.0,
            "backend_ms": generation.stats.total_ms if from_model else 0.0,
        }
        self._on_status(
            Status(
                state="ready",
                source=source,
                engine=prepared.label,
                latencyMs=round(total_ms, 2),
                promptMs=round(timings["prompt_ms"], 3),
                backendMs=round(timings["backend_ms"], 2),
                promptChars=generation.plan.prompt_chars if from_model else 0,
            )
        )
        self._prefetch_after(live, snapshot, offset, remainder, settings)
        return Suggestion(remainder, source, prepared.label, timings)

    def _say_waiting(self, settings: CompletionSettings, deadline_s: float) -> None:
        if self._loading():
            message = StillLoading(settings.model).user_message()
        else:
            message = (
                f"no answer from the model in {deadline_s:g} s; it is busy or not answering "
                "(raise lspAssist.completion.firstTokenMs for a slow machine)"
            )
        log.info("ghost text answered empty: %s", message)
        self._on_status(Status(state="waiting", model=settings.model, message=message))

    # -- starting a generation ----------------------------------------------------------------

    def _start(
        self,
        prepared: PreparedGeneration,
        settings: CompletionSettings,
        backend: str,
        job: CompletionJob,
    ) -> _Live:
        self._stop_prefetching()  # a keystroke's generation comes first
        generation = Generation(prepared.plan, prepared.open_stream)
        self.generations_started += 1
        live = _Live(generation, prepared, backend, job)
        uri = prepared.plan.uri
        self._live[uri] = live
        self._cache.put(uri, prepared.plan.key, live)
        if prepared.source != "model":
            return live
        self.activity.generation_started(generation.task)
        # Only a generation that takes a while is worth a "generating" in the status bar
        # (and then it costs nothing on the way to a quick answer).
        announce = asyncio.get_running_loop().call_later(
            GENERATING_STATUS_AFTER_S,
            self._on_status,
            Status(state="generating", model=settings.model),
        )
        generation.task.add_done_callback(lambda _task: announce.cancel())
        log.debug(
            "generation started uri=%s prompt_chars=%d prompt_ms=%.2f multiline=%s",
            uri,
            prepared.plan.prompt_chars,
            prepared.plan.prompt_ms,
            prepared.plan.multiline,
        )
        return live

    # -- prefetching the next suggestion ------------------------------------------------------

    async def _from_prefetch(
        self,
        prefetched: _Prefetch,
        snapshot: TextView,
        offset: int,
        started: float,
        settings: CompletionSettings,
    ) -> Suggestion | None:
        """The next suggestion, if the user accepted (or typed through) the one shown."""
        uri, live = snapshot.uri, prefetched.live
        typed = live.generation.key.typed_since(snapshot.text, offset)
        lead = ""
        if typed is None:
            on_the_way = prefetched.shown_key.typed_since(snapshot.text, offset)
            through = follow(prefetched.shown, on_the_way) if on_the_way is not None else None
            if through is None:
                self._drop_prefetch(uri)  # the user went another way
                return None
            if not (prefetched.lead and through == len(prefetched.shown)):
                return None  # still typing through the shown suggestion
            typed, lead = "", prefetched.lead  # accepted, at the end of its line
        if not self._usable(live) or not await self._wait_matching(live, typed, settings):
            self._drop_prefetch(uri)
            return None
        if not lead:
            del self._prefetched[uri]
            self._live[uri] = live
        return await self._answer_from(
            live, typed, snapshot, offset, started, settings, "prefetch", lead
        )

    def _prefetch_after(
        self,
        live: _Live,
        snapshot: TextView,
        offset: int,
        shown: str,
        settings: CompletionSettings,
    ) -> None:
        """Prepares the suggestion that follows `shown`, if the model is idle: the state after
        accepting it is known, and the user needs a moment to read it."""
        uri = snapshot.uri
        backend = next((b for b in self._route() if b.name == live.backend), None)
        if backend is None or live.prepared.source == "offline":
            return
        if settings.prefetch == "never" or (settings.prefetch == "auto" and not backend.local):
            return
        if not self._idle():
            return  # the model is busy with what the user waits for
        at = offset + len(shown)
        ends_line = not shown.endswith("\n") and snapshot.text[offset : offset + 1] in (
            "\n",
            "\r",
            "",
        )
        lead = "\n" if ends_line else ""
        # At the end of its line, what follows is the next line: prepared at its start (the
        # editor's indentation, whatever it is, is typed through).
        at += len(lead)
        if (known := self._prefetched.get(uri)) is not None:
            if known.live.generation.key == CursorKey.after_inserting(
                snapshot.text, offset, shown + lead
            ):
                return
            self._drop_prefetch(uri)
        shown_key = CursorKey.at(snapshot.text, offset)

        def start() -> None:
            self._waiting_prefetch.pop(uri, None)
            if self._last_asked.get(uri) != shown_key or not self._idle():
                return  # the user typed on: no time to read it, and the model is needed
            # Built only now, after the pause: every answered keystroke comes through here,
            # and the document as accepted is a copy of its text and line starts.
            accepted = snapshot.with_inserted(offset, shown + lead)
            job = dataclasses.replace(live.job, snapshot=accepted, offset=at)
            coroutine = self._prefetch(backend, job, shown_key, shown, lead, live.backend)
            task = asyncio.get_running_loop().create_task(coroutine)
            self._prefetching.add(task)
            task.add_done_callback(self._prefetching.discard)

        # Only once the user has looked at the suggestion for a moment without typing: a
        # prefetch replaces the engine's prompt cache (one slot), so one started between
        # keystrokes would make the next keystroke's prompt be evaluated afresh.
        if (waiting := self._waiting_prefetch.pop(uri, None)) is not None:
            waiting.cancel()
        self._waiting_prefetch[uri] = asyncio.get_running_loop().call_later(PREFETCH_AFTER_S, start)

    async def _prefetch(
        self,
        backend: CompletionBackend,
        job: CompletionJob,
        shown_key: CursorKey,
        shown: str,
        lead: str,
        name: str,
    ) -> None:
        try:
            prepared = await backend.prepare(job)
        except BackendError as exc:  # a prefetch is a bonus: its faults are not the user's
            log.debug("prefetch not prepared: %s", exc)
            return
        if prepared is None:
            return
        uri = prepared.plan.uri
        generation = Generation(prepared.plan, prepared.open_stream)
        self.prefetches_started += 1
        live = _Live(generation, prepared, name, job)
        self._prefetched[uri] = _Prefetch(live, shown_key, shown, lead)
        self._cache.put(uri, prepared.plan.key, live)
        log.debug("prefetch started uri=%s prompt_chars=%d", uri, prepared.plan.prompt_chars)

    def _idle(self) -> bool:
        return all(live.generation.done for live in self._live.values())

    def _drop_prefetch(self, uri: str) -> None:
        if (prefetched := self._prefetched.pop(uri, None)) is not None:
            prefetched.live.generation.cancel()

    def _stop_prefetching(self) -> None:
        """Cancels prefetches still streaming (finished ones stay: they cost nothing now)."""
        for task in list(self._prefetching):
            task.cancel()
        for uri, prefetched in list(self._prefetched.items()):
            if not prefetched.live.generation.done:
                self._drop_prefetch(uri)

    # -- lifecycle ------------------------------------------------------------------------------

    def _report(self, error: BackendError, backend: str, has_next: bool) -> None:
        # The kind at the default level; the details (which may quote a broken server's
        # answer) at debug.
        log.warning("completion from %s failed: %s", backend, error.kind)
        log.debug("completion failure: %s", error)
        if isinstance(error, BackendUnavailable) and has_next:
            self._on_unavailable(backend, error)
        self._on_status(Status(state="error", message=error.user_message()))
        self._notifier.report(error, scope=self._settings().model, source=backend)

    def document_closed(self, uri: str) -> None:
        self._last_asked.pop(uri, None)
        if (waiting := self._waiting_prefetch.pop(uri, None)) is not None:
            waiting.cancel()
        self._drop_prefetch(uri)
        if (live := self._live.pop(uri, None)) is not None:
            live.generation.cancel()
        self._cache.forget(uri)
        self._tickets.pop(uri, None)

    async def shutdown(self) -> None:
        for handle in self._waiting_prefetch.values():
            handle.cancel()
        self._waiting_prefetch.clear()
        for task in list(self._prefetching):
            task.cancel()
        for uri in list(self._prefetched):
            self._drop_prefetch(uri)
        for live in list(self._live.values()):
            live.generation.cancel()
        tasks = [live.generation.task for live in self._live.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._live.clear()
