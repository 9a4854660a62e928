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
- **No popup per keystroke**: `quiet_report_server_error` replaces pygls's reporter, which shows
  "Error in server: …" for every failing notification.
- **The end of a session** belongs to the transport. With `on_exit` set, `exit` is handed to it
  instead of ending the process from inside a handler, and `finish_shutdown` runs the server's
  shutdown path when the client goes away without asking for it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureNotificationError, FeatureRequestError, JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    MsgId,
)
from pygls.protocol.language_server import lsp_method

from lsp_assist.lsp.malformed import (
    INVALID_REQUEST,
    MalformedMessage,
    malformed_message,
    not_json_rpc,
    shorten,
)

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
        try:
            return self._converter.structure(data, self._message_type(kind, data))
        except Exception as error:
            return malformed_message(kind, data, error)

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
        super().handle_message(message)

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

    # -- the end of a session --------------------------------------------------------------

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
