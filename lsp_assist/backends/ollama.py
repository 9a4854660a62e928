"""Ollama through the official `ollama` client: model facts and streamed generation.

One long-lived `AsyncClient` per host (a new client per request costs a connection set-up
each time). Streams are async generators that the caller must `aclose()`: closing one
closes the HTTP response, which is how Ollama learns to stop generating.

Faults are told as for the other kinds of server (engine_http.py), checked on each response
before the client reads it as Ollama's: a redirect is not followed (`Redirected`); 401/403
(`AuthFailed`); 429/503 with `Retry-After` (`ServerBusy`, and nothing is sent to the host
before that time); 502/504 from a proxy whose Ollama is down (`BackendUnavailable`); a body
that is not Ollama's JSON — a web page, another API's 404 — is `NotAModelServer`, never "model
not found"; TLS failures name the fix (`TlsFailed`: `caBundle`, or the URL's scheme).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
import pydantic

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.backends.engine_http import kind_of, retry_after_s
from lsp_assist.context.secrets import redact_secrets
from lsp_assist.errors import (
    AuthFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelFailed,
    ModelNotFound,
    ModelWithoutFim,
    NotAModelServer,
    Redirected,
    ServerBusy,
    StreamTruncated,
    TlsFailed,
)
from lsp_assist.positions import without_lone_surrogates

log = logging.getLogger(__name__)

OLLAMA_REPEAT_LIMIT = 30
"""Ollama ends a stream, with no final chunk, after the same token (its text trimmed) came
this many times more in a row (llm/server.go `tokenRepeat > 30`): endless whitespace ends so."""


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
    if (tls := tls_failure(exc, host=host, endpoint=endpoint)) is not None:
        return tls
    if isinstance(exc, ollama.ResponseError):
        text = exc.error or ""
        if exc.status_code == 404:
            if _is_model_not_found(text):
                return ModelNotFound(model)
            # Ollama's own 404 for a path it does not serve, or another server's.
            return NotAModelServer(host, "Ollama", f"404 {text[:80]!r}")
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
        return NotAModelServer(host, "Ollama", f"its answer is not Ollama's API ({exc})"[:200])
    if isinstance(exc, httpx.HTTPError):
        return BackendUnavailable(host, str(exc) or type(exc).__name__, endpoint=endpoint)
    return ModelFailed(f"{type(exc).__name__}: {exc}")


def _is_model_not_found(text: str) -> bool:
    """Ollama's 404 for a model: `model 'x' not found` (/api/show), `model "x" not found, try
    pulling it first` (/api/generate, /api/chat)."""
    return text.startswith("model ") and "not found" in text


def tls_failure(exc: BaseException, *, host: str, endpoint: str = "") -> TlsFailed | None:
    """The TLS fault behind `exc`, if that is what it is (the `ollama` client turns a failed
    connection into a bare ConnectionError: the TLS error is in its context)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or str(cause)
            problem = "wrong-name" if "mismatch" in detail else "untrusted"
            return TlsFailed(host, problem, detail, endpoint=endpoint)
        if isinstance(cause, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
            # Still waiting for the server's side of the handshake when time ran out: a plain
            # HTTP server reading our handshake as a request that never ends.
            return TlsFailed(host, "no-handshake", str(cause), endpoint=endpoint)
        if isinstance(cause, ssl.SSLError):
            text = str(cause)
            if "WRONG_VERSION_NUMBER" in text or "record layer" in text or "packet length" in text:
                return TlsFailed(host, "not-tls", text, endpoint=endpoint)
            return TlsFailed(host, "other", text, endpoint=endpoint)
        cause = cause.__cause__ or cause.__context__
    return None


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
        key_env: str = "",
    ) -> None:
        self.host = host
        self.keep_alive = keep_alive
        self.endpoint = endpoint
        """Its name in `lspAssist.endpoints` ("" for `ollama.host`)."""
        self._headers = dict(headers or {})
        if not key_env and not any(h.lower() == "authorization" for h in self._headers):
            # The `ollama` client sends $OLLAMA_API_KEY when no key is given.
            key_env = "OLLAMA_API_KEY" if os.environ.get("OLLAMA_API_KEY") else ""
        self._key_env = key_env
        """The environment variable the bearer key came from (named in `AuthFailed`)."""
        timeout = httpx.Timeout(connect=3.0, read=timeout_s, write=10.0, pool=5.0)
        self._verify = verify
        # trust_env=False: never route the user's code through a proxy from the environment;
        # follow_redirects=False: never send it (or a key) to a host we were not pointed at.
        self._client = ollama.AsyncClient(
            host=host,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            headers=self._headers,
            verify=verify,
            event_hooks={"response": [self._check_response]},
        )
        self._timeout = timeout
        self._plain: httpx.AsyncClient | None = None
        self._busy_until = 0.0
        """`time.monotonic()` before which nothing is sent (the host's `Retry-After`)."""
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

    # -- faults -------------------------------------------------------------------------------

    @property
    def described(self) -> str:
        """How the user knows this server: "Ollama at http://…", "gpu (Ollama at http://…)"."""
        where = f"Ollama at {self.host}"
        return where if self.endpoint in ("", "ollama") else f"{self.endpoint} ({where})"

    def _check_not_busy(self) -> None:
        wait_s = self._busy_until - time.monotonic()
        if wait_s > 0:
            raise ServerBusy(
                f"asked to wait {wait_s:.0f} s more", retry_after_s=wait_s, server=self.described
            )

    async def _check_response(self, response: httpx.Response) -> None:
        """Every response, before the `ollama` client reads it as Ollama's: what Ollama itself
        never answers (a redirect, a key refused, `Retry-After`, a page) is told as such."""
        status = response.status_code
        if status < 300 and _speaks_json(response):
            return
        if 300 <= status < 400:
            raise Redirected(self.host, response.headers.get("location", ""))
        if status in (401, 403):
            raise AuthFailed(self.host, self._key_env, status)
        if status in (429, 503):
            wait_s = retry_after_s(response.headers.get("retry-after"))
            if wait_s:
                self._busy_until = time.monotonic() + wait_s
            log.info("%s is busy (status %d, retry after %.0f s)", self.host, status, wait_s)
            if wait_s or status == 429 or not _speaks_json(response):
                raise ServerBusy(f"status {status}", retry_after_s=wait_s, server=self.described)
            return  # Ollama's own "server busy" (its queue is full): told as Ollama's
        if status in (502, 504):
            raise BackendUnavailable(
                self.host, f"a proxy answered {status}", endpoint=self.endpoint
            )
        if not _speaks_json(response):
            await response.aread()
            if status == 400 and b"HTTPS" in response.content:
                # Go's and nginx's answer to plain HTTP on a TLS port.
                raise TlsFailed(self.host, "tls-only", kind_of(response), endpoint=self.endpoint)
            path = response.request.url.path
            raise NotAModelServer(
                self.host, "Ollama", f"{path} answered {status} with {kind_of(response)}"
            )

    async def model_info(self, model: str) -> ModelInfo:
        """`/api/show`, cached per model once it succeeds (failures are not cached, so a
        model pulled later is picked up)."""
        if (info := self._model_info.get(model)) is not None:
            return info
        if (pending := self._model_info_pending.get(model)) is not None:
            return await asyncio.shield(pending)
        self._check_not_busy()
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
        self._check_not_busy()
        if self._plain is None:
            self._plain = httpx.AsyncClient(
                base_url=self.host if "://" in self.host else f"http://{self.host}",
                timeout=self._timeout,
                trust_env=False,
                follow_redirects=False,
                headers=self._headers,
                verify=self._verify,
                event_hooks={"response": [self._check_response]},
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
        self._check_not_busy()
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
        self._check_not_busy()
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
            last, repeats = "", 0
            async for chunk in chunks:
                if first:
                    stats.ttft_ms = (time.perf_counter() - stats.started) * 1000
                    first = False
                if chunk.response:
                    trimmed = chunk.response.strip()
                    repeats, last = (repeats + 1 if trimmed == last else 0), trimmed
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
        if not stats.done and repeats >= OLLAMA_REPEAT_LIMIT:
            # Ollama's token-repeat guard ended a degenerate answer (whitespace, or one token
            # over and over): an answer like any other, cut as the stop rules cut repeats.
            log.info("Ollama stopped a repeating answer (%r x %d)", last, repeats + 1)
            stats.done, stats.done_reason = True, "repeat"
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
        self._check_not_busy()
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


def _speaks_json(response: httpx.Response) -> bool:
    """Whether the body is JSON (Ollama's answers, streams as NDJSON), not a page."""
    return "json" in response.headers.get("content-type", "")
