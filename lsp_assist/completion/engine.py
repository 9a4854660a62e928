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

from lsp_assist.backends.ollama import GenerationStats, OllamaBackend
from lsp_assist.completion.cursor import CursorContext, DocumentLines
from lsp_assist.completion.generation import Generation, GenerationPlan
from lsp_assist.completion.typethrough import CursorKey, SuggestionCache
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, FaultNotifier, ModelWithoutFim
from lsp_assist.prompts.builder import build_fim_prompt
from lsp_assist.prompts.templates import ContextFile, FimTemplate, detect_template
from lsp_assist.prompts.window import PromptBudget
from lsp_assist.syntax import introduces_syntax_errors, wants_multiline

log = logging.getLogger(__name__)

Source = Literal["model", "type-through", "cache"]

GENERATING_STATUS_AFTER_S = 0.15


@dataclass(frozen=True)
class Suggestion:
    """Text to insert at the cursor, and where it came from."""

    text: str
    source: Source
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPlan:
    """How to prompt a model: our raw template, or Ollama's own (`suffix` field)."""

    template: FimTemplate | None
    num_ctx: int


class CompletionEngine:
    def __init__(
        self,
        *,
        backend: Callable[[], OllamaBackend],
        settings: Callable[[], CompletionSettings],
        notifier: FaultNotifier,
        on_status: Callable[[dict[str, Any]], None] = lambda status: None,
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._notifier = notifier
        self._on_status = on_status
        self._live: dict[str, Generation] = {}
        self._tickets: dict[str, int] = {}
        self._cache: SuggestionCache[Generation] = SuggestionCache()
        self._plans: dict[tuple[str, str], ModelPlan] = {}
        self.generations_started = 0

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

        try:
            generation = await self._start_generation(
                document, offset, settings, context_files, repo_name
            )
        except BackendError as exc:
            self._report(exc)
            return None
        if generation is None or self._tickets.get(uri) != ticket:
            if generation is not None:
                generation.cancel()
            return None
        return await self._answer_from(generation, "", document, offset, started, "model")

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
        prompt_started = time.perf_counter()
        cursor = CursorContext.of(document, offset)
        multiline = {
            "always": True,
            "never": False,
        }.get(settings.multiline, None)
        if multiline is None:
            multiline = wants_multiline(document, offset)
        budget = PromptBudget(num_ctx=plan.num_ctx, max_tokens=settings.maxTokens)
        lines = DocumentLines(document)
        options: dict[str, Any] = {
            "num_predict": settings.maxTokens,
            "temperature": settings.temperature,
            "top_p": 0.9,
            "num_ctx": plan.num_ctx,
        }
        path = document.uri.rsplit("/", 1)[-1]
        if plan.template is not None:
            prompt = build_fim_prompt(
                plan.template,
                lines,
                cursor.line,
                cursor.column,
                budget,
                files=context_files if settings.contextFiles else (),
                repo_name=repo_name,
                path=path,
                comment_prefix=document.language.line_comment or "#",
            )
            stops = list(prompt.stop)
            prompt_text, suffix, raw = prompt.text, None, True
        else:
            # Ollama's own FIM template: the typed line has to sit at the end of the prefix.
            from lsp_assist.prompts.window import cut_window

            window = cut_window(lines, cursor.line, cursor.column, budget)
            prompt_text = window.prefix + window.middle
            suffix = window.suffix or "\n"  # an empty suffix would switch Ollama to chat mode
            stops, raw = [], False
            if not prompt_text:
                return None  # Ollama answers an empty prompt with a "load" stub
        if not multiline:
            stops.append("\n")
        options["stop"] = stops
        prompt_ms = (time.perf_counter() - prompt_started) * 1000

        generation_plan = GenerationPlan(
            uri=document.uri,
            key=CursorKey.at(document.text, offset),
            cursor=cursor,
            multiline=multiline,
            indent_blocks=not document.language.brace_blocks,
            prompt_chars=len(prompt_text),
            prompt_ms=prompt_ms,
        )

        def open_stream(stats: GenerationStats) -> Any:
            return backend.stream_generate(
                model=settings.model,
                prompt=prompt_text,
                options=options,
                stats=stats,
                suffix=suffix,
                raw=raw,
            )

        generation = Generation(generation_plan, open_stream)
        self.generations_started += 1
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
            len(prompt_text),
            prompt_ms,
            multiline,
        )
        return generation

    async def _model_plan(self, backend: OllamaBackend, settings: CompletionSettings) -> ModelPlan:
        key = (backend.host, settings.model)
        if (plan := self._plans.get(key)) is not None:
            return plan
        info = await backend.model_info(settings.model)
        template = detect_template(settings.model, info.template)
        if template is None and not info.supports_insert:
            raise ModelWithoutFim(settings.model)
        # Constant per model: a different num_ctx makes Ollama reload the model.
        num_ctx = min(settings.numCtx, info.context_length or settings.numCtx)
        plan = ModelPlan(template=template, num_ctx=num_ctx)
        self._plans[key] = plan
        log.info(
            "model %s: %s, num_ctx=%d",
            settings.model,
            f"raw FIM template {template.family}" if template else "Ollama's FIM template",
            num_ctx,
        )
        return plan

    # -- lifecycle ------------------------------------------------------------------------------

    def _report(self, error: BackendError) -> None:
        log.warning("completion failed: %s", error)
        self._on_status({"state": "error", "message": error.user_message()})
        self._notifier.report(error, scope=self._settings().model)

    def document_changed(self, uri: str) -> None:
        """Nothing to do yet: a change is judged when the next request arrives."""

    def document_closed(self, uri: str) -> None:
        if (live := self._live.pop(uri, None)) is not None:
            live.cancel()
        self._cache.forget(uri)
        self._tickets.pop(uri, None)

    def settings_changed(self) -> None:
        self._plans.clear()

    async def shutdown(self) -> None:
        for generation in list(self._live.values()):
            generation.cancel()
        tasks = [g.task for g in self._live.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._live.clear()
