"""A protocol-faithful fake Ollama server for tests and benchmarks.

It speaks Ollama's REST API over real HTTP/1.1 on 127.0.0.1, so the code under test uses the
official `ollama` client (and httpx) exactly as it would against `ollama serve`: NDJSON streams
in chunked encoding whose headers are withheld until the first token, final chunks with Go's field
order and integer-nanosecond metrics, Ollama's error statuses and texts, the "load" stub for an
empty prompt, stop strings and `num_predict`, `/api/show` capabilities derived from templates, and
the faults a real server produces (busy 503, an error line mid-stream, a dropped connection, a
stream that ends without its final chunk). The facts it follows are collected in
shared/reference/ollama-api.md; the modules next to this one implement them:

* `http11`: the HTTP/1.1 connection (keep-alive, chunked framing, hang-up detection);
* `ollama_wire`: Go's JSON, timestamps, durations and request-binding errors;
* `ollama_models`: `FakeModel`, the default models' templates, /api/tags|show|ps shapes;
* `ollama_output`: `Reply` and how stop strings, num_predict and the repeat guard cut output;
* `ollama_requests`: `RecordedRequest`, and what Ollama refuses before generating;
* `ollama_format`: `format` checked as Ollama checks it, and the scripted answer held to the
  grammar it would constrain the model to (`Reply(ignores_format=True)` to opt out);
* `ollama_api`: routes, model loading, the single slot, the prompt cache, streaming.

The server runs its own event loop in a daemon thread, so sync tests and async tests (whose
loop is another one) can both use it; everything it records is guarded by one lock, and the
waits (`wait_for_requests[_async]`, `wait_for_disconnects[_async]`) are woken by the events
themselves, never by polling.

    with FakeOllama(ttft=0.005) as fake:
        fake.reply_with("return a + b")
        ...  # point the client at fake.url
        assert fake.generate_requests[0].body["raw"] is True
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.http11 import BadRequest, ClientGone, HttpConnection
from tests.fakes.ollama_api import VERSION, OllamaApi, Responder, default_responder
from tests.fakes.ollama_models import (
    DEEPSEEK_V1_TEMPLATE,
    DEEPSEEK_V2_TEMPLATE,
    QWEN_INSTRUCT_TEMPLATE,
    QWEN_TEMPLATE,
    FakeModel,
    default_models,
)
from tests.fakes.ollama_output import Reply, split_pieces
from tests.fakes.ollama_requests import DEFAULT_NUM_CTX, RecordedRequest
from tests.fakes.ollama_wire import go_json, recorded_body

__all__ = [
    "DEEPSEEK_V1_TEMPLATE",
    "DEEPSEEK_V2_TEMPLATE",
    "DEFAULT_NUM_CTX",
    "QWEN_INSTRUCT_TEMPLATE",
    "QWEN_TEMPLATE",
    "VERSION",
    "FakeModel",
    "FakeOllama",
    "RecordedRequest",
    "Reply",
    "Responder",
    "default_responder",
    "split_pieces",
    "unused_url",
]

_GENERATION_PATHS = ("/api/generate", "/api/chat")


def unused_url() -> str:
    """The URL of a local port with nothing listening (for "Ollama is not running")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(eq=False)
class _AsyncWaiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int]
    count: Callable[[], int]  # read with the lock held
    n: int


def _resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


class FakeOllama:
    def __init__(
        self,
        *,
        ttft: float = 0.015,
        token_delay: float = 0.002,
        models: list[FakeModel] | None = None,
        parallel: int = 1,
        uninterruptible_prefill: bool = True,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`ttft`: seconds from the request (once the model is loaded and the slot free) to
        the first chunk; `token_delay`: seconds between token pieces; `models`: the registry
        (default: `default_models()`); `parallel`: requests one model serves at once (Ollama's
        OLLAMA_NUM_PARALLEL, 1 by default since v0.11, so further ones queue);
        `uninterruptible_prefill`: a client that hangs up before the first token still keeps
        the slot busy until its prompt would have been evaluated, as in Ollama; `port`: where
        to listen (0: any free port); `tls`: serve https with this server context (Ollama behind
        a TLS proxy)."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        # POST /api/generate + /api/chat, what wait_for_requests counts (not model loads)
        self._generations = 0
        self._completed = 0  # generate/chat responses sent to the end
        self._disconnects = 0
        self._connections = 0
        self._async_waiters: list[_AsyncWaiter] = []
        self._api = OllamaApi(
            ttft=ttft,
            token_delay=token_delay,
            models=default_models() if models is None else list(models),
            parallel=parallel,
            uninterruptible_prefill=uninterruptible_prefill,
            lock=self._lock,
            on_disconnect=self._client_went_away,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._port: int | None = None
        self._wanted_port = port
        self._tls = tls
        self._startup_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOllama:
        if self._thread is not None:
            raise RuntimeError("FakeOllama is already running")
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-ollama", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or self._startup_error is not None:
            self.stop()
            raise RuntimeError("fake Ollama did not start") from self._startup_error
        return self

    def stop(self) -> None:
        """Closes every connection, stops the loop and joins the thread; safe to call twice."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:  # the loop already closed
                pass
        thread.join(10)
        if thread.is_alive():
            print("fake Ollama: server thread did not stop within 10 s", file=sys.stderr)
        self._thread = self._loop = self._stop_event = None
        self._port = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        violations = self.take_format_violations()
        self.stop()
        if violations and exc_type is None:
            raise AssertionError(
                f"fake Ollama: {len(violations)} scripted answer(s) no model held to the"
                f" request's format could send (see ollama_format): {violations[0]}"
            )

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeOllama is not running: call start() or use `with`")
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._port}"

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
        self._api.on_new_loop()
        connections: set[asyncio.Task[Any]] = set()

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._serve_connection(HttpConnection(reader, writer))
            except asyncio.CancelledError:
                pass  # stop() cancels us; ending quietly keeps asyncio from logging it
            finally:
                connections.discard(task)
                writer.close()

        server = await asyncio.start_server(
            on_connection, "127.0.0.1", self._wanted_port, ssl=self._tls
        )
        self._port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop_event.wait()
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()

    async def _serve_connection(self, conn: HttpConnection) -> None:
        with self._lock:
            self._connections += 1
        while not conn.closed:
            try:
                request = await conn.read_request()
            except BadRequest:
                with contextlib.suppress(ClientGone):  # Go answers 400 and closes
                    await conn.send_response(400, b"400 Bad Request", "text/plain; charset=utf-8")
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
                return
            except Exception as exc:  # a bug in the fake: make it loud, answer 500 if we can
                traceback.print_exc()
                if rec.status is None:
                    rec.status = 500
                    error = go_json({"error": f"fake Ollama failed: {exc!r}"})
                    with contextlib.suppress(ClientGone):
                        await conn.send_response(500, error, "application/json; charset=utf-8")
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
        rec = RecordedRequest(method, path, recorded_body(raw_body), dict(headers))
        with self._lock:
            self._requests.append(rec)
            if method == "POST" and path in _GENERATION_PATHS:
                if not (path == "/api/generate" and _is_load(rec)):
                    self._generations += 1
                rec.responder = self._api.responder
            self._notify_locked()
        return rec

    def _answered(self, rec: RecordedRequest) -> None:
        if rec.method == "POST" and rec.path in _GENERATION_PATHS and not rec.disconnected:
            with self._lock:
                self._completed += 1
                self._notify_locked()

    def _client_went_away(self, rec: RecordedRequest) -> None:
        with self._lock:
            if rec.disconnected:
                return
            rec.disconnected = True
            self._disconnects += 1
            self._notify_locked()

    def _notify_locked(self) -> None:
        self._changed.notify_all()
        waiting = []
        for waiter in self._async_waiters:
            value = waiter.count()
            if value < waiter.n:
                waiting.append(waiter)
                continue
            try:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future, value)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
        self._async_waiters = waiting

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def generate_requests(self) -> list[RecordedRequest]:
        """Every POST /api/generate that asks for text (refused ones included), not the
        empty-prompt loads (`load_requests`)."""
        return [r for r in self._all_generate() if not _is_load(r)]

    @property
    def load_requests(self) -> list[RecordedRequest]:
        """Every POST /api/generate with an empty prompt: Ollama's way to load a model."""
        return [r for r in self._all_generate() if _is_load(r)]

    def _all_generate(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/generate"]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/chat"]

    @property
    def disconnects(self) -> int:
        """Generate/chat requests whose client went away before the response was complete
        (while queued, loading, before the first token, or mid-stream)."""
        with self._lock:
            return self._disconnects

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connections

    # -- waiting -----------------------------------------------------------------------------

    def _generation_count(self) -> int:
        return self._generations

    def _disconnect_count(self) -> int:
        return self._disconnects

    def _completed_count(self) -> int:
        return self._completed

    def _load_count(self) -> int:  # called with the lock held
        return sum(1 for r in self._requests if r.path == "/api/generate" and _is_load(r))

    def _wait(self, count: Callable[[], int], n: int, timeout: float, what: str) -> int:
        with self._changed:
            if not self._changed.wait_for(lambda: count() >= n, timeout):
                raise TimeoutError(f"fake Ollama saw {count()} of {n} {what} in {timeout} s")
            return count()

    async def _wait_async(self, count: Callable[[], int], n: int, timeout: float, what: str) -> int:
        loop = asyncio.get_running_loop()
        waiter = _AsyncWaiter(loop, loop.create_future(), count, n)
        with self._lock:
            if (value := count()) >= n:
                return value
            self._async_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            with self._lock:
                seen = count()
            raise TimeoutError(f"fake Ollama saw {seen} of {n} {what} in {timeout} s") from None
        finally:
            with self._lock:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def wait_for_requests(self, n: int, timeout: float = 10) -> int:
        """Blocks until `n` generate/chat requests have arrived (counted on arrival, before
        any answer); returns the count. Raises TimeoutError."""
        return self._wait(self._generation_count, n, timeout, "generate/chat requests")

    async def wait_for_loads_async(self, n: int, timeout: float = 10) -> int:
        """Waits until `n` empty-prompt loads (`load_requests`) have arrived."""
        return await self._wait_async(self._load_count, n, timeout, "loads")

    async def wait_for_answers_async(self, n: int, timeout: float = 10) -> int:
        """Waits until `n` generate/chat responses (loads included) were sent to the end."""
        return await self._wait_async(self._completed_count, n, timeout, "complete answers")

    async def wait_for_requests_async(self, n: int, timeout: float = 10) -> int:
        """`wait_for_requests` for any event loop."""
        return await self._wait_async(self._generation_count, n, timeout, "generate/chat requests")

    def wait_for_disconnects(self, n: int, timeout: float = 10) -> int:
        return self._wait(self._disconnect_count, n, timeout, "client disconnects")

    async def wait_for_disconnects_async(self, n: int, timeout: float = 10) -> int:
        return await self._wait_async(self._disconnect_count, n, timeout, "client disconnects")

    # -- scripting ---------------------------------------------------------------------------

    def add_model(self, model: FakeModel) -> None:
        self._api.add_model(model)

    def remove_model(self, name: str) -> None:
        self._api.remove_model(name)

    def unload_models(self) -> None:
        """Every model leaves memory (`ollama stop`, keep_alive expired, Ollama restarted): the
        next request loads it again, taking its `load_time`."""
        self._api.forget_loaded_models()

    def reply_with(self, text: str) -> None:
        """Every later generate/chat request answers `text` (stop/num_predict still apply)."""
        self.set_responder(lambda body: Reply(text=text))

    def set_responder(self, responder: Responder) -> None:
        """`responder(body)` decides the Reply to each later generate/chat request that passes
        validation (it runs on the fake's thread; keep it quick)."""
        with self._lock:
            self._api.responder = responder

    def take_format_violations(self) -> list[str]:
        """The refusals of scripted answers that the request's `format` grammar could not
        have produced (each answered with a 500 "fake Ollama: …"), which are then forgotten.
        Leaving one untaken fails the test when the fake stops."""
        with self._lock:
            violations, self._api.format_violations = self._api.format_violations, []
        return violations

    def reset(self) -> None:
        """Forgets recorded requests, disconnects, the responder and which models are loaded
        (with their prompt caches); models and connections stay."""
        with self._lock:
            self._requests.clear()
            self._generations = 0
            self._completed = 0
            self._disconnects = 0
            self._api.responder = None
        self._api.forget_loaded_models()


def _is_load(request: RecordedRequest) -> bool:
    body = request.body if isinstance(request.body, dict) else {}
    return not body.get("prompt") and not body.get("suffix")
