"""The embedded engine: llama.cpp's own server, run inside this process by the `xllamacpp` wheel
(`pip install 'lsp-assist[embedded]'`), on a GGUF file from the disk — a real model for someone
who runs no model server.

It runs as a child process (loading a model in this process would hold the GIL and freeze the
editor's keystrokes for seconds), listens on 127.0.0.1 with a random port and a random API
key, so other local users cannot use it, and is asked through the same client as an external
llama.cpp server (one code path for the prompt cache, streaming and cancellation). One thread
per two cores: on a 2-core machine two threads stalled requests for 0.1–1.6 s (OpenMP
spinning against the editor).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from lsp_assist.backends.answers import ChatAnswer, GenerationStats
from lsp_assist.backends.llamacpp import LlamaCppClient, ServerFacts
from lsp_assist.config import Endpoint
from lsp_assist.embedded_server import KEY_ENV
from lsp_assist.errors import BackendError, BackendUnavailable, StillLoading

log = logging.getLogger(__name__)

DEFAULT_CTX = 4096


class EmbeddedMissing(BackendUnavailable):
    """No model file, or no `xllamacpp`: the embedded engine cannot run. The next backend of
    the route serves meanwhile (it is probed again, as a server that is down is)."""

    kind = "embedded-missing"

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__("embedded", detail, server="the embedded llama.cpp", endpoint="embedded")
        self.detail = detail
        self.fix = fix

    def user_message(self) -> str:
        message = f"lsp-assist: the embedded engine cannot run: {self.detail} — {self.fix}"
        if self.fallback:
            message += f"; meanwhile completions come from {self.fallback}"
        return message


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


class EmbeddedEngine:
    kind = "embedded"

    def __init__(self, endpoint: Endpoint, model_path: Path, *, n_ctx: int = DEFAULT_CTX) -> None:
        self.endpoint = endpoint
        self.model_path = model_path
        self.host = f"embedded:{model_path.name}"
        self._n_ctx = n_ctx
        self._starting: asyncio.Task[LlamaCppClient] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._client: LlamaCppClient | None = None
        self._healthy = False
        self.closed = False

    @property
    def loading(self) -> bool:
        return self._starting is not None and not self._healthy

    async def start(self) -> LlamaCppClient:
        """Starts llama.cpp's server (in a child process, see `embedded_server.py`)."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._spawn())
        return await asyncio.shield(self._starting)

    async def _spawn(self) -> LlamaCppClient:
        if not self.model_path.is_file():
            raise EmbeddedMissing(
                f"no model file at {self.model_path}",
                "run `lsp-assist models pull` or set the endpoint's modelPath",
            )
        if importlib.util.find_spec("xllamacpp") is None:
            raise EmbeddedMissing(
                "the xllamacpp package is not installed",
                "install it with `pip install 'lsp-assist[embedded]'`",
            )
        key = secrets.token_urlsafe(24)
        threads = self.endpoint.threads or default_threads()
        started = time.perf_counter()
        command = [
            sys.executable, "-m", "lsp_assist.embedded_server",
            "--model", str(self.model_path), "--ctx", str(self._n_ctx),
            "--threads", str(threads),
        ]  # fmt: skip
        if log.isEnabledFor(logging.DEBUG):
            command.append("--verbose")
        self._process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, KEY_ENV: key},
        )
        assert self._process.stdout is not None
        line = (await self._process.stdout.readline()).decode(errors="replace").strip()
        if not line.startswith("READY "):
            code = await self._process.wait()
            raise EmbeddedMissing(
                f"llama.cpp could not load {self.model_path.name} (exit code {code})",
                "check that the file is a GGUF model; run with -v for llama.cpp's log",
            )
        url = line.removeprefix("READY ")
        endpoint = dataclasses.replace(self.endpoint, url=url)
        self._client = LlamaCppClient(endpoint, base_url=url, slot=0, api_key=key)
        log.info("embedded engine: %s on %d thread(s), listening after %.0f ms",
                 self.model_path.name, threads, (time.perf_counter() - started) * 1000)  # fmt: skip
        return self._client

    async def ready(self, wait_ms: int) -> LlamaCppClient:
        """The client, once the model is loaded; waits up to `wait_ms` for the load (then
        `StillLoading`: the status says so, and the next keystroke asks again)."""
        deadline = time.monotonic() + (wait_ms / 1000 if wait_ms > 0 else 120.0)
        starting = asyncio.ensure_future(self.start())
        done, _ = await asyncio.wait({starting}, timeout=max(deadline - time.monotonic(), 0))
        if not done:
            raise StillLoading(self.model_path.name)
        client = starting.result()
        if self._healthy:
            return client
        delay = 0.01
        while not await client.answers():
            if time.monotonic() >= deadline:
                raise StillLoading(self.model_path.name)
            # The server answers 503 while it loads the model: it has no event to wait on.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        self._healthy = True
        return client

    async def facts(self) -> ServerFacts:
        return await (await self.ready(0)).facts()

    async def answers(self) -> bool:
        try:
            client = await self.start()
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
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._client is not None:
            await self._client.close()
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # its signal to stop
            try:
                await asyncio.wait_for(process.wait(), timeout=5)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
