"""How vLLM's OpenAI-compatible server (FastAPI on uvicorn) puts things on the wire.

* JSON as FastAPI's `JSONResponse` and pydantic's `model_dump_json` write it: compact, UTF-8,
  no ASCII escaping.
* Plain responses always carry Content-Length (uvicorn never chunks a `JSONResponse`); streams are
  `StreamingResponse`s: `text/event-stream; charset=utf-8`, chunked, and their headers go out as
  soon as the request was accepted by the engine, before the first token exists.
* One SSE event per HTTP chunk: `data: {json}\\n\\n`, the stream ending with `data: [DONE]\\n\\n`.
* Errors in vLLM's `ErrorResponse` shape, nested since v0.10.1 (vllm-project/vllm#22099), flat
  before; the API-key middleware's own `{"error": "Unauthorized"}`; FastAPI's `{"detail": ...}`
  for routes that do not exist.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from tests.fakes.http11 import HttpConnection

JSON = "application/json"
SSE = "text/event-stream; charset=utf-8"
HTML = "text/html"
SSE_DONE = b"data: [DONE]\n\n"

ErrorFormat = Literal["nested", "flat"]

# The `type` vLLM's create_error_response gives each status it produces; 429 and 503 are not
# produced by upstream vLLM itself (see fake_openai's notes), these names follow the same pattern.
ERROR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    501: "NotImplementedError",
    503: "ServiceUnavailableError",
}

# What nginx serves for a path it has no location for: a web server that is not an inference
# engine, or an inference engine behind a proxy that routes the path nowhere.
NGINX_404 = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def sse_event(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


def random_id(prefix: str) -> str:
    """`cmpl-<hex>` / `chatcmpl-<hex>`: vLLM's random_uuid() is uuid4().hex."""
    return f"{prefix}-{uuid.uuid4().hex}"


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequestError")


def error_body(
    message: str,
    status: int,
    *,
    fmt: ErrorFormat,
    err_type: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """vLLM's ErrorResponse: `{"error": {...}}` since v0.10.1, `{"object": "error", ...}` before."""
    info: dict[str, Any] = {"message": message, "type": err_type or error_type(status)}
    info |= {"param": param, "code": status}
    if fmt == "nested":
        return {"error": info}
    return {"object": "error", **info}


def pydantic_errors(*errors: tuple[str, tuple[Any, ...], str, Any]) -> str:
    """The message vLLM sends for a body FastAPI's validation refused: the repr of pydantic's
    error list, e.g. `[{'type': 'missing', 'loc': ('body', 'messages'), 'msg': 'Field
    required', 'input': {...}}]` (approximate: the exact text varies with FastAPI versions)."""
    return repr(
        [
            {"type": kind, "loc": ("body", *loc), "msg": msg, "input": value}
            for kind, loc, msg, value in errors
        ]
    )


class ApiError(Exception):
    """A refusal: vLLM answers its error body with this status."""

    def __init__(
        self, status: int, message: str, *, err_type: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param


class UvicornConnection(HttpConnection):
    """An HttpConnection that answers the way uvicorn does: headers of our choosing (Location,
    Retry-After, Server), Content-Length on every whole response, and stream headers at once."""

    async def send_whole(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Sequence[tuple[str, str]] = (),
        *,
        server: str = "uvicorn",
    ) -> None:
        fields = [("server", server), ("content-length", str(len(body))), *headers]
        if content_type is not None:
            fields.append(("content-type", content_type))
        await self._send(self._head(status, fields) + body)

    async def start_stream(self, status: int, content_type: str) -> None:
        """Sends the head of a chunked response now (StreamingResponse does, before any data)."""
        fields = [("server", "uvicorn"), ("content-type", content_type)]
        fields.append(("transfer-encoding", "chunked"))
        await self._send(self._head(status, fields))

    async def end_stream(self) -> None:
        """The terminating zero-length chunk: the body ends cleanly."""
        await self._send(b"0\r\n\r\n")
