"""One streamed answer from the model, shared by every request it can serve.

A `Generation` streams in its own task. Requests wait on it; a request for a cursor state
that continues the suggestion (the user typed its first characters) waits on the same
generation instead of starting another. Cancelling it closes the HTTP stream at once, which
is how Ollama learns to stop.

Once its first token has come, a suggestion has `ANSWER_TIME_CAP_S` to complete (what
llama.cpp's `t_max_predict_ms` does for llama.vim, here for every backend): then the stream is
closed and the whole lines that came are the answer. A model that has not written one whole
line by then (one token a second, say) gets an empty answer and `TooSlow`, told once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.completion.continuation import MORE, follow
from lsp_assist.completion.cursor import CursorContext
from lsp_assist.completion.postprocess import postprocess_completion
from lsp_assist.completion.stopping import StopDetector
from lsp_assist.completion.typethrough import CursorKey
from lsp_assist.errors import BackendError, StreamTruncated, TooSlow
from lsp_assist.languages import LanguageSpec

log = logging.getLogger(__name__)

ANSWER_TIME_CAP_S = 3.0
"""Seconds a suggestion has after its first token. A local model writes a line in well under a
second and 128 tokens in two to four; one that needs longer keeps the user waiting while they
type on: a shorter suggestion now beats a longer one later."""


@dataclass(frozen=True)
class GenerationPlan:
    """Everything decided before the stream starts."""

    uri: str
    key: CursorKey
    cursor: CursorContext
    multiline: bool
    language: LanguageSpec
    prompt_chars: int
    prompt_ms: float


StreamFactory = Callable[[GenerationStats], AsyncIterator[str]]


class Generation:
    def __init__(self, plan: GenerationPlan, open_stream: StreamFactory) -> None:
        self.plan = plan
        self.key = plan.key
        self.stats = GenerationStats()
        self.raw = ""
        self.final: str | None = None
        self.error: BackendError | None = None
        self.cancelled = False
        self.waiters = 0
        self.finished = asyncio.Event()
        self._started = asyncio.Event()
        """Set by the first piece of text (or the end): the backend is answering."""
        self._updated = asyncio.Event()
        self._pieces = 0
        self._time_cap: asyncio.TimerHandle | None = None
        self.timed_out = False
        """The stream was closed at `ANSWER_TIME_CAP_S`."""
        self._open_stream = open_stream
        self._detector = StopDetector(
            multiline=plan.multiline,
            line_prefix=plan.cursor.line_prefix,
            language=plan.language,
        )
        self.task = asyncio.get_running_loop().create_task(self._run())
        # A task cancelled before its first step never runs `_run`'s finally.
        self.task.add_done_callback(self._on_task_done)

    @property
    def started(self) -> bool:
        """Whether text (or the end) has come."""
        return self._started.is_set()

    @property
    def line_start(self) -> bool:
        """Asked at the start of a line: the editor's indentation may replace its own."""
        return not self.plan.cursor.line_prefix.strip()

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def cancel(self) -> None:
        """Stops the stream now (closing the HTTP response) unless it already ended."""
        if not self.done and not self.task.done():
            self.cancelled = True
            self.task.cancel()

    def matches(self, typed: str) -> bool | None:
        """Does the suggestion go on from what the user typed (`continuation.follow`: across
        lines too, whatever indentation the editor put there)? None while the stream has not
        yet produced enough text to tell."""
        line_start = self.line_start
        if self.done:
            return (
                self.final is not None
                and follow(self.final, typed, line_start=line_start) is not None
            )
        at = follow(self.raw, typed, complete=False, line_start=line_start)
        if at == MORE:
            return None
        return at is not None

    async def wait_started(self, timeout_s: float) -> bool:
        """Waits up to `timeout_s` for the first piece of text (or the end); whether it came."""
        if self._started.is_set():
            return True
        try:
            await asyncio.wait_for(self._started.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_until_decided(self, typed: str) -> bool:
        while (verdict := self.matches(typed)) is None:
            updated = self._updated
            await updated.wait()
        return verdict

    def _notify(self) -> None:
        self._started.set()
        self._updated.set()
        self._updated = asyncio.Event()

    async def _run(self) -> None:
        stream = self._open_stream(self.stats)
        try:
            async for piece in stream:
                if self.done:
                    continue  # concluded at the final chunk: this only reads the body's end
                if self._time_cap is None:
                    self._time_cap = asyncio.get_running_loop().call_later(
                        ANSWER_TIME_CAP_S, self._time_up
                    )
                self._pieces += 1
                self.raw += piece
                cut = self._detector.complete_length(self.raw)
                if cut is not None:
                    self.raw = self.raw[:cut]
                    if not self.stats.done:
                        break  # closing the stream tells Ollama to stop
                if self.stats.done:
                    self._conclude()
                    # Let the waiting requests answer before the rest of the body is read.
                    await asyncio.sleep(0)
                    continue
                self._notify()
        except StreamTruncated as exc:
            # Keep what arrived (cut to whole lines when several were asked for).
            self.error = exc
            if self.plan.multiline and "\n" in self.raw:
                self.raw = self.raw[: self.raw.rindex("\n")]
        except BackendError as exc:
            if not self.done:
                self.error = exc
                self.raw = ""
        except asyncio.CancelledError:
            if self.timed_out and not self.done:
                self._keep_whole_lines()
            else:
                self.cancelled = not self.done
        except Exception as exc:  # never let a bug kill the server's loop
            log.exception("completion stream failed")
            if not self.done:
                self.error = BackendError(f"{type(exc).__name__}: {exc}")
                self.raw = ""
        finally:
            if self._time_cap is not None:
                self._time_cap.cancel()
            await stream.aclose()  # type: ignore[attr-defined]
            if not self.done:
                self._conclude()

    def _time_up(self) -> None:
        if not self.done and not self.task.done():
            self.timed_out = True
            self.task.cancel()

    def _keep_whole_lines(self) -> None:
        """At the time cap: the lines that are complete, or nothing and `TooSlow`."""
        if "\n" in self.raw:
            self.raw = self.raw[: self.raw.rindex("\n")]
            log.info("suggestion cut to %d whole line(s) at the time cap", self.raw.count("\n") + 1)
        else:
            self.raw = ""
            self.error = TooSlow(ANSWER_TIME_CAP_S, self._pieces)

    def _conclude(self) -> None:
        """The answer is complete: clean it up and wake everyone waiting for it."""
        self.stats.total_ms = self.stats.total_ms or self._elapsed_ms()
        if self.plan.multiline and self.stats.done_reason == "length" and "\n" in self.raw:
            # Cut by the token limit: its last line is unfinished (half a string, half a
            # call); the lines before it stand, and typing on asks for the rest.
            self.raw = self.raw[: self.raw.rindex("\n")]
        if not self.cancelled and (self.error is None or isinstance(self.error, StreamTruncated)):
            cursor = self.plan.cursor
            self.final = postprocess_completion(
                self.raw,
                line_prefix=cursor.line_prefix,
                line_suffix=cursor.line_suffix,
                following_lines=cursor.following_lines,
                multiline=self.plan.multiline,
                previous_line=cursor.previous_line,
                language=self.plan.language,
            )
        self.finished.set()
        self._notify()
        log.debug(
            "generation done uri=%s chars=%d cancelled=%s error=%s backend_ms=%.1f",
            self.plan.uri,
            len(self.raw),
            self.cancelled,
            self.error,
            self._elapsed_ms(),
        )

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not self.finished.is_set():
            self.cancelled = True
            self.finished.set()
            self._notify()

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self.stats.started) * 1000
