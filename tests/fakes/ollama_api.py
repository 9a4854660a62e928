"""The Ollama REST API as the fake serves it: routes, scheduling and generation.

Runs on the fake's own event loop. Per request to /api/generate or /api/chat it follows the
order of Ollama's GenerateHandler/ChatHandler (server/routes.go, v0.13.5): bind the body, look
the model up, refuse what the model's capabilities or raw mode forbid (`ollama_requests`), load
the model (reload if `num_ctx` changed), answer an empty prompt with the "load" stub, check
`format` (500 for an invalid one; a scripted answer must fit its grammar, `ollama_format`), wait
for the model's single slot (OLLAMA_NUM_PARALLEL=1 since v0.11), evaluate the prompt (the time to
first token, during which not even headers are sent), then stream the planned chunks and the
final chunk with its metrics.

Realism that matters to a completion client:
* a single-slot, longest-common-prefix prompt cache per model: `prompt_eval_duration` covers only
  the part of the prompt not shared with the previous one (`cached_chars`/`fresh_chars` are
  recorded), while `prompt_eval_count` stays the whole prompt;
* prefill is not interruptible (ollama/ollama#11889): a client that hangs up before the first
  token is recorded at once, but its slot stays busy until the prompt would have been evaluated.

`POST /api/pull` streams Ollama's progress lines (`pulling manifest`, `pulling <digest>` with
`total`/`completed`, `verifying sha256 digest`, `writing manifest`, `success`); afterwards the
model is known to /api/show and /api/tags. Any valid name can be pulled (as a default-template
model unless one was registered with `add_pullable`); `fail_pull` makes a name fail mid-stream
with an `{"error": …}` line, as a registry without that model does.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from threading import Lock
from typing import Any

from tests.fakes.http11 import ClientGone, HttpConnection, HttpRequest
from tests.fakes.ollama_format import FormatViolation, constrain_output
from tests.fakes.ollama_models import FakeModel, model_key, ps_entry, show_json, tags_entry
from tests.fakes.ollama_output import OutputPlan, Reply, count_tokens, fake_token_ids, plan_output
from tests.fakes.ollama_requests import (
    ApiError,
    GenerationJob,
    RecordedRequest,
    check_generation,
    parse_generation,
)
from tests.fakes.ollama_wire import FOREVER_NS, BindError, decode_body, go_json, rfc3339nano

VERSION = "0.13.5"
JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson"
TEXT = "text/plain; charset=utf-8"

# What Ollama streams when the registry has no such model.
PULL_NOT_FOUND = "pull model manifest: file does not exist"
PULL_STEPS = 4  # progress lines per layer after its first

Responder = Callable[[dict[str, Any]], Reply]
Handler = Callable[[HttpConnection, HttpRequest, RecordedRequest], Awaitable[None]]


def default_responder(body: dict[str, Any]) -> Reply:
    return Reply(text="Looks fine to me." if "messages" in body else "pass")


@dataclass(eq=False)
class _Runner:
    """A loaded model: its runner options and its one cache slot."""

    model: FakeModel
    num_ctx: int
    expires_at_ns: int = 0
    cache: str = ""  # the slot's prompt + output, reused by longest common prefix


@dataclass
class _Timing:
    started_ns: int
    load_ns: int = 0
    prefill_start_ns: int = 0
    prefill_ns: int = 0


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class OllamaApi:
    def __init__(
        self,
        *,
        ttft: float,
        token_delay: float,
        models: list[FakeModel],
        parallel: int,
        uninterruptible_prefill: bool,
        lock: Lock,
        on_disconnect: Callable[[RecordedRequest], None],
    ) -> None:
        self.ttft = ttft
        self.token_delay = token_delay
        self.responder: Responder | None = None  # guarded by `lock`
        self.format_violations: list[str] = []  # guarded by `lock`
        self._parallel = parallel
        self._uninterruptible_prefill = uninterruptible_prefill
        self._lock = lock
        self._on_disconnect = on_disconnect
        self._models: dict[str, FakeModel] = {}  # by model_key; guarded by `lock`
        self._runners: dict[str, _Runner] = {}  # loaded models; guarded by `lock`
        self._slots: dict[str, asyncio.Semaphore] = {}  # loop thread only
        for model in models:
            self.add_model(model)
        self._routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "/": (("GET", "HEAD"), self._root),
            "/api/version": (("GET", "HEAD"), self._version),
            "/api/tags": (("GET", "HEAD"), self._tags),
            "/api/ps": (("GET",), self._ps),
            "/api/show": (("POST",), self._show),
            "/api/generate": (("POST",), self._generate),
            "/api/chat": (("POST",), self._chat),
            "/api/pull": (("POST",), self._pull),
        }
        self._pullable: dict[str, FakeModel] = {}  # by model_key; guarded by `lock`
        self._pull_failures: dict[str, str] = {}  # model_key -> error text; guarded by `lock`

    # -- registry (called from any thread) ---------------------------------------------------

    def add_model(self, model: FakeModel) -> None:
        key = model_key(model.name)
        if key is None:
            raise ValueError(f"invalid model name {model.name!r}")
        with self._lock:
            self._models[key] = model

    def remove_model(self, name: str) -> None:
        key = model_key(name)
        with self._lock:
            self._models.pop(key or "", None)
            self._runners.pop(key or "", None)

    def add_pullable(self, model: FakeModel) -> None:
        """`POST /api/pull` of this name installs `model` (not yet known to /api/show)."""
        key = model_key(model.name)
        if key is None:
            raise ValueError(f"invalid model name {model.name!r}")
        with self._lock:
            self._pullable[key] = model

    def fail_pull(self, name: str, error: str = PULL_NOT_FOUND) -> None:
        """`POST /api/pull` of `name` fails after "pulling manifest" with `error`."""
        key = model_key(name)
        if key is None:
            raise ValueError(f"invalid model name {name!r}")
        with self._lock:
            self._pull_failures[key] = error

    def forget_loaded_models(self) -> None:
        with self._lock:
            self._runners.clear()

    def on_new_loop(self) -> None:
        """The server (re)started on a new event loop: slots made for the old one are void."""
        self._slots = {}

    def _find(self, name: str) -> tuple[str, FakeModel] | None:
        key = model_key(name)
        with self._lock:
            model = self._models.get(key or "")
        return (key, model) if key is not None and model is not None else None

    # -- plumbing ----------------------------------------------------------------------------

    async def handle(
        self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        route = self._routes.get(request.path)
        if route is None:
            await self._send(conn, request, rec, 404, b"404 page not found", TEXT)
        elif request.method not in route[0]:
            await self._send(conn, request, rec, 405, b"405 method not allowed", TEXT)
        else:
            await route[1](conn, request, rec)

    async def _send(
        self,
        conn: HttpConnection,
        request: HttpRequest,
        rec: RecordedRequest,
        status: int,
        body: bytes,
        content_type: str,
    ) -> None:
        rec.status = status
        await conn.send_response(status, body, content_type, head_only=request.method == "HEAD")

    async def _json(
        self,
        conn: HttpConnection,
        request: HttpRequest,
        rec: RecordedRequest,
        value: Any,
        status: int = 200,
    ) -> None:
        await self._send(conn, request, rec, status, go_json(value), JSON)

    async def _error(
        self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest, error: ApiError
    ) -> None:
        await self._json(conn, request, rec, {"error": error.message}, error.status)

    async def _scripted(self, conn: HttpConnection, rec: RecordedRequest, reply: Reply) -> None:
        """A non-Ollama answer from in front of Ollama: the reply's status, headers and body."""
        body = reply.body if reply.body is not None else go_json({"error": reply.error})
        rec.status = reply.status
        await send_with_headers(conn, reply.status, body, reply.content_type, reply.headers)

    # -- simple endpoints --------------------------------------------------------------------

    async def _root(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        await self._send(conn, request, rec, 200, b"Ollama is running", TEXT)

    async def _version(
        self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        await self._json(conn, request, rec, {"version": VERSION})

    async def _tags(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        with self._lock:
            models = list(self._models.values())
        await self._json(conn, request, rec, {"models": [tags_entry(m) for m in models]})

    async def _ps(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        now = time.time_ns()
        with self._lock:
            loaded = [r for r in self._runners.values() if r.expires_at_ns > now]
        entries = [
            ps_entry(r.model, expires_at_ns=r.expires_at_ns, context_length=r.num_ctx)
            for r in loaded
        ]
        await self._json(conn, request, rec, {"models": entries})

    async def _show(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        try:
            body = decode_body(request.body, "ShowRequest")
        except BindError as error:
            await self._error(conn, request, rec, ApiError(400, str(error)))
            return
        name = body.get("model") or body.get("name") or ""  # `name` is the legacy spelling
        if not name:
            await self._error(conn, request, rec, ApiError(400, "model is required"))
            return
        found = self._find(name)
        if found is None:
            await self._error(conn, request, rec, ApiError(404, f"model '{name}' not found"))
            return
        await self._json(conn, request, rec, show_json(found[1]))

    # -- pull --------------------------------------------------------------------------------

    async def _pull(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        try:
            body = decode_body(request.body, "PullRequest")
        except BindError as error:
            await self._error(conn, request, rec, ApiError(400, str(error)))
            return
        name = body.get("model") or body.get("name") or ""
        key = model_key(name) if name else None
        if key is None:
            await self._error(conn, request, rec, ApiError(400, "invalid model name"))
            return
        with self._lock:
            failure = self._pull_failures.get(key)
            model = self._pullable.get(key) or self._models.get(key) or FakeModel(name=name)
        lines = [{"status": "pulling manifest"}]
        if failure is None:
            lines += _layer_progress(model)
            lines += [
                {"status": "verifying sha256 digest"},
                {"status": "writing manifest"},
                {"status": "success"},
            ]
        stream = body.get("stream") is not False
        if not stream:
            # `stream: false`: one object once everything is done, or the error as a 500.
            if not await conn.wait_until(_loop_time() + len(lines) * self.token_delay):
                raise ClientGone
            if failure is None:
                self.add_model(model)
                await self._json(conn, request, rec, {"status": "success"})
            else:
                await self._json(conn, request, rec, {"error": failure}, 500)
            return
        conn.begin_chunked(200, NDJSON)
        rec.status = 200
        start = _loop_time()
        for i, line in enumerate(lines):
            if not await conn.wait_until(start + i * self.token_delay):
                raise ClientGone
            if failure is None and line["status"] == "success":
                self.add_model(model)  # Ollama writes the manifest before saying so
            await conn.send_chunk(go_json(line) + b"\n", last=i == len(lines) - 1 and not failure)
        if failure is not None:
            await conn.send_chunk(go_json({"error": failure}) + b"\n", last=True)

    # -- generation --------------------------------------------------------------------------

    async def _generate(
        self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest
    ) -> None:
        await self._generation(conn, request, rec, chat=False)

    async def _chat(self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest) -> None:
        await self._generation(conn, request, rec, chat=True)

    def _reply_for(self, job: GenerationJob, rec: RecordedRequest) -> Reply:
        responder = rec.responder or default_responder
        try:
            reply = responder(job.body)
        except Exception as exc:
            traceback.print_exc()
            raise ApiError(500, f"fake Ollama responder failed: {exc!r}") from exc
        if not isinstance(reply, Reply):
            raise ApiError(500, f"fake Ollama responder returned {reply!r}, not a Reply")
        return reply

    def _stub(self, job: GenerationJob, reason: str) -> dict[str, Any]:
        stub: dict[str, Any] = {"model": job.name, "created_at": rfc3339nano()}
        stub |= self._content(job, "")
        return stub | {"done": True, "done_reason": reason}

    @staticmethod
    def _content(job: GenerationJob, text: str) -> dict[str, Any]:
        if job.chat:
            return {"message": {"role": "assistant", "content": text}}
        return {"response": text}

    def _expiry(self, keep_alive: float) -> int:
        if math.isinf(keep_alive):
            return FOREVER_NS
        return time.time_ns() + int(keep_alive * 1e9)

    async def _generation(
        self, conn: HttpConnection, request: HttpRequest, rec: RecordedRequest, *, chat: bool
    ) -> None:
        timing = _Timing(started_ns=request.arrived_ns or time.perf_counter_ns())
        try:
            try:
                job = parse_generation(request.body, chat=chat, find=self._find)
                if job.empty and job.keep_alive == 0:
                    with self._lock:
                        self._runners.pop(job.key, None)
                    await self._json(conn, request, rec, self._stub(job, "unload"))
                    return
                check_generation(job)
                reply = None if job.empty else self._reply_for(job, rec)
            except ApiError as error:
                await self._error(conn, request, rec, error)
                return
            if reply is not None and reply.status != 200:
                if reply.ttft and not await conn.wait_until(_loop_time() + reply.ttft):
                    raise ClientGone
                if reply.body is not None or reply.headers:
                    await self._scripted(conn, rec, reply)
                    return
                refusal = ApiError(reply.status, reply.error or _phrase(reply.status))
                await self._error(conn, request, rec, refusal)
                return
            await self._load(conn, job, rec, timing)
            if reply is None:
                await self._json(conn, request, rec, self._stub(job, "load"))
                return
            plan = plan_output(reply.token_pieces(), stop=job.stop, num_predict=job.num_predict)
            try:
                # llm/server.go Completion: `format` is checked first, before the slot.
                constrain_output(request.body, reply, plan)
            except ApiError as error:
                if isinstance(error, FormatViolation):
                    with self._lock:
                        self.format_violations.append(error.message)
                await self._error(conn, request, rec, error)
                return
            await self._complete(conn, rec, job, reply, plan, timing)
        except ClientGone:
            self._on_disconnect(rec)
            raise

    async def _load(
        self, conn: HttpConnection, job: GenerationJob, rec: RecordedRequest, timing: _Timing
    ) -> None:
        """The scheduler: (re)load the model if it is not loaded with these runner options."""
        with self._lock:
            runner = self._runners.get(job.key)
            rec.reloaded = runner is None or runner.num_ctx != job.num_ctx
            if rec.reloaded:
                runner = self._runners[job.key] = _Runner(job.model, job.num_ctx)
            assert runner is not None
            runner.expires_at_ns = self._expiry(job.keep_alive)
        if rec.reloaded and job.model.load_time > 0:
            if not await conn.wait_until(_loop_time() + job.model.load_time):
                raise ClientGone
        timing.load_ns = time.perf_counter_ns() - timing.started_ns

    async def _complete(
        self,
        conn: HttpConnection,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
        timing: _Timing,
    ) -> None:
        slot = await self._acquire_slot(conn, job.key)
        try:
            self._use_prompt_cache(job, rec)
            try:
                await self._prefill(conn, rec, reply, timing)
                await self._respond(conn, rec, job, reply, plan, timing)
            finally:
                self._finish(job, rec)
        finally:
            slot.release()

    async def _acquire_slot(self, conn: HttpConnection, key: str) -> asyncio.Semaphore:
        """Waits for the model's slot; a client that hangs up meanwhile is noticed at once."""
        slot = self._slots.setdefault(key, asyncio.Semaphore(self._parallel))
        acquiring = asyncio.ensure_future(slot.acquire())
        hangup = asyncio.ensure_future(conn.hung_up())
        acquired = False
        try:
            await asyncio.wait({acquiring, hangup}, return_when=asyncio.FIRST_COMPLETED)
            acquired = acquiring.done() and not acquiring.cancelled()
        finally:
            hangup.cancel()
            if not acquiring.done():
                acquiring.cancel()
            elif not acquired and not acquiring.cancelled():
                slot.release()  # acquired just as we were cancelled
        if conn.gone:
            slot.release()
            raise ClientGone
        return slot

    def _use_prompt_cache(self, job: GenerationJob, rec: RecordedRequest) -> None:
        with self._lock:
            runner = self._runners.get(job.key)
            previous = runner.cache if runner is not None else ""
            if runner is not None:
                runner.cache = job.rendered
        # Ollama re-evaluates at least the last token even on a full match.
        cached = min(_common_prefix(previous, job.rendered), max(len(job.rendered) - 1, 0))
        rec.cached_chars, rec.fresh_chars = cached, len(job.rendered) - cached
        tokens = count_tokens(job.rendered) + len(job.body.get("context") or [])
        rec.truncated = tokens > job.num_ctx
        rec.prompt_tokens = max(1, min(tokens, job.num_ctx))

    async def _prefill(
        self, conn: HttpConnection, rec: RecordedRequest, reply: Reply, timing: _Timing
    ) -> None:
        """Prompt evaluation: the wait before the first token, with headers withheld."""
        timing.prefill_start_ns = time.perf_counter_ns()
        ttft = self.ttft if reply.ttft is None else reply.ttft
        end = _loop_time() + ttft
        if not await conn.wait_until(end):
            self._on_disconnect(rec)  # record it now, even though the slot stays busy
            if self._uninterruptible_prefill:
                await asyncio.sleep(max(0.0, end - _loop_time()))
            raise ClientGone
        timing.prefill_ns = time.perf_counter_ns() - timing.prefill_start_ns

    async def _respond(
        self,
        conn: HttpConnection,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
        timing: _Timing,
    ) -> None:
        """Sends the planned chunks, each when its last token piece is "generated"."""
        delay = self.token_delay if reply.token_delay is None else reply.token_delay
        start = _loop_time()  # the first piece exists now
        chunks = list(plan.chunks)
        cut_short = reply.midstream_error or reply.drop_connection or reply.omit_final_chunk
        ends_with_final = not cut_short and not plan.repeat_guard
        final_text = ""
        if reply.text_in_final_chunk and ends_with_final and chunks:
            final_text = chunks.pop().text
        last_piece = plan.chunks[-1].last_piece if plan.chunks else 0

        if not job.stream:
            if not await conn.wait_until(start + last_piece * delay):
                raise ClientGone
            await self._respond_whole(conn, rec, job, reply, plan, timing)
            return

        conn.begin_chunked(200, NDJSON)  # sent along with the first line
        rec.status = 200
        for chunk in chunks:
            if not await conn.wait_until(start + chunk.last_piece * delay):
                raise ClientGone
            line = {"model": job.name, "created_at": rfc3339nano()}
            line |= self._content(job, chunk.text) | {"done": False}
            await conn.send_chunk(go_json(line) + b"\n")
            rec.output += chunk.text
        if reply.drop_connection:
            conn.hang_up()
        elif reply.midstream_error:
            await conn.send_chunk(go_json({"error": reply.midstream_error}) + b"\n", last=True)
        elif not ends_with_final:
            await conn.send_chunk(b"", last=True)  # the token-repeat guard's silent end
        else:
            if not await conn.wait_until(start + last_piece * delay):
                raise ClientGone
            final = self._final(rec, job, reply, plan, timing, final_text)
            await conn.send_chunk(go_json(final) + b"\n", last=True)
            rec.output += final_text

    async def _respond_whole(
        self,
        conn: HttpConnection,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
        timing: _Timing,
    ) -> None:
        """`stream: false`: one JSON object with all the text (or the error, as a 500)."""
        if reply.drop_connection:
            conn.hang_up()
            return
        rec.status = 500 if reply.midstream_error else 200
        if reply.midstream_error:
            body = go_json({"error": reply.midstream_error})
        elif reply.omit_final_chunk or plan.repeat_guard:
            # Ollama then marshals the last chunk it got, text joined in: done is false.
            last = {"model": job.name, "created_at": rfc3339nano()}
            body = go_json(last | self._content(job, plan.text) | {"done": False})
            rec.output = plan.text
        else:
            body = go_json(self._final(rec, job, reply, plan, timing, plan.text))
            rec.output = plan.text
        await conn.send_response(rec.status, body, JSON)

    def _final(
        self,
        rec: RecordedRequest,
        job: GenerationJob,
        reply: Reply,
        plan: OutputPlan,
        timing: _Timing,
        text: str,
    ) -> dict[str, Any]:
        rec.done_reason = reply.done_reason or plan.done_reason
        final: dict[str, Any] = {"model": job.name, "created_at": rfc3339nano()}
        final |= self._content(job, text) | {"done": True, "done_reason": rec.done_reason}
        if not job.chat and not job.raw:
            final["context"] = fake_token_ids(job.rendered + plan.text)
        now = time.perf_counter_ns()
        share = rec.fresh_chars / max(1, len(job.rendered))
        prompt_eval_ns = max(1, int(timing.prefill_ns * share))
        return final | {
            "total_duration": now - timing.started_ns,
            "load_duration": max(1, timing.load_ns),
            "prompt_eval_count": rec.prompt_tokens,
            "prompt_eval_duration": prompt_eval_ns,
            "eval_count": plan.eval_count,
            "eval_duration": max(1, now - timing.prefill_start_ns - prompt_eval_ns),
        }

    def _finish(self, job: GenerationJob, rec: RecordedRequest) -> None:
        """After the request: the slot's cache holds prompt + output; keep_alive 0 unloads."""
        with self._lock:
            runner = self._runners.get(job.key)
            if runner is None:
                return
            if job.keep_alive == 0:
                del self._runners[job.key]
                return
            runner.cache = job.rendered + rec.output
            runner.expires_at_ns = self._expiry(job.keep_alive)


def _layer_progress(model: FakeModel) -> list[dict[str, Any]]:
    """`pulling <digest>` lines for the model's layers: the weights, then its template."""
    layers = [
        (model.digest, model.size),
        (hashlib.sha256(model.template.encode()).hexdigest(), len(model.template.encode())),
    ]
    lines: list[dict[str, Any]] = []
    for digest, total in layers:
        for step in range(PULL_STEPS + 1):
            lines.append(
                {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": total,
                    "completed": total * step // PULL_STEPS,
                }
            )
    return lines


async def send_with_headers(
    conn: HttpConnection, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    """A whole response with extra headers (HttpConnection.send_response has none to add)."""
    fields = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    await conn._send(conn._head(status, [*fields, *headers.items()]) + body)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status {status}"


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
