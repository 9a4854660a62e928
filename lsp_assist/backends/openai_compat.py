"""OpenAI-compatible servers (vLLM, TGI, SGLang, LM Studio, llama-server's `/v1`): FIM through
`/v1/completions`, review through `/v1/chat/completions`.

FIM goes as our raw prompt in `prompt`, never as `suffix`: llama.cpp ignores `suffix` without
a word and vLLM and SGLang reject it, so only the spelled-out markers work everywhere. The
model's FIM tokens come from its name (or the endpoint's `fim` setting): these servers do not
say which tokens a model has.

Structured review answers go as `response_format: json_schema`; a server that refuses it
(older vLLM) is asked again with vLLM's `guided_json`, and that choice is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.backends.engine_http import EngineHttp
from lsp_assist.backends.llamacpp import stream_chat
from lsp_assist.backends.ollama import outgoing_text
from lsp_assist.config import Endpoint
from lsp_assist.errors import ModelFailed, ModelNotFound, NotAModelServer, StreamTruncated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    id: str
    context_length: int | None
    owned_by: str = ""


class OpenAIClient:
    kind = "openai"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.http = EngineHttp(endpoint)
        self.host = self.http.url
        self._models: dict[str, ServedModel] | None = None
        self._schema_field = "response_format"

    @property
    def closed(self) -> bool:
        return self.http.closed

    async def close(self) -> None:
        await self.http.close()

    async def answers(self) -> bool:
        return await self.http.answers("/models")

    async def models(self) -> dict[str, ServedModel]:
        """`/models`, asked once per client (a server serves what it was started with)."""
        if self._models is None:
            listing = await self.http.get_json("/models")
            data = listing.get("data") if isinstance(listing, dict) else None
            if not isinstance(data, list):
                raise NotAModelServer(
                    self.host, "an OpenAI-compatible server", "/models has no data"
                )
            models = {}
            for entry in data:
                if not isinstance(entry, dict) or "id" not in entry:
                    continue
                meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
                # vLLM says max_model_len; llama.cpp's server puts n_ctx in meta.
                length = entry.get("max_model_len") or meta.get("n_ctx")  # type: ignore[union-attr]
                models[str(entry["id"])] = ServedModel(
                    str(entry["id"]),
                    int(length) if length else None,
                    str(entry.get("owned_by", "")),
                )
            self._models = models
        return self._models

    async def served_model(self, wanted: str, setting: str) -> ServedModel:
        """The served model the settings mean: `wanted` itself, or the one model the server
        serves when it has only one (llama-server, a vLLM started for one model)."""
        models = await self.models()
        if wanted in models:
            return models[wanted]
        if len(models) == 1:
            only = next(iter(models.values()))
            log.info("%s serves one model, %s: using it", self.host, only.id)
            return only
        raise ModelNotFound(
            wanted, server=self.http.described, available=tuple(models), setting=setting
        )

    async def stream_generate(
        self,
        *,
        model: str,
        prompt: str,
        options: Mapping[str, Any],
        stats: GenerationStats,
        suffix: str | None = None,
        raw: bool = True,
    ) -> AsyncIterator[str]:
        body: dict[str, Any] = {
            "model": model,
            "prompt": outgoing_text(prompt),
            "max_tokens": options.get("num_predict", 128),
            "temperature": options.get("temperature", 0.2),
            "top_p": options.get("top_p", 0.9),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stops := list(options.get("stop", ())):
            # All of them: vLLM, TGI, SGLang and llama.cpp take any number (OpenAI's own API,
            # which serves no FIM model, allows 4).
            body["stop"] = stops
        if "seed" in options:
            body["seed"] = options["seed"]
        finished = False
        async with self.http.events("/completions", body) as events:
            async for event in events:
                if not stats.ttft_ms:
                    stats.ttft_ms = (time.perf_counter() - stats.started) * 1000
                for choice in event.get("choices") or ():
                    text = str(choice.get("text") or "")
                    if reason := choice.get("finish_reason"):
                        finished = True
                        stats.done_reason = "length" if reason == "length" else "stop"
                    if text:
                        yield text
                if usage := event.get("usage"):
                    _record_usage(usage, event.get("timings"), stats)
        if not finished:
            raise StreamTruncated("the stream ended without a finish reason")
        stats.done = True
        stats.total_ms = stats.total_ms or (time.perf_counter() - stats.started) * 1000
        yield ""  # the end, with `stats.done` set: the answer is complete

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        try:
            return await stream_chat(
                self.http, "/chat/completions", model, messages, options, format,
                schema_field=self._schema_field,
            )  # fmt: skip
        except ModelFailed as exc:
            text = str(exc)
            if format is None or self._schema_field != "response_format":
                raise
            if "response_format" not in text and "json_schema" not in text:
                raise
            # An older vLLM: structured output through its own extra parameter.
            log.info("%s refuses response_format json_schema: using guided_json", self.host)
            self._schema_field = "guided_json"
            return await stream_chat(
                self.http, "/chat/completions", model, messages, options, format,
                schema_field="guided_json",
            )  # fmt: skip


def _record_usage(usage: Mapping[str, Any], timings: Any, stats: GenerationStats) -> None:
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    stats.prompt_cached = cached
    stats.prompt_eval_count = max(prompt_tokens - cached, 0)
    stats.eval_count = int(usage.get("completion_tokens") or 0)
    if isinstance(timings, dict):  # llama-server adds its own timings
        stats.prompt_eval_count = int(timings.get("prompt_n") or stats.prompt_eval_count)
        stats.prompt_eval_ms = float(timings.get("prompt_ms") or 0.0)
        stats.eval_ms = float(timings.get("predicted_ms") or 0.0)
        stats.total_ms = stats.prompt_eval_ms + stats.eval_ms
