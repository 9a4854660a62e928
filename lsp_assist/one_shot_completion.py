"""One completion by the server's own route, outside any editor: what `lsp-assist complete`
runs.

A `Session` holds the one document, the settings (parsed by the server's one parse path) and
the completion route — the model servers of `lspAssist.endpoints` in failover order, then the
embedded engine if a model was pulled, then the offline engine — with the router's failover
and health. A `CompletionEngine` asks that route, as the server's does; it only has its own
fault hooks, so that faults come back as objects to word in command-line terms and to pick
the exit code from, rather than as editor notifications (the session's engine stays idle).

The offline engine learns the folder's code first, only when the route reaches it: a model
that answers costs no folder scan (seconds for a repository of a few hundred files).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lsp_assist.backends.base import CompletionBackend, CompletionJob, PreparedGeneration
from lsp_assist.backends.endpoints import embedded_model_path
from lsp_assist.completion.engine import CompletionEngine, Suggestion
from lsp_assist.config import Endpoint, merge_settings_json
from lsp_assist.documents import Document
from lsp_assist.errors import (
    BackendError,
    BackendUnavailable,
    FaultNotifier,
    ModelNotFound,
    ModelWithoutFim,
    ServerBusy,
    StreamTruncated,
)
from lsp_assist.session import Session
from lsp_assist.status import Status

log = logging.getLogger(__name__)

COMMAND_LINE_SETTINGS: dict[str, Any] = {
    "completion": {
        "enabled": True,
        "debounceMs": 0,
        "firstTokenMs": 0,
        "preload": False,
        "prefetch": "never",  # one suggestion, no next one
    },
    "review": {"enabled": False},
}
"""The editor's latency knobs do not apply to one request that waits for its answer; nor
does anything but the completion run."""


class CompleteError(Exception):
    """A fault the user can fix; its text is the one line printed."""


def fault_message(error: BackendError) -> str:
    """One line with the fix, in command-line terms for Ollama at `ollama.host` (the editor's
    messages name settings; other endpoints are named in the settings file anyway)."""
    if isinstance(error, BackendUnavailable) and error.server == "Ollama":
        if error.endpoint in ("", "ollama"):
            return (
                f"lsp-assist: Ollama is not reachable at {error.host} — start it with "
                "`ollama serve` (install: https://ollama.com/download), or pass --host / set "
                "OLLAMA_HOST"
            )
    if isinstance(error, ModelNotFound) and not error.server:
        return f"lsp-assist: model '{error.model}' not found — run `ollama pull {error.model}`"
    if isinstance(error, ModelWithoutFim) and error.endpoint in ("", "ollama"):
        return (
            f"lsp-assist: model '{error.model}' cannot fill in the middle — use a base code "
            "model, e.g. --model qwen2.5-coder:1.5b-base (`ollama pull qwen2.5-coder:1.5b-base`)"
        )
    return error.user_message()


@dataclass(frozen=True)
class Answer:
    text: str
    """The suggestion ("" when there is none)."""
    who: str
    """The line that says who answered (and who was passed over)."""


@dataclass
class _Journal:
    """What the route did for the one request, in order: faults, and who answered."""

    events: list[BackendError | str] = field(default_factory=list)
    """A fault, or the name of a backend that answered ("offline" when it was asked)."""
    unreachable: dict[int, str] = field(default_factory=dict)
    """id(fault) → the backend it made unreachable."""
    waiting: str = ""

    @property
    def answered(self) -> str:
        return next((e for e in reversed(self.events) if isinstance(e, str)), "")

    def passed_over(self) -> list[BackendError]:
        """The faults after which another backend answered."""
        last = max((i for i, e in enumerate(self.events) if isinstance(e, str)), default=-1)
        return [e for e in self.events[:last] if isinstance(e, BackendError)]

    def final_fault(self) -> BackendError | None:
        """The fault that ended the route, if it ended on one (a truncated answer did not)."""
        last = self.events[-1] if self.events else None
        if isinstance(last, BackendError) and not isinstance(last, StreamTruncated):
            return last
        return None


class _RecordingNotifier(FaultNotifier):
    """Keeps the faults themselves: the command line words them and picks the exit code."""

    def __init__(self, journal: _Journal) -> None:
        super().__init__(lambda severity, message: None)
        self._journal = journal

    def report(self, error: BackendError, scope: str = "", source: str = "") -> None:
        self._journal.events.append(error)


class _LearnFolderFirst:
    """The offline engine, which first learns the folder's code: only a request that reaches
    it pays for reading the folder."""

    name = "offline"
    local = True

    def __init__(self, offline: CompletionBackend, learn: Any, journal: _Journal) -> None:
        self._offline = offline
        self._learn = learn
        self._journal = journal

    async def prepare(self, job: CompletionJob) -> PreparedGeneration | None:
        await self._learn()
        self._journal.events.append(self.name)
        return await self._offline.prepare(job)

    async def preload(self, settings: Any) -> None:
        return None

    async def probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class OneShotCompletion:
    """A session with one document open, completed once."""

    def __init__(self, raw_settings: Mapping[str, Any], root: Path, notes: TextIO) -> None:
        self._notes = notes
        self._root = root
        self._learnt = asyncio.Event()
        self.journal = _Journal()
        self.session = Session(show_message=self._show, send_status=self._status)
        self.session.set_initialization_options(
            merge_settings_json(dict(raw_settings), COMMAND_LINE_SETTINGS)
        )
        self.session.set_root(root)
        self._offline: _LearnFolderFirst | None = None
        self.engine = CompletionEngine(
            route=self._route,
            settings=lambda: self.session.settings.completion,
            notifier=_RecordingNotifier(self.journal),
            on_status=self._status,
            on_unavailable=self._unavailable,
            on_answered=self._answered,
            loading=self.session.model_loading,
        )

    def _show(self, severity: str, message: str) -> None:
        self._notes.write(message + "\n")  # settings problems; a file too big to analyse

    def _status(self, status: Status) -> None:
        if status.state == "learnt":
            self._learnt.set()
        elif status.state == "waiting":
            self.journal.waiting = status.message or ""

    def _route(self) -> Sequence[CompletionBackend]:
        route = list(self.session.completion_route())
        for index, backend in enumerate(route):
            if backend.name == "offline":
                if self._offline is None:
                    self._offline = _LearnFolderFirst(backend, self._learn_folder, self.journal)
                route[index] = self._offline
        return route

    async def _learn_folder(self) -> None:
        if self._learnt.is_set():
            return
        log.info("offline engine: learning the code under %s", self._root)
        self.session.learning.scan_in_background(self._root)
        await self._learnt.wait()
        await self.session.learning.caught_up()

    def _unavailable(self, backend: str, error: BackendUnavailable) -> None:
        self.journal.unreachable[id(error)] = backend
        self.session.router.unavailable(backend, error)

    def _answered(self, backend: str) -> None:
        self.journal.events.append(backend)
        self.session.router.answered(backend)

    def open(self, uri: str, text: str) -> Document | None:
        """The document, open as in an editor; None for a private file (never completed)."""
        self.session.open_document(uri, text, None, 1)
        return None if self.session.private(uri) else self.session.documents[uri]

    async def suggest(self, document: Document, offset: int) -> Answer:
        """The suggestion at `offset` and who gave it. Raises `CompleteError`."""
        snapshot = document.snapshot()
        suggestion = await self.engine.suggest(
            snapshot, offset, lambda: self.session.context_files(snapshot, offset)
        )
        return self._answer(suggestion)

    def _answer(self, suggestion: Suggestion | None) -> Answer:
        journal = self.journal
        if suggestion is None and (fault := journal.final_fault()) is not None:
            raise CompleteError(fault_message(fault))
        if suggestion is None and journal.waiting:
            raise CompleteError(f"lsp-assist: {journal.waiting}")
        passed = journal.passed_over()
        for event in journal.events:
            if isinstance(event, StreamTruncated):
                self._notes.write(event.user_message() + "\n")
        text = suggestion.text if suggestion is not None else ""
        return Answer(text, self._who(journal.answered, passed, text))

    def _who(self, answered: str, passed: list[BackendError], text: str) -> str:
        """The stderr line: who answered ("lsp-assist: answered by lcpp (llama.cpp at …)"),
        after whom the route passed over."""
        if answered == "offline":
            by = "the offline engine from this folder's code"
        elif (endpoint := self.session.router.endpoint(answered)) is not None:
            by = _describe(endpoint)
        else:
            return "lsp-assist: no suggestion here"
        said = f"answered by {by}" if text else f"{by} has no suggestion here"
        problems = [self._problem(fault) for fault in passed]
        if not problems:
            return f"lsp-assist: {said}"
        what = ", ".join(dict.fromkeys(problem for problem, _ in problems))
        starts = list(dict.fromkeys(start for _, start in problems if start))
        if not starts:
            return f"lsp-assist: {what} — {said}"
        then = (
            "for model suggestions"
            if answered == "offline"
            else "to use it"
            if len(starts) == 1
            else "to use them"
        )
        return f"lsp-assist: {what} — {said}: start {' and '.join(starts)} {then}"

    def _problem(self, fault: BackendError) -> tuple[str, str]:
        """What went wrong with a backend that was passed over, and what to start."""
        if isinstance(fault, ServerBusy):
            return f"{fault.server or 'Ollama'} is busy", ""
        if not isinstance(fault, BackendUnavailable):
            return str(fault), ""
        name = self.journal.unreachable.get(id(fault)) or fault.endpoint
        endpoint = self.session.router.endpoint(name) if name else None
        if endpoint is not None and not (endpoint.kind == "ollama" and name == "ollama"):
            return f"{endpoint.description} is not reachable", name
        if fault.server == "Ollama":
            return f"Ollama is not reachable at {fault.host}", "Ollama (`ollama serve`)"
        return f"{fault.server} is not reachable at {fault.host}", fault.server

    async def close(self) -> None:
        await self.engine.shutdown()
        await self.session.shutdown()


def _describe(endpoint: Endpoint) -> str:
    if endpoint.kind == "embedded":
        return f"{endpoint.description} ({embedded_model_path(endpoint).name})"
    return endpoint.description
