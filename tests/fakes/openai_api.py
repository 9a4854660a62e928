"""vLLM's OpenAI-compatible API as the fake serves it: routes, auth, generation, streaming.

Runs on the fake's own event loop. Per request: a scripted fault first (it comes from in front
of vLLM), then the API key (`--api-key`: every /v1 path needs `Authorization: Bearer <key>`,
else 401 `{"error": "Unauthorized"}`; /health and /version stay open), then the route. For a
generation: validation (`openai_requests`), the reply (queued, else the responder in place when
the request arrived, else a default that satisfies any guided schema), the structured-output
check, the output plan (`openai_output`), then the answer:

* streamed: the SSE headers at once, then after `ttft` (chat: a first chunk with the role) one
  chunk per engine step, the final chunk with `finish_reason`, the usage chunk if
  `stream_options.include_usage`, and `data: [DONE]`;
* whole: one JSON object once all the tokens exist.

Requests run concurrently, as in vLLM's continuous batching; no slot is modelled.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from threading import Lock
from typing import Any

from tests.fakes.http11 import ClientGone, HttpRequest
from tests.fakes.openai_faults import Fault, HangGate, send_fault, take_fault
from tests.fakes.openai_output import OutputPlan, PrefixCache, Reply, plan_output
from tests.fakes.openai_requests import (
    CHAT,
    COMPLETIONS,
    GenerationJob,
    RecordedRequest,
    ServedModel,
    parse_generation,
)
from tests.fakes.openai_responses import ResponseShapes, usage
from tests.fakes.openai_structured import ServerBehaviour, check_scripted, unscripted_text
from tests.fakes.openai_wire import (
    JSON,
    SSE,
    SSE_DONE,
    ApiError,
    ErrorFormat,
    UvicornConnection,
    dumps,
    error_body,
    pydantic_errors,
    sse_event,
)

Responder = Callable[[dict[str, Any]], "Reply | str"]
Handler = Callable[[UvicornConnection, HttpRequest, RecordedRequest], Awaitable[None]]
EventSink = Callable[[RecordedRequest, str], None]  # "hung", "stream_opened", "stream_closed"


class OpenAIApi:
    def __init__(
        self,
        *,
        lock: Lock,
        ttft: float,
        token_delay: float,
        models: list[ServedModel],
        api_key: str | None,
        version: str,
        behaviour: ServerBehaviour,
        error_format: ErrorFormat,
        prefix_block_size: int,
        prompt_tokens_details: bool,
        on_event: EventSink,
    ) -> None:
        self.ttft = ttft
        self.token_delay = token_delay
        self.api_key = api_key
        self.version = version
        self.behaviour = behaviour
        self.error_format: ErrorFormat = error_format
        self.prompt_tokens_details = prompt_tokens_details
        self.responder: Responder | None = None  # guarded by `lock`
        self.replies: deque[Reply] = deque()  # guarded by `lock`
        self.faults: list[Fault] = []  # guarded by `lock`
        self.models = list(models)  # guarded by `lock`
        self.gate = HangGate()
        self._lock = lock
        self._block_size = prefix_block_size
        self._caches: dict[str, PrefixCache] = {}  # by model id; guarded by `lock`
        self._on_event = on_event
        self._routes: dict[str, tuple[str, Handler]] = {
            "/health": ("GET", self._health),
            "/version": ("GET", self._version),
            "/v1/models": ("GET", self._models),
            COMPLETIONS: ("POST", self._completions),
            CHAT: ("POST", self._chat),
        }

    def forget_prefix_caches(self) -> None:
        with self._lock:
            self._caches.clear()

    # -- plumbing ----------------------------------------------------------------------------

    async def handle(
        self, conn: UvicornConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        with self._lock:
            fault = take_fault(self.faults, request.path)
        if fault is not None:
            rec.fault = fault.kind
            if fault.kind != "hang":
                rec.status = await send_fault(conn, request, fault, self.error_format)
                rec.completed = True
                return
            rec.hung = True
            self._on_event(rec, "hung")
            if not await self.gate.hold(conn, self.gate.ticket()):
                raise ClientGone
        if not self._authorized(request):
            await self._json(conn, rec, {"error": "Unauthorized"}, 401)
            return
        route = self._routes.get(request.path)
        if route is None:
            await self._json(conn, rec, {"detail": "Not Found"}, 404)
        elif request.method != route[0]:
            await self._json(
                conn, rec, {"detail": "Method Not Allowed"}, 405, [("allow", route[0])]
            )
        else:
            await route[1](conn, request, rec)

    def _authorized(self, request: HttpRequest) -> bool:
        """vLLM's AuthenticationMiddleware: /v1 paths need the bearer key, OPTIONS never does."""
        if not self.api_key or request.method == "OPTIONS" or not request.path.startswith("/v1"):
            return True
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and key == self.api_key

    async def _json(
        self,
        conn: UvicornConnection,
        rec: RecordedRequest,
        value: Any,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        rec.status = status
        await conn.send_whole(status, dumps(value), JSON, headers or [])
        rec.completed = True

    async def _error(self, conn: UvicornConnection, rec: RecordedRequest, error: ApiError) -> None:
        body = error_body(
            error.message,
            error.status,
            fmt=self.error_format,
            err_type=error.err_type,
            param=error.param,
        )
        await self._json(conn, rec, body, error.status)

    # -- simple endpoints --------------------------------------------------------------------

    async def _health(self, conn: UvicornConnection, _: HttpRequest, rec: RecordedRequest) -> None:
        rec.status = 200
        await conn.send_whole(200, b"", None)
        rec.completed = True

    async def _version(self, conn: UvicornConnection, _: HttpRequest, rec: RecordedRequest) -> None:
        await self._json(conn, rec, {"version": self.version})

    async def _models(self, conn: UvicornConnection, _: HttpRequest, rec: RecordedRequest) -> None:
        with self._lock:
            cards = [model.card() for model in self.models]
        await self._json(conn, rec, {"object": "list", "data": cards})

    # -- generation --------------------------------------------------------------------------

    async def _completions(
        self, conn: UvicornConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        await self._generation(conn, request, rec, chat=False)

    async def _chat(
        self, conn: UvicornConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        await self._generation(conn, request, rec, chat=True)

    async def _generation(
        self, conn: UvicornConnection, request: HttpRequest, rec: RecordedRequest, *, chat: bool
    ) -> None:
        try:
            body = _json_object(request.body)
            with self._lock:
                models = list(self.models)
            job = parse_generation(body, chat=chat, models=models, behaviour=self.behaviour)
            rec.guided_by, rec.schema = job.constraint.guided_by, job.constraint.schema
            rec.ignored = job.constraint.ignored
            reply = self._reply_for(job, rec)
            if reply.status != 200:
                if reply.ttft and not await conn.wait_until(_now() + reply.ttft):
                    raise ClientGone
                raise ApiError(reply.status, reply.error or _phrase(reply.status))
            check_scripted(job.constraint, "".join(reply.token_pieces()))
        except ApiError as error:
            await self._error(conn, rec, error)
            return
        plan = plan_output(reply.token_pieces(), stop=job.stop, max_tokens=job.max_tokens)
        with self._lock:
            cache = self._caches.setdefault(job.model.id, PrefixCache(self._block_size))
            rec.cached_tokens = cache.cached_tokens(job.prompt)
        rec.prompt_tokens = len(job.prompt)
        try:
            if job.stream:
                await self._stream(conn, rec, job, reply, plan)
            else:
                await self._whole(conn, rec, job, reply, plan)
        finally:
            with self._lock:
                cache.remember(job.prompt + rec.output)

    def _reply_for(self, job: GenerationJob, rec: RecordedRequest) -> Reply:
        with self._lock:
            queued = self.replies.popleft() if self.replies else None
        if queued is not None:
            return queued
        if rec.responder is None:
            return Reply(text=unscripted_text(job.constraint, job.chat))
        try:
            reply = rec.responder(job.body)
        except Exception as exc:
            traceback.print_exc()
            raise ApiError(500, f"fake vLLM: the test's responder failed: {exc!r}") from exc
        if isinstance(reply, str):
            return Reply(text=reply)
        if not isinstance(reply, Reply):
            raise ApiError(500, f"fake vLLM: the test's responder returned {reply!r}, not a Reply")
        return reply

    def _delays(self, reply: Reply) -> tuple[float, float]:
        ttft = self.ttft if reply.ttft is None else reply.ttft
        return ttft, self.token_delay if reply.token_delay is None else reply.token_delay

    async def _stream(
        self,
        conn: UvicornConnection,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
    ) -> None:
        ttft, delay = self._delays(reply)
        chunk = ResponseShapes(job.chat, job.model.id)
        await conn.start_stream(200, SSE)
        rec.status, rec.streamed = 200, True
        self._on_event(rec, "stream_opened")
        try:
            start = _now() + ttft
            if not await conn.wait_until(start):
                raise ClientGone
            if job.chat:
                await conn.send_chunk(sse_event(chunk.first()))
            texts = [*plan.deltas, plan.final_delta]
            for step, text in enumerate(texts):
                if reply.drop_after is not None and step >= reply.drop_after:
                    conn.hang_up()  # mid-body: the client sees an incomplete chunked body
                    return
                last = step == len(texts) - 1
                if last and (reply.omit_done or reply.midstream_error):
                    break
                if not await conn.wait_until(start + step * delay):
                    raise ClientGone
                finish = (plan.finish_reason, plan.stop_reason) if last else None
                await conn.send_chunk(sse_event(chunk.piece(text, finish)))
                rec.output += text
                if last:
                    rec.finish_reason = plan.finish_reason
            if reply.drop_after is not None:  # after the final chunk, before usage and [DONE]
                conn.hang_up()
                return
            if reply.omit_done:
                await conn.end_stream()
            else:
                if reply.midstream_error:
                    error = error_body(reply.midstream_error, 500, fmt=self.error_format)
                    await conn.send_chunk(sse_event(error))
                elif job.include_usage:
                    await conn.send_chunk(sse_event(chunk.usage(self._usage(rec, plan))))
                await conn.send_chunk(SSE_DONE, last=True)
            rec.completed = True
        finally:
            self._on_event(rec, "stream_closed")

    async def _whole(
        self,
        conn: UvicornConnection,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
    ) -> None:
        ttft, delay = self._delays(reply)
        if not await conn.wait_until(_now() + ttft + (plan.steps - 1) * delay):
            raise ClientGone
        if reply.drop_after is not None:
            conn.hang_up()
            return
        if reply.midstream_error:
            await self._error(conn, rec, ApiError(500, reply.midstream_error))
            return
        rec.output, rec.finish_reason = plan.text, plan.finish_reason
        await self._json(
            conn, rec, ResponseShapes(job.chat, job.model.id).whole(plan, self._usage(rec, plan))
        )

    def _usage(self, rec: RecordedRequest, plan: OutputPlan) -> dict[str, Any]:
        cached = rec.cached_tokens if self.prompt_tokens_details else None
        return usage(rec.prompt_tokens, plan.completion_tokens, cached)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8", errors="replace") or "null")
    except json.JSONDecodeError as error:
        raise ApiError(
            400, pydantic_errors(("json_invalid", (error.pos,), "JSON decode error", {}))
        ) from None
    if not isinstance(value, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise ApiError(400, pydantic_errors(("model_attributes_type", (), msg, value)))
    return value


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status {status}"


def _now() -> float:
    return asyncio.get_running_loop().time()
