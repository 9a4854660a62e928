"""HTTP as llama.cpp's server and OpenAI-compatible servers (vLLM, TGI, SGLang, LM Studio) speak
it: one long-lived client per endpoint, server-sent events, and their faults as ours.

What every request to such a server gets, because it carries the user's code:
- no redirects followed: a redirect could send the code, and the bearer key, to a host the
  user never configured (`Redirected` tells them which URL to set instead);
- no proxy from the environment (`trust_env=False`), TLS verification always on (a custom CA
  bundle can be added, verification cannot be turned off);
- the key read from the environment variable the settings name, sent as a bearer token and
  never logged (httpx logs no headers; we log the variable's name at most);
- `Retry-After` on 429/503 honoured: nothing is sent to the server before that time.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from lsp_assist.config import KIND_NAMES, Endpoint
from lsp_assist.errors import (
    AuthFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelFailed,
    NotAModelServer,
    Redirected,
    ServerBusy,
)

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 300.0
"""A longer `Retry-After` is taken as this: the user should not lose the server for hours."""


class EngineHttp:
    def __init__(
        self, endpoint: Endpoint, base_url: str | None = None, *, api_key: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.url = (base_url or endpoint.resolved_url).rstrip("/")
        self.server = KIND_NAMES[endpoint.kind]
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=bearer_headers(endpoint, api_key),
            timeout=httpx.Timeout(connect=3.0, read=endpoint.timeoutS, write=10.0, pool=5.0),
            trust_env=False,
            follow_redirects=False,
            verify=tls_verification(endpoint),
        )
        self._busy_until = 0.0
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        await self._client.aclose()

    # -- requests ---------------------------------------------------------------------------

    async def get_json(self, path: str) -> Any:
        self._check_not_busy()
        try:
            response = await self._client.get(path)
        except Exception as exc:
            raise self.map_error(exc) from exc
        return self._json_of(response, path)

    async def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        self._check_not_busy()
        try:
            response = await self._client.post(path, json=body)
        except Exception as exc:
            raise self.map_error(exc) from exc
        return self._json_of(response, path)

    async def answers(self, path: str) -> bool:
        """Whether `GET path` answers 200 now (a probe: no fault is raised)."""
        try:
            response = await self._client.get(path)
        except Exception:
            return False
        return response.status_code == 200

    @asynccontextmanager
    async def events(self, path: str, body: Mapping[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        """The server-sent events of a streamed POST, as parsed JSON objects (until
        `data: [DONE]`). Leaving the context closes the response: the server stops generating
        within milliseconds (llama.cpp notices a closed stream at once)."""
        self._check_not_busy()
        request = self._client.build_request("POST", path, json=body)
        try:
            response = await self._client.send(request, stream=True)
        except Exception as exc:
            raise self.map_error(exc) from exc
        try:
            if response.status_code != 200:
                await response.aread()
                self._raise_for(response, path)
            yield self._parse_events(response, path)
        finally:
            await response.aclose()

    async def _parse_events(self, response: httpx.Response, path: str) -> AsyncIterator[Any]:
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, `: ping` comments, `event:` lines
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise NotAModelServer(
                        self.url, self.server, f"{path} sent {data[:80]!r}"
                    ) from exc
                if isinstance(event, dict) and "error" in event:
                    raise ModelFailed(f"{_error_text(event)} (in the stream of {path})")
                yield event
        except BackendError:
            raise
        except Exception as exc:
            raise self.map_error(exc) from exc

    # -- faults -------------------------------------------------------------------------------

    def _check_not_busy(self) -> None:
        wait_s = self._busy_until - time.monotonic()
        if wait_s > 0:
            raise ServerBusy(
                f"asked to wait {wait_s:.0f} s more", retry_after_s=wait_s, server=self.described
            )

    @property
    def described(self) -> str:
        return f"{self.endpoint.name} ({self.server} at {self.url})"

    def _json_of(self, response: httpx.Response, path: str) -> Any:
        if response.status_code != 200:
            self._raise_for(response, path)
        try:
            return response.json()
        except ValueError as exc:
            raise NotAModelServer(
                self.url, self.server, f"{path} answered {kind_of(response)}"
            ) from exc

    def _raise_for(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise Redirected(self.url, response.headers.get("location", ""))
        if status in (401, 403):
            raise AuthFailed(self.url, self.endpoint.apiKeyEnv, status)
        if status in (429, 503):
            wait_s = retry_after_s(response.headers.get("retry-after"))
            if wait_s:
                self._busy_until = time.monotonic() + wait_s
            log.info("%s is busy (status %d, retry after %.0f s)", self.url, status, wait_s)
            raise ServerBusy(f"status {status}", retry_after_s=wait_s, server=self.described)
        body = _json_or_none(response)
        if body is None:
            # A web page or another API: not the server the settings say.
            raise NotAModelServer(
                self.url, self.server, f"{path} answered {status} with {kind_of(response)}"
            )
        raise ModelFailed(f"{_error_text(body)} (status {status} from {path})")

    def map_error(self, exc: BaseException) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(f"{type(exc).__name__} talking to {self.url}")
        if isinstance(exc, httpx.ConnectError) and "CERTIFICATE" in str(exc).upper():
            return ModelFailed(
                f"TLS certificate of {self.url} not trusted ({exc}); add its CA with the "
                "endpoint's caBundle setting"
            )
        if isinstance(exc, (httpx.ConnectError, ConnectionError, OSError)):
            return BackendUnavailable(
                self.url,
                str(exc) or type(exc).__name__,
                server=self.server,
                endpoint=self.endpoint.name,
            )
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return ModelFailed(f"{self.url} closed the connection mid-answer ({exc})")
        if isinstance(exc, httpx.HTTPError):
            return BackendUnavailable(
                self.url, str(exc) or type(exc).__name__, server=self.server,
                endpoint=self.endpoint.name,
            )  # fmt: skip
        return ModelFailed(f"{type(exc).__name__}: {exc}")


def bearer_headers(endpoint: Endpoint, api_key: str | None = None) -> dict[str, str]:
    """The bearer key from the environment variable the endpoint names (or `api_key`)."""
    if api_key is None and endpoint.apiKeyEnv:
        api_key = os.environ.get(endpoint.apiKeyEnv)
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def tls_verification(endpoint: Endpoint) -> ssl.SSLContext | bool:
    """Always on; the endpoint's `caBundle` adds a private CA."""
    if not endpoint.caBundle:
        return True
    return ssl.create_default_context(cafile=os.path.expanduser(endpoint.caBundle))


def retry_after_s(value: str | None) -> float:
    """`Retry-After` in seconds (delta-seconds; an HTTP date is taken as one minute)."""
    if not value:
        return 0.0
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 60.0


def _json_or_none(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", "") and not response.content.startswith(
        b"{"
    ):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def kind_of(response: httpx.Response) -> str:
    """What a response's body is, for a message: "text/html (1234 bytes)"."""
    content_type = response.headers.get("content-type", "").split(";")[0] or "no content type"
    return f"{content_type} ({len(response.content)} bytes)"


def _error_text(body: Any) -> str:
    """The message of an error body: llama.cpp and OpenAI say `{"error": {"message": …}}`,
    vLLM says `{"object": "error", "message": …}`, others `{"error": "…"}`."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        return str(error)[:300]
    return str(body)[:300]
