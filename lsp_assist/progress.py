"""Work-done progress (`$/progress`) as the server reports it: a title, reports, an end."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


class WorkDoneProgress:
    """`$/progress` for one piece of work (nothing, if the client does not show progress).

    Creating the token is a round trip to the client, which the work need not wait for (a
    review does not; `ready` waits): the latest report made before the client answered
    follows the begin, and the end comes last.
    """

    def __init__(self, server: LanguageServer, work: str) -> None:
        self._server = server
        self._token = f"lsp-assist-{work}-{uuid.uuid4()}"
        capabilities = server.client_capabilities
        self._enabled = bool(capabilities.window and capabilities.window.work_done_progress)
        self._begun: asyncio.Task[bool] | None = None
        self._pending: types.WorkDoneProgressReport | None = None

    async def begin(self, title: str) -> None:
        if self._enabled:
            self._begun = asyncio.ensure_future(self._create(title))

    async def _create(self, title: str) -> bool:
        try:
            await self._server.work_done_progress.create_async(self._token)
        except Exception as exc:  # a client may refuse; the work goes on without progress
            log.info("progress refused: %s", exc)
            return False
        self._server.work_done_progress.begin(
            self._token, types.WorkDoneProgressBegin(title=title, percentage=0)
        )
        if self._pending is not None:
            self._server.work_done_progress.report(self._token, self._pending)
        return True

    async def ready(self) -> None:
        """Waits until the client has the progress (or refused it)."""
        if self._begun is not None:
            await asyncio.wait([self._begun])

    def _ready(self) -> bool:
        return self._begun is not None and self._begun.done() and self._begun.result()

    def report(self, message: str, percentage: int | None) -> None:
        report = types.WorkDoneProgressReport(message=message, percentage=percentage)
        if self._ready():
            self._server.work_done_progress.report(self._token, report)
        else:
            self._pending = report

    def end(self, message: str) -> None:
        def finish(begun: asyncio.Task[bool]) -> None:
            if not begun.cancelled() and begun.result():
                self._server.work_done_progress.end(
                    self._token, types.WorkDoneProgressEnd(message=message)
                )
            # pygls keeps a future per token for the client's cancel, and never forgets it
            # (one per review run, for the whole session).
            self._server.work_done_progress.tokens.pop(self._token, None)

        if self._begun is not None:
            self._begun.add_done_callback(finish)
