"""One client per endpoint of `lspAssist.endpoints`, of the kind it names.

A client is made when first needed and kept while its endpoint's settings stay the same (a new
client per request would cost a connection set-up each time, and for the embedded engine a
model load). One replaced by a settings change is closed after a grace period, so what still
streams from it ends first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lsp_assist.backends.answers import ChatAnswer
from lsp_assist.backends.base import CompletionBackend
from lsp_assist.backends.embedded import EmbeddedEngine
from lsp_assist.backends.engine_completion import EngineClient, EngineCompletion
from lsp_assist.backends.engine_http import bearer_headers, tls_verification
from lsp_assist.backends.llamacpp import LlamaCppClient
from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.backends.ollama_completion import OllamaCompletion
from lsp_assist.backends.openai_compat import OpenAIClient
from lsp_assist.config import Endpoint, OllamaSettings
from lsp_assist.model_store import default_model_path

log = logging.getLogger(__name__)

RETIRED_CLIENT_GRACE_S = 30.0
"""A client replaced by a settings change is closed this long after, when what was still
streaming from it has ended."""

Client = OllamaBackend | EngineClient


class EndpointChat:
    """Review calls to one endpoint, in that endpoint's name for the review model."""

    def __init__(self, endpoint: Endpoint, client: Client) -> None:
        self.endpoint = endpoint
        self.client = client
        self.host = client.host

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        model = self.endpoint.reviewModel or model
        if isinstance(self.client, OpenAIClient):
            served = await self.client.served_model(
                model, f"lspAssist.endpoints.{self.endpoint.name}.reviewModel"
            )
            model = served.id
        return await self.client.chat(
            model=model, messages=messages, options=options, format=format
        )


@dataclasses.dataclass
class _Made:
    key: tuple[Any, ...]
    client: Client
    completion: CompletionBackend
    chat: EndpointChat


class EndpointClients:
    def __init__(self, ollama: Callable[[], OllamaSettings]) -> None:
        self._ollama = ollama
        self._made: dict[str, _Made] = {}
        self._retiring: dict[asyncio.TimerHandle, Client] = {}

    def completion(self, endpoint: Endpoint) -> CompletionBackend:
        return self._get(endpoint).completion

    def chat(self, endpoint: Endpoint) -> EndpointChat:
        return self._get(endpoint).chat

    def client(self, endpoint: Endpoint) -> Client:
        return self._get(endpoint).client

    def _get(self, endpoint: Endpoint) -> _Made:
        ollama = self._ollama()
        key = (endpoint, ollama.keepAlive)
        made = self._made.get(endpoint.name)
        if made is None or made.key != key:
            if made is not None:
                self._retire(made.client)
            made = self._made[endpoint.name] = self._make(endpoint, key, ollama)
        return made

    def _make(self, endpoint: Endpoint, key: tuple[Any, ...], ollama: OllamaSettings) -> _Made:
        client: Client
        completion: CompletionBackend
        if endpoint.kind == "ollama":
            client = OllamaBackend(
                endpoint.resolved_url or ollama.resolved_host,
                keep_alive=ollama.keepAlive,
                timeout_s=endpoint.timeoutS,
                endpoint=endpoint.name,
                key_env=endpoint.apiKeyEnv,
                headers=bearer_headers(endpoint),
                verify=tls_verification(endpoint),
            )
            completion = OllamaCompletion(
                client, name=endpoint.name, model=endpoint.completionModel
            )
        else:
            if endpoint.kind == "llamacpp":
                client = LlamaCppClient(endpoint, slot=endpoint.slot)
            elif endpoint.kind == "openai":
                client = OpenAIClient(endpoint)
            else:
                client = EmbeddedEngine(endpoint, embedded_model_path(endpoint))
            completion = EngineCompletion(endpoint, client)
        return _Made(key, client, completion, EndpointChat(endpoint, client))

    def _retire(self, client: Client) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # settings read before the loop runs: nothing was opened yet
            return

        def close() -> None:
            self._retiring.pop(handle, None)
            loop.create_task(client.close())

        handle = loop.call_later(RETIRED_CLIENT_GRACE_S, close)
        self._retiring[handle] = client

    async def close(self) -> None:
        clients = [*self._retiring.values(), *(made.client for made in self._made.values())]
        for handle in self._retiring:
            handle.cancel()
        self._retiring.clear()
        self._made.clear()
        for client in clients:
            try:
                await client.close()
            except Exception:  # closing is best effort
                log.debug("closing a model server client failed", exc_info=True)


def embedded_model_path(endpoint: Endpoint) -> Path:
    if endpoint.modelPath:
        return Path(os.path.expanduser(endpoint.modelPath))
    return default_model_path() or Path("(no model pulled)")
