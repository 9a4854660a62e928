"""The embedded engine: llama.cpp's own server, run inside this process by the `xllamacpp` wheel
(`pip install 'lsp-assist[embedded]'`), on a GGUF file from the disk — a real model for someone
who runs no model server.

It listens on 127.0.0.1 with a random port and a random API key, so other local users cannot
use it, and it is asked through the same client as an external llama.cpp server (one code path
for the prompt cache, streaming and cancellation). One thread per two cores: on a 2-core machine
two threads stalled requests for 0.1–1.6 s (OpenMP spinning against the editor).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.backends.llamacpp import LlamaCppClient, ServerFacts
from lsp_assist.config import Endpoint
from lsp_assist.errors import BackendError, StillLoading

log = logging.getLogger(__name__)

DEFAULT_CTX = 4096


class EmbeddedMissing(BackendError):
    """No model file, or no `xllamacpp`: the embedded engine cannot run."""

    kind = "embedded-missing"

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.fix = fix

    def user_message(self) -> str:
        return f"lsp-assist: the embedded engine cannot run: {self} — {self.fix}"


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


class EmbeddedEngine:
    kind = "embedded"

    def __init__(self, endpoint: Endpoint, model_path: Path, *, n_ctx: int = DEFAULT_CTX) -> None:
        self.endpoint = endpoint
        self.model_path = model_path
        self.host = f"embedded:{model_path.name}"
        self._n_ctx = n_ctx
        self._server: Any = None
        self._client: LlamaCppClient | None = None
        self._healthy = False
        self.closed = False

    @property
    def loading(self) -> bool:
        return self._server is not None and not self._healthy

    def start(self) -> LlamaCppClient:
        """Starts llama.cpp's server in this process (it loads the model in the background)."""
        if self._client is not None:
            return self._client
        if not self.model_path.is_file():
            raise EmbeddedMissing(
                f"no model file at {self.model_path}",
                "run `lsp-assist models pull` or set the endpoint's modelPath",
            )
        try:
            import xllamacpp
        except ImportError as exc:
            raise EmbeddedMissing(
                "the xllamacpp package is not installed",
                "install it with `pip install 'lsp-assist[embedded]'`",
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.n_ctx = self._n_ctx
        params.n_parallel = 1
        threads = self.endpoint.threads or default_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_prompt = True
        params.endpoint_props = True
        params.offline = True  # never download anything
        params.verbosity = 1 if log.isEnabledFor(logging.DEBUG) else 0
        key = secrets.token_urlsafe(24)
        params.api_keys = [key]
        started = time.perf_counter()
        self._server = xllamacpp.Server(params)
        url = str(self._server.listening_address)
        endpoint = dataclasses.replace(self.endpoint, url=url)
        self._client = LlamaCppClient(endpoint, base_url=url, slot=0, api_key=key)
        log.info("embedded engine: %s on %d thread(s), started in %.0f ms",
                 self.model_path.name, threads, (time.perf_counter() - started) * 1000)  # fmt: skip
        return self._client

    async def ready(self, wait_ms: int) -> LlamaCppClient:
        """The client, once the model is loaded; waits up to `wait_ms` for the load (then
        `StillLoading`: the status says so, and the next keystroke asks again)."""
        client = self.start()
        if self._healthy:
            return client
        deadline = time.monotonic() + (wait_ms / 1000 if wait_ms > 0 else 60.0)
        delay = 0.01
        while not await client.answers():
            if time.monotonic() >= deadline:
                raise StillLoading(self.model_path.name)
            # Polling the engine in this process: llama.cpp has no load event to wait on.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        self._healthy = True
        return client

    async def facts(self) -> ServerFacts:
        return await (await self.ready(0)).facts()

    async def answers(self) -> bool:
        try:
            client = self.start()
        except BackendError:
            return False
        return await client.answers()

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
        client = await self.ready(0)
        async for piece in client.stream_generate(
            model=model, prompt=prompt, options=options, stats=stats
        ):
            yield piece

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        client = await self.ready(0)
        return await client.chat(model=model, messages=messages, options=options, format=format)

    async def close(self) -> None:
        self.closed = True
        if self._client is not None:
            await self._client.close()
        if self._server is not None:
            # Dropping the last reference stops its threads, which waits for its main loop:
            # done off the event loop.
            holder = [self._server]
            self._server = None
            await asyncio.to_thread(holder.clear)
