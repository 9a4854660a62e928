"""Turning a cursor into one FIM request for Ollama: which template, which prompt, which
options. Shared by the server's `CompletionEngine` and `lsp-assist complete`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.backends.ollama import ModelInfo
from lsp_assist.completion.cursor import CursorContext, DocumentLines
from lsp_assist.completion.generation import GenerationPlan
from lsp_assist.completion.typethrough import CursorKey
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import TextView
from lsp_assist.errors import ModelWithoutFim
from lsp_assist.languages import LanguageSpec
from lsp_assist.prompts.builder import build_fim_prompt
from lsp_assist.prompts.templates import ContextFile, FimTemplate, detect_template
from lsp_assist.prompts.window import PromptBudget, cut_window
from lsp_assist.syntax import wants_multiline
from lsp_assist.uris import file_name_of_uri


class GeneratingClient(Protocol):
    """A model server client that streams a completion (Ollama, llama.cpp, OpenAI-compatible,
    embedded). `options` use Ollama's names (`num_predict`, `stop`, …); each client says them
    in its server's words."""

    def stream_generate(
        self,
        *,
        model: str,
        prompt: str,
        options: Mapping[str, Any],
        stats: GenerationStats,
        suffix: str | None = None,
        raw: bool = True,
    ) -> AsyncIterator[str]: ...


@dataclass(frozen=True)
class ModelPlan:
    """How to prompt a model: our raw template, or Ollama's own (`suffix` field)."""

    template: FimTemplate | None
    num_ctx: int


def looks_like_instruct(model: str) -> bool:
    """Chat-tuned models (qwen2.5-coder:7b-instruct, Qwen2.5-Coder-7B-Instruct, …) have the FIM
    tokens in their vocabulary but were not trained to fill in the middle: their completions
    ramble. Refused for completions on every kind of server."""
    name = model.lower()
    return any(word in name for word in ("instruct", "-chat", "_chat", ":chat", "-it-", "-it."))


def resolve_model_plan(model: str, info: ModelInfo, num_ctx: int) -> ModelPlan:
    """How to prompt `model` given its `/api/show` facts; raises `ModelWithoutFim`."""
    template = detect_template(model, info.template)
    if (template is None and not info.supports_insert) or looks_like_instruct(model):
        raise ModelWithoutFim(model)
    # Constant per model: a different num_ctx makes Ollama reload the model.
    return ModelPlan(template=template, num_ctx=min(num_ctx, info.context_length or num_ctx))


@dataclass(frozen=True)
class CompletionRequest:
    """One FIM request for a cursor: the prompt, how to send it, and the cursor it was built
    for. Shared by the server's engine and `lsp-assist complete`."""

    offset: int
    cursor: CursorContext
    multiline: bool
    language: LanguageSpec
    prompt: str
    suffix: str | None
    raw: bool
    options: dict[str, Any]
    prompt_ms: float

    def generation_plan(self, document: TextView) -> GenerationPlan:
        return GenerationPlan(
            uri=document.uri,
            key=CursorKey.at(document.text, self.offset),
            cursor=self.cursor,
            multiline=self.multiline,
            language=self.language,
            prompt_chars=len(self.prompt),
            prompt_ms=self.prompt_ms,
        )

    def stream_factory(
        self, backend: GeneratingClient, model: str
    ) -> Callable[[GenerationStats], Any]:
        def open_stream(stats: GenerationStats) -> Any:
            return backend.stream_generate(
                model=model,
                prompt=self.prompt,
                options=self.options,
                stats=stats,
                suffix=self.suffix,
                raw=self.raw,
            )

        return open_stream


def build_completion_request(
    document: TextView,
    offset: int,
    settings: CompletionSettings,
    plan: ModelPlan,
    *,
    context_files: Sequence[ContextFile] = (),
    repo_name: str = "",
) -> CompletionRequest | None:
    """The request for the cursor at `offset`, or None when there is nothing to ask."""
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
    path = file_name_of_uri(document.uri)
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
    return CompletionRequest(
        offset=offset,
        cursor=cursor,
        multiline=multiline,
        language=document.language,
        prompt=prompt_text,
        suffix=suffix,
        raw=raw,
        options=options,
        prompt_ms=prompt_ms,
    )
