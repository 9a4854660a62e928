"""The server's mutable state: open documents, settings, the backend and the engine.

Only quick, synchronous notifications (open/change/close/configuration) change it; requests
read it and do their slow work elsewhere. Nothing here knows about LSP messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.engine import CompletionEngine
from lsp_assist.completion.health import BackendHealth
from lsp_assist.config import Settings, merge_settings_json, parse_settings
from lsp_assist.documents import Document
from lsp_assist.errors import BackendError, FaultNotifier
from lsp_assist.offline.engine import OfflineEngine
from lsp_assist.offline.learning import WorkspaceLearning
from lsp_assist.positions import PositionEncoding
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.review.service import ReviewProgress, ReviewService
from lsp_assist.review.store import default_state_dir

log = logging.getLogger(__name__)

MAX_CONTEXT_FILES = 8
MAX_CONTEXT_FILE_CHARS = 20_000


class Session:
    def __init__(
        self,
        *,
        show_message: Callable[[str, str], None],
        send_status: Callable[[dict[str, Any]], None] = lambda status: None,
        on_findings: Callable[[str], None] = lambda uri: None,
        review_progress: Callable[[], ReviewProgress] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.settings = Settings()
        self._initialization_options: Any = None
        self._workspace_configuration: Any = None
        self._reported_problems: set[str] = set()
        self.encoding = PositionEncoding.UTF16
        self.documents: dict[str, Document] = {}
        self.root_name = ""
        self.root_path: Path | None = None
        self._show_message = show_message
        self._backend: OllamaBackend | None = None
        self._backend_key: tuple[str, str, float] | None = None
        self._retired_backends: list[OllamaBackend] = []
        self.notifier = FaultNotifier(show_message)
        self.learning = WorkspaceLearning(
            OfflineEngine(), lambda files: send_status({"state": "learnt", "files": files})
        )
        self.health = BackendHealth(self._probe_backend, self._backend_is_back)
        self.engine = CompletionEngine(
            backend=self.backend,
            settings=lambda: self.settings.completion,
            notifier=self.notifier,
            on_status=send_status,
            offline=self.learning.engine,
            health=self.health,
        )
        self.review = ReviewService(
            backend=self.backend,
            settings=lambda: self.settings.review,
            document=self.documents.get,
            activity=self.engine.activity,
            notifier=self.notifier,
            on_findings=on_findings,
            on_status=send_status,
            state_dir=state_dir or default_state_dir(),
            **({"progress": review_progress} if review_progress else {}),
        )

    async def _probe_backend(self) -> bool:
        try:
            await self.backend().version()
        except BackendError:
            return False
        return True

    def _backend_is_back(self) -> None:
        self.notifier.recovered()
        host = self.settings.ollama.resolved_host
        log.info("model server at %s answers again", host)
        self._show_message(
            "info", f"lsp-assist: Ollama at {host} answers again — completions come from the model"
        )

    # -- settings -------------------------------------------------------------------------------

    def set_initialization_options(self, raw: Any) -> None:
        self._initialization_options = raw
        self._apply_settings()

    def set_workspace_configuration(self, raw: Any) -> None:
        self._workspace_configuration = raw
        self._apply_settings()

    def _apply_settings(self) -> None:
        raw = merge_settings_json(self._initialization_options, self._workspace_configuration)
        settings, problems = parse_settings(raw)
        for problem in problems:
            if problem in self._reported_problems:
                continue  # settings are re-read often; a bad value is told once
            self._reported_problems.add(problem)
            log.warning("settings: %s", problem)
            self._show_message("warning", f"lsp-assist settings: {problem}")
        changed = settings != self.settings
        self.settings = settings
        if changed:
            self.engine.settings_changed()
            log.info(
                "settings: host=%s model=%s",
                settings.ollama.resolved_host,
                settings.completion.model,
            )

    def backend(self) -> OllamaBackend:
        """The backend for the current settings; a new one when the host or its options change."""
        ollama = self.settings.ollama
        key = (ollama.resolved_host, ollama.keepAlive, ollama.timeoutS)
        if self._backend is None or key != self._backend_key:
            if self._backend is not None:
                self._retired_backends.append(self._backend)
            self._backend = OllamaBackend(key[0], keep_alive=key[1], timeout_s=key[2])
            self._backend_key = key
        return self._backend

    # -- documents ------------------------------------------------------------------------------

    def open_document(self, uri: str, text: str, language_id: str | None, version: int) -> None:
        self.documents[uri] = Document(
            uri, text, language_id=language_id, version=version, encoding=self.encoding
        )
        self.learning.document_opened(uri, text, language_id)
        self.review.document_opened(uri)

    def change_document(
        self,
        uri: str,
        version: int,
        changes: list[tuple[str, tuple[int, int] | None, tuple[int, int] | None]],
    ) -> None:
        document = self.documents.get(uri)
        if document is None:
            log.warning("change for a document that is not open: %s", uri)
            return
        for new_text, start, end in changes:
            replaced = document.apply_change(new_text, start, end, version=version)
            if replaced is None:
                self.review.document_replaced(uri)
            else:
                self.review.document_edited(uri, *replaced, len(new_text))
        self.learning.document_changed(uri, lambda: self._text_of(uri), document.language.name)
        self.review.schedule_idle_review(uri)

    def _text_of(self, uri: str) -> str | None:
        document = self.documents.get(uri)
        return document.text if document is not None else None

    def close_document(self, uri: str) -> None:
        self.documents.pop(uri, None)
        self.engine.document_closed(uri)
        self.review.document_closed(uri)
        self.learning.document_closed(uri)

    def context_files(self, document: Document) -> list[ContextFile]:
        """Other open files of the same language, in a stable order (sorted by URI) so the
        head of the prompt, and so Ollama's prompt cache, stays the same while typing."""
        files = []
        for uri in sorted(self.documents):
            other = self.documents[uri]
            if uri == document.uri or other.language.name != document.language.name:
                continue
            files.append(
                ContextFile(path=uri.rsplit("/", 1)[-1], text=other.text[:MAX_CONTEXT_FILE_CHARS])
            )
            if len(files) == MAX_CONTEXT_FILES:
                break
        return files

    async def shutdown(self) -> None:
        await self.review.shutdown()
        await self.engine.shutdown()
        await self.health.close()
        await self.learning.close()
        for backend in [self._backend, *self._retired_backends]:
            if backend is not None:
                try:
                    await backend.close()
                except Exception:  # closing is best effort
                    log.debug("closing backend failed", exc_info=True)
        self._backend = None


def settings_section(value: Any) -> Mapping[str, Any] | None:
    """`workspace/configuration` answers one value per item; clients send null when unset."""
    if isinstance(value, (list, tuple)):  # pygls hands the result over as a tuple
        value = value[0] if value else None
    return value if isinstance(value, Mapping) else None
