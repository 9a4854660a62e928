"""Pulling what Ollama lacks (`POST /api/pull`, streamed), for `lsp-assist doctor --pull` and the
editor command `lspAssist.pullModels`.

`pull_missing` pulls, on each reachable Ollama endpoint of a report, the models it lacks;
`pull_models` pulls given models on one host. Progress goes to a callback; `PullProgressPrinter`
shows it as one line on a terminal (or one line per status otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

import httpx
import ollama

from lsp_assist.backends.ollama import map_backend_error
from lsp_assist.doctor.ollama import short
from lsp_assist.doctor.report import DoctorReport
from lsp_assist.errors import BackendUnavailable


@dataclass(frozen=True)
class PullProgress:
    model: str
    status: str
    total: int | None = None
    completed: int | None = None


@dataclass(frozen=True)
class PullResult:
    model: str
    ok: bool
    error: str = ""


async def pull_missing(
    report: DoctorReport, on_progress: Callable[[PullProgress], None]
) -> list[PullResult]:
    """Pulls what each reachable Ollama endpoint of `report` lacks, on that endpoint."""
    results: list[PullResult] = []
    for endpoint, missing in report.to_pull:
        headers = {}
        settings = endpoint.endpoint
        if settings is not None and settings.apiKeyEnv and os.environ.get(settings.apiKeyEnv):
            headers["Authorization"] = f"Bearer {os.environ[settings.apiKeyEnv]}"
        results += await pull_models(endpoint.server.url, missing, on_progress, headers=headers)
    return results


async def pull_models(
    host: str,
    models: Sequence[str],
    on_progress: Callable[[PullProgress], None],
    *,
    headers: Mapping[str, str] | None = None,
) -> list[PullResult]:
    """Pulls each model in turn (`POST /api/pull`, streamed); one result per model, never
    raising for a backend fault."""
    # Downloads take long between progress lines only when the network stalls: no read
    # time-out beyond a generous one.
    timeout = httpx.Timeout(connect=3.0, read=300.0, write=10.0, pool=5.0)
    client = ollama.AsyncClient(
        host=host,
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
        headers=dict(headers or {}),
    )
    results = []
    try:
        for model in models:
            results.append(await _pull_one(client, host, model, on_progress))
    finally:
        await client.close()
    return results


async def _pull_one(
    client: ollama.AsyncClient,
    host: str,
    model: str,
    on_progress: Callable[[PullProgress], None],
) -> PullResult:
    try:
        stream = await client.pull(model, stream=True)
        success = False
        async for part in stream:
            status = part.status or ""
            on_progress(PullProgress(model, status, part.total, part.completed))
            success = success or status == "success"
    except Exception as exc:
        error = map_backend_error(exc, host=host, model=model)
        text = error.user_message() if isinstance(error, BackendUnavailable) else short(exc)
        if isinstance(exc, ollama.ResponseError):
            text = exc.error or text
        return PullResult(model, False, text)
    if not success:
        return PullResult(model, False, "the pull ended without Ollama saying `success`")
    return PullResult(model, True)


class PullProgressPrinter:
    """Shows pull progress: on a terminal one line rewritten in place (a text bar), elsewhere
    one line per new status (so a log is not flooded with byte counts)."""

    BAR_WIDTH = 24

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._last: tuple[str, str] | None = None
        self._open_line = False

    def __call__(self, progress: PullProgress) -> None:
        key = (progress.model, progress.status)
        if self._tty:
            self._stream.write("\r\x1b[K" + self._line(progress))
            self._open_line = True
            if progress.status == "success":
                self.finish()
        elif key != self._last:
            self._stream.write(self._line(progress, bar=False) + "\n")
        self._last = key
        self._stream.flush()

    def finish(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False
            self._stream.flush()

    def _line(self, progress: PullProgress, *, bar: bool = True) -> str:
        text = f"pulling {progress.model}: {progress.status}"
        total, done = progress.total, progress.completed or 0
        if not total:
            return text
        if not bar:
            return f"{text} ({_size(total)})"
        filled = min(self.BAR_WIDTH, self.BAR_WIDTH * done // total)
        percent = min(100, 100 * done // total)
        return (
            f"{text} [{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] "
            f"{percent:3d}% {_size(done)}/{_size(total)}"
        )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
