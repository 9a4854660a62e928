"""Ollama through the official `ollama` client: model facts and streamed generation.

One long-lived `AsyncClient` per host (a new client per request costs a connection set-up
each time). Streams are async generators that the caller must `aclose()`: closing one
closes the HTTP response, which is how Ollama learns to stop generating.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
import pydantic

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.context.secrets import redact_secrets
from lsp_assist.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelFailed,
    ModelNotFound,
    ModelWithoutFim,
    ServerBusy,
    StreamTruncated,
)
from lsp_assist.positions import without_lone_surrogates

log = logging.getLogger(__name__)


def outgoing_text(text: str) -> str:
    """Text as it may leave for Ollama: valid UTF-8 (lone surrogates replaced) and with
    secret-looking values (keys, tokens, passwords) replaced by a placeholder. Every prompt,
    suffix and chat message goes through here: context, the current window and reviews."""
    return redact_secrets(without_lone_surrogates(text))


@dataclass(frozen=True)
class ModelInfo:
    name: str
    template: str
    capabilities: tuple[str, ...]
    context_length: int | None
    family: str = ""

    @property
    def supports_insert(self) -> bool:
        return "insert" in self.capabilities or ".Suffix" in self.template


def map_backend_error(
    exc: BaseException, *, host: str, model: str, endpoint: str = ""
) -> BackendError:
    """Turns whatever the client raised into one of our faults."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ollama.ResponseError):
        text = exc.error or ""
        if exc.status_code == 404:
            return ModelNotFound(model)
        if exc.status_code == 400 and "does not support insert" in text:
            return ModelWithoutFim(model)
        if exc.status_code == 503:
            return ServerBusy(text)
        return ModelFailed(f"{text} (status {exc.status_code})")
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"{type(exc).__name__} talking to {host}")
    if isinstance(exc, (httpx.ConnectError, ConnectionError, OSError)):
        return BackendUnavailable(host, str(exc) or type(exc).__name__, endpoint=endpoint)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ModelFailed(f"Ollama closed the connection mid-answer ({exc})")
    if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError, ValueError)):
        return ModelFailed(f"Ollama sent something that is not its API: {exc}")
    if isinstance(exc, httpx.HTTPError):
        return BackendUnavailable(host, str(exc) or type(exc).__name__, endpoint=endpoint)
    return ModelFailed(f"{type(exc).__name__}: {exc}")


class OllamaBackend:
    def __init__(
        self,
        host: str,
        *,
        keep_alive: str = "30m",
        timeout_s: float = 60.0,
        endpoint: str = "",
        headers: Mapping[str, str] | None = None,
        verify: Any = True,
    ) -> None:
        self.host = host
        self.keep_alive = keep_alive
        self.endpoint = endpoint
        """Its name in `lspAssist.endpoints` ("" for `ollama.host`)."""
        timeout = httpx.Timeout(connect=3.0, read=timeout_s, write=10.0, pool=5.0)
        # trust_env=False: never route the user's code through a proxy from the environment;
        # follow_redirects=False: never send it (or a key) to a host we were not pointed at.
        self._client = ollama.AsyncClient(
            host=host,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            headers=dict(headers or {}),
            verify=verify,
        )
        self._timeout = timeout
        self._plain: httpx.AsyncClient | None = None
        self._closed = False
        self._model_info: dict[str, ModelInfo] = {}
        self._model_info_pending: dict[str, asyncio.Future[ModelInfo]] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        await self._client.close()
        if self._plain is not None:
            await self._plain.aclose()

    async def model_info(self, model: str) -> ModelInfo:
        """`/api/show`, cached per model once it succeeds (failures are not cached, so a
        model pulled later is picked up)."""
        if (info := self._model_info.get(model)) is not None:
            return info
        if (pending := self._model_info_pending.get(model)) is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ModelInfo] = asyncio.get_running_loop().create_future()
        self._model_info_pending[model] = future
        try:
            info = await self._fetch_model_info(model)
            self._model_info[model] = info
            future.set_result(info)
            return info
        except BaseException as exc:
            error = map_backend_error(exc, host=self.host, model=model, endpoint=self.endpoint)
            future.set_exception(error)
            future.exception()  # mark retrieved: nobody else may be waiting
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise error from exc
        finally:
            del self._model_info_pending[model]

    async def _fetch_model_info(self, model: str) -> ModelInfo:
        shown = await self._client.show(model)
        model_info: Mapping[str, Any] = shown.modelinfo or {}
        context_length = next(
            (int(v) for k, v in model_info.items() if k.endswith(".context_length")), None
        )
        details = shown.details
        return ModelInfo(
            name=model,
            template=shown.template or "",
            capabilities=tuple(shown.capabilities or ()),
            context_length=context_length,
            family=(details.family or "") if details else "",
        )

    async def version(self) -> str:
        """`GET /api/version` (the `ollama` client has no method for it)."""
        if self._plain is None:
            self._plain = httpx.AsyncClient(
                base_url=self.host if "://" in self.host else f"http://{self.host}",
                timeout=self._timeout,
                trust_env=False,
                follow_redirects=False,
            )
        try:
            response = await self._plain.get("/api/version")
            response.raise_for_status()
            return str(response.json().get("version", ""))
        except Exception as exc:
            raise map_backend_error(exc, host=self.host, model="", endpoint=self.endpoint) from exc

    async def answers(self) -> bool:
        """Whether Ollama answers now."""
        try:
            await self.version()
        except BackendError:
            return False
        return True

    async def load_model(self, model: str, *, num_ctx: int) -> None:
        """Loads `model` (Ollama loads a model on an empty prompt and keeps it `keep_alive`),
        with the `num_ctx` completions will send (another would reload it)."""
        try:
            await self._client.generate(
                model=model, prompt="", options={"num_ctx": num_ctx}, keep_alive=self.keep_alive
            )
        except Exception as exc:
            raise map_backend_error(
                exc, host=self.host, model=model, endpoint=self.endpoint
            ) from exc

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
        """Yields pieces of text as Ollama streams them; fills `stats` from the final chunk
        before yielding that chunk's text (possibly ""), then reads the body's end.

        Raises a `BackendError`. A stream that ends without its final chunk raises
        `StreamTruncated` after its text was yielded.
        """
        kwargs: dict[str, Any] = {}
        if raw:
            kwargs["raw"] = True
        else:
            kwargs["suffix"] = outgoing_text(suffix or "")
        try:
            chunks = await self._client.generate(
                model=model,
                prompt=outgoing_text(prompt),
                stream=True,
                options=dict(options),
                keep_alive=self.keep_alive,
                **kwargs,
            )
        except Exception as exc:
            raise map_backend_error(
                exc, host=self.host, model=model, endpoint=self.endpoint
            ) from exc
        try:
            first = True
            async for chunk in chunks:
                if first:
                    stats.ttft_ms = (time.perf_counter() - stats.started) * 1000
                    first = False
                if chunk.done:
                    stats.done = True
                    stats.done_reason = chunk.done_reason or ""
                    stats.prompt_eval_count = chunk.prompt_eval_count or 0
                    stats.prompt_eval_ms = (chunk.prompt_eval_duration or 0) / 1e6
                    stats.eval_count = chunk.eval_count or 0
                    stats.eval_ms = (chunk.eval_duration or 0) / 1e6
                    stats.total_ms = (chunk.total_duration or 0) / 1e6
                    # Its text (newer Ollama puts the last piece here), with `stats.done`
                    # already set, so the consumer knows the answer is complete.
                    yield chunk.response or ""
                    break
                if chunk.response:
                    yield chunk.response
            if stats.done:
                # The body's end is already here: reading it lets the connection go back to
                # the pool (closing early would cost a new connection per request).
                async for _ in chunks:
                    pass
        except Exception as exc:
            raise map_backend_error(
                exc, host=self.host, model=model, endpoint=self.endpoint
            ) from exc
        finally:
            # Closing the client's generator closes the HTTP response, so Ollama stops.
            await chunks.aclose()  # type: ignore[attr-defined]
        if not stats.done:
            raise StreamTruncated("stream ended without a final chunk")

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        """One chat turn, streamed and joined: streaming lets a cancelled caller close the
        response at once (Ollama then stops), and the final chunk says why it ended."""
        try:
            chunks = await self._client.chat(
                model=model,
                messages=[{**m, "content": outgoing_text(m.get("content", ""))} for m in messages],
                stream=True,
                format=dict(format) if format is not None else None,
                options=dict(options),
                keep_alive=self.keep_alive,
            )
        except Exception as exc:
            raise map_backend_error(
                exc, host=self.host, model=model, endpoint=self.endpoint
            ) from exc
        pieces: list[str] = []
        answer = ChatAnswer()
        try:
            async for chunk in chunks:
                pieces.append(chunk.message.content or "")
                if chunk.done:
                    answer.done = True
                    answer.done_reason = chunk.done_reason or ""
                    answer.backend_ms = (chunk.total_duration or 0) / 1e6
        except Exception as exc:
            raise map_backend_error(
                exc, host=self.host, model=model, endpoint=self.endpoint
            ) from exc
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        if not answer.done:
            raise StreamTruncated("chat answer ended without a final chunk")
        answer.content = "".join(pieces)
        return answer
