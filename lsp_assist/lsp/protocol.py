"""The JSON-RPC side of the server: pygls's protocol, adjusted where lsp-assist needs it.

- **Buffers** live in the `Session` (text and tree kept in step). pygls would also keep its own
  copy of each, re-splitting the whole file on every keystroke: that is skipped, and the
  notifications go straight to our handlers.
- **Every request is answered.** pygls turns a message whose params do not fit its method's
  types into an exception inside its reader, which logs it and drops the message: the editor
  waits forever. Here such a request is answered `InvalidParams` with what is wrong, in the
  client's terms (`malformed.py`); a malformed notification is logged and ignored; a request
  after `shutdown` is answered `InvalidRequest` (LSP), not dropped. Error answers carry a short
  message and no traceback: the traceback is in the log.
- **Bytes that are not a message** (`framing.py` cuts the stream) are answered as JSON-RPC says,
  with `id: null`: a parse error for a broken header block or a body that is not UTF-8 JSON, an
  invalid request for JSON that is not an object (a batch's requests are each refused by
  their id: LSP sends no batches). Neovim shows such an answer as an error message, which is
  what a client sending broken bytes deserves. A body refused for its size is answered by its
  id when its start shows one.
- **The LSP's order of things**: a request before `initialize` is answered
  `ServerNotInitialized` and a notification dropped (but `exit`); a second `initialize` is
  refused and the first session goes on; a notification sent with an id (a request for a
  method that is a notification) is answered `InvalidRequest` and not applied, as other
  servers do (they have no request handler for it), except `exit`, which still ends the
  session. Unknown notifications are ignored, logged once; `$/` ones silently (LSP: they are
  optional).
- **No popup per keystroke**: `quiet_report_server_error` replaces pygls's reporter, which shows
  "Error in server: …" for every failing notification.
- **The end of a session** belongs to the transport. With `on_exit` set, `exit` is handed to it
  instead of ending the process from inside a handler, and `finish_shutdown` runs the server's
  shutdown path when the client goes away without asking for it. The editor's process, from
  `initialize`'s `processId`, is watched (`parent_watch.py`): its death ends the session like an
  `exit`, with 1 unless `shutdown` came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import FeatureNotificationError, FeatureRequestError, JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    CANCEL_REQUEST,
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    MsgId,
)
from pygls.protocol.language_server import lsp_method

from lsp_assist.framing import Frame, Unreadable
from lsp_assist.lsp.malformed import (
    INVALID_REQUEST,
    PARSE_ERROR,
    SERVER_NOT_INITIALIZED,
    MalformedMessage,
    is_usable_id,
    malformed_message,
    not_json_rpc,
    shorten,
)
from lsp_assist.parent_watch import ParentWatch, watch_parent

log = logging.getLogger(__name__)

# The session's own shutdown waits up to 2 s for reviews and 2 s for generations.
SHUTDOWN_GRACE_S = 5.0


class AssistProtocol(LanguageServerProtocol):
    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.shutdown_requested = False
        # Set by the stdio transport: `exit` then ends the session there, after the shutdown
        # path. Unset (TCP), pygls ends the process itself.
        self.on_exit: Callable[[int], None] | None = None
        self._shutdown_done = asyncio.Event()
        self._warned: set[tuple[str, str | None]] = set()
        self.initialize_done = False
        self.parent_watch: ParentWatch | None = None

    # -- buffers: ours only ----------------------------------------------------------------

    def _only_ours(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: Any) -> Generator[Any, Any, None]:
        yield from self._only_ours(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: Any) -> Generator[Any, Any, None]:
        yield from self._only_ours(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: Any) -> Generator[Any, Any, None]:
        yield from self._only_ours(types.TEXT_DOCUMENT_DID_CLOSE, params)

    # -- every message gets an answer ------------------------------------------------------

    def receive(self, frame: Frame) -> None:
        """One frame from the stdio transport: a JSON value, or bytes that were none."""
        try:
            if isinstance(frame, Unreadable):
                self._unreadable(frame)
            elif isinstance(frame.value, list):
                self._refuse_batch(frame.value)
            elif isinstance(frame.value, dict):
                self.handle_message(self.structure_message(frame.value))
            else:
                self.last_message_at = time.monotonic()
                self._warn_once("invalid", None, "answered a message that is not an object")
                self._answer_without_id(INVALID_REQUEST, not_json_rpc(frame.value).text)
        except Exception as error:
            self._server._report_server_error(error, JsonRpcException)

    def _unreadable(self, frame: Unreadable) -> None:
        self.last_message_at = time.monotonic()
        text = shorten(f"{frame.method or 'message'}: {frame.problem}")
        if not frame.refused:
            self._warn_once("unreadable", None, f"answered bytes that are no message: {text}")
            self._answer_without_id(PARSE_ERROR, text)
        elif frame.id is not None:
            log.warning("refused request %s", text)
            self._send_response(frame.id, error=types.ResponseError(INVALID_REQUEST, text))
        else:
            log.warning("ignored %s", text)

    def _refuse_batch(self, items: list[Any]) -> None:
        self.last_message_at = time.monotonic()
        text = "batches are not supported: LSP sends one message at a time"
        self._warn_once("batch", None, f"refused a batch of {len(items)}")
        ids = [
            item["id"]
            for item in items
            if isinstance(item, dict) and "method" in item and is_usable_id(item.get("id"))
        ]
        for msg_id in ids:  # each request waits for its answer
            self._send_response(msg_id, error=types.ResponseError(INVALID_REQUEST, text))
        if not ids:
            self._answer_without_id(INVALID_REQUEST, text)

    def _answer_without_id(self, code: int, text: str) -> None:
        """JSON-RPC's answer when the message's id cannot be known: `id: null`. (lsprotocol's
        types would leave `id` out.)"""
        self._send_data(
            {"jsonrpc": self.VERSION, "id": None, "error": {"code": code, "message": text}}
        )

    def _warn_once(self, kind: str, method: str | None, text: str) -> None:
        once = (kind, method) not in self._warned
        self._warned.add((kind, method))
        log.log(logging.WARNING if once else logging.DEBUG, "%s", text)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls's `json.loads` object hook: typed messages, and `MalformedMessage` instead of
        an exception that would drop the message."""
        if "jsonrpc" not in data:
            return data  # a nested object (or a message `handle_message` rejects)
        kind = "request" if "id" in data and "method" in data else "notification"
        if "id" in data and "method" not in data:
            kind = "response"
        elif not isinstance(data.get("method"), str):
            return malformed_message(kind, data, None)
        elif kind == "request" and self._is_notification(data["method"], data["id"]):
            problem = "is a notification: it takes no id"
            return MalformedMessage(kind, data["method"], data["id"], problem, INVALID_REQUEST)
        try:
            return self._converter.structure(data, self._message_type(kind, data))
        except Exception as error:
            return malformed_message(kind, data, error)

    def _is_notification(self, method: str, msg_id: Any) -> bool:
        """An LSP notification (`exit` aside: it must end the session however it comes)."""
        typed = self.get_message_type(method)
        return (
            is_usable_id(msg_id)
            and method != types.EXIT
            and typed is not None
            and "id" not in attrs.fields_dict(typed)
        )

    def _message_type(self, kind: str, data: dict[str, Any]) -> Any:
        if kind == "response":
            if "error" in data:
                return types.ResponseErrorMessage
            return self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
        if (typed := self.get_message_type(data["method"])) is not None:
            return typed
        data.setdefault("params", None)  # JSON-RPC's params are optional; pygls's class wants them
        return JsonRPCRequestMessage if kind == "request" else JsonRPCNotification

    last_message_at: float = 0.0
    """`time.monotonic()` when the client last sent something (for work that waits for a
    quiet editor)."""

    def handle_message(self, message: Any) -> None:
        self.last_message_at = time.monotonic()
        if isinstance(message, MalformedMessage):
            self._reject(message)
            return
        if not hasattr(message, "jsonrpc"):  # valid JSON, but not an object with "jsonrpc"
            self._reject(not_json_rpc(message))
            return
        method = getattr(message, "method", None)
        is_request = hasattr(message, "id") and method is not None
        if message.jsonrpc != self.VERSION:
            kind = "request" if is_request else "notification"
            msg_id = message.id if is_request else None
            self._reject(
                MalformedMessage(kind, method, msg_id, 'jsonrpc must be "2.0"', INVALID_REQUEST)
            )
            return
        if self.shutdown_requested and is_request:
            self._reject(
                MalformedMessage(
                    "request", method, message.id, "the server is shutting down", INVALID_REQUEST
                )
            )
            return
        if method is not None and not self._in_order(method, message, is_request):
            return
        super().handle_message(message)

    def _in_order(self, method: str, message: Any, is_request: bool) -> bool:
        """Whether the message may be handled now (LSP's lifecycle), and a known method."""
        if not self.initialize_done and method not in (types.INITIALIZE, types.EXIT):
            if is_request:
                problem = "the server is not initialized: send initialize first"
                self._reject(
                    MalformedMessage("request", method, message.id, problem, SERVER_NOT_INITIALIZED)
                )
            else:
                self._warn_once("early", method, f"dropped {method}: it came before initialize")
            return False
        if is_request and method == types.INITIALIZE and self.initialize_done:
            problem = "the server is initialized already: the session keeps its first settings"
            self._reject(MalformedMessage("request", method, message.id, problem, INVALID_REQUEST))
            return False
        if is_request or method == CANCEL_REQUEST or self._has_handler(method):
            return True
        if method.startswith("$/"):  # LSP: optional, to be ignored when not implemented
            log.debug("ignored notification %s", method)
        else:
            self._warn_once("unknown", method, f"ignored notification {method}: unknown method")
        return False

    def _execute_handler(
        self,
        msg_id: MsgId,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if msg_id == self.msg_id:
            return  # a request's own id: its answer takes it out of the table
        # pygls runs a notification, and each step of a generator handler (its own didOpen,
        # didChange, didClose, executeCommand…), under a made-up id, and files the future of
        # one that is a generator or a coroutine in `_request_futures` (the table of requests
        # in flight that `$/cancelRequest` looks in), where only a request's answer takes an
        # entry out: one future (with its condition, lock and callbacks, ~2 kB) was kept per
        # keystroke for the whole session.
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        if future.done():
            del self._request_futures[msg_id]
        else:
            future.add_done_callback(lambda _done: self._request_futures.pop(msg_id, None))

    def _has_handler(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _reject(self, message: MalformedMessage) -> None:
        once = (message.kind, message.method) not in self._warned
        self._warned.add((message.kind, message.method))
        answered = message.kind == "request" and message.id is not None
        log.log(
            logging.WARNING if once else logging.DEBUG,
            "%s %s %s",
            "answered" if answered else "ignored",
            message.kind,
            message.text,
        )
        if message.id is None:
            return
        error = types.ResponseError(code=message.code, message=message.text)
        if message.kind == "request":
            self._send_response(message.id, error=error)
        elif message.kind == "response":
            # The handler waiting for this answer gets an error rather than waiting forever.
            self._handle_response(message.id, None, error)

    def _send_response(
        self, msg_id: MsgId, result: Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        if error is not None and isinstance(error.data, dict) and "traceback" in error.data:
            # pygls puts a failed handler's traceback in the answer; the log has it already.
            error = types.ResponseError(code=error.code, message=shorten(error.message))
        super()._send_response(msg_id, result, error)

    # -- the start and the end of a session ------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        self.initialize_done = True  # only once it worked: a client may retry a failed one
        self.parent_watch = watch_parent(params.process_id, self._editor_gone)
        return result

    def _editor_gone(self) -> None:
        code = 0 if self.shutdown_requested else 1  # as for `exit`
        if self.on_exit is not None:
            self.on_exit(code)
            return
        asyncio.ensure_future(self._exit_process(code))

    async def _exit_process(self, code: int) -> None:
        """Without a transport of ours (TCP): the shutdown path, then the process ends as
        pygls ends it after `exit` (from a callback: a task would keep the `SystemExit`)."""
        await self.finish_shutdown()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        asyncio.get_running_loop().call_soon(sys.exit, code)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        self.shutdown_requested = True
        yield from super().lsp_shutdown(*args)
        self._shutdown_done.set()

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        if self.on_exit is None:
            yield from super().lsp_exit(*args)
            return
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.on_exit(0 if self.shutdown_requested else 1)  # LSP: 1 when `shutdown` never came

    async def finish_shutdown(self, timeout: float = SHUTDOWN_GRACE_S) -> None:
        """The server's shutdown path, once: waits for the one the client asked for, or runs
        it when the client went away without asking. Never longer than `timeout`."""
        try:
            if self.shutdown_requested:
                await asyncio.wait_for(self._shutdown_done.wait(), timeout)
                return
            self.shutdown_requested = True
            if (handler := self.fm.features.get(types.SHUTDOWN)) is None:
                return
            result = handler(None)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, timeout)
        except TimeoutError:
            log.warning("shutdown took more than %.0f s; exiting without it", timeout)
        except Exception:
            log.exception("shutdown failed")


def quiet_report_server_error(server: LanguageServer, error: Exception, source: type) -> None:
    """Errors outside a request's answer go to the log only. pygls's reporter shows
    "Error in server: …" in a popup for each, which is one popup per keystroke when a
    `didChange` handler fails. A failed request was answered with the error already, and
    pygls logged its traceback."""
    if source is FeatureRequestError:
        log.debug("request failed: %s", error)
        return
    where = "a notification handler" if source is FeatureNotificationError else "the server"
    log.error("%s failed: %s%s", where, error, _traceback_of(error))


def _traceback_of(error: Exception) -> str:
    if isinstance(error, JsonRpcException) and isinstance(error.data, dict):
        frames = error.data.get("traceback")
        if isinstance(frames, list):
            lines = "".join(str(frame) for frame in frames).rstrip()
            return f"\nTraceback (most recent call last):\n{lines}"
    if error.__traceback__ is not None:
        return "\n" + "".join(traceback.format_exception(error)).rstrip()
    return ""
