"""llama.cpp's own server (`llama-server`, or the embedded one): FIM through `/completion`, review
through `/v1/chat/completions`.

Why `/completion` with our own raw FIM prompt rather than `/infill`: `/infill` puts the suffix
after the cursor's prefix, so every typed character re-evaluates the whole suffix (measured:
112 prompt tokens for 5 typed characters). Our prompt keeps the cursor line after the middle
marker, so typing appends to the prompt and llama.cpp evaluates just the new characters
(`cache_prompt`). The request is pinned to one slot (`id_slot`) per editor session, so another
editor sharing the server does not evict this one's cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.backends.engine_http import EngineHttp
from lsp_assist.backends.ollama import outgoing_text
from lsp_assist.config import Endpoint
from lsp_assist.errors import NotAModelServer, StreamTruncated
from lsp_assist.prompts.templates import TEMPLATES, FimTemplate, detect_template

log = logging.getLogger(__name__)

TIME_LIMIT_MS = 1000
"""`t_max_predict_ms`: once a line is complete, stop generating after this long (llama.vim's
default): a slow machine shows a shorter suggestion instead of a late one."""

STICKY_SLOT = -2
"""The endpoint's `slot` setting that keeps a session on the slot the server first chose (-1,
the default, lets llama.cpp pick each time: measured better for a team, see team_load)."""

STOP_REASONS = {"limit": "length", "word": "stop", "eos": "stop"}
"""llama.cpp's `stop_type` in Ollama's words (`done_reason`)."""


@dataclass(frozen=True)
class ServerFacts:
    """What the server says about itself (`/props`, `/tokenize`)."""

    model: str
    """The model's file name, as `/v1/models` names it."""
    slot_ctx: int
    """Tokens of context each slot has."""
    slots: int
    fim: FimTemplate | None
    """The FIM tokens the model's vocabulary has, as one of our templates (None: none)."""


class LlamaCppClient:
    kind = "llamacpp"

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        base_url: str | None = None,
        slot: int = -1,
        api_key: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.http = EngineHttp(endpoint, base_url, api_key=api_key)
        self.host = self.http.url
        self._slot = slot
        self._chosen_slot: int | None = None
        self._facts: ServerFacts | None = None

    @property
    def closed(self) -> bool:
        return self.http.closed

    async def close(self) -> None:
        await self.http.close()

    async def answers(self) -> bool:
        return await self.http.answers("/health")

    async def facts(self) -> ServerFacts:
        """The server's model, context and FIM tokens (asked once per client)."""
        if self._facts is None:
            self._facts = await self._ask_facts()
        return self._facts

    async def _ask_facts(self) -> ServerFacts:
        props = await self.http.get_json("/props")
        if not isinstance(props, dict) or "default_generation_settings" not in props:
            raise NotAModelServer(self.host, "llama.cpp", "/props has no generation settings")
        settings = props.get("default_generation_settings") or {}
        model = PurePath(str(props.get("model_path") or "model")).name
        fim = None
        preferred = detect_template(model)
        candidates = [preferred] if preferred else []
        candidates += [t for t in TEMPLATES.values() if t not in candidates]
        for template in candidates:
            if await self._is_one_token(template.prefix_marker.strip()):
                fim = template
                break
        facts = ServerFacts(
            model=model,
            slot_ctx=int(settings.get("n_ctx") or 0),
            slots=int(props.get("total_slots") or 1),
            fim=fim,
        )
        log.info(
            "llama.cpp at %s: %s, %d slot(s) of %d tokens, FIM %s",
            self.host,
            facts.model,
            facts.slots,
            facts.slot_ctx,
            fim.family if fim else "none",
        )
        return facts

    async def _is_one_token(self, text: str) -> bool:
        """Whether the vocabulary has `text` as one special token (the model was trained with
        it, unlike a look-alike spelled out in pieces)."""
        answer = await self.http.post_json(
            "/tokenize", {"content": text, "add_special": False, "parse_special": True}
        )
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        return isinstance(tokens, list) and len(tokens) == 1

    def slot_for(self, facts: ServerFacts) -> int:
        """The `id_slot` to ask for. With one slot, that one. By default (-1) llama.cpp picks:
        the idle slot whose cached prompt is most like ours, which is this editor's own slot
        whenever it is free — and another one rather than a wait when it is not. `slot: N`
        pins slot N (an admin's assignment, when there are as many slots as editors); `-2`
        keeps the slot the server chose for this session's first request."""
        if facts.slots <= 1:
            return 0
        if self._slot >= 0:
            return self._slot % facts.slots
        if self._slot == STICKY_SLOT and self._chosen_slot is not None:
            return self._chosen_slot
        return -1

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
        """Streams `/completion` for a raw FIM prompt. `options` are in Ollama's names
        (`num_predict`, `stop`, …), the one vocabulary of the completion request."""
        facts = await self.facts()
        body = {
            "prompt": outgoing_text(prompt),
            "n_predict": options.get("num_predict", 128),
            "temperature": options.get("temperature", 0.2),
            "top_p": options.get("top_p", 0.9),
            "stop": list(options.get("stop", ())),
            "stream": True,
            "cache_prompt": True,
            "id_slot": self.slot_for(facts),
            "t_max_predict_ms": TIME_LIMIT_MS,
            "samplers": ["top_k", "top_p", "temperature"],
        }
        if "seed" in options:
            body["seed"] = options["seed"]
        async with self.http.events("/completion", body) as events:
            async for event in events:
                if not stats.ttft_ms:
                    stats.ttft_ms = (time.perf_counter() - stats.started) * 1000
                content = str(event.get("content") or "")
                if event.get("stop"):
                    _record_final(event, stats)
                    if isinstance(chosen := event.get("id_slot"), int) and chosen >= 0:
                        self._chosen_slot = chosen
                    yield content
                    return
                if content:
                    yield content
        raise StreamTruncated("llama.cpp's stream ended without its final event")

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        return await stream_chat(
            self.http, "/v1/chat/completions", model, messages, options, format
        )


def _record_final(event: Mapping[str, Any], stats: GenerationStats) -> None:
    timings = event.get("timings") or {}
    stats.done = True
    stats.done_reason = STOP_REASONS.get(str(event.get("stop_type")), "stop")
    stats.prompt_eval_count = int(timings.get("prompt_n") or 0)
    stats.prompt_cached = int(timings.get("cache_n") or 0)
    stats.prompt_eval_ms = float(timings.get("prompt_ms") or 0.0)
    stats.eval_count = int(timings.get("predicted_n") or 0)
    stats.eval_ms = float(timings.get("predicted_ms") or 0.0)
    stats.total_ms = stats.prompt_eval_ms + stats.eval_ms


async def stream_chat(
    http: EngineHttp,
    path: str,
    model: str,
    messages: list[dict[str, str]],
    options: Mapping[str, Any],
    format: Mapping[str, Any] | None,
    *,
    schema_field: str = "response_format",
) -> ChatAnswer:
    """One chat turn through an OpenAI-style `/chat/completions`, streamed and joined (a
    cancelled caller closes the stream, and the server stops). `format` is a JSON schema the
    answer must follow: sent as `response_format` (or vLLM's older `guided_json`)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{**m, "content": outgoing_text(m.get("content", ""))} for m in messages],
        "stream": True,
        "temperature": options.get("temperature", 0),
        "max_tokens": options.get("num_predict", 768),
    }
    if "seed" in options:
        body["seed"] = options["seed"]
    if format is not None:
        if schema_field == "guided_json":
            body["guided_json"] = dict(format)
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "review", "schema": dict(format), "strict": True},
            }
    answer = ChatAnswer()
    pieces: list[str] = []
    started = time.perf_counter()
    async with http.events(path, body) as events:
        async for event in events:
            for choice in event.get("choices") or ():
                delta = choice.get("delta") or choice.get("message") or {}
                pieces.append(str(delta.get("content") or ""))
                if choice.get("finish_reason"):
                    answer.done = True
                    answer.done_reason = "length" if choice["finish_reason"] == "length" else "stop"
    if not answer.done:
        raise StreamTruncated("chat answer ended without a finish reason")
    answer.content = "".join(pieces)
    answer.backend_ms = (time.perf_counter() - started) * 1000
    return answer
