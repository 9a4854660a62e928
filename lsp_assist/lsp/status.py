"""`lspAssist/status`: what the server is doing, for the editors' status bars.

A status describes an answer that is about to go out, so it is sent after that answer, off the
critical path: pygls writes a reply from its task's done-callback, queued when the handler
returns, and two hops of the loop put the status behind it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsp_assist.status import Status

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

STATUS_NOTIFICATION = "lspAssist/status"


def send_status(server: LanguageServer, status: Status) -> None:
    loop = asyncio.get_running_loop()
    payload = status.to_json()
    loop.call_soon(loop.call_soon, server.protocol.notify, STATUS_NOTIFICATION, payload)
