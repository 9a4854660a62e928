"""Scheduling completions: type-through, cache, debounce, supersede, one stream per document.

Order of business for each request:
1. the live generation of this document, if the user typed what it suggests (type-through);
2. a finished suggestion that the cursor state continues (LRU: typing through, backspacing);
3. otherwise debounce, then stop the old generation and start a new one.
Every request gets an answer: a suggestion, or None when there is nothing (superseded,
disabled, the model failed — the failure is reported once through the notifier).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.completion.generation import Generation
from lsp_assist.completion.health import BackendHealth
from lsp_assist.completion.request import ModelPlan, build_completion_request, resolve_model_plan
from lsp_assist.completion.typethrough import CursorKey, SuggestionCache
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, BackendUnavailable, FaultNotifier
from lsp_assist.offline.definitions import Definition
from lsp_assist.offline.engine import ENGINE_LABEL, OfflineEngine
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.syntax import introduces_syntax_errors

log = logging.getLogger(__name__)

Source = Literal["model", "type-through", "cache", "offline"]

GENERATING_STATUS_AFTER_S = 0.15


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, and where it came from."""

    text: str
    source: Source
    timings: dict[str, float] = field(default_factory=dict)


class CompletionEngine:
    def __init__(
        self,
        *,
        backend: Callable[[], OllamaBackend],
        settings: Callable[[], CompletionSettings],
        notifier: FaultNotifier,
        on_status: Callable[[dict[str, Any]], None] = lambda status: None,
        offline: OfflineEngine | None = None,
        health: BackendHealth | None = None,
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._notifier = notifier
        self._on_status = on_status
        self.offline = offline or OfflineEngine()
        self.health = health
        self._live: dict[str, Generation] = {}
        self._tickets: dict[str, int] = {}
        self._cache: SuggestionCache[Generation] = SuggestionCache()
        self._plans: dict[tuple[str, str], ModelPlan] = {}
        self._offline_last: dict[str, tuple[CursorKey, str]] = {}
        self.activity = CompletionActivity()

    # -- requests ---------------------------------------------------------------------------

    async def suggest(
        self,
        document: Document,
        offset: int,
        context_files: Sequence[ContextFile] = (),
        repo_name: str = "",
    ) -> Suggestion | None:
        started = time.perf_counter()
        settings = self._settings()
        if not settings.enabled:
            return None
        uri = document.uri
        text = document.text

        live = self._live.get(uri)
        if live is not None and not live.done:
            typed = live.key.typed_since(text, offset)
            if typed is not None and await self._wait_matching(live, typed):
                return await self._answer_from(
                    live, typed, document, offset, started, "type-through"
                )
            if self._live.get(uri) is live:
                live.cancel()

        for cached, typed in self._cache.candidates(uri, text, offset):
            if cached.done and cached.matches(typed):
                self._cache.touch(uri, cached.key)
                source: Source = "type-through" if typed else "cache"
                return await self._answer_from(cached, typed, document, offset, started, source)

        ticket = self._tickets[uri] = self._tickets.get(uri, 0) + 1
        if settings.debounceMs > 0:
            await asyncio.sleep(settings.debounceMs / 1000)
            if self._tickets.get(uri) != ticket:
                return None  # a newer keystroke took over
        live = self._live.get(uri)
        if live is not None:
            live.cancel()
        if self.serving_offline():
            return self._offline_suggestion(document, offset, started)

        try:
            generation = await self._start_generation(
                document, offset, settings, context_files, repo_name
            )
        except BackendError as exc:
            self._report(exc)
            return self._fall_back(exc, document, offset, started)
        if generation is None or self._tickets.get(uri) != ticket:
            if generation is not None:
                generation.cancel()
            return None
        suggestion = await self._answer_from(generation, "", document, offset, started, "model")
        if suggestion is None and generation.error is not None:
            return self._fall_back(generation.error, document, offset, started)
        return suggestion

    # -- the offline engine ---------------------------------------------------------------------

    def serving_offline(self) -> bool:
        """Whether suggestions come from the offline engine now rather than the model."""
        backend = self._settings().backend
        if backend == "offline":
            return True
        return backend == "auto" and self.health is not None and not self.health.reachable

    def _fall_back(
        self, error: BackendError, document: Document, offset: int, started: float
    ) -> Suggestion | None:
        """After the model server could not be reached (reported already), answer this
        request from the offline engine instead of with nothing."""
        if isinstance(error, BackendUnavailable) and self.serving_offline():
            return self._offline_suggestion(document, offset, started)
        return None

    def _offline_suggestion(
        self, document: Document, offset: int, started: float
    ) -> Suggestion | None:
        source: Source = "offline"
        text: str | None = None
        # Typing what the last offline suggestion said keeps the rest of it on screen.
        if (last := self._offline_last.get(document.uri)) is not None:
            key, suggested = last
            typed = key.typed_since(document.text, offset)
            if typed and suggested.startswith(typed) and len(suggested) > len(typed):
                text, source = suggested[len(typed) :], "type-through"
        if text is None:
            text = self.offline.suggest_line(
                document.text, offset, document.language.name, document.uri
            )
            if not text or introduces_syntax_errors(document, offset, text):
                return None
            self._offline_last[document.uri] = (CursorKey.at(document.text, offset), text)
        total_ms = (time.perf_counter() - started) * 1000
        self._on_status(
            {
                "state": "ready",
                "source": source,
                "engine": ENGINE_LABEL,
                "latencyMs": round(total_ms, 2),
                "backendMs": 0.0,
                "promptMs": 0.0,
                "promptChars": 0,
            }
        )
        return Suggestion(text, source, {"total_ms": total_ms})

    def offline_items(self, word: str, uri: str) -> list[Definition]:
        """Definitions from the workspace for a completion list, while the offline engine
        serves (with a model, the editor's own language server does this better)."""
        if not word or not self.serving_offline():
            return []
        return self.offline.completion_items(word, uri)

    async def _wait_matching(self, generation: Generation, typed: str) -> bool:
        generation.waiters += 1
        try:
            return await generation.wait_until_decided(typed)
        finally:
            generation.waiters -= 1

    async def _answer_from(
        self,
        generation: Generation,
        typed: str,
        document: Document,
        offset: int,
        started: float,
        source: Source,
    ) -> Suggestion | None:
        generation.waiters += 1
        try:
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
            self._report(generation.error)
            if generation.final is None:
                return None
        elif not generation.cancelled:
            self._notifier.recovered()
            if self.health is not None:
                self.health.mark_reachable()
        final = generation.final
        if not final or not final.startswith(typed):
            return None
        remainder = final[len(typed) :]
        if not remainder:
            return None
        if introduces_syntax_errors(document, offset, remainder):
            log.info("suggestion dropped: it would add syntax errors (uri=%s)", document.uri)
            return None
        total_ms = (time.perf_counter() - started) * 1000
        timings = {
            "total_ms": total_ms,
            "prompt_ms": generation.plan.prompt_ms if source == "model" else 0.0,
            "backend_ms": generation.stats.total_ms if source == "model" else 0.0,
        }
        self._on_status(
            {
                "state": "ready",
                "source": source,
                "latencyMs": round(total_ms, 2),
                "promptMs": round(timings["prompt_ms"], 3),
                "backendMs": round(timings["backend_ms"], 2),
                "promptChars": generation.plan.prompt_chars if source == "model" else 0,
            }
        )
        return Suggestion(remainder, source, timings)

    # -- starting a generation ----------------------------------------------------------------

    async def _start_generation(
        self,
        document: Document,
        offset: int,
        settings: CompletionSettings,
        context_files: Sequence[ContextFile],
        repo_name: str,
    ) -> Generation | None:
        backend = self._backend()
        plan = await self._model_plan(backend, settings)
        request = build_completion_request(
            document, offset, settings, plan, context_files=context_files, repo_name=repo_name
        )
        if request is None:
            return None
        generation_plan = request.generation_plan(document)
        open_stream = request.stream_factory(backend, settings.model)
        generation = Generation(generation_plan, open_stream)
        self.activity.generation_started(generation.task)
        self._live[document.uri] = generation
        self._cache.put(document.uri, generation_plan.key, generation)
        # Only a generation that takes a while is worth a "generating" in the status bar
        # (and then it costs nothing on the way to a quick answer).
        announce = asyncio.get_running_loop().call_later(
            GENERATING_STATUS_AFTER_S,
            self._on_status,
            {"state": "generating", "model": settings.model},
        )
        generation.task.add_done_callback(lambda _task: announce.cancel())
        log.debug(
            "generation started uri=%s prompt_chars=%d prompt_ms=%.2f multiline=%s",
            document.uri,
            generation_plan.prompt_chars,
            generation_plan.prompt_ms,
            generation_plan.multiline,
        )
        return generation

    async def _model_plan(self, backend: OllamaBackend, settings: CompletionSettings) -> ModelPlan:
        key = (backend.host, settings.model)
        if (plan := self._plans.get(key)) is not None:
            return plan
        info = await backend.model_info(settings.model)
        plan = resolve_model_plan(settings.model, info, settings.numCtx)
        self._plans[key] = plan
        log.info(
            "model %s: %s, num_ctx=%d",
            settings.model,
            f"raw FIM template {plan.template.family}"
            if plan.template
            else "Ollama's FIM template",
            plan.num_ctx,
        )
        return plan

    # -- lifecycle ------------------------------------------------------------------------------

    def _report(self, error: BackendError) -> None:
        log.warning("completion failed: %s", error)
        if isinstance(error, BackendUnavailable) and self._settings().backend == "auto":
            error.offline_fallback = True
            if self.health is not None:
                self.health.mark_unreachable()
        self._on_status({"state": "error", "message": error.user_message()})
        self._notifier.report(error, scope=self._settings().model)

    def document_closed(self, uri: str) -> None:
        if (live := self._live.pop(uri, None)) is not None:
            live.cancel()
        self._cache.forget(uri)
        self._tickets.pop(uri, None)
        self._offline_last.pop(uri, None)

    def settings_changed(self) -> None:
        self._plans.clear()

    async def shutdown(self) -> None:
        for generation in list(self._live.values()):
            generation.cancel()
        tasks = [g.task for g in self._live.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._live.clear()
