"""The review model call, which gives way to completions.

One call at a time per model server (host), started only after completions have been quiet
for a moment; a completion that starts stops the call, which is asked again afterwards. A
call for a unit that is edited meanwhile is stopped for good (`EditedMeanwhile`): its answer
would be about code that is gone. A review answer must fit the schema; a broken one is asked
once more with another seed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from lsp_assist.backends.answers import ChatAnswer
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.config import ReviewSettings
from lsp_assist.errors import ServerBusy
from lsp_assist.review.prompt import build_review_messages
from lsp_assist.review.schema import InvalidReview, RawFinding, parse_review, review_schema
from lsp_assist.review.state import InFlight, RunStats
from lsp_assist.review.units import ReviewUnit

log = logging.getLogger(__name__)

QUIET_BEFORE_REVIEW_S = 0.5
SEED = 42
NUM_PREDICT = 768
MAX_BUSY_WAITS = 3
"""Times a review waits out a server's `Retry-After` before it gives up (and is asked again
on the next save)."""


class ChatBackend(Protocol):
    """All review needs of a backend."""

    host: str

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer: ...


class EditedMeanwhile(Exception):
    """The unit was edited while its review was in flight: its answer would be stale."""


def review_options(settings: ReviewSettings) -> dict[str, Any]:
    return {
        "temperature": 0,
        "seed": SEED,
        "num_ctx": settings.numCtx,
        "num_predict": NUM_PREDICT,
    }


class ModelCalls:
    def __init__(self, backend: Callable[[], ChatBackend], activity: CompletionActivity) -> None:
        self._backend = backend
        self._activity = activity
        self._host_locks: dict[str, asyncio.Lock] = {}

    async def review(
        self,
        unit: ReviewUnit,
        *,
        path: str,
        language: str,
        context: str,
        settings: ReviewSettings,
        in_flight: InFlight,
        stats: RunStats,
    ) -> list[RawFinding] | None:
        """The validated findings for `unit`, or None when the model twice failed to answer
        in the schema (logged). Raises `EditedMeanwhile` or a `BackendError`."""
        messages = build_review_messages(
            unit, path=path, language=language, context=context, max_findings=settings.maxFindings
        )
        schema = review_schema(settings.maxFindings)
        options = review_options(settings)
        for attempt in range(2):
            if attempt:
                # Same prompt, another seed: at temperature 0 an identical retry would give
                # the identical broken answer.
                options = {**options, "seed": SEED + attempt}
            answer = await self.call(in_flight, settings.model, messages, schema, options)
            stats.calls += 1
            stats.backend_ms += answer.backend_ms
            if answer.done_reason == "length":
                stats.invalid += 1
                log.info("review of %s stopped at the length limit (attempt %d)",
                         unit.name, attempt + 1)  # fmt: skip
                continue
            try:
                return parse_review(answer.content, settings.maxFindings)
            except InvalidReview as exc:
                stats.invalid += 1
                log.info("review of %s: invalid answer (attempt %d)", unit.name, attempt + 1)
                log.debug("the invalid answer (%s): %.200r", exc, answer.content)
        log.warning("review of %s dropped: no valid answer after a retry", unit.name)
        return None

    async def call(
        self,
        in_flight: InFlight,
        model: str,
        messages: list[dict[str, str]],
        schema: Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> ChatAnswer:
        """One chat call when completions are quiet, asked again each time one preempts it."""
        backend = self._backend()
        lock = self._host_locks.setdefault(backend.host, asyncio.Lock())
        busy_waits = 0
        async with lock:
            while True:
                await self._activity.wait_quiet(QUIET_BEFORE_REVIEW_S)
                if in_flight.edited:
                    raise EditedMeanwhile
                # The client as the settings say now: the wait may have outlasted a settings
                # change, and the client it replaced is closed 30 s after.
                current = self._backend()
                call = asyncio.ensure_future(
                    current.chat(model=model, messages=messages, options=options, format=schema)
                )
                in_flight.call = call
                preempted = False

                def preempt(call: asyncio.Future[ChatAnswer] = call) -> None:
                    nonlocal preempted
                    if not preempted:  # a second cancel would interrupt the call's clean-up
                        preempted = True
                        call.cancel()

                unsubscribe = self._activity.on_start(preempt)
                try:
                    return await call
                except ServerBusy as exc:
                    # The server said when to come back (429/503 with Retry-After): a review
                    # can wait that long; a completion would go to the next endpoint.
                    if not exc.retry_after_s or busy_waits >= MAX_BUSY_WAITS:
                        raise
                    busy_waits += 1
                    log.info("review waits %.0f s: the server asked to", exc.retry_after_s)
                    await asyncio.sleep(exc.retry_after_s)  # the server's own pause
                except asyncio.CancelledError:
                    if in_flight.edited:
                        raise EditedMeanwhile from None
                    if not preempted:  # we were cancelled ourselves
                        call.cancel()
                        raise
                    log.debug("review call gave way to a completion; asking again")
                finally:
                    unsubscribe()
                    in_flight.call = None
