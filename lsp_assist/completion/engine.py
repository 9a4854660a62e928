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
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lsp_assist.backends.base import CompletionBackend, CompletionJob, PreparedGeneration, Source
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.completion.generation import Generation
from lsp_assist.completion.typethrough import SuggestionCache
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


def syntax_safe(snapshot: TextView, offset: int, text: str) -> str:
    """`text`, or its longest start of whole lines that adds no syntax error ("" if none): a
    block whose last line is wrong (a string cut by the token limit, a statement the model got
    wrong) still offers the lines before it. At most three parses."""
    if not introduces_syntax_errors(snapshot, offset, text):
        return text
    lines = text.split("\n")
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
            started_live = self._start(prepared, settings, backend.name)
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
    ) -> Suggestion | None:
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
        if not final or not final.startswith(typed):
            return None
        remainder = final[len(typed) :]
        if not remainder:
            return None
        remainder = syntax_safe(snapshot, offset, remainder)
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
        self, prepared: PreparedGeneration, settings: CompletionSettings, backend: str
    ) -> _Live:
        generation = Generation(prepared.plan, prepared.open_stream)
        self.generations_started += 1
        live = _Live(generation, prepared, backend)
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
        if (live := self._live.pop(uri, None)) is not None:
            live.generation.cancel()
        self._cache.forget(uri)
        self._tickets.pop(uri, None)

    async def shutdown(self) -> None:
        for live in list(self._live.values()):
            live.generation.cancel()
        tasks = [live.generation.task for live in self._live.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._live.clear()
