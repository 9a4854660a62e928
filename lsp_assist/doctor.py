"""`lsp-assist doctor`: is everything a completion needs in place, and if not, what is the fix?

A diagnosis checks the Ollama host (reachable? `/api/version`) and each model (pulled?
`/api/show`; able to fill in the middle, for the models meant for completion; its context
length). Every problem comes with its fix, such as `ollama pull <model>`. `diagnose` returns a
typed `DoctorReport` and never raises for a backend fault: a host that is down or answers
garbage is a reported problem. The command line (and later the editor command
`lspAssist.doctor`) only formats it: `format_report` for people, `DoctorReport.to_json` for tools.

`pull_models` pulls what is missing, reporting Ollama's streamed progress to a callback;
`PullProgressPrinter` shows it as one line on a terminal (or one line per status otherwise).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import httpx
import ollama

from lsp_assist.backends.ollama import OllamaBackend, map_backend_error
from lsp_assist.config import Settings
from lsp_assist.errors import BackendError, BackendUnavailable, ModelNotFound
from lsp_assist.prompts.templates import detect_template

log = logging.getLogger(__name__)

Role = Literal["completion", "review"]

# The doctor asks small questions: no need to wait a cold model load's worth of time.
DOCTOR_TIMEOUT_S = 10.0
INSTALL_URL = "https://ollama.com/download"


@dataclass(frozen=True)
class HostReport:
    url: str
    reachable: bool
    version: str = ""
    problem: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and not self.problem


@dataclass(frozen=True)
class ModelReport:
    name: str
    role: Role
    pulled: bool | None = None  # None: not checked (the host is unreachable)
    fim: bool | None = None  # can fill in the middle (None: unknown)
    fim_via: str = ""  # "qwen template", "Ollama's template (insert capability)", …
    context_length: int | None = None
    problem: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.pulled is True and not self.problem


@dataclass(frozen=True)
class DoctorReport:
    host: HostReport
    models: tuple[ModelReport, ...]

    @property
    def ok(self) -> bool:
        return self.host.ok and all(m.ok for m in self.models)

    @property
    def missing_models(self) -> list[str]:
        return [m.name for m in self.models if m.pulled is False]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "host": dataclasses.asdict(self.host),
            "models": [dataclasses.asdict(m) for m in self.models],
        }


# -- diagnosis -------------------------------------------------------------------------------


def default_models(settings: Settings) -> list[tuple[str, Role]]:
    """The configured models: the completion model, then the review model (once each)."""
    chosen: list[tuple[str, Role]] = [(settings.completion.model, "completion")]
    if settings.review.model != settings.completion.model:
        chosen.append((settings.review.model, "review"))
    return chosen


async def diagnose(settings: Settings, models: Sequence[str] | None = None) -> DoctorReport:
    """Checks the host and the models. `models` defaults to the configured ones; models named
    explicitly are checked as completion models (they must fill in the middle)."""
    host = settings.ollama.resolved_host
    chosen = (
        default_models(settings)
        if models is None
        else [(m, "completion") for m in dict.fromkeys(models)]
    )
    backend = OllamaBackend(host, timeout_s=DOCTOR_TIMEOUT_S)
    try:
        host_report = await _check_host(backend)
        if not host_report.reachable:
            reports = tuple(ModelReport(name, role) for name, role in chosen)
        else:
            reports = tuple([await _check_model(backend, name, role) for name, role in chosen])
    finally:
        await backend.close()
    return DoctorReport(host_report, reports)


def _unreachable_fix() -> str:
    return (
        f"start Ollama with `ollama serve` (install it from {INSTALL_URL}), "
        "or set OLLAMA_HOST (or --host) to where it runs"
    )


async def _check_host(backend: OllamaBackend) -> HostReport:
    url = backend.host
    try:
        version = await backend.version()
    except BackendUnavailable as exc:
        log.debug("host check failed: %s", exc)
        return HostReport(url, False, problem="Ollama is not reachable", fix=_unreachable_fix())
    except BackendError as exc:
        log.debug("host check failed: %s", exc)
        return HostReport(
            url,
            False,
            problem=f"something answers, but not like Ollama ({_short(exc)})",
            fix="check that OLLAMA_HOST (or --host) points at Ollama, e.g. http://127.0.0.1:11434",
        )
    if not version:
        return HostReport(
            url,
            False,
            problem="/api/version did not say which Ollama this is",
            fix="check that OLLAMA_HOST (or --host) points at Ollama, e.g. http://127.0.0.1:11434",
        )
    return HostReport(url, True, version=version)


async def _check_model(backend: OllamaBackend, name: str, role: Role) -> ModelReport:
    try:
        info = await backend.model_info(name)
    except ModelNotFound:
        return ModelReport(
            name, role, pulled=False, problem="not pulled", fix=f"ollama pull {name}"
        )
    except BackendError as exc:
        return ModelReport(
            name,
            role,
            problem=f"Ollama could not describe it ({_short(exc)})",
            fix="see Ollama's log; `ollama show " + name + "` shows the same question",
        )
    template = detect_template(name, info.template)
    if template is not None:
        fim, via = True, f"{template.family} FIM template"
    elif info.supports_insert:
        fim, via = True, "Ollama's template (insert capability)"
    else:
        fim, via = False, ""
    report = ModelReport(
        name, role, pulled=True, fim=fim, fim_via=via, context_length=info.context_length
    )
    if role == "completion" and not fim:
        return dataclasses.replace(
            report,
            problem="cannot fill in the middle (no `insert` capability, no known FIM family)",
            fix=(
                "use a base code model such as qwen2.5-coder:1.5b-base "
                "(`ollama pull qwen2.5-coder:1.5b-base`)"
            ),
        )
    return report


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# -- formatting ------------------------------------------------------------------------------


def format_report(report: DoctorReport) -> str:
    """The report for people: one line per check, each problem followed by its fix."""
    lines = [_host_line(report.host)]
    if report.host.fix:
        lines.append(f"     fix: {report.host.fix}")
    for model in report.models:
        lines.append(_model_line(model))
        if model.fix:
            lines.append(f"     fix: {model.fix}")
    problems = bool(report.host.problem) + sum(1 for m in report.models if m.problem)
    if report.ok:
        lines.append("All good.")
    elif not report.host.reachable:
        lines.append("Ollama is not usable: the models were not checked.")
    else:
        lines.append(f"{problems} problem{'s' if problems != 1 else ''} found.")
    return "\n".join(lines)


def _mark(ok: bool | None) -> str:
    # ASCII marks: they survive any terminal encoding and a log file.
    return "[ok]" if ok else "[--]" if ok is None else "[!!]"


def _host_line(host: HostReport) -> str:
    if host.ok:
        return f"{_mark(True)} Ollama {host.version} at {host.url}"
    return f"{_mark(False)} Ollama at {host.url}: {host.problem}"


def _model_line(model: ModelReport) -> str:
    head = f"{model.name} ({model.role} model)"
    if model.pulled is None and not model.problem:
        return f"{_mark(None)} {head}: not checked"
    if model.pulled is False or (model.pulled is None and model.problem):
        return f"{_mark(False)} {head}: {model.problem}"
    facts = []
    if model.fim:
        facts.append(f"fills in the middle via {model.fim_via}")
    elif model.role == "completion":
        facts.append(model.problem)
    else:
        facts.append("no fill-in-the-middle (fine for review)")
    if model.context_length:
        facts.append(f"context {model.context_length} tokens")
    return f"{_mark(model.ok)} {head}: pulled, " + ", ".join(facts)


# -- pulling ---------------------------------------------------------------------------------


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


async def pull_models(
    host: str, models: Sequence[str], on_progress: Callable[[PullProgress], None]
) -> list[PullResult]:
    """Pulls each model in turn (`POST /api/pull`, streamed); one result per model, never
    raising for a backend fault."""
    # Downloads take long between progress lines only when the network stalls: no read
    # time-out beyond a generous one.
    timeout = httpx.Timeout(connect=3.0, read=300.0, write=10.0, pool=5.0)
    client = ollama.AsyncClient(host=host, timeout=timeout, trust_env=False, follow_redirects=False)
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
        text = error.user_message() if isinstance(error, BackendUnavailable) else _short(exc)
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
