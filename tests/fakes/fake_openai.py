"""A protocol-faithful fake of vLLM's OpenAI-compatible server, for what the real llama.cpp
server in our tests cannot show: structured-output rules, 429/503 with Retry-After, bearer keys,
redirects, and the refusal of `suffix`.

It speaks real HTTP/1.1 on 127.0.0.1 (`http11`), so the code under test uses httpx or the
`openai` client exactly as against `vllm serve`. The modules next to this one implement it:

* `openai_wire`: JSON, SSE framing, error bodies, uvicorn's way of sending responses;
* `openai_requests`: `RecordedRequest`, `ServedModel`, what vLLM refuses before generating;
* `openai_structured`: response_format / guided_json / structured_outputs, per vLLM version;
* `openai_schema`: the JSON Schema subset (the `jsonschema` package is not installed here);
* `openai_output`: `Reply`, stop strings and max_tokens as vLLM's engine applies them, the
  prefix cache;
* `openai_faults`: scripted faults (status + Retry-After, redirect, hang, nginx's HTML 404);
* `openai_responses`: the JSON objects of answers and stream chunks;
* `openai_waits`: waits on the fake's counters, woken by events;
* `openai_api`: routes, auth, generation and streaming.

What vLLM does, and where that was checked (vllm-project/vllm unless said otherwise):

* Errors: `{"error": {"message", "type", "param", "code"}}` since v0.10.1 (PR #22099), before
  that flat: `{"object": "error", "message", "type": "BadRequestError", "param": null,
  "code": 400}` (issue #12886; fms-guardrails-orchestrator#511 shows both). Types come from
  `create_error_response` (entrypoints/openai/engine/serving.py): BadRequestError (400),
  NotFoundError (404), InternalServerError (500), NotImplementedError (501).
* Unknown model: 404 NotFoundError "The model `x` does not exist.", param "model"
  (`_check_model`). A request without `model` uses the first served model.
* `--api-key`: a pure ASGI middleware answers 401 `{"error": "Unauthorized"}` (no
  WWW-Authenticate) to any /v1 path whose `Authorization` is not `Bearer <key>`; /health,
  /version, /metrics, /ping stay open, OPTIONS is never checked (entrypoints/openai/
  server_utils.py, AuthenticationMiddleware).
* `suffix` on /v1/completions: 400 "suffix is not currently supported" (serving_completion.py,
  now renderers/online_renderer.py), after the model check. There is no /infill.
* /v1/completions: `max_tokens` defaults to 16 when omitted (null: up to the context);
  `stream_options` without `stream` is 400 "Stream options can only be defined when
  `stream=True`."; an empty prompt is 400 "Either prompt or prompt_embeds must be provided and
  non-empty."; a prompt of >= max_model_len tokens or prompt + max_tokens > max_model_len is 400
  ("This model's maximum context length is N tokens. However, your request has M input
  tokens..." / "'max_tokens' or 'max_completion_tokens' is too large: ...").
* Responses (completion/protocol.py, serving_completion.py; PR #7654 shows a real one):
  `{"id": "cmpl-<hex>", "object": "text_completion", "created", "model", "choices": [{"index",
  "text", "logprobs": null, "finish_reason", "stop_reason", "prompt_logprobs": null}], "usage":
  {"prompt_tokens", "total_tokens", "completion_tokens"}}`; chat: `chatcmpl-<hex>`,
  "chat.completion", `message: {"role": "assistant", "content", ...}`.
* Streams: `text/event-stream`, headers sent when the request is accepted (before the first
  token), one `data: {json}\\n\\n` per engine step (text may be ""), chunks dumped with
  `exclude_unset`: completions `{"id", "object": "text_completion", "created", "model",
  "choices": [{"index", "text", "logprobs", "finish_reason", "stop_reason"}]}`; chat first
  `{"delta": {"role": "assistant", "content": ""}}`, then `{"delta": {"content"}}`, the last with
  `finish_reason` and `stop_reason`. With `stream_options.include_usage` (true by default once
  `stream_options` is given) a chunk with `"choices": []` and `usage`; then `data: [DONE]`.
  An error during generation is one `data: {error body}` then `data: [DONE]`.
* `finish_reason`: "stop" (EOS, `stop_reason` null; or a stop string, `stop_reason` the
  string), "length" (max_tokens). Stop strings are removed; while any are set, the last
  `max(len(stop)) - 1` characters are held back until the end (v1/engine/detokenizer.py).
* Prefix caching (on by default in the V1 engine) reports `usage.prompt_tokens_details.
  cached_tokens` only with `--enable-prompt-tokens-details`; hits are whole KV blocks (16
  tokens by default) of earlier prompts and outputs, never the prompt's last token
  (docs.vllm.ai/en/latest/design/prefix_caching).
* GET /v1/models: `{"object": "list", "data": [{"id", "object": "model", "created",
  "owned_by": "vllm", "root", "parent": null, "max_model_len", "permission": [{...}]}]}`
  (ModelCard). GET /version: `{"version": "..."}`; GET /health: 200, empty.
* Structured output: see `openai_structured` (json_schema since v0.6.0, PR #7654; guided_json
  removed in v0.12.0 and then silently ignored, outlines#1887; `structured_outputs` since
  v0.10.2). An invalid schema is refused by the grammar compiler: 400 "Grammar error: Invalid
  type: ..." in current versions (issue #57725 found some versions answering 500 with an empty
  message). A `response_format` json_schema without its `json_schema` object is an empty 500
  (issue #35438). Clients cannot ask a server which of these it supports: no endpoint says.
* 429 / 503 with Retry-After: upstream vLLM sends neither (the waiting-queue limit of issue
  #18826 is still open PRs #27064 / #49330, proposing 503 and 429), so they come from what
  stands in front of it; the fake scripts them with vLLM's error body (types RateLimitError /
  ServiceUnavailableError, the fake's choice) or any body.

Decisions of the fake:

* One token per character of the prompt (`prompt_tokens`, `max_model_len`, `cached_tokens` are
  in characters); the output is cut into token-like pieces of a few characters.
* Guided decoding can only produce schema-valid JSON, so a scripted reply that is not valid
  for the request's schema (or not JSON, for json_object) is the test's bug: the fake answers
  500 with a message starting "fake vLLM: the test scripted ..." and prints it. Stop strings and
  max_tokens still cut a valid reply afterwards (a truncated JSON with "length", as in vLLM).
  With nothing scripted, a guided request gets the smallest value its schema accepts.
* `vllm_version` picks the behaviour (default "0.11.0": json_schema, guided_json and
  structured_outputs all accepted, nested errors); "0.5.4" is a server that refuses json_schema
  (400) and answers flat errors, "0.12.0" one that silently ignores guided_json. The
  `supports_json_schema` / `supports_guided_json` arguments override the version.

The server runs its own event loop in a daemon thread, like FakeOllama; everything recorded is
guarded by one lock, and the waits (`openai_waits`) are woken by the events themselves.

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.reply_with("return a + b")
        fake.fail_next(429, retry_after=2)
        ...  # point the client at fake.url + "/v1"
        assert fake.requests[0].authorization == "Bearer sk-test"
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import threading
import traceback
from typing import Any

from tests.fakes.http11 import BadRequest, ClientGone
from tests.fakes.openai_api import OpenAIApi, Responder
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_output import Reply, split_pieces
from tests.fakes.openai_requests import (
    CHAT,
    COMPLETIONS,
    GENERATION_PATHS,
    RecordedRequest,
    ServedModel,
)
from tests.fakes.openai_structured import ServerBehaviour, behaviour_for
from tests.fakes.openai_waits import Waits
from tests.fakes.openai_wire import JSON, UvicornConnection, dumps, error_body

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "DEFAULT_MODEL",
    "Fault",
    "FakeOpenAI",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ServedModel",
    "split_pieces",
]

DEFAULT_MODEL = ServedModel("Qwen/Qwen2.5-Coder-7B", max_model_len=32768)


class FakeOpenAI:
    def __init__(
        self,
        *,
        models: list[ServedModel] | None = None,
        api_key: str | None = None,
        vllm_version: str = "0.11.0",
        supports_json_schema: bool | None = None,
        supports_guided_json: bool | None = None,
        ttft: float = 0.01,
        token_delay: float = 0.002,
        prefix_block_size: int = 16,
        prompt_tokens_details: bool = True,
        port: int = 0,
    ) -> None:
        """`models`: the served models (default: one, DEFAULT_MODEL); `api_key`: vLLM's
        `--api-key` (None: no auth); `vllm_version`: the behaviour imitated (see the module
        notes), with `supports_json_schema` / `supports_guided_json` overriding it; `ttft`:
        seconds from the accepted request (stream headers already sent) to the first token;
        `token_delay`: seconds between tokens; `prefix_block_size`: KV block size in tokens
        (1: plain longest-common-prefix); `prompt_tokens_details`: vLLM's
        `--enable-prompt-tokens-details` (report cached_tokens); `port`: 0 for any free one."""
        behaviour, error_format = behaviour_for(vllm_version)
        behaviour = _overridden(behaviour, supports_json_schema, supports_guided_json)
        self._lock = threading.Lock()
        self._waits = Waits(self._lock)
        self._requests: list[RecordedRequest] = []
        self._generations = 0  # POSTs to the generation endpoints, counted on arrival
        self._disconnects = 0
        self._completed = 0  # generation responses sent to their end
        self._open_streams = 0
        self._connections = 0
        self._api = OpenAIApi(
            lock=self._lock,
            ttft=ttft,
            token_delay=token_delay,
            models=[DEFAULT_MODEL] if models is None else list(models),
            api_key=api_key,
            version=vllm_version,
            behaviour=behaviour,
            error_format=error_format,
            prefix_block_size=prefix_block_size,
            prompt_tokens_details=prompt_tokens_details,
            on_event=self._api_event,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._port: int | None = None
        self._wanted_port = port
        self._startup_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already running")
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-openai", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or self._startup_error is not None:
            self.stop()
            raise RuntimeError("fake vLLM did not start") from self._startup_error
        return self

    def stop(self) -> None:
        """Closes every connection, stops the loop and joins the thread; safe to call twice."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)
        if thread.is_alive():
            print("fake vLLM: server thread did not stop within 10 s", file=sys.stderr)
        self._thread = self._loop = self._stop_event = None
        self._port = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root (clients of the OpenAI API use `url + "/v1"`)."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not running: call start() or use `with`")
        return f"http://127.0.0.1:{self._port}"

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
        finally:
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._api.gate.on_new_loop(self._loop)
        connections: set[asyncio.Task[Any]] = set()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._serve_connection(UvicornConnection(reader, writer))
            except asyncio.CancelledError:
                pass  # stop() cancels us; ending quietly keeps asyncio from logging it
            finally:
                connections.discard(task)
                writer.close()

        server = await asyncio.start_server(on_connection, "127.0.0.1", self._wanted_port)
        self._port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop_event.wait()
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()

    async def _serve_connection(self, conn: UvicornConnection) -> None:
        with self._lock:
            self._connections += 1
        while not conn.closed:
            try:
                request = await conn.read_request()
            except BadRequest:
                with contextlib.suppress(ClientGone):  # uvicorn's answer to bytes it can't parse
                    await conn.send_whole(400, b"Invalid HTTP request received.", "text/plain")
                conn.hang_up()
                return
            except ClientGone:
                return
            if request is None:
                return
            rec = self._record(request.method, request.path, request.body, request.headers)
            conn.watch_for_hangup()
            try:
                await self._api.handle(conn, request, rec)
                self._answered(rec)
            except ClientGone:
                self._client_went_away(rec)
                return
            except Exception as exc:  # a bug in the fake: make it loud, answer 500 if we can
                traceback.print_exc()
                if rec.status is None:
                    rec.status = 500
                    body = error_body(f"fake vLLM failed: {exc!r}", 500, fmt="nested")
                    with contextlib.suppress(ClientGone):
                        await conn.send_whole(500, dumps(body), JSON)
                conn.hang_up()
                return
            finally:
                await conn.stop_watching()
            if conn.gone or conn.close_after_response:
                return

    # -- recording ---------------------------------------------------------------------------

    def _record(
        self, method: str, path: str, raw_body: bytes, headers: dict[str, str]
    ) -> RecordedRequest:
        rec = RecordedRequest(method, path, dict(headers), _recorded_body(raw_body))
        with self._lock:
            self._requests.append(rec)
            if method == "POST" and path in GENERATION_PATHS:
                self._generations += 1
            rec.responder = self._api.responder
            self._waits.notify()
        return rec

    def _answered(self, rec: RecordedRequest) -> None:
        if rec.completed and rec.method == "POST" and rec.path in GENERATION_PATHS:
            with self._lock:
                self._completed += 1
                self._waits.notify()

    def _client_went_away(self, rec: RecordedRequest) -> None:
        with self._lock:
            if not rec.disconnected:
                rec.disconnected = True
                self._disconnects += 1
                self._waits.notify()

    def _api_event(self, rec: RecordedRequest, event: str) -> None:
        with self._lock:
            if event == "stream_opened":
                self._open_streams += 1
            elif event == "stream_closed":
                self._open_streams -= 1
            self._waits.notify()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == COMPLETIONS]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == CHAT]

    @property
    def authorizations(self) -> list[str | None]:
        """The Authorization header of every request, in arrival order (None: not sent)."""
        return [r.authorization for r in self.requests]

    @property
    def disconnects(self) -> int:
        """Requests whose client went away before the response was complete (while hung,
        before the first token, or mid-stream)."""
        with self._lock:
            return self._disconnects

    @property
    def open_streams(self) -> int:
        """SSE streams started and not yet ended (by [DONE], a cut, or the client leaving)."""
        with self._lock:
            return self._open_streams

    @property
    def streams_closed_early(self) -> list[RecordedRequest]:
        """Streamed requests whose client closed the stream before it was complete."""
        return [r for r in self.requests if r.streamed and r.disconnected]

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connections

    # -- waiting -----------------------------------------------------------------------------

    def wait_for_requests(self, n: int, timeout: float = 10) -> int:
        """Blocks until `n` generation requests (POST /v1/completions or /v1/chat/completions)
        have arrived, counted on arrival; returns the count. Raises TimeoutError."""
        return self._waits.wait(lambda: self._generations, n, timeout, "generation requests")

    async def wait_for_requests_async(self, n: int, timeout: float = 10) -> int:
        return await self._waits.wait_async(
            lambda: self._generations, n, timeout, "generation requests"
        )

    async def wait_for_any_requests_async(self, n: int, timeout: float = 10) -> int:
        """Waits until `n` requests of any kind have arrived (e.g. at a redirect target)."""
        return await self._waits.wait_async(lambda: len(self._requests), n, timeout, "requests")

    async def wait_for_answers_async(self, n: int, timeout: float = 10) -> int:
        """Waits until `n` generation responses were sent to their end."""
        return await self._waits.wait_async(lambda: self._completed, n, timeout, "complete answers")

    def wait_for_disconnects(self, n: int, timeout: float = 10) -> int:
        return self._waits.wait(lambda: self._disconnects, n, timeout, "client disconnects")

    async def wait_for_disconnects_async(self, n: int, timeout: float = 10) -> int:
        return await self._waits.wait_async(
            lambda: self._disconnects, n, timeout, "client disconnects"
        )

    async def wait_for_open_streams_async(self, n: int, timeout: float = 10) -> int:
        """Waits until at least `n` streams are open at once."""
        return await self._waits.wait_async(lambda: self._open_streams, n, timeout, "open streams")

    async def wait_for_hung_async(self, n: int, timeout: float = 10) -> int:
        """Waits until `n` requests have been held by a scripted hang."""

        def hung() -> int:
            return sum(1 for r in self._requests if r.hung)

        return await self._waits.wait_async(hung, n, timeout, "hung requests")

    # -- scripting ---------------------------------------------------------------------------

    def reply_with(self, text: str) -> None:
        """Every later generation request answers `text` (stop/max_tokens still apply)."""
        self.set_responder(lambda body: Reply(text=text))

    def set_responder(self, responder: Responder | None) -> None:
        """`responder(body)` returns the Reply (or text) to each later generation request that
        passes validation; it runs on the fake's thread, keep it quick. None: the default."""
        with self._lock:
            self._api.responder = responder

    def queue_replies(self, *replies: Reply | str) -> None:
        """The next generation requests that pass validation answer these, in order, before
        the responder is asked again."""
        with self._lock:
            self._api.replies.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def add_model(self, model: ServedModel) -> None:
        with self._lock:
            self._api.models.append(model)

    def remove_model(self, model_id: str) -> None:
        with self._lock:
            self._api.models = [m for m in self._api.models if m.id != model_id]

    def set_structured_output_support(
        self, *, json_schema: bool | None = None, guided_json: bool | None = None
    ) -> None:
        """Switches between an older server (json_schema False: response_format json_schema is
        refused 400, as before vLLM 0.6) and a newer one (guided_json False: the field is
        silently ignored, as from vLLM 0.12), for the requests that arrive afterwards."""
        self._api.behaviour = _overridden(self._api.behaviour, json_schema, guided_json)

    # -- faults ------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._api.faults.append(fault)

    def fail_next(
        self,
        status: int,
        *,
        retry_after: float | str | None = None,
        message: str = "",
        body: bytes | None = None,
        content_type: str = JSON,
        times: int | None = 1,
        paths: tuple[str, ...] | None = GENERATION_PATHS,
    ) -> None:
        """The next `times` matching requests (None: all) get `status` with vLLM's error body
        (or `body`) and, if given, `Retry-After: retry_after`."""
        self.add_fault(
            Fault(
                "status",
                status=status,
                retry_after=retry_after,
                message=message,
                body=body,
                content_type=content_type,
                paths=paths,
                remaining=times,
            )
        )

    def redirect_next(
        self,
        location: str,
        *,
        status: int = 307,
        keep_path: bool = True,
        times: int | None = 1,
        paths: tuple[str, ...] | None = GENERATION_PATHS,
    ) -> None:
        """The next matching requests are redirected to `location` (with `keep_path`, a base
        URL to which the request's path and query are appended)."""
        fault = Fault("redirect", status=status, location=location, keep_path=keep_path)
        fault.paths, fault.remaining = paths, times
        self.add_fault(fault)

    def hang_next(
        self, *, times: int | None = 1, paths: tuple[str, ...] | None = GENERATION_PATHS
    ) -> None:
        """The next matching requests get nothing, not even headers, until `release_hangs()`;
        then they are answered as usual."""
        self.add_fault(Fault("hang", paths=paths, remaining=times))

    def release_hangs(self) -> None:
        """Lets every request held by a hang so far go on."""
        self._api.gate.release()

    def html_404_next(
        self, *, times: int | None = 1, paths: tuple[str, ...] | None = GENERATION_PATHS
    ) -> None:
        """The next matching requests get nginx's HTML 404 page (times=None, paths=None: the
        whole server is a web server, not an inference engine)."""
        self.add_fault(Fault("html_404", paths=paths, remaining=times))

    def clear_faults(self) -> None:
        with self._lock:
            self._api.faults.clear()

    def reset(self) -> None:
        """Forgets recorded requests, counters, the responder, queued replies, faults and the
        prefix caches; models, settings and connections stay."""
        with self._lock:
            self._requests.clear()
            self._generations = self._completed = self._disconnects = 0
            self._api.responder = None
            self._api.replies.clear()
            self._api.faults.clear()
        self._api.forget_prefix_caches()
        self.release_hangs()


def _overridden(
    behaviour: ServerBehaviour, json_schema: bool | None, guided_json: bool | None
) -> ServerBehaviour:
    if json_schema is not None:
        behaviour = dataclasses.replace(behaviour, json_schema=json_schema)
    if guided_json is not None:
        behaviour = dataclasses.replace(behaviour, guided_json=guided_json)
    return behaviour


def _recorded_body(raw: bytes) -> dict[str, Any]:
    """The body as tests see it: the parsed JSON object, or {} for anything else."""
    try:
        value = json.loads(raw.decode("utf-8", errors="replace")) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
